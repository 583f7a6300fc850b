// The broadcast ring's shared-memory operations on the publishers' side: the
// publisher and subscriber tables, the claim lock, claiming and publishing
// records, the wake-up handshakes and closing. Each subscriber reads with its
// own cursor (read-cursor.ts). No waiting policy here; test/pubsub-ring.test.ts
// drives it over a plain ArrayBuffer.
//
// A message is written once, however many subscribers read it. The rules that
// keep readers safe:
// 1. A record's header (length, writer, seq) is written before TAIL covers it,
//    and TAIL moves only under the claim lock, whose owner is a writer id: a
//    lock whose owner died is taken over, and its critical section only writes
//    beyond TAIL, so an interrupted one needs no repair.
// 2. A record becomes visible when its tag (its position | state) is stored,
//    last. Every claim zeroes the tag of the record after it, so the word at a
//    reader's cursor is 0 until that record is published.
// 3. Lossless ('block'): a claim never writes past the slowest active
//    subscriber's cursor plus the capacity. Drop-oldest: a claim first moves
//    OLDEST past the records it will overwrite, then INTENT past the bytes it
//    will write, then writes; a reader checks INTENT after copying (seqlock).
import { futexWake } from '../../sysv/futex.js';
import { freeIfOwnerDead, LOCK_PATIENCE, spinForLock } from '../claim-lock.js';
import { fillEntry, holderAlive, takeEntry } from '../entry.js';
import type { Liveness } from '../liveness.js';
import * as F from './format.js';

const I_CLOSED = F.OFF_CLOSED >> 2;
const I_SUB_HIGH = F.OFF_SUBSCRIBER_HIGH >> 2;
const I_LOCK = F.OFF_CLAIM_LOCK >> 2;
const I_TAIL = F.OFF_TAIL >> 2;
const I_INTENT = F.OFF_INTENT >> 2;
const I_OLDEST = F.OFF_OLDEST >> 2;
const I_DATA_WAITING = F.OFF_DATA_WAITING >> 2;
const I_DATA_FUTEX = F.OFF_DATA_FUTEX >> 2;
const I_SPACE_WAITING = F.OFF_SPACE_WAITING >> 2;
const I_SPACE_FUTEX = F.OFF_SPACE_FUTEX >> 2;
const I_PUBLISHERS = F.OFF_PUBLISHERS >> 2;
const I_SUBSCRIBERS = F.OFF_SUBSCRIBERS >> 2;
const PUB_WORDS = F.PUBLISHER_ENTRY >> 2;
const SUB_WORDS = F.SUBSCRIBER_ENTRY >> 2;
const WAKE_ALL = 0x7fff_ffff;

/** x86-64 keeps stores in order (TSO): a plain store publishes what came before it. */
export const TSO = process.arch === 'x64';

export function storeRelease(i32: Int32Array, index: number, value: number): void {
  if (TSO) i32[index] = value;
  else Atomics.store(i32, index, value);
}

/** claim() results other than a position. */
export const FULL = -1;
export const CLOSED = -2;
/** The claim lock stayed held by a live process for the whole bounded spin. */
export const BUSY = -3;

/** Word indexes of the two handshakes, for block.ts. */
export const DATA_HANDSHAKE = { waiting: I_DATA_WAITING, futex: I_DATA_FUTEX } as const;
export const SPACE_HANDSHAKE = { waiting: I_SPACE_WAITING, futex: I_SPACE_FUTEX } as const;

/** Word index of subscriber entry `slot`. */
export function subscriberAt(slot: number): number {
  return I_SUBSCRIBERS + slot * SUB_WORDS;
}

/** Views of one publish/subscribe segment and the operations on them. */
export class BroadcastRing {
  readonly buffer: ArrayBuffer;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly capacity: number;
  readonly mask: number;
  /** Drop-oldest: publishers never wait for subscribers. */
  readonly dropOldest: boolean;
  readonly #liveness: Liveness;
  readonly #pid: number;
  /** Lossless: a position no active subscriber's cursor is behind (a stale read understates the room). */
  #slowest = 0;
  #slowestKnown = false;

  /** The header as 64-bit words, for taking a table entry and zeroing its pid in one CAS. */
  readonly #i64: BigInt64Array;

  constructor(buffer: ArrayBuffer, capacity: number, dropOldest: boolean, liveness: Liveness, pid: number) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer, 0, (F.HEADER_SIZE + capacity) >> 2);
    this.u8 = new Uint8Array(buffer, 0, F.HEADER_SIZE + capacity);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.dropOldest = dropOldest;
    this.#liveness = liveness;
    this.#pid = pid;
    this.#i64 = new BigInt64Array(buffer, 0, F.HEADER_SIZE >> 3);
  }

  /** Writes a fresh header. Called by the creator before anyone else can see the segment. */
  static initialize(buffer: ArrayBuffer, capacity: number, waitMode: number, lag: number, codec: Uint8Array, pid = process.pid): void {
    const i32 = new Int32Array(buffer, 0, F.HEADER_SIZE >> 2);
    i32.fill(0);
    i32[F.OFF_VERSION >> 2] = F.VERSION;
    i32[F.OFF_HEADER_SIZE >> 2] = F.HEADER_SIZE;
    i32[F.OFF_CAPACITY >> 2] = capacity;
    i32[F.OFF_WAIT_MODE >> 2] = waitMode;
    i32[F.OFF_LAG >> 2] = lag;
    i32[F.OFF_MAX_PUBLISHERS >> 2] = F.MAX_PUBLISHERS;
    i32[F.OFF_MAX_SUBSCRIBERS >> 2] = F.MAX_SUBSCRIBERS;
    i32[F.OFF_CREATOR_PID >> 2] = pid;
    i32[F.OFF_CODEC_LENGTH >> 2] = codec.byteLength;
    new Uint8Array(buffer, F.OFF_CODEC, F.MAX_CODEC_NAME).set(codec);
    // The magic last: an opener that sees it sees a complete header.
    Atomics.store(i32, F.OFF_MAGIC >> 2, F.MAGIC);
  }

  get closed(): boolean {
    return Atomics.load(this.i32, I_CLOSED) !== 0;
  }

  get tail(): number {
    return Atomics.load(this.i32, I_TAIL);
  }

  get intent(): number {
    return Atomics.load(this.i32, I_INTENT);
  }

  get oldest(): number {
    return Atomics.load(this.i32, I_OLDEST);
  }

  // ---- the tables ---------------------------------------------------------

  /**
   * Takes a free entry of a table (or one whose holder died), writes this
   * holder's presence into it and returns [slot, registration], or undefined
   * if every entry is held by a live process.
   */
  #register(first: number, words: number, count: number, presence: number, pid: number): [number, number] | undefined {
    const i32 = this.i32;
    const token = this.#liveness.hold();
    for (let pass = 0; pass < 2; pass++) {
      for (let slot = 0; slot < count; slot++) {
        const at = first + slot * words;
        const registration = Atomics.load(i32, at);
        // Odd: held. On the second pass, a dead holder's entry is taken over.
        if ((registration & 1) !== 0 && (pass === 0 || this.#holderAlive(at + presence, at + pid))) continue;
        const next = ((registration & 1) === 0 ? registration + 1 : registration + 2) | 0;
        if (takeEntry(i32, this.#i64, at, at + pid, registration, next, token)) {
          fillEntry(i32, at + presence, at + pid, token, this.#pid);
          return [slot, next];
        }
      }
    }
    this.#liveness.letGo();
    return undefined;
  }

  /** Whether the holder whose presence token is at word `presence` (pid at `pid`) lives. */
  #holderAlive(presence: number, pid: number): boolean {
    return holderAlive(this.i32, presence, pid, this.#liveness);
  }

  /** Registers a publisher; returns its writer id, or 0 if the table is full of live ones. */
  registerPublisher(): number {
    const taken = this.#register(I_PUBLISHERS, PUB_WORDS, F.MAX_PUBLISHERS, F.PUBLISHER.presence, F.PUBLISHER.pid);
    if (taken === undefined) return 0;
    return F.writerId(taken[0], taken[1]);
  }

  unregisterPublisher(writer: number): void {
    this.releaseLock(writer);
    const at = I_PUBLISHERS + (writer & 0xff) * PUB_WORDS;
    const registration = Atomics.load(this.i32, at);
    if (
      F.writerId(writer & 0xff, registration) === writer &&
      (registration & 1) !== 0 &&
      Atomics.compareExchange(this.i32, at, registration, (registration + 1) | 0) === registration
    ) {
      this.#liveness.letGo();
    }
  }

  /** Whether writer id `writer` still holds its entry, in a live process. */
  writerAlive(writer: number): boolean {
    const slot = writer & 0xff;
    if (slot >= F.MAX_PUBLISHERS) return false;
    const at = I_PUBLISHERS + slot * PUB_WORDS;
    const registration = Atomics.load(this.i32, at);
    return (
      (registration & 1) !== 0 &&
      F.writerId(slot, registration) === writer &&
      this.#holderAlive(at + F.PUBLISHER.presence, at + F.PUBLISHER.pid)
    );
  }

  /**
   * Takes a subscriber entry; returns [slot, registration] with the entry not
   * yet active, or undefined if the table is full of live subscribers.
   */
  registerSubscriber(): [number, number] | undefined {
    const taken = this.#register(I_SUBSCRIBERS, SUB_WORDS, F.MAX_SUBSCRIBERS, F.SUBSCRIBER.presence, F.SUBSCRIBER.pid);
    if (taken === undefined) return undefined;
    for (let high = Atomics.load(this.i32, I_SUB_HIGH); high <= taken[0]; high = Atomics.load(this.i32, I_SUB_HIGH)) {
      Atomics.compareExchange(this.i32, I_SUB_HIGH, high, taken[0] + 1);
    }
    return taken;
  }

  /** Frees subscriber entry `slot` if registration `registration` still holds it. */
  unregisterSubscriber(slot: number, registration: number): void {
    const at = subscriberAt(slot);
    Atomics.compareExchange(this.i32, at + F.SUBSCRIBER.active, registration, 0);
    if (Atomics.compareExchange(this.i32, at, registration, (registration + 1) | 0) === registration) {
      this.#liveness.letGo();
      // A publisher may wait for this subscriber.
      this.wake(SPACE_HANDSHAKE);
    }
  }

  /** Whether registration `registration` of subscriber entry `slot` still holds it. */
  subscriberHeld(slot: number, registration: number): boolean {
    return Atomics.load(this.i32, subscriberAt(slot)) === registration;
  }

  /** Frees the entries of subscribers whose process died; returns how many. */
  reapSubscribers(): number {
    let reaped = 0;
    const high = Math.min(Atomics.load(this.i32, I_SUB_HIGH), F.MAX_SUBSCRIBERS);
    for (let slot = 0; slot < high; slot++) {
      const at = subscriberAt(slot);
      const registration = Atomics.load(this.i32, at);
      if ((registration & 1) === 0 || this.#holderAlive(at + F.SUBSCRIBER.presence, at + F.SUBSCRIBER.pid)) continue;
      // `active` may still be an earlier registration's: a dead subscriber's entry
      // taken over by one that ended before it joined. That too holds publishers
      // back; a later one (the entry taken and joined again meanwhile) is live.
      const active = Atomics.load(this.i32, at + F.SUBSCRIBER.active);
      if (active !== 0 && ((registration - active) | 0) >= 0) Atomics.compareExchange(this.i32, at + F.SUBSCRIBER.active, active, 0);
      if (Atomics.compareExchange(this.i32, at, registration, (registration + 1) | 0) === registration) reaped++;
    }
    return reaped;
  }

  /** How many subscribers are active now. */
  subscriberCount(): number {
    let count = 0;
    const high = Math.min(Atomics.load(this.i32, I_SUB_HIGH), F.MAX_SUBSCRIBERS);
    for (let slot = 0; slot < high; slot++) {
      const at = subscriberAt(slot);
      if (Atomics.load(this.i32, at + F.SUBSCRIBER.active) === 0) continue;
      // One that died keeps its flag until a publisher's wait frees its entry; it is not there.
      if (this.#holderAlive(at + F.SUBSCRIBER.presence, at + F.SUBSCRIBER.pid)) count++;
    }
    return count;
  }

  /** The position of the slowest active subscriber's cursor, or `tail` if there is none. */
  #slowestCursor(tail: number): number {
    const i32 = this.i32;
    const high = Math.min(Atomics.load(i32, I_SUB_HIGH), F.MAX_SUBSCRIBERS);
    let behind = 0;
    for (let slot = 0; slot < high; slot++) {
      const at = subscriberAt(slot);
      if (Atomics.load(i32, at + F.SUBSCRIBER.active) === 0) continue;
      const distance = (tail - Atomics.load(i32, at + F.SUBSCRIBER.cursor)) | 0;
      if (distance > behind) behind = distance;
    }
    return (tail - behind) | 0;
  }

  // ---- claim lock -----------------------------------------------------------

  /** Takes the claim lock for `writer`; false if a live owner kept it through a bounded spin. */
  lock(writer: number, patience = LOCK_PATIENCE): boolean {
    return spinForLock(this.i32, I_LOCK, writer, patience, this);
  }

  unlock(): void {
    storeRelease(this.i32, I_LOCK, 0);
    // Subscribers at the end of a closed ring wait for the lock to be free (drained()).
    if (this.i32[I_CLOSED] !== 0) this.wake(DATA_HANDSHAKE, true);
  }

  /** Lets go of the claim lock if `writer` holds it (a publisher that closes). */
  releaseLock(writer: number): void {
    if (writer !== 0 && this.i32.length > 0 && Atomics.compareExchange(this.i32, I_LOCK, writer, 0) === writer) {
      if (this.i32[I_CLOSED] !== 0) this.wake(DATA_HANDSHAKE, true);
    }
  }

  /** Lets go of a claim lock whose owner died: a closed ring is not drained until the lock is free. */
  freeDeadLock(): void {
    freeIfOwnerDead(this.i32, I_LOCK, this);
  }

  /** Whether the claim lock is free: with CLOSED set, TAIL is final only then. */
  get unlocked(): boolean {
    return Atomics.load(this.i32, I_LOCK) === 0;
  }

  // ---- publishers -------------------------------------------------------------

  /**
   * Claims a record for `length` payload bytes for `writer` and returns its
   * position (a uint32; the payload is at payloadOffset(position)), or FULL,
   * CLOSED or BUSY. The record is invisible until {@link publish}.
   */
  claim(length: number, writer: number, patience = LOCK_PATIENCE): number {
    const i32 = this.i32;
    if (!this.lock(writer, patience)) return BUSY;
    if (i32[I_CLOSED] !== 0) {
      this.unlock();
      return CLOSED;
    }
    let tail = i32[I_TAIL]!;
    const span = F.spanOf(length);
    let toEnd = this.capacity - (tail & this.mask);
    if (span > toEnd) {
      // The record does not fit before the end: padding fills the rest, as a
      // step of its own (the largest record fits only from position 0).
      if (!this.#room(tail, toEnd + F.RECORD_HEADER)) {
        this.unlock();
        return FULL;
      }
      if (!this.#prepare(tail, toEnd)) {
        this.unlock();
        return BUSY;
      }
      const seq = this.#seqAt(tail);
      this.#writeHeader(tail, toEnd - F.RECORD_HEADER, writer, seq);
      this.#zeroNext(tail, toEnd, seq);
      const padding = tail;
      tail = (tail + toEnd) | 0;
      storeRelease(i32, I_TAIL, tail);
      // Published once TAIL is past it: a reader that skips it finds the zeroed tag at 0.
      this.#storeTag(padding, F.STATE_PADDING);
      toEnd = this.capacity;
      // Subscribers of this thread that have read everything pass the padding now:
      // the record must go over where they stand, and the thread that waits for the
      // room may be the one that would have them read (await send(big), then recv).
      if (!this.#room(tail, span + F.RECORD_HEADER)) this.#passPaddingLocked();
      if (!this.#room(tail, span + F.RECORD_HEADER)) {
        this.unlock();
        // Only subscribers can free the room, by passing the padding: wake them as
        // publish() does, or they sleep on an "empty" ring until their liveness tick.
        if (Atomics.load(i32, I_DATA_WAITING) !== 0) this.wake(DATA_HANDSHAKE);
        return FULL;
      }
    }
    if (!this.#room(tail, span + F.RECORD_HEADER)) {
      this.unlock();
      return FULL;
    }
    if (!this.#prepare(tail, span)) {
      this.unlock();
      return BUSY;
    }
    const seq = this.#seqAt(tail);
    this.#writeHeader(tail, length, writer, seq);
    this.#zeroNext(tail, span, seq + 1);
    storeRelease(i32, I_TAIL, (tail + span) | 0);
    this.unlock();
    return tail >>> 0;
  }

  /**
   * @internal Set by the PubSub object (lossless): moves its subscribers of
   * this thread past padding they stand at (a peek: nothing is taken).
   */
  passPadding: (() => void) | undefined;

  /**
   * passPadding, with the claim lock held: if it throws, the lock is let go
   * first. A live owner that kept it would hold every publisher of every
   * process back for as long as it lives.
   */
  #passPaddingLocked(): void {
    try {
      this.passPadding?.();
    } catch (error) {
      this.unlock();
      throw error;
    }
  }

  /** Whether `bytes` can be written at `tail` now (lossless: the slowest subscriber allows it). */
  #room(tail: number, bytes: number): boolean {
    if (this.dropOldest) return true;
    // A copy from before other publishers moved TAIL 2 GiB on would read as ahead: only a distance within the ring counts.
    const behind = (tail - this.#slowest) | 0;
    if (this.#slowestKnown && behind >= 0 && this.capacity - behind >= bytes) return true;
    this.#slowest = this.#slowestCursor(tail);
    this.#slowestKnown = true;
    return this.capacity - ((tail - this.#slowest) | 0) >= bytes;
  }

  /**
   * Drop-oldest, before writing `bytes` at `tail`: moves OLDEST past every
   * record the write will overwrite, then INTENT past the write (plus the next
   * record's header, which the claim writes too). False, changing nothing, if
   * one of those records is still being written by a live publisher (it would
   * write into what we write): publishers wait for each other's copies, never
   * for subscribers. A record whose writer died is marked abandoned.
   */
  #prepare(tail: number, bytes: number): boolean {
    if (!this.dropOldest) return true;
    const i32 = this.i32;
    const intent = (tail + bytes + F.RECORD_HEADER) | 0;
    let oldest = i32[I_OLDEST]!;
    const start = oldest;
    // OLDEST past TAIL, or more than a ring behind it, cannot be (INTENT,
    // never behind TAIL, is within a ring of it): start afresh at TAIL, rather
    // than walk up to 2^31 bytes of records that are not there.
    const behind = (tail - oldest) | 0;
    if (behind < 0 || behind > this.capacity) oldest = tail;
    while (((intent - oldest) | 0) > this.capacity) {
      const pos = oldest & this.mask;
      const at = (F.HEADER_SIZE + pos) >> 2;
      const span = F.spanOf(i32[at + F.RECORD.length]!);
      // A header that cannot be (a claim cut short by its writer's death): start afresh at TAIL.
      if (((tail - oldest) | 0) <= 0 || span <= 0 || span > this.capacity - pos || span > ((tail - oldest) | 0)) {
        oldest = tail;
        break;
      }
      const state = (Atomics.load(i32, at + F.RECORD.tag) ^ oldest) | 0;
      if (state !== F.STATE_COMMITTED && state !== F.STATE_PADDING && state !== F.STATE_ABANDONED) {
        if (this.writerAlive(i32[at + F.RECORD.writer]!)) return false;
        Atomics.store(i32, at + F.RECORD.tag, oldest | F.STATE_ABANDONED | 0);
      }
      oldest = (oldest + span) | 0;
    }
    if (oldest !== start) Atomics.store(i32, I_OLDEST, oldest);
    // INTENT never moves back (a claim cut short may have moved it further,
    // at most a ring past TAIL); one more than a ring past TAIL no claim
    // wrote, and would have every reader overtaken for good: it goes back too.
    const stored = i32[I_INTENT]!;
    if (((intent - stored) | 0) > 0 || ((stored - tail) | 0) > this.capacity) {
      // A read-modify-write on arm64: the stores of the write that follows must not pass it.
      if (TSO) Atomics.store(i32, I_INTENT, intent);
      else Atomics.exchange(i32, I_INTENT, intent);
    }
    return true;
  }

  /** The number the record at `tail` gets: written by the claim before it, with its zeroed tag. */
  #seqAt(tail: number): number {
    return this.i32[((F.HEADER_SIZE + (tail & this.mask)) >> 2) + F.RECORD.seq]!;
  }

  #writeHeader(position: number, length: number, writer: number, seq: number): void {
    const at = (F.HEADER_SIZE + (position & this.mask)) >> 2;
    this.i32[at + F.RECORD.length] = length;
    this.i32[at + F.RECORD.writer] = writer;
    this.i32[at + F.RECORD.seq] = seq;
  }

  /** Zeroes the tag of the record after the one at `position` and gives it its number. */
  #zeroNext(position: number, span: number, seq: number): void {
    const at = (F.HEADER_SIZE + ((position + span) & this.mask)) >> 2;
    this.i32[at + F.RECORD.tag] = 0;
    this.i32[at + F.RECORD.seq] = seq | 0;
  }

  #storeTag(position: number, state: number): void {
    Atomics.store(this.i32, (F.HEADER_SIZE + (position & this.mask)) >> 2, (position & ~F.STATE_MASK) | state);
  }

  /** Offset in the segment of the payload of the record at `position`. */
  payloadOffset(position: number): number {
    return F.HEADER_SIZE + (position & this.mask) + F.RECORD_HEADER;
  }

  /** Makes the record at `position` visible (COMMITTED) or marks it ABANDONED; wakes sleeping subscribers. */
  publish(position: number, state: number): void {
    // Store the tag, then look at the flag; subscribers raise their flag and then
    // look at the tag. Both atomic: on arm64 a plain load may pass the store.
    this.#storeTag(position, state);
    if (Atomics.load(this.i32, I_DATA_WAITING) !== 0) this.wake(DATA_HANDSHAKE);
  }

  /** Whether a claim of `length` bytes could succeed now (for waiting publishers). */
  hasRoomFor(length: number): boolean {
    if (this.dropOldest || this.closed) return true;
    const tail = Atomics.load(this.i32, I_TAIL);
    const toEnd = this.capacity - (tail & this.mask);
    this.#slowestKnown = false;
    // Padding can go in as soon as it fits; then the claim tries again.
    return this.#room(tail, Math.min(F.spanOf(length), toEnd) + F.RECORD_HEADER);
  }

  // ---- closing and waking -------------------------------------------------------

  /** Closes for everyone, under the claim lock (a dead owner's lock is taken over). */
  close(writer: number): void {
    const locked = writer !== 0 && (this.lock(writer) || this.lock(writer));
    Atomics.store(this.i32, I_CLOSED, 1);
    if (locked) this.unlock();
    else this.wake(DATA_HANDSHAKE, true);
    this.wake(SPACE_HANDSHAKE, true);
  }

  /**
   * Wakes the sleepers of a handshake if they said they sleep: FUTEX_WAKE
   * costs the waker ~10 µs, so only then, and only one waker pays.
   */
  wake(handshake: { waiting: number; futex: number }, always = false): void {
    const i32 = this.i32;
    if (i32.length === 0) return;
    if (always || (Atomics.load(i32, handshake.waiting) !== 0 && Atomics.exchange(i32, handshake.waiting, 0) !== 0)) {
      if (always) Atomics.store(i32, handshake.waiting, 0);
      Atomics.add(i32, handshake.futex, 1);
      futexWake(this.buffer, handshake.futex * 4, WAKE_ALL);
    }
  }
}
