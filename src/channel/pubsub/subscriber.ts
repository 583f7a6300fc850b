// The subscribing end: any number per PubSub, each with its own cursor. It
// receives every message published after it subscribed, reading it in place
// in the ring (decoded from there), and frees nothing: the ring's space is
// reused once the slowest subscriber has moved on.
import { abortError, ChannelError, channelError, invalidType } from '../../core/errors.js';
import { validateAbortSignal, validateCount, validateObject } from '../../core/validate.js';
import { FutexWaiter } from '../../sysv/futex.js';
import { schedYield } from '../../sysv/process.js';
import { SPIN_MS, spinsFirst } from '../../sysv/spin.js';
import { block, checkWaitOptions, deadlineOf } from '../block.js';
import { type Codec, decodeMessage } from '../codec.js';
import type { WaitMode } from '../format.js';
import { type BroadcastRing, DATA_HANDSHAKE } from './broadcast-ring.js';
import type { PubSubHooks, PubSubWaitOptions } from './options.js';
import type { ReadCursor } from './read-cursor.js';

/** Checks between sched_yield() calls while spinning. */
const YIELD_EVERY = 16;

/**
 * A bounded spin that yields the CPU every few checks: with more subscribers
 * than CPUs, spinning subscribers must not take the publisher's CPU. None
 * when the time limit is shorter than the spin, as for sysv/spin.ts's spin().
 */
function spinYielding(mode: WaitMode, ready: () => boolean, timeoutMs: number | undefined): boolean {
  if (!spinsFirst(mode, timeoutMs)) return false;
  const end = performance.now() + SPIN_MS[mode];
  for (let i = 1; ; i++) {
    if (ready()) return true;
    if (i % YIELD_EVERY === 0) {
      if (performance.now() >= end) return false;
      schedYield();
    }
  }
}

/**
 * Receives every message published after it subscribed, in order. Made by
 * `pubsub.subscriber()`. Async-iterable: `for await (const value of
 * subscriber)` ends once the PubSub is closed and every message read.
 */
export class Subscriber<T = Uint8Array> implements AsyncIterable<T>, Disposable {
  readonly #ring: BroadcastRing;
  readonly #cursor: ReadCursor;
  readonly #codec: Codec<T>;
  /** Drop-oldest: how to decode a copy (the bytes codec returns the copy itself). */
  readonly #decodeCopy: (bytes: Uint8Array) => T;
  /** The codec is 'bytes': a copy (or a view) is the value. */
  readonly #copies: boolean;
  readonly #hooks: PubSubHooks;
  readonly #waiter = new FutexWaiter();
  #closed = false;
  #draining = false;

  /** @internal Made by PubSub.subscriber(). The constructor is private, so that the published types offer no way to call it. */
  static make<T = Uint8Array>(
    ring: BroadcastRing,
    cursor: ReadCursor,
    codec: Codec<T>,
    copies: boolean,
    hooks: PubSubHooks,
  ): Subscriber<T> {
    return new Subscriber<T>(ring, cursor, codec, copies, hooks);
  }

  private constructor(ring: BroadcastRing, cursor: ReadCursor, codec: Codec<T>, copies: boolean, hooks: PubSubHooks) {
    this.#ring = ring;
    this.#cursor = cursor;
    this.#codec = codec;
    this.#copies = copies;
    this.#decodeCopy = copies ? (bytes) => bytes as T : (bytes) => decodeMessage(codec, bytes, 'subscriber');
    this.#hooks = hooks;
  }

  /**
   * How many messages this subscriber missed because publishers overwrote
   * them before it read them (drop-oldest mode only; always 0 when lossless).
   * Exact: it counts every message published since it subscribed that it
   * did not receive (a message whose publisher died mid-write counts too).
   */
  get missed(): number {
    return this.#cursor.missed;
  }

  /** Whether this subscriber, or the PubSub, is closed (messages still in the ring can be received from a closed PubSub). */
  get closed(): boolean {
    return this.#closed || this.#ring.closed;
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the subscriber is closed`);
    // The message a drain() handler holds is still at the cursor: it would be taken twice.
    if (this.#draining) throw channelError('ERR_CHANNEL_BUSY', `${what}: called from a drain() handler of the same subscriber`);
  }

  /** The message at `position` (found by poll), decoded; undefined if it was overwritten meanwhile (drop-oldest). */
  #take(position: number): { value: T } | undefined {
    const ring = this.#ring;
    const cursor = this.#cursor;
    const offset = ring.payloadOffset(position);
    const length = cursor.length;
    if (ring.dropOldest) {
      // Copy, then check that no publisher started to overwrite it (seqlock).
      const copy = ring.u8.slice(offset, offset + length);
      if (!cursor.intact(position)) return undefined;
      cursor.release();
      return { value: this.#decodeCopy(copy) };
    }
    // Lossless: nobody writes here until we move on. A decode that throws still consumes the message.
    try {
      return { value: decodeMessage(this.#codec, new Uint8Array(ring.buffer, offset, length), 'subscriber') };
    } finally {
      cursor.release();
    }
  }

  /** The next message if there is one now. */
  #tryTake(reap = false): { value: T } | undefined {
    for (;;) {
      // EMPTY, or PENDING (more records to skip than one poll skips): nothing now.
      const position = this.#cursor.poll(reap);
      if (position < 0) return undefined;
      const taken = this.#take(position);
      if (taken !== undefined) return taken;
    }
  }

  /**
   * The next message if there is one now, else `undefined` (with the 'v8' or
   * a custom codec, a message whose value is `undefined` looks the same: use
   * recv() or iteration there).
   */
  tryRecv(): T | undefined {
    this.#assertOpen('tryRecv');
    return this.#tryTake()?.value;
  }

  /**
   * Hands every message there is now (up to `max`) to `handler`,
   * synchronously, and returns how many there were: one call for a burst,
   * no promise and no object per message. In lossless mode each value is
   * decoded from the ring in place; with the 'bytes' codec it is a view of
   * the ring itself (zero copy), valid only during the call. With
   * drop-oldest each is a checked copy. A handler that throws stops the
   * drain; its message counts as received. One that closes the subscriber
   * stops it too.
   */
  drain(handler: (value: T) => void, max = Infinity): number {
    if (typeof handler !== 'function') throw invalidType('handler', 'of type function', handler);
    validateCount(max, 'max');
    this.#assertOpen('drain');
    const ring = this.#ring;
    const cursor = this.#cursor;
    let count = 0;
    if (ring.dropOldest) {
      while (count < max && !this.#closed) {
        const position = cursor.poll();
        if (position < 0) break;
        const taken = this.#take(position);
        if (taken === undefined) continue;
        count++;
        handler(taken.value);
      }
      return count;
    }
    // Lossless: the cursor moves on before the handler runs (a handler that
    // throws has received its message), but publishers see it move only after
    // the handler, once per quarter ring and at the end.
    const buffer = ring.buffer;
    const codec = this.#copies ? undefined : this.#codec;
    const publishEvery = ring.capacity >>> 2;
    this.#draining = true;
    try {
      while (count < max) {
        const position = cursor.poll();
        if (position < 0) break;
        const view = new Uint8Array(buffer, ring.payloadOffset(position), cursor.length);
        cursor.release(false);
        count++;
        handler(codec === undefined ? (view as T) : decodeMessage(codec, view, 'drain'));
        if (this.#closed) break;
        if (cursor.unpublished >= publishEvery) cursor.publish();
      }
    } finally {
      this.#draining = false;
      // A closed subscriber has left the table: its entry may be someone else's now.
      if (!this.#closed && cursor.unpublished > 0) cursor.publish();
    }
    return count;
  }

  /**
   * The next message; waits while there is none.
   * @throws ChannelError ERR_CHANNEL_CLOSED once the PubSub is closed and
   *   every message read (or this subscriber closed), ETIMEDOUT; AbortError.
   */
  recv(options: PubSubWaitOptions = {}): Promise<T> {
    try {
      this.#assertOpen('recv');
      checkWaitOptions(options);
      const taken = this.#tryTake();
      if (taken !== undefined) return Promise.resolve(taken.value);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#wait(options, 'recv');
  }

  async #wait(options: PubSubWaitOptions, what: string): Promise<T> {
    const deadline = deadlineOf(options.timeoutMs);
    const ring = this.#ring;
    const cursor = this.#cursor;
    let taken: { value: T } | undefined;
    const ready = (): boolean => this.#closed || cursor.poll() >= 0 || cursor.drained();
    for (let spun = false; ; ) {
      this.#assertOpen(what);
      taken = this.#tryTake();
      if (taken !== undefined) return taken.value;
      if (cursor.drained()) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the PubSub is closed and every message was read`);
      // A publisher may sleep for the room we made.
      cursor.beforeWait();
      if (!spun) {
        spun = true;
        if (spinYielding(this.#hooks.mode, ready, deadline.timeoutMs)) continue;
      }
      await block(
        {
          // Spun already, yielding (above): after a wake-up, straight back to sleep.
          mode: 'sleep',
          buffer: ring.buffer,
          i32: ring.i32,
          handshake: DATA_HANDSHAKE,
          waiter: this.#waiter,
          soleWaiter: false,
          deadline,
          signal: options.signal,
          what,
          outcome: 'nothing was received',
          spun: true,
        },
        ready,
        // A record whose publisher died before publishing it: skip it. A
        // closed ring's end waits for a free claim lock: a dead owner's never is.
        () => {
          if (ring.closed) ring.freeDeadLock();
          cursor.poll(true);
        },
      );
      spun = false;
    }
  }

  /**
   * The messages, for `for await`, with a way out: aborting `signal` ends the
   * loop with an AbortError; `timeoutMs` limits each wait. The loop ends
   * quietly once the PubSub is closed and every message read.
   */
  messages(options: PubSubWaitOptions = {}): AsyncIterableIterator<T> {
    const { signal, timeoutMs } = validateObject(options, 'options') as PubSubWaitOptions;
    validateAbortSignal(signal, 'options.signal');
    deadlineOf(timeoutMs);
    return this.#iterate({ signal, timeoutMs });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this.#iterate({});
  }

  async *#iterate(options: PubSubWaitOptions): AsyncIterableIterator<T> {
    for (;;) {
      if (options.signal?.aborted) throw abortError(options.signal);
      let value: T;
      try {
        value = await this.recv(options);
      } catch (error) {
        if (error instanceof ChannelError && error.code === 'ERR_CHANNEL_CLOSED') return;
        throw error;
      }
      yield value;
    }
  }

  /** Unsubscribes: publishers stop waiting for it; pending recv() calls reject with ERR_CHANNEL_CLOSED. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cursor.leave();
    this.#waiter.close();
    this.#hooks.forget(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
