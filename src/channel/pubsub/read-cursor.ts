// One subscriber's reading of the broadcast ring: its entry in the subscriber
// table, its cursor, and the number of the record it expects next. It skips
// padding and abandoned records, marks a dead writer's record abandoned, and
// in drop-oldest mode finds out it was overtaken (the record under its cursor
// overwritten, seqlock style: INTENT read after the copy) and jumps to the
// oldest record still there, counting what it skipped from the numbers.
import { channelError } from '../../core/errors.js';
import { type BroadcastRing, SPACE_HANDSHAKE, storeRelease, subscriberAt, TSO } from './broadcast-ring.js';
import * as F from './format.js';

/** poll() when there is no record to read now. */
export const EMPTY = -1;
/**
 * poll() when it skipped (or jumped) as far as was claimed when it began and
 * there is more to skip: poll again.
 */
export const PENDING = -2;

const I_TAIL = F.OFF_TAIL >> 2;
const I_INTENT = F.OFF_INTENT >> 2;
const I_OLDEST = F.OFF_OLDEST >> 2;
const I_SPACE_WAITING = F.OFF_SPACE_WAITING >> 2;
/**
 * Looks at INTENT more than a ring past a position that should be within
 * one, before calling the segment corrupt: each look that fails needs a
 * claim to finish between two loads a few nanoseconds apart, so a thousand
 * in a row do not happen in a segment that follows the format.
 */
const IMPOSSIBLE_LOOKS = 1000;

function impossibleIntent(i32: Int32Array, position: number, name = 'TAIL'): Error {
  return channelError(
    'ERR_CHANNEL_FORMAT',
    `the publish/subscribe header is corrupt: INTENT ${Atomics.load(i32, I_INTENT) >>> 0} is more than a ring past ${name} ${position >>> 0}, which no publisher does; the segment was written by something that does not follow the format`,
  );
}

export class ReadCursor {
  readonly #ring: BroadcastRing;
  readonly #i32: Int32Array;
  readonly #mask: number;
  readonly #capacity: number;
  readonly #drop: boolean;
  readonly slot: number;
  readonly registration: number;
  /** Word index of this subscriber's cursor in its entry. */
  readonly #cursorAt: number;
  #position: number;
  /** The cursor as publishers see it: behind #position while a drain defers it. */
  #published: number;
  /** The number of the next record. */
  #expected: number;
  /** The record poll() found: its length and number. */
  #length = 0;
  #seq = 0;
  /** Records overwritten before this subscriber read them (drop-oldest). */
  missed = 0;

  private constructor(ring: BroadcastRing, slot: number, registration: number, position: number, expected: number) {
    this.#ring = ring;
    this.#i32 = ring.i32;
    this.#mask = ring.mask;
    this.#capacity = ring.capacity;
    this.#drop = ring.dropOldest;
    this.slot = slot;
    this.registration = registration;
    this.#cursorAt = subscriberAt(slot) + F.SUBSCRIBER.cursor;
    this.#position = position;
    this.#published = position;
    this.#expected = expected;
  }

  /**
   * Joins at the ring's TAIL: the subscriber gets every record claimed after
   * it is active. Undefined if the subscriber table is full of live subscribers.
   */
  static join(ring: BroadcastRing): ReadCursor | undefined {
    const taken = ring.registerSubscriber();
    if (taken === undefined) return undefined;
    const [slot, registration] = taken;
    const i32 = ring.i32;
    const at = subscriberAt(slot);
    for (let impossible = 0; ; ) {
      const tail = Atomics.load(i32, I_TAIL);
      // The claim that moved TAIL here gave the next record its number.
      const seq = i32[((F.HEADER_SIZE + (tail & ring.mask)) >> 2) + F.RECORD.seq]!;
      Atomics.store(i32, at + F.SUBSCRIBER.cursor, tail);
      Atomics.store(i32, at + F.SUBSCRIBER.active, registration);
      // A claim that read the table before we were active started at TAIL as
      // we read it at the latest; claims after see us. So TAIL unchanged means
      // nothing we will read can be overwritten before we read it.
      if (Atomics.load(i32, I_TAIL) !== tail) continue;
      if (!(ring.dropOldest && ReadCursor.#overtaken(i32, tail, ring.capacity))) {
        return new ReadCursor(ring, slot, registration, tail, seq);
      }
      // INTENT more than a ring past a TAIL that stands still: no claim does that.
      if (++impossible > IMPOSSIBLE_LOOKS) {
        ring.unregisterSubscriber(slot, registration);
        throw impossibleIntent(i32, tail);
      }
    }
  }

  /**
   * INTENT is never behind a reader's cursor, so the distance is taken
   * unsigned: a reader asleep while more than 2 GiB went by is overtaken too.
   */
  static #overtaken(i32: Int32Array, position: number, capacity: number): boolean {
    return (Atomics.load(i32, I_INTENT) - position) >>> 0 > capacity;
  }

  /** The position of the next record (bytes, modulo 2^32). */
  get position(): number {
    return this.#position >>> 0;
  }

  /** Whether this cursor still holds its entry (a process judged dead loses it). */
  get held(): boolean {
    return this.#ring.subscriberHeld(this.slot, this.registration);
  }

  /** Leaves the table: publishers stop waiting for this subscriber. */
  leave(): void {
    this.#ring.unregisterSubscriber(this.slot, this.registration);
  }

  /**
   * The position of the committed record at the cursor (its payload at
   * ring.payloadOffset), EMPTY, or PENDING: it skipped padding and
   * abandoned records (or jumped) as far as was claimed when it began, and
   * there are more (poll again). In drop-oldest mode the caller copies the
   * payload and then asks {@link intact} before using it. With `reap`, a
   * record whose writer died before publishing is marked abandoned and skipped.
   */
  poll(reap = false): number {
    const c = this.#position;
    const at = (F.HEADER_SIZE + (c & this.#mask)) >> 2;
    if (Atomics.load(this.#i32, at) === (c | F.STATE_COMMITTED | 0)) {
      const length = this.#i32[at + F.RECORD.length]!;
      // length first: spanOf's int32 arithmetic wraps for a length near 2^31.
      if (length >= 0 && length <= this.#capacity && F.spanOf(length) <= this.#capacity - (c & this.#mask)) {
        this.#length = length;
        this.#seq = this.#i32[at + F.RECORD.seq]!;
        return c >>> 0;
      }
    }
    return this.#pollSlow(reap);
  }

  #pollSlow(reap: boolean): number {
    const i32 = this.#i32;
    // What was claimed when this poll first moved the cursor (TAIL then,
    // `limit`) bounds how far it goes: each record skipped frees room
    // (lossless) that publishers may fill at once with more records to skip
    // (abandoned ones, padding), and drop-oldest publishers may overtake a
    // reader as fast as it jumps. Past that, the caller polls again
    // (PENDING). A record to skip lies within what was claimed (TAIL moves
    // before its tag is stored): one past it means the ring is corrupt.
    let limit = 0;
    let moved = false;
    // Each jump lands past the one before, on a later OLDEST, in a ring that
    // follows the format: a thousand that do not mean a cursor carried past
    // INTENT by a corrupt header and sent back by every jump.
    for (let jumps = 0, landed = this.#position; ; ) {
      const c = this.#position;
      const pos = c & this.#mask;
      if (this.#drop && ReadCursor.#overtaken(i32, c, this.#capacity)) {
        if (!moved) {
          limit = Atomics.load(i32, I_TAIL);
          moved = true;
        } else if (((c - limit) | 0) >= 0) {
          return PENDING;
        }
        this.#jump();
        if (((this.#position - landed) | 0) <= 0 && ++jumps > IMPOSSIBLE_LOOKS) this.#corrupt(pos, 'jumps back to OLDEST', jumps);
        landed = this.#position;
        continue;
      }
      const at = (F.HEADER_SIZE + pos) >> 2;
      const tag = Atomics.load(i32, at);
      const state = (tag ^ c) | 0;
      const length = i32[at + F.RECORD.length]!;
      const seq = i32[at + F.RECORD.seq]!;
      if (state === F.STATE_COMMITTED || state === F.STATE_PADDING || state === F.STATE_ABANDONED) {
        // Drop-oldest: what we read may be a later lap's bytes; trust it only if
        // not overtaken since (then the check above jumps).
        if (!this.#unchanged(c)) continue;
        if (!this.#fits(pos, length)) this.#corrupt(pos, 'length', length);
        if (state === F.STATE_COMMITTED) {
          this.#length = length;
          this.#seq = seq;
          return c >>> 0;
        }
        const span = F.spanOf(length);
        if (!moved) {
          limit = Atomics.load(i32, I_TAIL);
          moved = true;
          // Lossless: no claim passes this cursor plus the capacity.
          if (!this.#drop && ((limit - c) | 0) > this.#capacity) this.#corrupt(pos, 'tail', limit >>> 0);
        } else if (((c - limit) | 0) >= 0) {
          // Claimed since this poll began: the caller polls again.
          return PENDING;
        }
        // Claims are made one after another and TAIL ends one: a record before
        // `limit` (or the first, which `limit` was read after) ends within it.
        if (span > ((limit - c) | 0)) this.#corrupt(pos, 'length', length);
        this.#advance(span, state === F.STATE_ABANDONED ? seq + 1 : seq);
        continue;
      }
      if (!reap) return EMPTY;
      // A claim moved TAIL past the cursor, so the header is complete (rule 1).
      const pending = (Atomics.load(i32, I_TAIL) - c) | 0;
      if (pending <= 0) return EMPTY;
      // The header again: what was read above came before TAIL, and a claim
      // may have written it in between.
      const writer = i32[at + F.RECORD.writer]!;
      const claimed = i32[at + F.RECORD.length]!;
      if (!this.#unchanged(c)) continue;
      if (pending > this.#capacity) this.#corrupt(pos, 'tail', (c + pending) >>> 0);
      if (!this.#fits(pos, claimed) || F.spanOf(claimed) > pending) this.#corrupt(pos, 'length', claimed);
      if (this.#ring.writerAlive(writer)) return EMPTY;
      // Its writer died before publishing: it never will. Every subscriber skips it.
      Atomics.compareExchange(i32, at, tag, c | F.STATE_ABANDONED | 0);
    }
  }

  /**
   * Drop-oldest: whether what was read at `position` before this call is
   * still that record's (no claim started to overwrite it). Always true in
   * lossless mode. {@link intact}, without the jump.
   */
  #unchanged(position: number): boolean {
    if (!this.#drop) return true;
    // The reads (a copy's too) must come before INTENT's: plain loads may
    // pass an atomic load on arm64, not a read-modify-write.
    if (!TSO) Atomics.add(this.#i32, this.#cursorAt, 0);
    return !ReadCursor.#overtaken(this.#i32, position | 0, this.#capacity);
  }

  /**
   * Drop-oldest: whether the record at `position`, read (copied) before this
   * call, was whole, i.e. no claim had started to overwrite it. Always true
   * in lossless mode, where no publisher passes this cursor.
   */
  intact(position: number): boolean {
    if (this.#unchanged(position)) return true;
    // The tag at the cursor may still look right (stale bytes of an earlier
    // lap survive in the gaps records leave): move on now, not at the next poll.
    if ((position | 0) === this.#position) this.#jump();
    return false;
  }

  /** Overtaken: continue at the oldest record still in the ring, counting the records skipped. */
  #jump(): void {
    const i32 = this.#i32;
    for (let looks = 0; ; looks++) {
      const oldest = Atomics.load(i32, I_OLDEST);
      const seq = i32[((F.HEADER_SIZE + (oldest & this.#mask)) >> 2) + F.RECORD.seq]!;
      if (!TSO) Atomics.add(i32, this.#cursorAt, 0);
      // Overtaken again only if a claim finished between the two loads
      // (publishers store OLDEST first, and keep INTENT within a ring of it):
      // look after look, that is a segment no publisher wrote.
      if (ReadCursor.#overtaken(i32, oldest, this.#capacity)) {
        if (looks > IMPOSSIBLE_LOOKS) throw impossibleIntent(i32, oldest, 'OLDEST');
        continue;
      }
      const skipped = (seq - this.#expected) | 0;
      if (skipped > 0) this.missed += skipped;
      this.#expected = seq;
      this.#position = oldest;
      this.#published = oldest;
      storeRelease(i32, this.#cursorAt, oldest);
      return;
    }
  }

  /** Payload length of the record poll() returned. */
  get length(): number {
    return this.#length;
  }

  /**
   * Moves past the record poll() returned. With `publish` false, publishers
   * see the move only at the next {@link publish} (lossless: the record
   * stays untouched until then), so a burst costs them one cache-line
   * transfer instead of one per message.
   */
  release(publish = true): void {
    this.#advance(F.spanOf(this.#length), this.#seq + 1, publish);
  }

  /** Bytes this cursor moved that publishers do not see yet. */
  get unpublished(): number {
    return (this.#position - this.#published) >>> 0;
  }

  /** Shows publishers where this cursor is, waking one that sleeps for room. */
  publish(): void {
    this.#published = this.#position;
    storeRelease(this.#i32, this.#cursorAt, this.#position);
    if (!this.#drop && this.#i32[I_SPACE_WAITING] !== 0) this.#ring.wake(SPACE_HANDSHAKE);
  }

  #advance(span: number, expected: number, publish = true): void {
    this.#position = (this.#position + span) | 0;
    this.#expected = expected | 0;
    if (publish) this.publish();
  }

  /**
   * Before sleeping: a full-barrier store of the cursor, then wakes any
   * publisher that sleeps for room (advance() reads their flag without a
   * barrier and may miss one that raised it at the same moment).
   */
  beforeWait(): void {
    this.#published = this.#position;
    Atomics.store(this.#i32, this.#cursorAt, this.#position);
    if (!this.#drop) this.#ring.wake(SPACE_HANDSHAKE);
  }

  /**
   * Closed, and every record claimed before the close read (or skipped). A
   * close that could not take the claim lock set CLOSED beside a claim that
   * may not have seen it: TAIL is final only once the lock is free.
   */
  drained(): boolean {
    return this.#ring.closed && this.#ring.unlocked && Atomics.load(this.#i32, I_TAIL) === this.#position;
  }

  /** A record at `pos` may carry `length` bytes: its span stays within the ring. */
  #fits(pos: number, length: number): boolean {
    return length >= 0 && length <= this.#capacity && F.spanOf(length) <= this.#capacity - pos;
  }

  #corrupt(pos: number, field: string, value: number): never {
    throw channelError(
      'ERR_CHANNEL_FORMAT',
      `the record at ring position ${pos} (cursor ${this.#position >>> 0}) is corrupt: ${field} ${value} is impossible; the segment was written by something that does not follow the publish/subscribe format`,
    );
  }
}
