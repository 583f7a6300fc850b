// The sending end. Any number of senders, in any processes, share a channel;
// each one's messages arrive in the order it sent them.
import { channelError, invalidType, outOfRange } from '../core/errors.js';
import * as F from './format.js';
import { backOff, SendQueue } from './send-queue.js';
import { byteLengthOf, copyInto, type MessageData } from './message-data.js';
import { BUSY, CLOSED, SPACE_HANDSHAKE, type Ring } from './ring.js';
import { FutexWaiter } from '../sysv/futex.js';
import { block, checkWaitOptions, spinForBytes, type Deadline } from './block.js';
import { codecName, mayReuseOutput, textForm, type Codec } from './codec.js';
import { optionNames, validateOptions } from '../core/validate.js';
import type { Writable } from 'node:stream';
import { writableTo, type WritableOptions } from './streams.js';

export type { MessageData } from './message-data.js';
export type { WritableOptions } from './streams.js';

const WRITABLE_OPTIONS = optionNames<WritableOptions>()('highWaterMark', 'signal', 'closeChannel');

/**
 * What `send` takes on a channel of values `T`: for bytes (`Uint8Array`),
 * any {@link MessageData} (strings as UTF-8), as before codecs; else `T`.
 */
// biome-ignore lint/suspicious/noExplicitAny: a channel opened without a codec carries values unknown at compile time.
export type SendValue<T> = 0 extends 1 & T ? any : [T] extends [Uint8Array] ? MessageData : T;

const utf8 = new TextEncoder();

/** Spins a try* call gives a claim lock held by another live sender (well under a millisecond). */
const TRY_PATIENCE = 256;
/** Options of a wait. */
export interface ChannelWaitOptions {
  /** Give up after this many ms: reject with the IpcError `ETIMEDOUT` of every wait; default: no limit. */
  timeoutMs?: number | undefined;
  /** Abort the wait: rejects with an AbortError. */
  signal?: AbortSignal | undefined;
}

/** @internal How a channel tells an endpoint it is being detached. */
export interface EndpointHooks {
  readonly mode: F.WaitMode;
  /** The endpoint let go of its place: a sender of its writer id, the receiver of none. */
  readonly forget: (endpoint: object, writer?: number) => void;
  /** Closes the channel for every process. */
  readonly close: () => void;
}

/**
 * Sends messages into a channel. Made by `channel.sender()`; registered in
 * the segment (by presence token) until {@link close}, so the receiver can
 * tell a sender that crashed from one that is slow.
 */
export class Sender<T = Uint8Array> implements Disposable {
  readonly #ring: Ring;
  readonly #hooks: EndpointHooks;
  /** This sender's registration in the segment's sender table (F.writerId). */
  readonly #writer: number;
  readonly #waiter = new FutexWaiter();
  readonly #max: number;
  #closed = false;
  /** The last queued send: sends run one after another, in call order. */
  readonly #sends = new SendQueue();
  #reserved = -1;
  #reservedLength = 0;
  /** The channel's codec; undefined for bytes, whose sends take the plain byte path. */
  readonly #codec: Codec<T> | undefined;

  /** @internal Made by Channel.sender(). The constructor is private, so that the published types offer no way to call it. */
  static make<T = Uint8Array>(ring: Ring, writer: number, hooks: EndpointHooks, codec?: Codec<T>): Sender<T> {
    return new Sender<T>(ring, writer, hooks, codec);
  }

  private constructor(ring: Ring, writer: number, hooks: EndpointHooks, codec?: Codec<T>) {
    this.#ring = ring;
    this.#writer = writer;
    this.#hooks = hooks;
    this.#max = F.maxMessage(ring.capacity);
    this.#codec = codec;
  }

  /** The largest message this channel carries, in bytes. */
  get maxMessageSize(): number {
    return this.#max;
  }

  /** Whether this sender was closed, or the channel was. */
  get closed(): boolean {
    return this.#closed || this.#ring.closed;
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the sender is closed`);
  }

  #length(data: MessageData): number {
    const length = byteLengthOf(data);
    if (length > this.#max) throw outOfRange('data', `at most ${this.#max} bytes (the channel's capacity less a record header)`, length);
    return length;
  }

  /** Claims a record or returns FULL/BUSY; throws if the channel is closed. */
  #claim(length: number, what: string, patience?: number): number {
    const pos = this.#ring.claim(length, this.#writer, patience);
    if (pos === CLOSED) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the channel is closed`);
    return pos;
  }

  /** Copies the message into its claimed record and publishes it; a copy that throws abandons the record. */
  #write(pos: number, data: MessageData, length: number): void {
    const ring = this.#ring;
    try {
      copyInto(ring.u8, ring.payloadOffset(pos), data, length);
    } catch (error) {
      ring.publish(pos, F.STATE_ABANDONED, 0);
      throw error;
    }
    ring.publish(pos, F.STATE_COMMITTED, length);
  }

  /**
   * Sends `data` if there is room now. False if the ring is full (or, rarely,
   * its claim lock stayed busy), or if earlier send() calls still wait: this
   * sender's messages never overtake each other. With a codec other than
   * bytes, `data` is a value, encoded at once.
   * @throws ChannelError ERR_CHANNEL_CLOSED; RangeError if larger than {@link maxMessageSize};
   *   the codec's error if it cannot encode the value.
   */
  trySend(data: SendValue<T>): boolean {
    if (this.#codec !== undefined) return this.#trySendValue(data as T);
    return this.#trySendBytes(data as MessageData);
  }

  #trySendBytes(data: MessageData): boolean {
    if (this.#closed) this.#assertOpen('trySend');
    const length = this.#length(data);
    if (this.#sends.busy) return false;
    const pos = this.#ring.claim(length, this.#writer, TRY_PATIENCE);
    if (pos < 0) {
      if (pos === CLOSED) throw channelError('ERR_CHANNEL_CLOSED', 'trySend: the channel is closed');
      return false;
    }
    this.#write(pos, data, length);
    return true;
  }

  /**
   * Sends `data` (copied into the ring), waiting while the ring is full
   * (backpressure). Resolves once the message is in the ring. Do not change
   * `data` before then.
   * @throws ChannelError ERR_CHANNEL_CLOSED (channel or sender closed, also
   *   while waiting), ERR_CHANNEL_PEER_DEAD (the ring is full and its
   *   receiver died), ETIMEDOUT; AbortError.
   */
  send(data: SendValue<T>, options: ChannelWaitOptions = {}): Promise<void> {
    try {
      checkWaitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#codec !== undefined) return this.#sendValue(data as T, options);
    return this.#sendBytes(data as MessageData, options);
  }

  /** `encoded`: bytes a user codec gave, which it may reuse (a scratch buffer): a send that must wait keeps a copy. */
  #sendBytes(data: MessageData, options: ChannelWaitOptions, encoded = false): Promise<void> {
    try {
      if (this.#trySendBytes(data)) return Promise.resolve();
      const length = this.#length(data);
      const kept = encoded ? (data as Uint8Array).slice() : data;
      return this.#enqueue(options, 'send', (deadline) =>
        this.#claimWaiting(length, deadline, options.signal, 'send', (pos) => this.#write(pos, kept, length)),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---- values (codecs other than bytes) ----------------------------------

  /** The value's encoding for a codec that cannot write into the ring: its own bytes, checked. */
  #encode(value: T): Uint8Array {
    const codec = this.#codec!;
    const bytes = codec.encode(value);
    if (!(bytes instanceof Uint8Array)) {
      throw invalidType('encoded', `an instance of Uint8Array (what the '${codecName(codec)}' codec's encode() returned)`, bytes);
    }
    return bytes;
  }

  /**
   * Text (and JSON as text) goes straight into the ring: a record sized to
   * its UTF-8 upper bound, of which the written length is published. True if
   * sent; false if the bound is beyond the largest message or has no room now.
   */
  #trySendText(text: string, what: string): boolean {
    const bound = text.length * 3;
    if (bound > this.#max || this.#sends.busy) return false;
    const ring = this.#ring;
    const pos = ring.claim(bound, this.#writer, TRY_PATIENCE);
    if (pos < 0) {
      if (pos === CLOSED) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the channel is closed`);
      return false;
    }
    let written: number;
    try {
      written = utf8.encodeInto(text, new Uint8Array(ring.buffer, ring.payloadOffset(pos), bound)).written;
    } catch (error) {
      ring.publish(pos, F.STATE_ABANDONED, 0);
      throw error;
    }
    ring.publish(pos, F.STATE_COMMITTED, written);
    return true;
  }

  #trySendValue(value: T): boolean {
    this.#assertOpen('trySend');
    const text = textForm(this.#codec!, value);
    if (text !== undefined) {
      if (this.#trySendText(text, 'trySend')) return true;
      if (this.#sends.busy) return false;
      // No room for the upper bound: the exact length may fit.
      return this.#trySendBytes(utf8.encode(text));
    }
    return this.#trySendBytes(this.#encode(value));
  }

  #sendValue(value: T, options: ChannelWaitOptions): Promise<void> {
    try {
      this.#assertOpen('send');
      // Encoded now: the value may change once send() returns.
      const text = textForm(this.#codec!, value);
      if (text !== undefined && this.#trySendText(text, 'send')) return Promise.resolve();
      if (text !== undefined) return this.#sendBytes(utf8.encode(text), options);
      return this.#sendBytes(this.#encode(value), options, mayReuseOutput(this.#codec!));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A Writable stream into the channel: each chunk is one message (with a
   * codec other than bytes, an object-mode stream of values; with bytes, a
   * byte stream whose chunks longer than {@link maxMessageSize} are split).
   * A write's callback runs once its message is in the ring, so the ring's
   * backpressure is the stream's. When the stream finishes, the channel is
   * closed (the receiver's Readable then ends) unless `closeChannel` is false.
   * The stream owns this sender: once it finishes or is destroyed, it closes
   * it (its slot in the segment is freed). Destroying it drops the writes not
   * yet in the ring and leaves the channel open.
   */
  writable(options: WritableOptions = {}): Writable {
    const opts = validateOptions(options, WRITABLE_OPTIONS, 'sender.writable()') as WritableOptions;
    return writableTo(this, this.#codec !== undefined, opts, () => this.#hooks.close());
  }

  /**
   * Claims room for an `n`-byte message and returns a view of it in the ring
   * (zero-copy) to fill in, or null if there is no room now. The receiver
   * sees the message after {@link commit}, and nothing if the sender dies first.
   * @throws ChannelError ERR_CHANNEL_BUSY if a reservation is not committed yet.
   */
  tryReserve(n: number): Uint8Array | null {
    this.#assertOpen('tryReserve');
    this.#assertNoReservation('tryReserve');
    const length = this.#reserveLength(n);
    if (this.#sends.busy) return null;
    const pos = this.#claim(length, 'tryReserve', TRY_PATIENCE);
    if (pos < 0) return null;
    return this.#reservation(pos, length);
  }

  /** Like {@link tryReserve}, waiting for room like {@link send}. */
  reserve(n: number, options: ChannelWaitOptions = {}): Promise<Uint8Array> {
    try {
      checkWaitOptions(options);
      const view = this.tryReserve(n);
      if (view) return Promise.resolve(view);
      const length = this.#reserveLength(n);
      let result!: Uint8Array;
      return this.#enqueue(options, 'reserve', (deadline) => {
        this.#assertNoReservation('reserve');
        return this.#claimWaiting(length, deadline, options.signal, 'reserve', (pos) => {
          result = this.#reservation(pos, length);
        });
      }).then(() => {
        // A close() since the claim discarded the reservation: no view of a record nobody can commit.
        this.#assertOpen('reserve');
        return result;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Publishes the reserved message, `length` bytes long (default: all that was
   * reserved; less is allowed).
   */
  commit(length = this.#reservedLength): void {
    if (this.#reserved < 0) throw channelError('ERR_CHANNEL_BUSY', 'commit: nothing is reserved');
    if (!Number.isInteger(length) || length < 0 || length > this.#reservedLength) {
      throw outOfRange('length', `an integer >= 0 and <= ${this.#reservedLength} (the reserved size)`, length);
    }
    const pos = this.#reserved;
    this.#reserved = -1;
    this.#ring.publish(pos, F.STATE_COMMITTED, length);
  }

  /** Gives up the reservation: the receiver skips it. */
  discard(): void {
    if (this.#reserved < 0) return;
    const pos = this.#reserved;
    this.#reserved = -1;
    this.#ring.publish(pos, F.STATE_ABANDONED, 0);
  }

  /**
   * Releases this sender: an uncommitted reservation is discarded, waiting
   * sends reject with ERR_CHANNEL_CLOSED, and its slot in the segment is
   * freed. The channel stays open for other senders.
   */
  close(): void {
    if (this.#closed) return;
    this.discard();
    this.#closed = true;
    this.#ring.unregisterSender(this.#writer);
    this.#waiter.close();
    this.#hooks.forget(this, this.#writer);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #reserveLength(n: number): number {
    if (typeof n !== 'number') throw invalidType('n', 'of type number', n);
    if (!Number.isInteger(n) || n < 0 || n > this.#max) throw outOfRange('n', `an integer >= 0 and <= ${this.#max}`, n);
    return n;
  }

  #assertNoReservation(what: string): void {
    if (this.#reserved >= 0) throw channelError('ERR_CHANNEL_BUSY', `${what}: commit() or discard() the previous reservation first`);
  }

  #reservation(pos: number, length: number): Uint8Array {
    this.#reserved = pos;
    this.#reservedLength = length;
    return new Uint8Array(this.#ring.buffer, this.#ring.payloadOffset(pos), length);
  }

  #enqueue(options: ChannelWaitOptions, what: string, job: (deadline: Deadline) => Promise<void>): Promise<void> {
    return this.#sends.enqueue(options.timeoutMs, options.signal, what, () => this.#assertOpen(what), job);
  }

  /**
   * Claims a record once there is room and hands it to `use` at once, in the
   * same synchronous step: a close() or detach() can never come between a
   * claim and its use (it would leave the record claimed and never published).
   */
  async #claimWaiting(
    length: number,
    deadline: Deadline,
    signal: AbortSignal | undefined,
    what: string,
    use: (pos: number) => void,
  ): Promise<void> {
    const ring = this.#ring;
    let busy = 0;
    for (;;) {
      this.#assertOpen(what);
      const pos = this.#claim(length, what);
      if (pos >= 0) {
        use(pos);
        return;
      }
      if (pos === BUSY) {
        // A live process holds the claim lock far longer than its few stores
        // take: wait until it lets go or dies (then the lock is taken over).
        busy = await backOff(busy, deadline, signal, what, 'nothing was sent: the claim lock stayed held by a live process');
        continue;
      }
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
          what,
          outcome: 'nothing was sent',
          extraSpinMs: spinForBytes(length),
        },
        () => this.#closed || ring.hasRoomFor(length),
        () => this.#checkReceiver(what),
      );
    }
  }

  /** A full ring whose receiver died never drains: say so instead of waiting forever. */
  #checkReceiver(what: string): void {
    if (this.#ring.receiverGone()) {
      const pid = this.#ring.receiverPid;
      throw channelError(
        'ERR_CHANNEL_PEER_DEAD',
        `${what}: the channel is full and its receiver (${pid === 0 ? 'pid unknown' : `pid ${pid} in its own PID namespace`}) died without closing it`,
      );
    }
  }
}
