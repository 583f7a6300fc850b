// Direction 'out': the bridge is the local channel's receiver (or a PubSub's
// subscriber) and publishes every message, bytes unchanged, to the subject,
// in the local order.
import { bridgeError } from '../core/errors.js';
import { whenAborted } from '../core/abort-listeners.js';
import type { Link } from './link.js';
import type { OutSource } from './local.js';
import { MSG_ID_HEADER, messageId } from './message-id.js';

/** Messages taken from the ring at a time (core NATS): they are the most held in memory while the server is away. */
const BATCH = 256;
/** How long one JetStream publish waits for its ack before it is sent again (same id, so never stored twice). */
const ACK_TIMEOUT_MS = 2_000;

/** What a drop-oldest PubSub overwrote before the bridge's subscriber took it: dropped, and said so. */
function countSkipped(link: Link, receiver: OutSource): void {
  const skipped = receiver.skipped();
  if (skipped > 0) link.drop(skipped, 'lagged');
}

/** The JetStream API's error for a message over the stream's max_msg_size (JSStreamMessageExceedsMaximumErr). */
const STREAM_MESSAGE_TOO_LARGE = 10054;

/** Larger than the server's max_payload (the client refuses it) or the stream's max_msg_size: sending it again can never succeed. */
function isTooLarge(error: unknown): boolean {
  return /max_payload/i.test(String((error as Error)?.message)) || (error as { code?: unknown })?.code === STREAM_MESSAGE_TOO_LARGE;
}

/**
 * Why a JetStream publish failed, for 'stalled': the client calls a subject
 * that no stream takes "jetstream is not enabled" (nothing answered the
 * publish), which says the wrong thing about a deleted stream.
 */
function stallReason(link: Link, error: unknown): unknown {
  const cause = (error as { cause?: { isNoResponders?: () => boolean } } | undefined)?.cause;
  if (typeof cause?.isNoResponders !== 'function' || !cause.isNoResponders()) return error;
  return bridgeError(
    'ERR_BRIDGE_STREAM',
    `bridge: no JetStream stream takes the subject ${link.subject} (was the stream ${link.js?.stream} deleted?); the message stays in the channel and is sent again until one does`,
    error,
  );
}

/**
 * Core NATS: at most once. Publishing copies nothing, so each message is a
 * copy out of the ring. After `maxPendingBytes` published, it waits for the
 * server's PONG (flush), so the client's outbound buffer stays bounded; while
 * the client is disconnected it takes nothing more from the ring (local
 * senders feel the backpressure). What was published but not yet flushed
 * when a connection broke is lost: at most `maxPendingBytes` (plus one
 * batch) each time, counted as `lost` by the receiving bridges.
 */
export async function forwardCore(link: Link, receiver: OutSource, origin: string, maxPendingBytes: number): Promise<void> {
  const { nc, subject, stop, stats } = link;
  let seq = 0;
  let pending = 0;
  const headers = link.transport.headers();
  // Never longer than the bridge runs: a server that stops answering (SIGSTOP) held close() for good.
  const stopped = new Promise<void>((resolve) => {
    if (stop.aborted) resolve();
    else whenAborted(stop, resolve);
  });
  const flush = async () => {
    pending = 0;
    // Disconnected: the next message waits for the reconnect.
    await Promise.race([nc.flush().catch(() => {}), stopped]);
  };
  for (;;) {
    // Nothing is taken from the ring while disconnected: the senders wait there (backpressure), and a close loses nothing.
    await link.whenConnected();
    const online = link.online;
    let batch: Uint8Array[];
    try {
      // A disconnect ends the wait too, before anything is taken.
      batch = await receiver.recvBatch({ max: BATCH, signal: online });
    } catch (error) {
      if (online.aborted && !stop.aborted && (error as Error)?.name === 'AbortError') continue;
      throw error;
    }
    countSkipped(link, receiver);
    for (let i = 0; i < batch.length; i++) {
      const data = batch[i] as Uint8Array;
      // No await while connected: an await lets the client's queued flush run, one socket write per message.
      if (!link.connected) await link.whenConnected();
      if (!link.connected) {
        // Stopped while disconnected: these left the ring and can reach no server.
        link.drop(batch.length - i, 'closed');
        return;
      }
      // (Stopped but connected: the rest of the batch is published; close() flushes it.)
      // publish() encodes the headers at once, so one object serves every message.
      // The number is used only once published: one never sent is no gap for the receivers to count as lost.
      headers.set(MSG_ID_HEADER, messageId(origin, seq + 1));
      try {
        nc.publish(subject, data, { headers });
      } catch (error) {
        if (!isTooLarge(error)) throw error;
        link.drop(1, 'too-large');
        continue;
      }
      seq++;
      stats.out++;
      pending += data.byteLength;
      if (pending >= maxPendingBytes) await flush();
    }
  }
}

/**
 * JetStream: at least once. Each message stays in the ring (a view, not yet
 * released) until the stream acknowledges it, so a bridge killed before the
 * ack leaves it for the next receiver; a publish that fails or times out is
 * sent again with the same id, which the stream stores once. One message is
 * in flight at a time, which keeps the stream in the channel's order. The
 * first failure of a run of them is said ('stalled', with the error), and the
 * publish that ends it ('resumed'): a stream deleted, say, is never retried unseen.
 */
export async function forwardJetStream(link: Link, receiver: OutSource, origin: string): Promise<void> {
  const { nc, subject, stop, stats } = link;
  const js = link.jetstream.jetstream(nc, { timeout: ACK_TIMEOUT_MS });
  let seq = 0;
  // A publish failed and the message is being retried: said once ('stalled'), until one goes through ('resumed').
  let stalled = false;
  for (;;) {
    const view = await receiver.recvView({ signal: stop });
    countSkipped(link, receiver);
    // The client keeps a reference until the bytes are written: hand it a copy.
    const data = view.data.slice();
    // As for core NATS, a number is used up only by a message the stream took.
    const msgID = messageId(origin, seq + 1);
    // Stopped before the stream acknowledged it: unreleased, a channel's message
    // stays there for the next receiver; a subscriber's copy is gone, and counted.
    const abandon = () => {
      if (!receiver.keepsUnreleased) link.drop(1, 'closed');
    };
    for (let attempt = 0; ; attempt++) {
      await link.whenConnected();
      if (stop.aborted) return abandon();
      try {
        await js.publish(subject, data, { msgID, timeout: ACK_TIMEOUT_MS });
        seq++;
        stats.out++;
        if (stalled) {
          stalled = false;
          link.events.emit('resumed');
        }
        break;
      } catch (error) {
        if (isTooLarge(error)) {
          link.drop(1, 'too-large');
          break;
        }
        if (stop.aborted) return abandon();
        if (!stalled) {
          stalled = true;
          link.events.emit('stalled', { error: stallReason(link, error) });
        }
        await link.pause(Math.min(50 * 2 ** attempt, 1_000));
      }
    }
    view.release();
  }
}
