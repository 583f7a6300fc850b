// The receiving end: one per channel at a time. It consumes records in ring
// order, skips padding and records whose writer died before publishing, and
// frees space as it goes.
import { ChannelError } from './errors.js';
import * as F from './format.js';
import { isAlive } from './liveness.js';
import { DATA_HANDSHAKE, type Ring } from './ring.js';
import type { EndpointHooks, ChannelWaitOptions } from './sender.js';
import { block, deadlineOf, FutexWaiter } from './wait.js';

/** A message read in place: `data` is a view into the ring, valid until `release()`. */
export interface ReceivedView {
  /** The message's bytes, in the shared segment itself. */
  readonly data: Uint8Array;
  /** Gives the message's space back to senders; `data` must not be used after. */
  release(): void;
}

const EMPTY = -1;
/** A record is claimed but not published yet, by a live writer. */
const PENDING = -2;

/**
 * Receives messages from a channel. Made by `channel.receiver()`. Messages
 * from one sender arrive in the order they were sent; each arrives once.
 * Async-iterable: `for await (const message of receiver)` ends after the
 * channel is closed and drained.
 */
export class Receiver implements AsyncIterable<Uint8Array>, Disposable {
  readonly #ring: Ring;
  readonly #hooks: EndpointHooks;
  readonly #waiter = new FutexWaiter();
  /** Our copy of HEAD (only the receiver moves it) and the last TAIL seen. */
  #head: number;
  #tail: number;
  #viewOut = false;
  #detached = false;

  /** @internal Made by Channel.receiver(). */
  constructor(ring: Ring, hooks: EndpointHooks) {
    this.#ring = ring;
    this.#hooks = hooks;
    this.#head = ring.head;
    this.#tail = this.#head;
  }

  /** Whether the channel is closed (messages still in the ring can be received). */
  get closed(): boolean {
    return this.#ring.closed;
  }

  /**
   * Position of the committed record at HEAD, EMPTY or PENDING. Skips
   * padding, abandoned records and, if `reap`, records whose writer died.
   */
  #poll(reap: boolean): number {
    const ring = this.#ring;
    const i32 = ring.i32;
    let head = this.#head;
    for (;;) {
      if (head === this.#tail) {
        this.#tail = ring.tail;
        if (head === this.#tail) return EMPTY;
      }
      const pos = head & ring.mask;
      const at = (F.HEADER_SIZE + pos) >> 2;
      const state = Atomics.load(i32, at);
      if (state === F.STATE_COMMITTED) return pos;
      if (state === F.STATE_CLAIMED && (!reap || isAlive(i32[at + 2]!))) return PENDING;
      // Padding, abandoned, or claimed by a writer that died: never to be published.
      head = this.#head = ring.release(head, i32[at + 3]!);
    }
  }

  /** Closed, and nothing left to receive. */
  #drained(): boolean {
    // CLOSED is set under the claim lock after every earlier claim moved
    // TAIL, so a poll after seeing it sees every record there will be.
    return this.#ring.closed && this.#poll(false) === EMPTY;
  }

  #assertUsable(what: string): void {
    if (this.#detached) throw new ChannelError('ERR_CHANNEL_CLOSED', `${what}: the receiver is detached`);
    if (this.#viewOut) throw new ChannelError('ERR_CHANNEL_BUSY', `${what}: release() the previous recvView() first`);
  }

  #copy(pos: number): Uint8Array {
    const ring = this.#ring;
    const at = (F.HEADER_SIZE + pos) >> 2;
    const offset = ring.payloadOffset(pos);
    const message = ring.u8.slice(offset, offset + ring.i32[at + 1]!);
    this.#head = ring.release(this.#head, ring.i32[at + 3]!);
    return message;
  }

  #view(pos: number): ReceivedView {
    const ring = this.#ring;
    const at = (F.HEADER_SIZE + pos) >> 2;
    const data = new Uint8Array(ring.buffer, ring.payloadOffset(pos), ring.i32[at + 1]!);
    const span = ring.i32[at + 3]!;
    this.#viewOut = true;
    let released = false;
    return {
      data,
      release: () => {
        if (released) return;
        released = true;
        this.#viewOut = false;
        if (!this.#detached) this.#head = ring.release(this.#head, span);
      },
    };
  }

  /** A copy of the next message, or null if there is none now (or the channel is closed and drained). */
  tryRecv(): Uint8Array | null {
    this.#assertUsable('tryRecv');
    const pos = this.#poll(false);
    return pos >= 0 ? this.#copy(pos) : null;
  }

  /** Like {@link recvView} without waiting: null if there is no message now. */
  tryRecvView(): ReceivedView | null {
    this.#assertUsable('tryRecvView');
    const pos = this.#poll(false);
    return pos >= 0 ? this.#view(pos) : null;
  }

  /**
   * The next message, copied out of the ring; waits while the ring is empty.
   * @throws ChannelError ERR_CHANNEL_CLOSED once the channel is closed and
   *   drained, ERR_CHANNEL_PEER_DEAD if every registered sender died while
   *   the ring is empty (reported once: the dead are then forgotten and a new
   *   sender may come), ETIMEDOUT; AbortError.
   */
  async recv(options: ChannelWaitOptions = {}): Promise<Uint8Array> {
    if (!this.#viewOut && !this.#detached) {
      const pos = this.#poll(false);
      if (pos >= 0) return this.#copy(pos);
    }
    return this.#copy(await this.#next(options, 'recv'));
  }

  /**
   * The next message in place, zero-copy: `data` is a view into the ring and
   * stays valid (its space is not reused) until `release()`. One view at a
   * time; the other receive calls throw until it is released.
   */
  async recvView(options: ChannelWaitOptions = {}): Promise<ReceivedView> {
    return this.#view(await this.#next(options, 'recvView'));
  }

  /** Waits for the next committed record; returns its position. */
  async #next(options: ChannelWaitOptions, what: string): Promise<number> {
    this.#assertUsable(what);
    const deadline = deadlineOf(options.timeoutMs);
    for (;;) {
      const pos = this.#poll(false);
      if (pos >= 0) return pos;
      if (this.#drained()) throw new ChannelError('ERR_CHANNEL_CLOSED', `${what}: the channel is closed and drained`);
      const ring = this.#ring;
      await block(
        {
          mode: this.#hooks.mode,
          buffer: ring.buffer,
          i32: ring.i32,
          handshake: DATA_HANDSHAKE,
          waiter: this.#waiter,
          soleWaiter: true,
          deadline,
          signal: options.signal,
          what,
        },
        // Closed counts only once drained: a record still being written (or
        // whose writer died, found by the slow check) is waited for.
        () => this.#detached || this.#poll(false) >= 0 || this.#drained(),
        () => this.#checkSenders(what),
      );
      this.#assertUsable(what);
    }
  }

  /** On a quiet ring: skip dead writers' records; report senders that all died. */
  #checkSenders(what: string): void {
    if (this.#poll(true) !== EMPTY) return;
    const [, alive, dead] = this.#ring.reapSenders();
    if (dead.length > 0 && alive === 0) {
      throw new ChannelError(
        'ERR_CHANNEL_PEER_DEAD',
        `${what}: every sender died without closing (pid ${dead.join(', ')}); nothing is in the ring`,
      );
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      let pos: number;
      try {
        pos = await this.#next({}, 'recv');
      } catch (error) {
        if (error instanceof ChannelError && error.code === 'ERR_CHANNEL_CLOSED') return;
        throw error;
      }
      yield this.#copy(pos);
    }
  }

  /**
   * Closes the channel for everyone: waiting and later sends, in every
   * process, reject with ERR_CHANNEL_CLOSED. This receiver still gets what
   * is in the ring; then recv() rejects and iteration ends.
   */
  close(): void {
    this.#ring.close();
  }

  /** @internal Stops receiving here (the channel detaches); the place is free for another receiver. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#viewOut = false;
    this.#ring.unregisterReceiver();
    this.#waiter.close();
    this.#hooks.forget(this);
  }

  [Symbol.dispose](): void {
    this.detach();
  }
}
