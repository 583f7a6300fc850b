// The publishing end. Any number of publishers, in any processes, share a
// PubSub; each message is encoded once and written once into the ring, for
// every subscriber.
import { abortError, channelError, invalidType, outOfRange } from '../../core/errors.js';
import { mayReuseOutput, type Codec } from '../codec.js';
import { byteLengthOf, copyInto } from '../message-data.js';
import { FutexWaiter } from '../../sysv/futex.js';
import { block, checkWaitOptions, type Deadline } from '../block.js';
import { backOff, SendQueue } from '../send-queue.js';
import { type BroadcastRing, BUSY, CLOSED, SPACE_HANDSHAKE } from './broadcast-ring.js';
import * as F from './format.js';
import type { PubSubHooks, PubSubWaitOptions } from './options.js';

/** Spins a trySend gives a claim lock held by another live publisher. */
const TRY_PATIENCE = 256;
/**
 * Publishes messages to every subscriber of a PubSub. Made by
 * `pubsub.publisher()`; registered in the segment until {@link close}, so a
 * subscriber can tell a publisher that died mid-message from a slow one.
 */
export class Publisher<T = Uint8Array> implements Disposable {
  readonly #ring: BroadcastRing;
  readonly #writer: number;
  readonly #codec: Codec<T>;
  readonly #hooks: PubSubHooks;
  readonly #waiter = new FutexWaiter();
  readonly #max: number;
  #closed = false;
  /** The last queued send: sends run one after another, in call order. */
  readonly #sends = new SendQueue();

  /** @internal Made by PubSub.publisher(). The constructor is private, so that the published types offer no way to call it. */
  static make<T = Uint8Array>(ring: BroadcastRing, writer: number, codec: Codec<T>, hooks: PubSubHooks): Publisher<T> {
    return new Publisher<T>(ring, writer, codec, hooks);
  }

  private constructor(ring: BroadcastRing, writer: number, codec: Codec<T>, hooks: PubSubHooks) {
    this.#ring = ring;
    this.#writer = writer;
    this.#codec = codec;
    this.#hooks = hooks;
    this.#max = F.maxMessage(ring.capacity);
  }

  /** The largest encoded message this PubSub carries, in bytes. */
  get maxMessageSize(): number {
    return this.#max;
  }

  /** Whether this publisher was closed, or the PubSub was. */
  get closed(): boolean {
    return this.#closed || this.#ring.closed;
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the publisher is closed`);
  }

  /**
   * The byte length #encode measured, with the built-in getter: what is
   * claimed and copied, never the bytes' own byteLength again (a subclass may
   * lie, and a view of a resizable or transferred buffer changes while a send
   * waits: copying what it holds then would write past the record).
   */
  #length = 0;

  #encode(value: T): Uint8Array {
    const bytes = this.#codec.encode(value);
    if (!(bytes instanceof Uint8Array)) throw invalidType('codec.encode(value)', 'an instance of Uint8Array', bytes);
    const length = byteLengthOf(bytes);
    if (length > this.#max) {
      throw outOfRange('value', `at most ${this.#max} bytes once encoded (the capacity less two record headers)`, `${length} bytes`);
    }
    this.#length = length;
    return bytes;
  }

  /**
   * Copies the message's `length` bytes into its claimed record and
   * publishes it; a copy that throws (the buffer no longer has `length`
   * bytes) abandons the record.
   */
  #write(position: number, bytes: Uint8Array, length: number): void {
    const ring = this.#ring;
    try {
      copyInto(ring.u8, ring.payloadOffset(position), bytes, length);
    } catch (error) {
      ring.publish(position, F.STATE_ABANDONED);
      throw error;
    }
    ring.publish(position, F.STATE_COMMITTED);
  }

  /**
   * Publishes `value` if there is room now. False if a subscriber is a whole
   * ring behind (lossless mode), if the claim lock stayed busy, or if earlier
   * send() calls still wait: this publisher's messages never overtake each other.
   * @throws ChannelError ERR_CHANNEL_CLOSED; RangeError if it encodes to more than {@link maxMessageSize}.
   */
  trySend(value: T): boolean {
    this.#assertOpen('trySend');
    const bytes = this.#encode(value);
    const length = this.#length;
    if (this.#sends.busy) return false;
    const position = this.#ring.claim(length, this.#writer, TRY_PATIENCE);
    if (position < 0) {
      if (position === CLOSED) throw channelError('ERR_CHANNEL_CLOSED', 'trySend: the PubSub is closed');
      return false;
    }
    this.#write(position, bytes, length);
    return true;
  }

  /**
   * Publishes `value` (encoded, then copied into the ring once for every
   * subscriber). In lossless mode it waits while the slowest subscriber is a
   * whole ring behind (backpressure); with drop-oldest it never waits for
   * subscribers. Resolves once the message is in the ring.
   * @throws ChannelError ERR_CHANNEL_CLOSED (also while waiting), ETIMEDOUT; AbortError.
   */
  send(value: T, options: PubSubWaitOptions = {}): Promise<void> {
    try {
      this.#assertOpen('send');
      checkWaitOptions(options);
      const bytes = this.#encode(value);
      const length = this.#length;
      if (!this.#sends.busy) {
        const position = this.#ring.claim(length, this.#writer, TRY_PATIENCE);
        if (position >= 0) {
          this.#write(position, bytes, length);
          return Promise.resolve();
        }
        if (position === CLOSED) throw channelError('ERR_CHANNEL_CLOSED', 'send: the PubSub is closed');
      }
      // A user codec may reuse what it returned (a scratch buffer): a send that waits keeps a copy.
      const kept = mayReuseOutput(this.#codec) ? bytes.slice() : bytes;
      return this.#enqueue(options, (deadline) =>
        this.#claimWaiting(length, deadline, options.signal, (position) => this.#write(position, kept, length)),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Releases this publisher; waiting sends reject with ERR_CHANNEL_CLOSED. The PubSub stays open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring.unregisterPublisher(this.#writer);
    this.#waiter.close();
    this.#hooks.forget(this, this.#writer);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #enqueue(options: PubSubWaitOptions, job: (deadline: Deadline) => Promise<void>): Promise<void> {
    return this.#sends.enqueue(options.timeoutMs, options.signal, 'send', () => this.#assertOpen('send'), job);
  }

  /**
   * Claims a record once there is room and hands it to `use` at once, in the
   * same synchronous step: a close() or detach() can never come between a
   * claim and its use (it would leave the record claimed and never published).
   */
  async #claimWaiting(length: number, deadline: Deadline, signal: AbortSignal | undefined, use: (position: number) => void): Promise<void> {
    const ring = this.#ring;
    let busy = 0;
    for (;;) {
      this.#assertOpen('send');
      const position = ring.claim(length, this.#writer);
      if (position >= 0) {
        use(position);
        return;
      }
      if (position === CLOSED) throw channelError('ERR_CHANNEL_CLOSED', 'send: the PubSub is closed');
      if (position === BUSY) {
        // A live publisher holds the claim lock, or (drop-oldest) still writes
        // the record we would overwrite: preempted or stopped.
        busy = await backOff(busy, deadline, signal, 'send', 'nothing was sent: another live publisher held the ring');
        continue;
      }
      if (signal?.aborted) throw abortError(signal);
      busy = 0;
      await block(
        {
          mode: this.#hooks.mode,
          buffer: ring.buffer,
          i32: ring.i32,
          handshake: SPACE_HANDSHAKE,
          waiter: this.#waiter,
          soleWaiter: false,
          deadline,
          signal,
          what: 'send',
          outcome: 'nothing was sent: a subscriber stayed a whole ring behind',
        },
        () => this.#closed || ring.hasRoomFor(length),
        // A subscriber that died never reads on: free its place.
        () => ring.reapSubscribers(),
      );
    }
  }
}
