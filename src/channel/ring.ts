// The ring's shared-memory operations: the claim lock, claiming and publishing
// records, consuming them, and the wake-up handshake. No waiting policy here
// (wait.ts), no endpoints (sender.ts, receiver.ts).
//
// Crash safety rests on three rules:
// 1. A record's header (length, pid, span) is complete before TAIL covers it,
//    and TAIL only moves inside the claim lock, so the receiver always knows
//    how far to skip.
// 2. A record becomes visible only when its state word is stored, last.
// 3. The claim lock holds its owner's pid; a lock whose owner died is taken
//    over. Its critical section only writes beyond TAIL and then moves TAIL,
//    so one interrupted at any point needs no repair.
import { native } from '../native.js';
import * as F from './format.js';
import { isAlive } from './liveness.js';

const I_CLOSED = F.OFF_CLOSED >> 2;
const I_LOCK = F.OFF_CLAIM_LOCK >> 2;
const I_TAIL = F.OFF_TAIL >> 2;
const I_HEAD = F.OFF_HEAD >> 2;
const I_RECEIVER = F.OFF_RECEIVER_PID >> 2;
const I_RECV_WAITING = F.OFF_RECV_WAITING >> 2;
const I_DATA_FUTEX = F.OFF_DATA_FUTEX >> 2;
const I_SPACE_WAITING = F.OFF_SPACE_WAITING >> 2;
const I_SPACE_FUTEX = F.OFF_SPACE_FUTEX >> 2;
const I_SENDERS = F.OFF_SENDERS >> 2;
const WAKE_ALL = 0x7fff_ffff;

/** claim() results other than a position. */
export const FULL = -1;
export const CLOSED = -2;
/** The claim lock stayed held by a live process for the whole bounded spin. */
export const BUSY = -3;

/** Spins on a held claim lock before checking its owner, and before giving up. */
const LOCK_CHECK_EVERY = 64;
const LOCK_YIELD_AFTER = 128;
const LOCK_GIVE_UP = 4096;

const pid = process.pid;

/** Views of one channel segment and the operations on them. */
export class Ring {
  readonly buffer: ArrayBuffer;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly capacity: number;
  readonly mask: number;
  /** A sender's last read of HEAD (never ahead of the real one), and TAIL after its last claim. */
  #head = 0;
  #tail: number | undefined;

  constructor(buffer: ArrayBuffer, capacity: number) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer, 0, (F.HEADER_SIZE + capacity) >> 2);
    this.u8 = new Uint8Array(buffer, 0, F.HEADER_SIZE + capacity);
    this.capacity = capacity;
    this.mask = capacity - 1;
  }

  /** Writes a fresh header. Called by the creator before anyone else can see the segment. */
  static initialize(buffer: ArrayBuffer, capacity: number, waitMode: number): void {
    const i32 = new Int32Array(buffer, 0, F.HEADER_SIZE >> 2);
    i32.fill(0);
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

  // ---- claim lock -------------------------------------------------------

  /** Takes the claim lock; false if a live owner kept it through a bounded spin. */
  lock(): boolean {
    const i32 = this.i32;
    if (Atomics.compareExchange(i32, I_LOCK, 0, pid) === 0) return true;
    for (let spin = 1; spin <= LOCK_GIVE_UP; spin++) {
      const owner = Atomics.load(i32, I_LOCK);
      if (owner === 0) {
        if (Atomics.compareExchange(i32, I_LOCK, 0, pid) === 0) return true;
      } else if (spin % LOCK_CHECK_EVERY === 0 && owner !== pid && !isAlive(owner)) {
        // The owner died inside the critical section; nothing there needs undoing.
        if (Atomics.compareExchange(i32, I_LOCK, owner, pid) === owner) return true;
      }
      // Lets a preempted owner on this CPU finish.
      if (spin > LOCK_YIELD_AFTER) native.schedYield();
    }
    return false;
  }

  unlock(): void {
    Atomics.store(this.i32, I_LOCK, 0);
  }

  // ---- senders ----------------------------------------------------------

  /**
   * Claims a record for `length` payload bytes and returns its position in
   * the ring (payload at position + 16), or FULL, CLOSED or BUSY. The record
   * is invisible until {@link publish}. A record that would cross the end of
   * the ring is preceded by a padding record filling the rest of the ring.
   */
  claim(length: number): number {
    const i32 = this.i32;
    if (!this.lock()) return BUSY;
    try {
      // Plain reads suffice inside the lock: CLOSED and TAIL change only
      // under it, and taking it (a CAS) orders them. Atomics cost ~8 ns each
      // in V8, a third of a small message's budget.
      if (i32[I_CLOSED] !== 0) return CLOSED;
      let tail = i32[I_TAIL]!;
      const span = F.spanOf(length);
      let pos = tail & this.mask;
      const toEnd = this.capacity - pos;
      // HEAD only grows, so a stale copy understates the room: read the
      // receiver's cache line again only when the copy says "full", or when
      // another sender moved TAIL since our last claim (then the copy could
      // be so old that 32-bit cursors alias).
      let free = this.capacity - ((tail - this.#head) | 0);
      if (tail !== this.#tail || free < span + (span > toEnd ? toEnd : 0)) {
        this.#head = Atomics.load(i32, I_HEAD);
        free = this.capacity - ((tail - this.#head) | 0);
      }
      if (span > toEnd) {
        if (toEnd > free) return FULL;
        this.#writeHeader(pos, 0, toEnd);
        Atomics.store(i32, (F.HEADER_SIZE + pos) >> 2, F.STATE_PADDING);
        tail = (tail + toEnd) | 0;
        Atomics.store(i32, I_TAIL, tail);
        this.#tail = tail;
        free -= toEnd;
        pos = 0;
      }
      if (span > free) return FULL;
      // Beyond TAIL, so plain stores: the TAIL store below publishes them.
      i32[(F.HEADER_SIZE + pos) >> 2] = F.STATE_CLAIMED;
      this.#writeHeader(pos, length, span);
      this.#tail = (tail + span) | 0;
      Atomics.store(i32, I_TAIL, this.#tail);
      return pos;
    } finally {
      this.unlock();
    }
  }

  #writeHeader(pos: number, length: number, span: number): void {
    const at = (F.HEADER_SIZE + pos) >> 2;
    this.i32[at + 1] = length;
    this.i32[at + 2] = pid;
    this.i32[at + 3] = span;
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
    const at = (F.HEADER_SIZE + pos) >> 2;
    this.i32[at + 1] = length;
    Atomics.store(this.i32, at, state);
    this.#wake(I_RECV_WAITING, I_DATA_FUTEX);
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
    return span <= toEnd ? span <= free : toEnd <= free;
  }

  /** Takes a free sender slot; returns its index or -1 if the table is full. */
  registerSender(): number {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < F.MAX_SENDERS; i++) {
        const owner = Atomics.load(this.i32, I_SENDERS + i);
        if (owner === 0) {
          if (Atomics.compareExchange(this.i32, I_SENDERS + i, 0, pid) === 0) return i;
        } else if (pass === 1 && owner !== pid && !isAlive(owner)) {
          if (Atomics.compareExchange(this.i32, I_SENDERS + i, owner, pid) === owner) return i;
        }
      }
    }
    return -1;
  }

  unregisterSender(slot: number): void {
    Atomics.compareExchange(this.i32, I_SENDERS + slot, pid, 0);
  }

  /** pid of the receiver, 0 if none. */
  get receiverPid(): number {
    return Atomics.load(this.i32, I_RECEIVER);
  }

  // ---- receiver ---------------------------------------------------------

  /** Becomes the receiver; returns 0, or the pid of a live receiver that holds the place. */
  registerReceiver(): number {
    for (;;) {
      const owner = Atomics.compareExchange(this.i32, I_RECEIVER, 0, pid);
      if (owner === 0) return 0;
      if (owner === pid || isAlive(owner)) return owner;
      if (Atomics.compareExchange(this.i32, I_RECEIVER, owner, pid) === owner) return 0;
    }
  }

  unregisterReceiver(): void {
    Atomics.compareExchange(this.i32, I_RECEIVER, pid, 0);
  }

  get head(): number {
    return Atomics.load(this.i32, I_HEAD);
  }

  get tail(): number {
    return Atomics.load(this.i32, I_TAIL);
  }

  /** Releases `span` bytes at `head`; wakes sleeping senders. Returns the new head. */
  release(head: number, span: number): number {
    const next = (head + span) | 0;
    Atomics.store(this.i32, I_HEAD, next);
    this.#wake(I_SPACE_WAITING, I_SPACE_FUTEX);
    return next;
  }

  /**
   * Forgets registered senders that died and returns how many there were
   * and how many were alive: [registered, alive, deadPids].
   */
  reapSenders(): [number, number, number[]] {
    let registered = 0;
    let alive = 0;
    const dead: number[] = [];
    for (let i = 0; i < F.MAX_SENDERS; i++) {
      const owner = Atomics.load(this.i32, I_SENDERS + i);
      if (owner === 0) continue;
      registered++;
      if (owner === pid || isAlive(owner)) alive++;
      else if (Atomics.compareExchange(this.i32, I_SENDERS + i, owner, 0) === owner) dead.push(owner);
    }
    return [registered, alive, dead];
  }

  // ---- closing and waking -----------------------------------------------

  /**
   * Closes the channel. Under the claim lock, so that every record claimed
   * before is in the ring and every claim after fails; a dead owner's lock
   * is taken over, a live one that never lets go is waited out only so long.
   */
  close(): void {
    const locked = this.lock() || this.lock();
    Atomics.store(this.i32, I_CLOSED, 1);
    if (locked) this.unlock();
    this.wakeAll();
  }

  /** Wakes every sleeper on both futex words (close, detach). */
  wakeAll(): void {
    for (const [waiting, futex] of [
      [I_RECV_WAITING, I_DATA_FUTEX],
      [I_SPACE_WAITING, I_SPACE_FUTEX],
    ] as const) {
      Atomics.store(this.i32, waiting, 0);
      Atomics.add(this.i32, futex, 1);
      native.futexWake(this.buffer, futex * 4, WAKE_ALL);
    }
  }

  /**
   * The waker's half of the handshake: FUTEX_WAKE costs ~10 µs, so only when
   * the other side said it sleeps, and only one waker pays for it.
   */
  #wake(waiting: number, futex: number): void {
    if (Atomics.load(this.i32, waiting) !== 0 && Atomics.exchange(this.i32, waiting, 0) !== 0) {
      Atomics.add(this.i32, futex, 1);
      native.futexWake(this.buffer, futex * 4, WAKE_ALL);
    }
  }
}

/** Word indexes of the two handshakes, for wait.ts. */
export const DATA_HANDSHAKE = { waiting: I_RECV_WAITING, futex: I_DATA_FUTEX } as const;
export const SPACE_HANDSHAKE = { waiting: I_SPACE_WAITING, futex: I_SPACE_FUTEX } as const;
