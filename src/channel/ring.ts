// The ring's shared-memory operations, format version 2: the claim lock,
// claiming and publishing records, consuming them, the sender table and the
// wake-up handshake. No waiting policy here (block.ts), no endpoints
// (sender.ts, receiver.ts); test/channel-ring.test.ts drives it over a plain
// ArrayBuffer.
//
// The hand-off costs about one cache-line transfer: the receiver polls the
// state word of the record at its own cursor (never TAIL, the senders'
// line), because every claim zeroes the state word just past the record it
// claims. So the word at the receiver's cursor is zero until that record is
// published, and stale bytes from an earlier lap are never read as a header.
//
// Crash safety rests on three rules:
// 1. A record's header (length, writer, span) and the zeroed word after it
//    are written before TAIL covers them, and TAIL only moves inside the
//    claim lock, so the receiver always knows how far to skip.
// 2. A record becomes visible only when its state word is stored, last.
// 3. The claim lock holds its owner's writer id; a lock whose owner died is
//    taken over. Its critical section only writes beyond TAIL and then moves
//    TAIL, so one interrupted at any point needs no repair.
import { futexWake } from '../sysv/futex.js';
import { freeIfOwnerDead, LOCK_PATIENCE, spinForLock } from './claim-lock.js';
import { fillEntry, holderAlive, takeEntry } from './entry.js';
import { channelError } from '../core/errors.js';
import * as F from './format.js';
import type { Liveness } from './liveness.js';

const I_CLOSED = F.OFF_CLOSED >> 2;
const I_LOCK = F.OFF_CLAIM_LOCK >> 2;
const I_LOCK_WANTED = F.OFF_LOCK_WANTED >> 2;
const I_LOCK_WANTED_BY = F.OFF_LOCK_WANTED_BY >> 2;
/** Sender entry `slot`'s word and bit in LOCK_WANTED_BY. */
const wantedByWord = (slot: number): number => I_LOCK_WANTED_BY + (slot >> 5);
const wantedByBit = (slot: number): number => 1 << (slot & 31);
const I_TAIL = F.OFF_TAIL >> 2;
const I_HEAD = F.OFF_HEAD >> 2;
const I_RECEIVER = F.OFF_RECEIVER_PID >> 2;
const I_RECEIVER_PRESENCE = F.OFF_RECEIVER_PRESENCE >> 2;
const I_RECV_WAITING = F.OFF_RECV_WAITING >> 2;
const I_DATA_FUTEX = F.OFF_DATA_FUTEX >> 2;
const I_SPACE_WAITING = F.OFF_SPACE_WAITING >> 2;
const I_SPACE_FUTEX = F.OFF_SPACE_FUTEX >> 2;
const I_SENDERS = F.OFF_SENDERS >> 2;
const ENTRY_WORDS = F.SENDER_ENTRY >> 2;
const REC_LENGTH = F.RECORD.length;
const REC_WRITER = F.RECORD.writer;
const REC_SPAN = F.RECORD.span;
const WAKE_ALL = 0x7fff_ffff;

/**
 * x86-64 keeps stores in order and loads in order (TSO), so a plain store
 * already publishes what was written before it. Elsewhere (arm64) release
 * needs Atomics. Loads that decide anything stay Atomics everywhere: a plain
 * load in a loop may be hoisted by the JIT.
 */
const TSO = process.arch === 'x64';

function storeRelease(i32: Int32Array, index: number, value: number): void {
  if (TSO) i32[index] = value;
  else Atomics.store(i32, index, value);
}

/** claim() results other than a position. */
export const FULL = -1;
export const CLOSED = -2;
/** The claim lock stayed held by a live process for the whole bounded spin. */
export const BUSY = -3;
/** poll() results other than a position. */
export const EMPTY = -1;
/** The record at the cursor is claimed but not published yet, by a live writer; or more records are to be skipped than one poll skips. */
export const PENDING = -2;

/** Claims after contention was seen during which a sender does not keep the lock between claims. */
const STICKY_PAUSE = 4096;

/** Two token words as one 64-bit value (little-endian: word 0 low), for the receiver place's CAS. */
function token64(word0: number, word1: number): bigint {
  return BigInt.asIntN(64, (BigInt(word1 >>> 0) << 32n) | BigInt(word0 >>> 0));
}

/** Views of one channel segment and the operations on them. */
export class Ring {
  readonly buffer: ArrayBuffer;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly capacity: number;
  readonly mask: number;
  readonly #pid: number;
  readonly #liveness: Liveness;
  readonly #i64: BigInt64Array;
  /** The token this Ring registered its receiver with, while it is the receiver. */
  #receiverToken = 0n;
  /** A sender's last read of HEAD (never ahead of the real one), and TAIL after its last claim. */
  #senderHead = 0;
  #senderTail = -1;
  /**
   * The writer id of this Ring's sender that keeps the claim lock between
   * claims (0 if none): a lone sender then claims without any atomic. It
   * lets go as soon as another sender says it wants the lock (LOCK_WANTED),
   * and otherwise once this thread's event loop comes round (setImmediate).
   */
  #sticky = 0;
  #stickyPause = 0;
  readonly #keepLock: boolean;
  #releaseScheduled = false;
  /**
   * A record claimed while this Ring keeps the claim lock, whose header and
   * TAIL wait for its publish (-1 if none). The receiver polls that record's
   * cache line, so a header written at claim and a state word at publish
   * would take the line from it twice per message. Nobody else claims while
   * the lock is kept, so TAIL may cover the record later: rule 1 holds as
   * long as it does before the lock is let go or handed over, or the next
   * claim ({@link #flushDeferred}).
   */
  #deferred = -1;
  #deferredLength = 0;
  #deferredWriter = 0;
  #deferredSpan = 0;
  /** The receiver's cursor (only the receiver moves HEAD, so its copy is exact). */
  #head = 0;

  /**
   * `pid` is written beside each registration, for people to read; liveness
   * itself is `liveness`'s. `keepLock: false` lets go of the claim lock after
   * every claim (for tests that play several processes in one thread).
   */
  constructor(buffer: ArrayBuffer, capacity: number, liveness: Liveness, pid: number, keepLock = true) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer, 0, (F.HEADER_SIZE + capacity) >> 2);
    this.u8 = new Uint8Array(buffer, 0, F.HEADER_SIZE + capacity);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.#liveness = liveness;
    this.#pid = pid;
    this.#keepLock = keepLock;
    this.#i64 = new BigInt64Array(buffer, 0, F.HEADER_SIZE >> 3);
  }

  /** Writes a fresh header. Called by the creator before anyone else can see the segment. */
  static initialize(buffer: ArrayBuffer, capacity: number, waitMode: number, pid = process.pid, codecName?: Uint8Array): void {
    const i32 = new Int32Array(buffer, 0, F.HEADER_SIZE >> 2);
    i32.fill(0);
    if (codecName !== undefined) {
      new Uint8Array(buffer, F.OFF_CODEC_NAME, F.CODEC_NAME_MAX).set(codecName);
      i32[F.OFF_CODEC_LENGTH >> 2] = codecName.length;
    }
    i32[F.OFF_VERSION >> 2] = F.VERSION;
    i32[F.OFF_HEADER_SIZE >> 2] = F.HEADER_SIZE;
    i32[F.OFF_CAPACITY >> 2] = capacity;
    i32[F.OFF_WAIT_MODE >> 2] = waitMode;
    i32[F.OFF_MAX_SENDERS >> 2] = F.MAX_SENDERS;
    i32[F.OFF_CREATOR_PID >> 2] = pid;
    // The magic last: an opener that sees it sees a complete header.
    Atomics.store(i32, F.OFF_MAGIC >> 2, F.MAGIC);
  }

  get closed(): boolean {
    return Atomics.load(this.i32, I_CLOSED) !== 0;
  }

  // ---- the sender table -------------------------------------------------

  /**
   * Takes a free entry (or one whose holder died) and returns its writer id,
   * or 0 if all MAX_SENDERS entries are held by live processes.
   */
  registerSender(): number {
    const i32 = this.i32;
    const token = this.#liveness.hold();
    for (let pass = 0; pass < 2; pass++) {
      for (let slot = 0; slot < F.MAX_SENDERS; slot++) {
        const at = I_SENDERS + slot * ENTRY_WORDS;
        const registration = Atomics.load(i32, at + F.SENDER.registration);
        // Odd: held. On the second pass, a dead holder's entry is taken over.
        if ((registration & 1) !== 0 && (pass === 0 || this.#entryHolderAlive(slot))) continue;
        const next = (registration & 1) === 0 ? registration + 1 : registration + 2;
        if (takeEntry(i32, this.#i64, at + F.SENDER.registration, at + F.SENDER.pid, registration, next | 0, token)) {
          fillEntry(i32, at + F.SENDER.presence, at + F.SENDER.pid, token, this.#pid);
          this.#takeBackWant(slot);
          return F.writerId(slot, next);
        }
      }
    }
    this.#liveness.letGo();
    return 0;
  }

  /** Frees the entry of writer id `writer` if it still holds it. */
  unregisterSender(writer: number): void {
    this.releaseLock(writer);
    const at = I_SENDERS + (writer & 0xff) * ENTRY_WORDS;
    const registration = Atomics.load(this.i32, at + F.SENDER.registration);
    if (
      F.writerId(writer & 0xff, registration) === writer &&
      (registration & 1) !== 0 &&
      Atomics.compareExchange(this.i32, at + F.SENDER.registration, registration, (registration + 1) | 0) === registration
    ) {
      this.#liveness.letGo();
    }
  }

  /** Whether the entry's holder lives: registering, or by its presence token (its pid if it wrote none). */
  #entryHolderAlive(slot: number): boolean {
    const at = I_SENDERS + slot * ENTRY_WORDS;
    return holderAlive(this.i32, at + F.SENDER.presence, at + F.SENDER.pid, this.#liveness);
  }

  /** Whether writer id `writer` is a registration that still holds its entry, by a live process. */
  writerAlive(writer: number): boolean {
    const slot = writer & 0xff;
    const registration = Atomics.load(this.i32, I_SENDERS + slot * ENTRY_WORDS + F.SENDER.registration);
    return (registration & 1) !== 0 && F.writerId(slot, registration) === writer && this.#entryHolderAlive(slot);
  }

  /**
   * Frees the entries of senders that died and returns how many entries
   * are held and by how many live processes: [held, alive, deadPids].
   */
  reapSenders(): [number, number, number[]] {
    let held = 0;
    let alive = 0;
    const dead: number[] = [];
    for (let slot = 0; slot < F.MAX_SENDERS; slot++) {
      const at = I_SENDERS + slot * ENTRY_WORDS;
      const registration = Atomics.load(this.i32, at + F.SENDER.registration);
      if ((registration & 1) === 0) continue;
      held++;
      if (this.#entryHolderAlive(slot)) alive++;
      else {
        const pid = Atomics.load(this.i32, at + F.SENDER.pid);
        if (this.#freeDead(slot, registration)) dead.push(pid);
      }
    }
    return [held, alive, dead];
  }

  /** Frees the entry of a holder that died, as of `registration`; false if someone else freed or took it first. */
  #freeDead(slot: number, registration: number): boolean {
    const i32 = this.i32;
    const at = I_SENDERS + slot * ENTRY_WORDS;
    if (!this.#wants(slot))
      return Atomics.compareExchange(i32, at + F.SENDER.registration, registration, (registration + 1) | 0) === registration;
    // It died waiting for the claim lock. Only a holder of the entry may take
    // its 1 back (a later holder's own would be taken otherwise): hold it a moment.
    const token = this.#liveness.hold();
    const next = (registration + 2) | 0;
    const taken = takeEntry(i32, this.#i64, at + F.SENDER.registration, at + F.SENDER.pid, registration, next, token);
    if (taken) {
      this.#takeBackWant(slot);
      Atomics.store(i32, at + F.SENDER.registration, (next + 1) | 0);
    }
    this.#liveness.letGo();
    return taken;
  }

  #wants(slot: number): boolean {
    return (Atomics.load(this.i32, wantedByWord(slot)) & wantedByBit(slot)) !== 0;
  }

  /**
   * Takes back the 1 in LOCK_WANTED that the entry's last holder left when it
   * died waiting for the claim lock. The caller holds the entry: nobody else
   * sets its bit meanwhile.
   */
  #takeBackWant(slot: number): void {
    // (A load first: the bit is almost never set, and a registration need not write the shared line.)
    if (!this.#wants(slot)) return;
    const bit = wantedByBit(slot);
    if ((Atomics.and(this.i32, wantedByWord(slot), ~bit) & bit) !== 0) Atomics.sub(this.i32, I_LOCK_WANTED, 1);
  }

  // ---- claim lock -------------------------------------------------------

  /** Takes the claim lock for `writer`; false if a live owner kept it through a bounded spin. */
  lock(writer: number, patience = LOCK_PATIENCE): boolean {
    return this.#acquire(writer, patience);
  }

  #acquire(writer: number, patience: number): boolean {
    const sticky = this.#sticky;
    if (sticky !== 0) {
      if (sticky === writer) return true;
      // Another sender of this thread keeps it between claims: hand it over.
      this.#flushDeferred();
      this.#sticky = 0;
      if (Atomics.compareExchange(this.i32, I_LOCK, sticky, writer) === sticky) return true;
    }
    return Atomics.compareExchange(this.i32, I_LOCK, 0, writer) === 0 || this.#lockContended(writer, patience);
  }

  #lockContended(writer: number, patience: number): boolean {
    const i32 = this.i32;
    const wantedBy = wantedByWord(writer & 0xff);
    const bit = wantedByBit(writer & 0xff);
    // Says so to a sender that keeps the lock between claims: it lets go at its next claim.
    Atomics.add(i32, I_LOCK_WANTED, 1);
    // And whose 1 it is, for the next holder of the entry if this thread ends here (F.OFF_LOCK_WANTED_BY).
    Atomics.or(i32, wantedBy, bit);
    try {
      return spinForLock(i32, I_LOCK, writer, patience, this);
    } finally {
      Atomics.and(i32, wantedBy, ~bit);
      Atomics.sub(i32, I_LOCK_WANTED, 1);
    }
  }

  unlock(): void {
    this.#flushDeferred();
    storeRelease(this.i32, I_LOCK, 0);
    this.#wakeIfClosed();
  }

  /** A receiver that waits for the end of a closed channel waits for the claim lock too (drained()): wake it. */
  #wakeIfClosed(): void {
    if (this.i32[I_CLOSED] !== 0) this.wakeAll();
  }

  /** Lets go of a claim lock whose owner died: a closed channel is not drained until the lock is free. */
  freeDeadLock(): void {
    freeIfOwnerDead(this.i32, I_LOCK, this);
  }

  /**
   * The end of a claim: keep the lock for the next one if nobody else wants
   * it (TAIL and the header are already published by a release store), or
   * let go. Once someone did want it, claim by claim for a while.
   */
  #release(writer: number): void {
    if (!this.#keep(writer)) this.#letGo();
  }

  /** Whether `writer` keeps the lock after this claim (then it is sticky until the event loop's turn). */
  #keep(writer: number): boolean {
    if (this.#stickyPause !== 0 || !this.#keepLock || this.i32[I_LOCK_WANTED] !== 0) return false;
    if (this.#sticky !== writer) {
      this.#sticky = writer;
      if (!this.#releaseScheduled) {
        this.#releaseScheduled = true;
        setImmediate(this.#releaseSticky).unref();
      }
    }
    return true;
  }

  #letGo(): void {
    this.#stickyPause = this.#stickyPause === 0 ? STICKY_PAUSE : this.#stickyPause - 1;
    this.#sticky = 0;
    this.unlock();
  }

  #releaseSticky = (): void => {
    this.#releaseScheduled = false;
    this.releaseLock(this.#sticky);
  };

  /** Lets go of the claim lock if `writer` (a sender closing, or the event loop's turn) keeps it. */
  releaseLock(writer: number): void {
    if (writer === 0 || this.#sticky !== writer) return;
    this.#flushDeferred();
    this.#sticky = 0;
    // (A detached segment's views are empty: nothing to let go of then.)
    if (this.i32.length > 0 && Atomics.compareExchange(this.i32, I_LOCK, writer, 0) === writer) this.#wakeIfClosed();
  }

  // ---- senders ----------------------------------------------------------

  /**
   * Claims a record for `length` payload bytes for `writer` and returns its
   * position in the ring (payload at position + 16), or FULL, CLOSED or BUSY.
   * The record is invisible until {@link publish}. A record that would cross
   * the end of the ring is preceded by a padding record filling the rest.
   */
  claim(length: number, writer: number, patience = LOCK_PATIENCE): number {
    const i32 = this.i32;
    this.#flushDeferred();
    if (this.#sticky !== writer && !this.#acquire(writer, patience)) return BUSY;
    // Plain accesses inside the lock: CLOSED and TAIL change only under it,
    // and taking it (a CAS) orders them; TAIL's release store publishes what we wrote.
    const tail = i32[I_TAIL]!;
    const pos = tail & this.mask;
    const span = F.spanOf(length);
    // The common case, kept small enough for the JIT to inline: open, no
    // wrap, and room by our copy of HEAD, with TAIL where our last claim
    // left it (else the copy could be so old that the cursors alias).
    if (
      i32[I_CLOSED] === 0 &&
      tail === this.#senderTail &&
      span <= this.capacity - pos &&
      span + F.RECORD_ALIGN <= this.capacity - ((tail - this.#senderHead) | 0)
    ) {
      // Beyond TAIL, so plain stores: TAIL's release store publishes them.
      // The word after the record is zeroed so that the receiver finds
      // nothing there.
      i32[(F.HEADER_SIZE + ((pos + span) & this.mask)) >> 2] = F.STATE_EMPTY;
      this.#senderTail = (tail + span) | 0;
      if (this.#keep(writer)) {
        this.#deferred = pos;
        this.#deferredLength = length;
        this.#deferredWriter = writer;
        this.#deferredSpan = span;
      } else {
        this.#writeHeader(pos, length, writer, span);
        storeRelease(i32, I_TAIL, this.#senderTail);
        this.#letGo();
      }
      return pos;
    }
    return this.#claimSlow(length, writer, tail);
  }

  /** claim() past its common case: closed, wrapping, or HEAD to read again. Unlocks. */
  #claimSlow(length: number, writer: number, tail: number): number {
    const i32 = this.i32;
    if (i32[I_CLOSED] !== 0) {
      this.#release(writer);
      return CLOSED;
    }
    const capacity = this.capacity;
    let pos = tail & this.mask;
    const span = F.spanOf(length);
    const toEnd = capacity - pos;
    // Room for the record, the padding before it if it wraps, and the next
    // record's state word, which the claim zeroes. HEAD only grows, so a
    // stale copy understates the room: read the receiver's line again only
    // when the copy says "full", or when another sender moved TAIL since
    // our last claim.
    const needed = span + (span > toEnd ? toEnd : 0) + F.RECORD_ALIGN;
    let free = capacity - ((tail - this.#senderHead) | 0);
    if (tail !== this.#senderTail || free < needed) {
      this.#senderHead = Atomics.load(i32, I_HEAD);
      free = capacity - ((tail - this.#senderHead) | 0);
    }
    let padding = -1;
    if (span > toEnd) {
      if (free < toEnd + F.RECORD_ALIGN) {
        this.#release(writer);
        return FULL;
      }
      // Padding goes in as soon as it fits, even if the record then does
      // not: the largest record fits only from position 0. It is published
      // with TAIL below (the receiver does not read TAIL, so it must not find
      // padding before TAIL has moved past it). The word at 0 holds a state
      // from the last lap: zero it like the one after a record.
      this.#writeHeader(pos, 0, writer, toEnd);
      i32[F.HEADER_SIZE >> 2] = F.STATE_EMPTY;
      padding = pos;
      tail = (tail + toEnd) | 0;
      free -= toEnd;
      pos = 0;
    }
    let result = FULL;
    if (span + F.RECORD_ALIGN <= free) {
      i32[(F.HEADER_SIZE + ((pos + span) & this.mask)) >> 2] = F.STATE_EMPTY;
      this.#writeHeader(pos, length, writer, span);
      tail = (tail + span) | 0;
      result = pos;
    }
    storeRelease(i32, I_TAIL, tail);
    this.#senderTail = tail;
    // Padding in front of a claim that then found no room: only the receiver
    // can free that room, by passing the padding, so wake it as a publish
    // would (a sequentially consistent store before the flag's load). Else it
    // sleeps on an "empty" ring until its liveness tick, and the sender too.
    const wakeReceiver = padding >= 0 && result === FULL;
    if (wakeReceiver) Atomics.store(i32, (F.HEADER_SIZE + padding) >> 2, F.STATE_PADDING);
    else if (padding >= 0) storeRelease(i32, (F.HEADER_SIZE + padding) >> 2, F.STATE_PADDING);
    this.#release(writer);
    if (wakeReceiver) this.#wake(I_RECV_WAITING, I_DATA_FUTEX);
    return result;
  }

  /** Writes the deferred record's header and moves TAIL over it (the lock is still ours). */
  #flushDeferred(): void {
    const pos = this.#deferred;
    if (pos < 0) return;
    this.#deferred = -1;
    this.#writeHeader(pos, this.#deferredLength, this.#deferredWriter, this.#deferredSpan);
    storeRelease(this.i32, I_TAIL, this.#senderTail);
  }

  #writeHeader(pos: number, length: number, writer: number, span: number): void {
    const at = (F.HEADER_SIZE + pos) >> 2;
    this.i32[at + REC_LENGTH] = length;
    this.i32[at + REC_WRITER] = writer;
    this.i32[at + REC_SPAN] = span;
  }

  /** Offset in the segment of the payload of the record at `pos`. */
  payloadOffset(pos: number): number {
    return F.HEADER_SIZE + pos + F.RECORD_HEADER;
  }

  /**
   * Makes the record at `pos` visible with its final `length` (at most what
   * was claimed), or marks it abandoned; then wakes the receiver if it sleeps.
   */
  publish(pos: number, state: number, length: number): void {
    const i32 = this.i32;
    const at = (F.HEADER_SIZE + pos) >> 2;
    if (pos === this.#deferred) {
      // The header, TAIL and the state together: one transfer of the line the receiver polls.
      this.#deferred = -1;
      this.#writeHeader(pos, length, this.#deferredWriter, this.#deferredSpan);
      storeRelease(i32, I_TAIL, this.#senderTail);
    } else if (i32[at + REC_LENGTH] !== length) {
      // (A store to the line the receiver polls costs a transfer: only if it changes.)
      i32[at + REC_LENGTH] = length;
    }
    // Store the word, then look at the flag; the receiver raises its flag and
    // then looks at this word. Both atomic: on arm64 a plain load may pass
    // the store (a missed wake-up); on x86-64 the load costs nothing more.
    Atomics.store(i32, at, state);
    if (Atomics.load(i32, I_RECV_WAITING) !== 0) this.#wake(I_RECV_WAITING, I_DATA_FUTEX);
  }

  /** Whether a claim of `length` bytes could succeed now (for waiting senders). */
  hasRoomFor(length: number): boolean {
    const i32 = this.i32;
    if (Atomics.load(i32, I_CLOSED) !== 0) return true;
    const tail = Atomics.load(i32, I_TAIL);
    const free = this.capacity - ((tail - Atomics.load(i32, I_HEAD)) | 0);
    const span = F.spanOf(length);
    const toEnd = this.capacity - (tail & this.mask);
    // Padding can always go in as soon as it fits; then the claim retries.
    return Math.min(span, toEnd) + F.RECORD_ALIGN <= free;
  }

  /** pid of the receiver, 0 if none (for messages: it names nothing in another PID namespace). */
  get receiverPid(): number {
    return Atomics.load(this.i32, I_RECEIVER);
  }

  /** Whether a receiver holds its place and lives. */
  receiverAlive(): boolean {
    const i32 = this.i32;
    const word0 = Atomics.load(i32, I_RECEIVER_PRESENCE);
    const word1 = Atomics.load(i32, I_RECEIVER_PRESENCE + 1);
    return (word0 !== 0 || word1 !== 0) && this.#liveness.alive(word0, word1, Atomics.load(i32, I_RECEIVER));
  }

  /**
   * Whether a receiver holds its place but is dead: judged by its presence
   * token, whatever the pid word says (a pid is only a pid in its own PID
   * namespace, and may be 0 for a receiver that wrote none).
   */
  receiverGone(): boolean {
    const i32 = this.i32;
    const word0 = Atomics.load(i32, I_RECEIVER_PRESENCE);
    const word1 = Atomics.load(i32, I_RECEIVER_PRESENCE + 1);
    return (word0 !== 0 || word1 !== 0) && !this.#liveness.alive(word0, word1, Atomics.load(i32, I_RECEIVER));
  }

  /**
   * Becomes the receiver (a CAS of the place's presence token from 0, or from
   * a holder that is gone); returns 0, or the pid of the live receiver that
   * holds the place (-1 if it wrote none).
   */
  registerReceiver(): number {
    const [token0, token1] = this.#liveness.hold();
    const mine = token64(token0, token1);
    const index = I_RECEIVER_PRESENCE >> 1;
    for (;;) {
      const owner = Atomics.compareExchange(this.#i64, index, 0n, mine);
      if (owner === 0n) break;
      const word0 = Number(BigInt.asIntN(32, owner));
      const word1 = Number(BigInt.asIntN(32, owner >> 32n));
      if (owner === mine || this.#liveness.alive(word0, word1, Atomics.load(this.i32, I_RECEIVER))) {
        this.#liveness.letGo();
        return Atomics.load(this.i32, I_RECEIVER) || -1;
      }
      if (Atomics.compareExchange(this.#i64, index, owner, mine) === owner) break;
    }
    Atomics.store(this.i32, I_RECEIVER, this.#pid);
    this.#receiverToken = mine;
    this.#head = Atomics.load(this.i32, I_HEAD);
    return 0;
  }

  unregisterReceiver(): void {
    if (this.#receiverToken === 0n) return;
    const mine = this.#receiverToken;
    this.#receiverToken = 0n;
    // The pid first, while the place is still ours: once it is free, a successor
    // may write its own pid, the same number in another PID namespace (pid 1 of
    // a container), which a CAS on the number would then erase.
    const index = I_RECEIVER_PRESENCE >> 1;
    if (Atomics.load(this.#i64, index) === mine) Atomics.compareExchange(this.i32, I_RECEIVER, this.#pid, 0);
    Atomics.compareExchange(this.#i64, index, mine, 0n);
    this.#liveness.letGo();
  }

  /** The receiver's cursor. */
  get head(): number {
    return this.#head;
  }

  /**
   * Position of the committed record at the receiver's cursor, or EMPTY
   * (nothing published there yet). Skips padding and abandoned records, as
   * many as were claimed when it began: PENDING if there are more (poll
   * again). With `reap`, also looks past an unpublished record: PENDING if
   * its writer lives, skipped if it died. Every field is checked before use: a
   * corrupt record is a ChannelError ERR_CHANNEL_FORMAT, never a read
   * outside the ring or a loop that does not end.
   */
  poll(reap: boolean): number {
    // The common case first, small enough for the JIT to inline.
    const pos = this.#head & this.mask;
    const at = (F.HEADER_SIZE + pos) >> 2;
    const state = Atomics.load(this.i32, at);
    if (state === F.STATE_COMMITTED) {
      const span = this.i32[at + REC_SPAN]!;
      const length = this.i32[at + REC_LENGTH]!;
      if (this.#spanFits(pos, span) && length >= 0 && length <= span - F.RECORD_HEADER) return pos;
    } else if (!reap && state === F.STATE_EMPTY) {
      // Not TAIL on the fast path: that is the senders' busy cache line.
      return EMPTY;
    }
    return this.#pollSlow(reap);
  }

  #pollSlow(reap: boolean): number {
    const i32 = this.i32;
    // What senders had claimed when this poll began bounds what it skips:
    // each skipped record frees room, and senders that give up records as
    // fast as room comes could keep it skipping for ever. Past that, the
    // caller polls again (PENDING). A record to skip always lies within
    // what was claimed (TAIL moves before the record is written): one past
    // it means the ring is corrupt.
    const claimed = (Atomics.load(i32, I_TAIL) - this.#head) | 0;
    if (claimed < 0 || claimed > this.capacity) this.#corrupt(this.#head & this.mask, 'tail', (this.#head + claimed) | 0);
    for (let skipped = 0; ; ) {
      const pos = this.#head & this.mask;
      const at = (F.HEADER_SIZE + pos) >> 2;
      // Every other field is read after what publishes it: the state, or
      // for an unpublished record TAIL (a claim moves it after the header).
      const state = Atomics.load(i32, at);
      let span: number;
      if (state === F.STATE_COMMITTED) {
        span = i32[at + REC_SPAN]!;
        const length = i32[at + REC_LENGTH]!;
        if (!this.#spanFits(pos, span)) this.#corrupt(pos, 'span', span);
        if (length < 0 || length > span - F.RECORD_HEADER) this.#corrupt(pos, 'length', length);
        return pos;
      }
      if (state === F.STATE_EMPTY) {
        if (!reap) return EMPTY;
        const pending = (Atomics.load(i32, I_TAIL) - this.#head) | 0;
        if (pending === 0) return EMPTY;
        // A claim moved TAIL past the cursor, so its header is complete (rule 1).
        if (pending < 0 || pending > this.capacity) this.#corrupt(pos, 'tail', (this.#head + pending) | 0);
        span = i32[at + REC_SPAN]!;
        if (!this.#spanFits(pos, span) || span > pending) this.#corrupt(pos, 'span', span);
        if (this.writerAlive(i32[at + REC_WRITER]!)) return PENDING;
        // A writer publishes before it lets go of its registration: one gone
        // since the state was read may have published meanwhile. Look again.
        if (Atomics.load(i32, at) !== F.STATE_EMPTY) continue;
        // Its writer died before publishing: it never will. Skip it.
      } else if (state === F.STATE_PADDING || state === F.STATE_ABANDONED) {
        span = i32[at + REC_SPAN]!;
        if (!this.#spanFits(pos, span) || span > ((Atomics.load(i32, I_TAIL) - this.#head) | 0)) this.#corrupt(pos, 'span', span);
      } else {
        this.#corrupt(pos, 'state', state);
      }
      // A record claimed since this poll began: the caller polls again.
      if (skipped > 0 && skipped >= claimed) return PENDING;
      skipped += span;
      this.release(pos);
    }
  }

  /** A record at `pos` may take `span` bytes: a header at least, aligned, and never past the ring's end. */
  #spanFits(pos: number, span: number): boolean {
    return span >= F.RECORD_HEADER && (span & (F.RECORD_ALIGN - 1)) === 0 && span <= this.capacity - pos;
  }

  /** Closed, and every record claimed before the close consumed. */
  drained(): boolean {
    // CLOSED is set under the claim lock when the closer can take it; then
    // every earlier claim moved TAIL, and every later one fails. A closer
    // that could not (a live sender kept the lock) set it beside a claim
    // that may not have seen it: TAIL is final only once the lock is free.
    const i32 = this.i32;
    return Atomics.load(i32, I_CLOSED) !== 0 && Atomics.load(i32, I_LOCK) === 0 && Atomics.load(i32, I_TAIL) === this.#head;
  }

  #corrupt(pos: number, field: string, value: number): never {
    throw channelError(
      'ERR_CHANNEL_FORMAT',
      `the record at ring position ${pos} (cursor ${this.#head >>> 0}) is corrupt: ${field} ${value} is impossible; the segment was written by something that does not follow the channel format`,
    );
  }

  /** The payload length of the committed record at `pos` (checked by poll). */
  lengthAt(pos: number): number {
    return this.i32[((F.HEADER_SIZE + pos) >> 2) + REC_LENGTH]!;
  }

  /**
   * Gives the record at `pos` (the one at the cursor) back to senders and
   * wakes any that sleep for room. HEAD is stored per record (a sender reads
   * it only when it runs out of room), so a receiver that dies loses at most
   * the record it was reading.
   */
  release(pos: number): void {
    const i32 = this.i32;
    const head = (this.#head + i32[((F.HEADER_SIZE + pos) >> 2) + REC_SPAN]!) | 0;
    this.#head = head;
    storeRelease(i32, I_HEAD, head);
    if (i32[I_SPACE_WAITING] !== 0) this.#wake(I_SPACE_WAITING, I_SPACE_FUTEX);
  }

  /**
   * The receiver's full-barrier check for sleeping senders: release()
   * reads their flag without a barrier, which can miss a sender that
   * raised it at the same moment. Called before the receiver waits.
   */
  wakeSpaceWaiters(): void {
    Atomics.store(this.i32, I_HEAD, this.#head);
    this.#wake(I_SPACE_WAITING, I_SPACE_FUTEX);
  }

  // ---- closing and waking -----------------------------------------------

  /**
   * Closes the channel. Under the claim lock, so that every record claimed
   * before is in the ring and every claim after fails; a dead owner's lock
   * is taken over, a live one that never lets go is waited out only so long.
   */
  close(writer: number): void {
    // Without a writer id (the sender table is full) it closes without the lock.
    const locked = writer !== 0 && (this.lock(writer) || this.lock(writer));
    Atomics.store(this.i32, I_CLOSED, 1);
    // Either way every sleeper wakes (unlock() wakes them once CLOSED is set).
    if (locked) this.unlock();
    else this.wakeAll();
  }

  /** Wakes every sleeper on both futex words (close, detach). */
  wakeAll(): void {
    for (const [waiting, futex] of [
      [I_RECV_WAITING, I_DATA_FUTEX],
      [I_SPACE_WAITING, I_SPACE_FUTEX],
    ] as const) {
      Atomics.store(this.i32, waiting, 0);
      Atomics.add(this.i32, futex, 1);
      futexWake(this.buffer, futex * 4, WAKE_ALL);
    }
  }

  /**
   * The waker's half of the handshake: FUTEX_WAKE costs ~10 µs, so only when
   * the other side said it sleeps, and only one waker pays for it.
   */
  #wake(waiting: number, futex: number): void {
    if (Atomics.load(this.i32, waiting) !== 0 && Atomics.exchange(this.i32, waiting, 0) !== 0) {
      Atomics.add(this.i32, futex, 1);
      futexWake(this.buffer, futex * 4, WAKE_ALL);
    }
  }
}

/** Word indexes of the two handshakes, for block.ts. */
export const DATA_HANDSHAKE = { waiting: I_RECV_WAITING, futex: I_DATA_FUTEX } as const;
export const SPACE_HANDSHAKE = { waiting: I_SPACE_WAITING, futex: I_SPACE_FUTEX } as const;
