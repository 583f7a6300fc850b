// The receiving end: one per channel at a time. It consumes records in ring
// order, skips padding and records whose writer died before publishing, and
// frees space as it goes.
import { typedArrayByteLength, typedArraySet, Uint8ArrayCtor } from '../core/primordials.js';
import { detachedBytesError, isDetachedView } from '../core/bytes.js';
import { optionNames, validateAbortSignal, validateInteger, validateObject, validateOptions } from '../core/validate.js';
import { abortError, ChannelError, channelError, invalidType, outOfRange } from '../core/errors.js';
import { EMPTY, DATA_HANDSHAKE, type Ring } from './ring.js';
import type { EndpointHooks, ChannelWaitOptions } from './sender.js';
import { FutexWaiter } from '../sysv/futex.js';
import { spin } from '../sysv/spin.js';
import { block, checkWaitOptions, deadlineOf } from './block.js';
import { type Codec, decodeMessage } from './codec.js';
import { eventsOf, readableFrom, type EventsOptions, type ReadableOptions } from './streams.js';
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';

export type { EventsOptions, ReadableOptions } from './streams.js';

const READABLE_OPTIONS = optionNames<ReadableOptions>()('highWaterMark', 'signal');
const EVENTS_OPTIONS = optionNames<EventsOptions>()('signal');

/**
 * A message read in place: `data` is a view into the ring, valid until
 * `release()` or until the receiver is detached (which counts the message
 * as received and gives its space back).
 */
export interface ReceivedView {
  /** The message's bytes, in the shared segment itself. */
  readonly data: Uint8Array;
  /** Gives the message's space back to senders; `data` must not be used after. A no-op once the receiver is detached. */
  release(): void;
}

/** Options of {@link Receiver.recvBatch}. */
export interface RecvBatchOptions extends ChannelWaitOptions {
  /** At most this many messages (default 64). */
  max?: number | undefined;
}

/** Messages this long or longer are copied out into memory that is not zeroed first (every byte is overwritten). */
const UNZEROED_FROM = 1 << 16;
const isUint8Array = (value: unknown): value is Uint8Array => value instanceof Uint8Array;

/**
 * Receives messages from a channel. Made by `channel.receiver()`. Messages
 * from one sender arrive in the order they were sent; each arrives once.
 * Async-iterable: `for await (const message of receiver)` ends after the
 * channel is closed and drained; `receiver.messages({ signal })` is the same
 * loop that an AbortSignal can end.
 */
export class Receiver<T = Uint8Array> implements AsyncIterable<T>, Disposable {
  readonly #ring: Ring;
  readonly #hooks: EndpointHooks;
  readonly #waiter = new FutexWaiter();
  /** The channel's codec; undefined for bytes, whose messages are copied out as they are. */
  readonly #codec: Codec<T> | undefined;
  /** A message is out (a view, or drain()'s handler holds it): it is the record at the cursor, not yet released. */
  #viewOut = false;
  /** Set with #viewOut while drain() runs its handler. */
  #draining = false;
  /** Set with #viewOut while events() holds the message at the cursor, not yet taken. */
  #holding = false;
  /** Where the message events() holds is (the cursor's record). */
  #heldAt = 0;
  #detached = false;

  /** @internal Made by Channel.receiver(). The constructor is private, so that the published types offer no way to call it. */
  static make<T = Uint8Array>(ring: Ring, hooks: EndpointHooks, codec?: Codec<T>): Receiver<T> {
    return new Receiver<T>(ring, hooks, codec);
  }

  private constructor(ring: Ring, hooks: EndpointHooks, codec?: Codec<T>) {
    this.#ring = ring;
    this.#hooks = hooks;
    this.#codec = codec;
  }

  /**
   * Whether the channel is closed (messages still in the ring can be
   * received), or this receiver was disposed of (or its channel detached),
   * as a sender's `closed` is after its close().
   */
  get closed(): boolean {
    // After the channel's detach the ring's memory is gone: it must not be read.
    return this.#detached || this.#ring.closed;
  }

  #assertUsable(what: string): void {
    if (this.#detached) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the receiver is detached`);
    if (this.#viewOut) {
      throw channelError(
        'ERR_CHANNEL_BUSY',
        this.#draining
          ? `${what}: drain() is handing a message to its handler`
          : this.#holding
            ? `${what}: events() is taking the next message (one reader at a time)`
            : `${what}: release() the previous recvView() first`,
      );
    }
  }

  /** The committed record at the cursor, or EMPTY; throws if this receiver cannot receive now. */
  #poll(what: string): number {
    if (this.#detached || this.#viewOut) this.#assertUsable(what);
    return this.#ring.poll(false);
  }

  #copy(pos: number): Uint8Array {
    const ring = this.#ring;
    const offset = ring.payloadOffset(pos);
    const length = ring.lengthAt(pos);
    let message: Uint8Array;
    if (length < UNZEROED_FROM) {
      message = ring.u8.slice(offset, offset + length);
    } else {
      // A fresh zeroed buffer per large message page-faults on every use.
      message = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
      typedArraySet(message, new Uint8ArrayCtor(ring.buffer, offset, length));
    }
    ring.release(pos);
    return message;
  }

  /** The message at `pos` as a value: a copy of its bytes, or what the codec decodes from them in place. */
  #value(pos: number, what: string): T {
    return this.#codec === undefined ? (this.#copy(pos) as T) : this.#decode(pos, what, true);
  }

  /**
   * Decodes the record at `pos` in place and releases it. A message the codec
   * cannot decode is released too when `consume` (the channel must not wedge
   * on it), else left for the next receive, which reports it.
   */
  #decode(pos: number, what: string, consume: boolean): T {
    const ring = this.#ring;
    const codec = this.#codec!;
    const length = ring.lengthAt(pos);
    let value: T;
    try {
      const bytes = new Uint8Array(ring.buffer, ring.payloadOffset(pos), length);
      value = consume ? decodeMessage(codec, bytes, what) : codec.decode(bytes);
    } catch (error) {
      // (A codec that detached the channel has given the place up: nothing to release.)
      if (consume && !this.#detached) ring.release(pos);
      throw error;
    }
    if (!this.#detached) ring.release(pos);
    return value;
  }

  /** Copies the record at `pos` into `target` and releases it; a RangeError (the record stays) if it does not fit. */
  #copyInto(pos: number, target: Uint8Array, what: string): number {
    const ring = this.#ring;
    const length = ring.lengthAt(pos);
    const room = typedArrayByteLength(target);
    // Checked here, not only at the call: the caller may transfer the buffer while recvInto waits.
    if (room === 0 && isDetachedView(target)) {
      throw detachedBytesError('target', target);
    }
    if (length > room) {
      throw outOfRange('target', `at least ${length} bytes (the next message's length; ${what} leaves it in the channel)`, target);
    }
    typedArraySet(target, new Uint8ArrayCtor(ring.buffer, ring.payloadOffset(pos), length));
    ring.release(pos);
    return length;
  }

  #view(pos: number): ReceivedView {
    const ring = this.#ring;
    const offset = ring.payloadOffset(pos);
    const data = new Uint8Array(ring.buffer, offset, ring.lengthAt(pos));
    this.#viewOut = true;
    let released = false;
    return {
      data,
      release: () => {
        if (released) return;
        released = true;
        // A detach while it was out released it already.
        if (this.#detached) return;
        this.#viewOut = false;
        ring.release(pos);
      },
    };
  }

  /**
   * @internal For events(): holds the message at the cursor without taking
   * it, if there is one now (true). Until takeHeld() or leaveHeld() the
   * receiver is busy, as with a recvView() view out; a detach meanwhile
   * leaves the message in the channel.
   */
  tryHold(): boolean {
    const pos = this.#poll('events');
    if (pos >= 0) this.#hold(pos);
    return pos >= 0;
  }

  /** @internal For events(): tryHold(), waiting while the channel is empty. */
  hold(options: ChannelWaitOptions): Promise<void> {
    return this.#receive(options, 'events', (pos) => this.#hold(pos));
  }

  #hold(pos: number): void {
    this.#viewOut = this.#holding = true;
    this.#heldAt = pos;
  }

  /** @internal Takes the held message as recv() would: copied out or decoded, and released. */
  takeHeld(): T {
    if (!this.#holding || this.#detached) throw channelError('ERR_CHANNEL_CLOSED', 'events: the receiver is detached');
    this.#viewOut = this.#holding = false;
    return this.#value(this.#heldAt, 'events');
  }

  /** @internal Leaves the held message at the cursor, for whoever receives next. */
  leaveHeld(): void {
    if (!this.#holding) return;
    this.#holding = false;
    if (!this.#detached) this.#viewOut = false;
  }

  /**
   * A copy of the next message (with a codec, its decoded value), or null if
   * there is none now (or the channel is closed and drained). A JSON or v8
   * `null` message is also null here: tell them apart with recv().
   * @throws ChannelError ERR_CHANNEL_DECODE if the codec cannot decode it (it is consumed).
   */
  tryRecv(): T | null {
    const pos = this.#poll('tryRecv');
    return pos >= 0 ? this.#value(pos, 'tryRecv') : null;
  }

  /** Like {@link recvView} without waiting: null if there is no message now. */
  tryRecvView(): ReceivedView | null {
    const pos = this.#poll('tryRecvView');
    return pos >= 0 ? this.#view(pos) : null;
  }

  /**
   * Copies the next message into `target` (from its start) and returns its
   * length, or null if there is no message now. Allocates nothing.
   * @throws RangeError ERR_OUT_OF_RANGE if the message is longer than
   *   `target` (it stays in the channel: receive it with a larger target).
   */
  tryRecvInto(target: Uint8Array): number | null {
    if (!isUint8Array(target)) throw invalidType('target', 'an instance of Uint8Array', target);
    const pos = this.#poll('tryRecvInto');
    return pos >= 0 ? this.#copyInto(pos, target, 'tryRecvInto') : null;
  }

  /** Like {@link tryRecvInto}, waiting while the channel is empty; resolves to the message's length. */
  recvInto(target: Uint8Array, options: ChannelWaitOptions = {}): Promise<number> {
    if (!isUint8Array(target)) return Promise.reject(invalidType('target', 'an instance of Uint8Array', target));
    return this.#receive(options, 'recvInto', (pos) => this.#copyInto(pos, target, 'recvInto'));
  }

  /**
   * What every waiting receive does: take the record at once if it is there
   * (or arrives within the spin) with no promise of ours, else wait for it.
   */
  #receive<R>(options: ChannelWaitOptions, what: string, take: (pos: number) => R): Promise<R> {
    try {
      const pos = this.#ready(options, what);
      if (pos >= 0) return Promise.resolve(take(pos));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#next(options, what, take, true);
  }

  /**
   * The committed record at the cursor if there is one now or after this
   * mode's bounded spin, done synchronously: a message that arrives within
   * the spin costs no promise of ours, only the caller's await. EMPTY if the
   * caller must wait.
   */
  #ready(options: ChannelWaitOptions, what: string): number {
    this.#assertUsable(what);
    checkWaitOptions(options);
    const ring = this.#ring;
    const pos = ring.poll(false);
    if (pos >= 0 || this.#hooks.mode === 'sleep') return pos;
    // A sender may sleep for room that we just freed.
    ring.wakeSpaceWaiters();
    let found = EMPTY;
    spin(this.#hooks.mode, () => (found = ring.poll(false)) >= 0 || ring.drained(), { timeoutMs: options.timeoutMs });
    return found;
  }

  /**
   * The next message, copied out of the ring (with a codec, decoded from it);
   * waits while the ring is empty.
   * @throws ChannelError ERR_CHANNEL_DECODE if the codec cannot decode the
   *   message (it is consumed; `cause` is the codec's error),
   *   ERR_CHANNEL_CLOSED once the channel is closed and
   *   drained, ERR_CHANNEL_PEER_DEAD if every registered sender died while
   *   the ring is empty (reported once: the dead are then forgotten and a new
   *   sender may come), ETIMEDOUT; AbortError.
   */
  recv(options: ChannelWaitOptions = {}): Promise<T> {
    return this.#receive(options, 'recv', (pos) => this.#value(pos, 'recv'));
  }

  /**
   * Waits for at least one message, then takes every message there is, up to
   * `max`: one promise for many messages. Each is a copy (or a decoded
   * value). A message the codec cannot decode ends the batch before it; the
   * next receive reports it.
   */
  recvBatch(options: RecvBatchOptions = {}): Promise<T[]> {
    let max: number;
    try {
      max = validateInteger(validateObject(options, 'options')['max'] ?? 64, 'max', 1, Number.MAX_SAFE_INTEGER);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#next(options, 'recvBatch', (pos) => this.#batch(pos, max));
  }

  /** The record at `pos` and every one after it there is now, up to `max`. */
  #batch(pos: number, max: number): T[] {
    const messages = [this.#value(pos, 'recvBatch')];
    if (this.#codec === undefined) {
      for (let pos: number; messages.length < max && (pos = this.#ring.poll(false)) >= 0; ) messages.push(this.#copy(pos) as T);
      return messages;
    }
    try {
      for (let pos: number; messages.length < max && (pos = this.#ring.poll(false)) >= 0; ) {
        messages.push(this.#decode(pos, 'recvBatch', false));
      }
    } catch {
      // Left in the ring: the next receive decodes it again and reports it.
    }
    return messages;
  }

  /**
   * Hands every message there is now (up to `max`) to `handler` in place,
   * zero-copy and synchronously, releasing each after its call; returns how
   * many there were. `data` is valid only during the call. A handler that
   * throws stops the drain; its message counts as received. One that
   * disposes of the receiver (or detaches the channel) stops it too, and
   * its message counts as received as well. Byte level: the channel's codec
   * is not applied (decode `data` with it if need be).
   */
  drain(handler: (data: Uint8Array) => void, max = Infinity): number {
    if (typeof handler !== 'function') throw invalidType('handler', 'of type function', handler);
    const ring = this.#ring;
    let count = 0;
    for (let pos: number; count < max && (pos = this.#poll('drain')) >= 0; ) {
      const offset = ring.payloadOffset(pos);
      const data = new Uint8Array(ring.buffer, offset, ring.lengthAt(pos));
      count++;
      // The message is out, like a view: a receive from inside the handler
      // would take it a second time.
      this.#viewOut = this.#draining = true;
      try {
        handler(data);
      } finally {
        this.#viewOut = this.#draining = false;
        // A handler that detached this receiver released it there.
        if (!this.#detached) ring.release(pos);
      }
      // A handler that detached (or disposed) this receiver ends the drain there.
      if (this.#detached) break;
    }
    return count;
  }

  /**
   * The next message in place, zero-copy: `data` is a view into the ring and
   * stays valid (its space is not reused) until `release()`. One view at a
   * time; the other receive calls throw until it is released. Detaching the
   * receiver releases it (the message counts as received; `data` must not be
   * used after). Byte level, as are recvInto and tryRecvInto: the channel's
   * codec is not applied.
   */
  recvView(options: ChannelWaitOptions = {}): Promise<ReceivedView> {
    return this.#receive(options, 'recvView', (pos) => this.#view(pos));
  }

  /**
   * Waits for the next committed record and takes it. `take` runs in the
   * same step as the poll that found it: a position handed on to a later
   * microtask could be used after a detach() (an emptied buffer) or a
   * receive in between (the record taken twice).
   */
  async #next<R>(options: ChannelWaitOptions, what: string, take: (pos: number) => R, spun = false): Promise<R> {
    this.#assertUsable(what);
    // After #ready (spun), the options were checked already.
    if (!spun) checkWaitOptions(options);
    const deadline = deadlineOf(options.timeoutMs);
    const ring = this.#ring;
    for (; ; spun = false) {
      const pos = ring.poll(false);
      if (pos >= 0) return take(pos);
      if (ring.drained()) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the channel is closed and drained`);
      // Before waiting, a sender that sleeps for room must know there is some.
      ring.wakeSpaceWaiters();
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
          outcome: 'nothing was received',
          spun,
        },
        // Closed counts only once drained: a record still being written (or
        // whose writer died, found by the slow check) is waited for.
        () => this.#detached || ring.poll(false) >= 0 || ring.drained(),
        () => this.#checkSenders(what),
      );
      this.#assertUsable(what);
    }
  }

  /** On a quiet ring: skip dead writers' records; report senders that all died. */
  #checkSenders(what: string): void {
    // A closed channel's end waits for a free claim lock: a dead sender's never is.
    if (this.#ring.closed) this.#ring.freeDeadLock();
    if (this.#ring.poll(true) !== EMPTY) return;
    const [, alive, dead] = this.#ring.reapSenders();
    if (dead.length > 0 && alive === 0) {
      // A pid word at or below 0: the sender died while it registered, before it wrote its pid.
      const pids = dead.map((pid) => (pid > 0 ? String(pid) : 'unknown, one died while registering'));
      throw channelError(
        'ERR_CHANNEL_PEER_DEAD',
        `${what}: every sender died without closing (pid ${pids.join(', ')}); nothing is in the ring (pids as each sender's own PID namespace numbers them)`,
      );
    }
  }

  /**
   * The messages, for `for await`, with a way out: each message is a copy,
   * as from `recv()`. The loop ends quietly once the channel is closed and
   * drained, as plain iteration does.
   *
   * Aborting `signal` ends the loop by throwing an `AbortError` (a
   * DOMException whose `cause` is `signal.reason`), whether the loop is
   * waiting or busy with a message, as `events.on(emitter, name, { signal })`
   * does; an already aborted signal throws on the first step. Messages not
   * yet taken stay in the ring for a later receive. `timeoutMs` limits each
   * wait for the next message: when none comes in time, the loop throws
   * ChannelError ETIMEDOUT. Breaking out of the loop takes nothing more.
   * @throws TypeError/RangeError at once for options that are not an object,
   *   a `signal` that is not an AbortSignal or a negative `timeoutMs`.
   * @example
   * const stop = new AbortController();
   * process.once('SIGINT', () => stop.abort());
   * try {
   *   for await (const message of receiver.messages({ signal: stop.signal })) handle(message);
   * } catch (error) {
   *   if ((error as Error).name !== 'AbortError') throw error;
   * }
   */
  messages(options: ChannelWaitOptions = {}): AsyncIterableIterator<T> {
    const { signal, timeoutMs } = validateObject(options, 'options') as ChannelWaitOptions;
    validateAbortSignal(signal, 'options.signal');
    deadlineOf(timeoutMs);
    return this.#iterate({ signal, timeoutMs }, 'messages');
  }

  /** Iteration until the channel is closed and drained: `for await (const message of receiver)`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this.#iterate({}, 'recv');
  }

  /**
   * A Readable stream of the messages: object mode with a codec other than
   * bytes (one chunk per value), else a byte stream (message boundaries are
   * not kept). It takes a message from the ring only while its buffer has
   * room (backpressure reaches the senders), ends once the channel is closed
   * and drained, and is destroyed with the error of a failed receive
   * (ERR_CHANNEL_PEER_DEAD, ERR_CHANNEL_DECODE). Detaching the receiver closes
   * it without 'end' (a premature close: messages may be left). Destroying it
   * discards what it buffered, as any Readable does: up to `highWaterMark`
   * messages taken from the ring. One reader at a time: while it runs, do not
   * receive otherwise.
   */
  readable(options: ReadableOptions = {}): Readable {
    const opts = validateOptions(options, READABLE_OPTIONS, 'receiver.readable()') as ReadableOptions;
    return readableFrom<T>(this, this.#codec !== undefined, opts, () => this.#detached);
  }

  /**
   * The messages as events, for code written that way: an EventEmitter that,
   * while it has a `'message'` listener, emits `'message'` (value) for each
   * message, `'end'` once the channel is closed and drained, `'error'` for a
   * failed receive (or a listener that threw), then `'close'`. Once the last
   * `'message'` listener is removed (a `once()` one, `removeAllListeners()`
   * included) it takes nothing until another is added: a message is taken
   * only when a listener is there, and emitted in the same turn. Aborting
   * `options.signal`, or detaching the receiver, stops it (then only
   * `'close'`), and the rest stay in the channel.
   */
  events(options: EventsOptions = {}): EventEmitter {
    const opts = validateOptions(options, EVENTS_OPTIONS, 'receiver.events()') as EventsOptions;
    validateAbortSignal(opts.signal, 'options.signal');
    return eventsOf<T>(this, opts, () => this.#detached);
  }

  async *#iterate(options: ChannelWaitOptions, what: string): AsyncIterableIterator<T> {
    const take = (pos: number): T => this.#value(pos, what);
    for (;;) {
      // Checked before taking a message too, so that nothing is taken after the abort.
      if (options.signal?.aborted) throw abortError(options.signal);
      let value: T;
      try {
        value = await this.#next(options, what, take);
      } catch (error) {
        if (error instanceof ChannelError && error.code === 'ERR_CHANNEL_CLOSED') return;
        throw error;
      }
      yield value;
    }
  }

  /**
   * Closes the channel for everyone: waiting and later sends, in every
   * process, reject with ERR_CHANNEL_CLOSED. This receiver still gets what
   * is in the ring; then recv() rejects and iteration ends.
   */
  close(): void {
    this.#hooks.close();
  }

  /**
   * @internal Stops receiving here (the channel detaches); the place is free
   * for another receiver. A message out (an unreleased view, or the one a
   * drain() handler holds) counts as received: it is released first, or the
   * next receiver would get it again.
   */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    if (this.#viewOut) {
      this.#viewOut = false;
      // Nothing moves the cursor while a message is out: it is that record.
      // One that events() holds is not taken yet: it stays for the next receiver.
      if (!this.#holding) this.#ring.release(this.#ring.head & this.#ring.mask);
    }
    this.#ring.unregisterReceiver();
    this.#waiter.close();
    this.#hooks.forget(this);
  }

  /**
   * @internal Steps down as detach() does, but a recvView() view still out
   * stays in the channel, unreleased: the next receiver gets it. For the
   * bridge's JetStream 'out', whose message is not the stream's until it
   * acknowledges it (a SIGKILL'd bridge leaves it so too).
   */
  detachLeavingView(): void {
    // A drain handler's message stays received, as with detach().
    if (!this.#draining) this.#viewOut = false;
    this.detach();
  }

  [Symbol.dispose](): void {
    this.detach();
  }
}
