// The publish/subscribe segment's format, version 1 (docs/pubsub.md gives it
// for C peers). Every number is in the machine's byte order; offsets are in
// bytes from the start of the segment. Positions are byte counts modulo 2^32
// (the ring's capacity, a power of two, divides 2^32).

/** 'SKPS' read as a little-endian 32-bit word: marks a shmkit publish/subscribe segment. */
export const MAGIC = 0x5350_4b53;
export const VERSION = 1;
/** The header (with both tables) takes the first four pages; the ring follows it. */
export const HEADER_SIZE = 16384;

export const OFF_MAGIC = 0;
export const OFF_VERSION = 4;
export const OFF_HEADER_SIZE = 8;
export const OFF_CAPACITY = 12;
/** Default wait mode chosen at create: 0 adaptive, 1 spin, 2 sleep. */
export const OFF_WAIT_MODE = 16;
/** 0: lossless (publishers wait for the slowest subscriber); 1: drop-oldest. */
export const OFF_LAG = 20;
export const OFF_MAX_PUBLISHERS = 24;
export const OFF_MAX_SUBSCRIBERS = 28;
export const OFF_CREATOR_PID = 32;
/** Nonzero once closed; set under the claim lock. */
export const OFF_CLOSED = 36;
/** One more than the highest subscriber entry ever taken: publishers scan no further. */
export const OFF_SUBSCRIBER_HIGH = 40;
/** The codec's name: its length in bytes, then up to MAX_CODEC_NAME bytes of UTF-8. */
export const OFF_CODEC_LENGTH = 64;
export const OFF_CODEC = 68;
export const MAX_CODEC_NAME = 56;

// Publishers' cache line.
/** Writer id of the publisher inside the claim critical section, 0 when free. */
export const OFF_CLAIM_LOCK = 128;
/** Claim cursor: bytes ever claimed. Moved under the claim lock, after the headers it covers are written. */
export const OFF_TAIL = 132;
/**
 * How far the lock holder may write (bytes): stored before any byte of a
 * claim is written, and never moves back. A subscriber that copied a record
 * at position p knows no byte of it was overwritten if INTENT - p <= capacity
 * (read after the copy): the seqlock check of drop-oldest mode.
 */
export const OFF_INTENT = 136;
/** Drop-oldest: position of the oldest record not yet (being) overwritten. Stored before INTENT. */
export const OFF_OLDEST = 140;

/** Nonzero while a subscriber sleeps (or is about to) on DATA_FUTEX. */
export const OFF_DATA_WAITING = 256;
/** Bumped by a publisher that wakes subscribers; their futex word. */
export const OFF_DATA_FUTEX = 260;
/** Nonzero while a publisher sleeps (or is about to) on SPACE_FUTEX. */
export const OFF_SPACE_WAITING = 320;
/** Bumped by a subscriber that wakes publishers waiting for room. */
export const OFF_SPACE_FUTEX = 324;

/** The publisher table: MAX_PUBLISHERS entries of PUBLISHER_ENTRY bytes. */
export const OFF_PUBLISHERS = 2048;
export const MAX_PUBLISHERS = 128;
export const PUBLISHER_ENTRY = 16;
/**
 * A publisher entry, as word indexes: `registration` is odd while held and
 * counts takes and releases; a writer id is entry | registration << 8.
 * `presence` is the holder's presence token (docs/presence.md); `pid` is for people.
 */
export const PUBLISHER = { registration: 0, pid: 1, presence: 2 } as const;

/** The subscriber table: one 64-byte cache line per subscriber, so cursors do not share lines. */
export const OFF_SUBSCRIBERS = 4096;
export const MAX_SUBSCRIBERS = 128;
export const SUBSCRIBER_ENTRY = 64;
/**
 * A subscriber entry, as word indexes: `registration` as a publisher's;
 * `active` holds the registration number once `cursor` is valid (publishers
 * count only active entries), 0 otherwise; `cursor` is the position of the
 * next record it reads.
 */
export const SUBSCRIBER = { registration: 0, active: 1, cursor: 2, pid: 3, presence: 4 } as const;

// Records: a 16-byte header, then the payload, padded to 16 bytes.
export const RECORD_HEADER = 16;
export const RECORD_ALIGN = 16;
/**
 * A record header, as word indexes. `tag` is the record's position with its
 * state in the low 4 bits, stored last (0 until then); `seq` numbers records
 * (padding carries the number of the record after it).
 */
export const RECORD = { tag: 0, length: 1, writer: 2, seq: 3 } as const;

export const STATE_COMMITTED = 1;
export const STATE_PADDING = 2;
export const STATE_ABANDONED = 3;
export const STATE_MASK = 0xf;

export const MIN_CAPACITY = 256;
export const MAX_CAPACITY = 2 ** 30;

/** Lag policies, by their header value. */
export type LagPolicy = 'block' | 'drop-oldest';
export const LAG_POLICIES: readonly LagPolicy[] = ['block', 'drop-oldest'];

/** Bytes a record with `length` payload bytes takes in the ring. */
export function spanOf(length: number): number {
  return (RECORD_HEADER + length + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
}

/** The largest payload: a claim also writes the next record's header (its zeroed tag and number). */
export function maxMessage(capacity: number): number {
  return capacity - 2 * RECORD_HEADER;
}

/** The ring size for a requested capacity: the next power of two, at least MIN_CAPACITY. */
export function ringCapacity(requested: number): number {
  let capacity = MIN_CAPACITY;
  while (capacity < requested) capacity *= 2;
  return capacity;
}

/** The writer id of registration `registration` of publisher entry `slot` (never 0: registrations are odd). */
export function writerId(slot: number, registration: number): number {
  return slot | ((registration & 0xff_ffff) << 8) | 0;
}
