// Direction 'in': the bridge subscribes to the subject and sends every
// message, bytes unchanged, into the local channel or PubSub, in the order NATS
// delivers them (which keeps each publisher's order).
import type { Link } from './link.js';
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
 * JetStream: the bridge pulls from a durable consumer that lets one message
 * be unacknowledged at a time (max_ack_pending 1), and acks each once it is
 * in the ring. So a full ring stops the pulling (the stream keeps the rest),
 * order is the stream's, and a message whose ack was lost (broker restart,
 * bridge killed) comes again after ack_wait: within one bridge run its id
 * drops it; a restarted bridge puts it in the channel a second time.
 */
export async function receiveJetStream(link: Link, sender: InSink, tracker: SequenceTracker): Promise<void> {
  const { nc, stop, stats } = link;
  const settings = link.js;
  if (!settings?.durable) throw new Error('receiveJetStream: no durable consumer');
  const js = link.jetstream.jetstream(nc);
  let messages: { stop(): void } | undefined;
  // The stream sequence of the last message handled: a redelivery of it or of
  // an earlier one (its ack lost, or ack_wait over while a full ring held it)
  // is a duplicate, whatever published it (a plain client's has no id).
  let handled = 0;
  const stopped = () => messages?.stop();
  stop.addEventListener('abort', stopped, { once: true });
  try {
    while (!stop.aborted) {
      try {
        const consumer = await js.consumers.get(settings.stream, settings.durable);
        const batch = await consumer.fetch({ max_messages: 256, expires: 2_000 });
        messages = batch;
        for await (const m of batch) {
          // (A fresh delivery of a lower sequence is a stream deleted and made again: not a duplicate.)
          if (m.redelivered && m.seq <= handled) {
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
            handled = m.seq;
            continue;
          }
          if (verdict === 'deliver') {
            await put(sender, m.data, stop);
            stats.in++;
          }
          m.ack();
          handled = m.seq;
          if (stop.aborted) break;
        }
      } catch (error) {
        if (stop.aborted) break;
        if ((error as { code?: string }).code === 'ERR_CHANNEL_CLOSED') throw error;
        await link.pause(250);
      }
    }
  } finally {
    stop.removeEventListener('abort', stopped);
  }
}
