// Direction 'in': the bridge subscribes to the subject and sends every
// message, bytes unchanged, into the local channel or PubSub, in the order NATS
// delivers them (which keeps each publisher's order).
import { bridgeError } from '../core/errors.js';
import { ensureConsumer, ensureStream, isGone, isRefusal, type StreamPlace } from './jetstream.js';
import type { JetStreamSettings, Link } from './link.js';
import type { InSink } from './local.js';
import { MSG_ID_HEADER, type SequenceTracker } from './message-id.js';

/** Bounds of the core-NATS buffer between the subscription and a full ring. */
export interface InBufferLimits {
  maxMessages: number;
  maxBytes: number;
}

async function put(sender: InSink, data: Uint8Array, stop: AbortSignal): Promise<void> {
  if (!sender.trySend(data)) await sender.send(data, { signal: stop });
}

/**
 * Core NATS: the server pushes, so a full ring cannot slow it down. Arrivals
 * wait in a buffer of at most `maxMessages` messages and `maxBytes` bytes;
 * one that arrives while it is full is dropped and counted (`dropped`, event
 * 'dropped'), never held: memory stays bounded whatever the publishers do.
 */
export async function receiveCore(link: Link, sender: InSink, tracker: SequenceTracker, limits: InBufferLimits): Promise<void> {
  const { nc, subject, stop, stats } = link;
  const queue: Uint8Array[] = [];
  let head = 0;
  let bytes = 0;
  // The message the pump is waiting to send: later ones must not overtake it.
  let sending = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const subscription = nc.subscribe(subject, {
    callback: (error, msg) => {
      if (error || failure !== undefined) return; // a subscription error ends it; nc.closed() reports the cause
      const { verdict, gap } = tracker.judge(msg.headers?.get(MSG_ID_HEADER));
      link.lose(gap);
      if (verdict === 'duplicate') stats.duplicates++;
      if (verdict !== 'deliver') return;
      const data = msg.data;
      // Any publisher on the subject can send more than the local ring holds:
      // dropped and counted, never a send that would end the bridge.
      if (data.byteLength > sender.maxMessageSize) {
        link.drop(1, 'too-large');
        return;
      }
      // Straight into the ring when nothing waits before it (trySend copies).
      if (head === queue.length && !sending) {
        try {
          if (sender.trySend(data)) {
            stats.in++;
            return;
          }
        } catch (e) {
          failure = e; // the channel was closed: the pump ends the bridge
          wake?.();
          return;
        }
      }
      if (queue.length - head >= limits.maxMessages || bytes + data.byteLength > limits.maxBytes) {
        link.drop(1, 'buffer-full');
        return;
      }
      // A copy: the client's view shares its read buffer with other messages, which a held view would keep alive.
      queue.push(data.slice());
      bytes += data.byteLength;
      wake?.();
    },
  });
  const stopped = () => wake?.();
  stop.addEventListener('abort', stopped, { once: true });
  try {
    while (!stop.aborted) {
      if (failure !== undefined) throw failure;
      if (head === queue.length) {
        queue.length = head = 0;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const data = queue[head] as Uint8Array;
      queue[head++] = undefined as unknown as Uint8Array;
      sending = true;
      try {
        await put(sender, data, stop);
      } catch (error) {
        // Not in the ring (stopped, or the channel failed): back at the head, counted with what is still buffered.
        queue[--head] = data;
        throw error;
      } finally {
        sending = false;
      }
      bytes -= data.byteLength;
      stats.in++;
    }
  } finally {
    stop.removeEventListener('abort', stopped);
    subscription.unsubscribe();
    if (queue.length > head) link.drop(queue.length - head, 'closed');
  }
}

/**
 * The server's refusal for good to make the stream or the consumer again, as
 * the bridge's coded error; anything else as it is: ERR_BRIDGE_STREAM, or
 * tried again (a broken connection, deleted again meanwhile, JetStream not ready).
 */
function refused(link: Link, error: unknown, what: string, code: 'ERR_BRIDGE_STREAM' | 'ERR_BRIDGE_CONSUMER'): unknown {
  if (!isRefusal(link.jetstream, error)) return error;
  return bridgeError(code, `bridge: ${what}, and the server refused to make it again: ${(error as Error).message}`, error);
}

/**
 * After the server said that the stream or the consumer is gone: makes them
 * again as bridge() made them, and says so ('recreated'). The consumer starts
 * after the last message handled, or, in a new stream (made again here or by
 * anyone else: another creation time), at its first message.
 * @throws ERR_BRIDGE_STREAM or ERR_BRIDGE_CONSUMER when the server refuses.
 */
async function remake(link: Link, settings: JetStreamSettings & { durable: string }, place: StreamPlace): Promise<void> {
  const { jetstream, subject } = link;
  const jsm = await link.untilStopped(jetstream.jetstreamManager(link.nc, { checkAPI: false }));
  const stream = await link.untilStopped(ensureStream(jetstream, jsm, subject, settings)).catch((error: unknown) => {
    throw refused(link, error, `the JetStream stream ${settings.stream} was deleted`, 'ERR_BRIDGE_STREAM');
  });
  if (stream.made) link.events.emit('recreated', { what: 'stream', name: settings.stream });
  const fresh = stream.created !== place.created;
  const consumer = await link
    .untilStopped(ensureConsumer(jetstream, jsm, subject, settings, fresh ? undefined : place.position + 1))
    .catch((error: unknown) => {
      throw refused(
        link,
        error,
        `the JetStream consumer ${settings.durable} of stream ${settings.stream} was deleted`,
        'ERR_BRIDGE_CONSUMER',
      );
    });
  if (fresh) Object.assign(place, { created: stream.created, position: consumer.acked });
  if (consumer.made) link.events.emit('recreated', { what: 'consumer', name: settings.durable });
}

/**
 * JetStream: the bridge pulls from a durable consumer that lets one message
 * be unacknowledged at a time (max_ack_pending 1), and acks each once it is
 * in the ring. So a full ring stops the pulling (the stream keeps the rest),
 * order is the stream's, and a message whose ack was lost (broker restart,
 * bridge killed) comes again after ack_wait: within one bridge run its id
 * drops it; a restarted bridge puts it in the channel a second time. A
 * stream or consumer deleted while it runs is made again ({@link remake}).
 */
export async function receiveJetStream(
  link: Link,
  sender: InSink,
  tracker: SequenceTracker,
  place: StreamPlace | undefined,
): Promise<void> {
  const { nc, stop, stats } = link;
  const settings = link.js;
  const durable = settings?.durable;
  if (!settings || durable === undefined || !place) throw new Error('receiveJetStream: no durable consumer');
  const js = link.jetstream.jetstream(nc);
  let messages: { stop(): void } | undefined;
  // The server said the stream or the consumer does not exist: made again before the next pull.
  let gone = false;
  const stopped = () => messages?.stop();
  stop.addEventListener('abort', stopped, { once: true });
  try {
    while (!stop.aborted) {
      try {
        // No request while disconnected: it could only wait for its timeout.
        await link.whenConnected();
        if (stop.aborted) break;
        if (gone) {
          await remake(link, { ...settings, durable }, place);
          gone = false;
        }
        const consumer = await link.untilStopped(js.consumers.get(settings.stream, durable));
        const batch = await consumer.fetch({ max_messages: 256, expires: 2_000 });
        messages = batch;
        for await (const m of batch) {
          // A redelivery of the last message handled or of an earlier one (its ack
          // lost, or ack_wait over while a full ring held it) is a duplicate,
          // whatever published it (a plain client's has no id). (A fresh delivery
          // of a lower sequence is a stream deleted and made again: not a duplicate.)
          if (m.redelivered && m.seq <= place.position) {
            stats.duplicates++;
            m.ack();
            continue;
          }
          const { verdict, gap } = tracker.judge(m.headers?.get(MSG_ID_HEADER));
          link.lose(gap);
          if (verdict === 'duplicate') stats.duplicates++;
          if (verdict === 'deliver' && m.data.byteLength > sender.maxMessageSize) {
            // Larger than the local ring holds: dropped and counted, and taken
            // off the stream (else it would come again and again, holding
            // back every message behind it).
            link.drop(1, 'too-large');
            m.term();
            place.position = m.seq;
            continue;
          }
          if (verdict === 'deliver') {
            await put(sender, m.data, stop);
            stats.in++;
          }
          m.ack();
          place.position = m.seq;
          if (stop.aborted) break;
        }
      } catch (error) {
        if (stop.aborted) break;
        const code = (error as { code?: unknown }).code;
        if (code === 'ERR_CHANNEL_CLOSED' || code === 'ERR_BRIDGE_STREAM' || code === 'ERR_BRIDGE_CONSUMER') throw error;
        if (isGone(link.jetstream, error)) gone = true;
        await link.pause(250);
      }
    }
  } finally {
    stop.removeEventListener('abort', stopped);
  }
}
