// The local end of a bridge: a channel or a PubSub, opened raw (the encoded
// bytes, whatever the codec: codecs pass through), seen by the out and in
// loops through two small interfaces, so one code path serves both kinds.
import { Channel } from '../channel/channel.js';
import { PubSub } from '../channel/pubsub/pubsub.js';
import type { Subscriber } from '../channel/pubsub/subscriber.js';
import type { Receiver } from '../channel/receiver.js';

/** A local channel: a Channel of this process, or the key or id to open one by. */
export type ChannelRef = Channel | { key: number } | { id: number };

/** A local PubSub: a PubSub of this process, or the key or id to open one by. */
export type PubSubRef = PubSub<unknown> | { key: number } | { id: number };

/** Which local object a validated option names. */
export type LocalRef = { kind: 'channel'; ref: ChannelRef } | { kind: 'pubsub'; ref: PubSubRef };

/** A message 'out' holds until NATS has it. */
export interface HeldMessage {
  readonly data: Uint8Array;
  release(): void;
}

/** Where 'out' takes messages from: a channel's receiver or a PubSub subscriber. */
export interface OutSource {
  /** Waits for a message, then gives it and what else is there now (at most `max`), each a copy. */
  recvBatch(options: { max: number; signal: AbortSignal }): Promise<Uint8Array[]>;
  /** The next message, left in place until release() where the local object can (a channel can; a subscriber's is a copy). */
  recvView(options: { signal: AbortSignal }): Promise<HeldMessage>;
  /** Messages skipped since the last call: a drop-oldest PubSub overwrote them before they were taken (a channel never skips). */
  skipped(): number;
  /** Whether a message taken by recvView() and not released stays in the local object when the bridge stops (a channel's does; a subscriber's copy is gone). */
  readonly keepsUnreleased: boolean;
}

/** Where 'in' puts messages: a channel's sender or a PubSub publisher (both copy what they take). */
export interface InSink {
  /** The largest message the local ring takes: a larger one from NATS is dropped, never sent. */
  readonly maxMessageSize: number;
  trySend(data: Uint8Array): boolean;
  send(data: Uint8Array, options: { signal: AbortSignal }): Promise<void>;
}

/** The bridge's own attachment, which it detaches alone when it stops. */
export interface Attachment {
  detach(): void;
}

function openRaw(local: LocalRef): Channel | PubSub {
  if (local.kind === 'channel') {
    const ref = local.ref;
    return Channel.open(ref instanceof Channel ? { id: ref.id, raw: true } : { ...ref, raw: true });
  }
  const ref = local.ref;
  return PubSub.open(ref instanceof PubSub ? { id: ref.id } : ref, { raw: true });
}

function channelSource(receiver: Receiver<Uint8Array>): OutSource {
  return {
    recvBatch: (options) => receiver.recvBatch(options),
    recvView: (options) => receiver.recvView(options),
    skipped: () => 0,
    keepsUnreleased: true,
  };
}

function subscriberSource(subscriber: Subscriber<Uint8Array>): OutSource {
  let counted = 0;
  return {
    keepsUnreleased: false,
    skipped() {
      const missed = subscriber.missed;
      const skipped = missed - counted;
      counted = missed;
      return skipped;
    },
    async recvBatch({ max, signal }) {
      const batch = [await subscriber.recv({ signal })];
      // drain() hands views of the ring: keep copies.
      subscriber.drain((data) => batch.push(data.slice()), max - 1);
      return batch;
    },
    async recvView({ signal }) {
      // A subscriber's place cannot be kept for another: the message is a copy, taken now.
      const data = await subscriber.recv({ signal });
      return { data, release() {} };
    },
  };
}

/** Opens `local` raw and makes the bridge its receiver or subscriber. */
export function openSource(local: LocalRef): { source: OutSource; attachment: Attachment } {
  const opened = openRaw(local);
  try {
    if (!(opened instanceof Channel)) return { source: subscriberSource(opened.subscriber()), attachment: opened };
    const receiver = opened.receiver();
    const detach = () => {
      // A message not yet acknowledged by the stream stays for the next receiver (a plain detach would count it received).
      receiver.detachLeavingView();
      opened.detach();
    };
    return { source: channelSource(receiver), attachment: { detach } };
  } catch (error) {
    opened.detach();
    throw error;
  }
}

/** Opens `local` raw and makes the bridge one of its senders or publishers. */
export function openSink(local: LocalRef): { sink: InSink; attachment: Attachment } {
  const opened = openRaw(local);
  try {
    const sink: InSink = opened instanceof Channel ? opened.sender() : opened.publisher();
    return { sink, attachment: opened };
  } catch (error) {
    opened.detach();
    throw error;
  }
}
