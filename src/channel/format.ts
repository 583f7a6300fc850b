// The channel's on-segment format, version 2 (docs/channel-format.md is the
// reference, for C peers too). Every number is in the machine's byte order;
// offsets are in bytes from the start of the segment.

/** 'SKCH' read as a little-endian 32-bit word: marks a shmkit channel. */
export const MAGIC = 0x4843_4b53;
/** Bumped on any change a peer of the previous version would misread. */
export const VERSION = 2;
/** The header occupies the first two pages; the ring follows it. */
export const HEADER_SIZE = 8192;

// Header fields. Words written by different sides sit on separate 64-byte
// cache lines, so a sender's stores do not slow the receiver's loads.
export const OFF_MAGIC = 0;
export const OFF_VERSION = 4;
export const OFF_HEADER_SIZE = 8;
export const OFF_CAPACITY = 12;
/** Default wait mode chosen at create: 0 adaptive, 1 spin, 2 sleep. */
export const OFF_WAIT_MODE = 16;
export const OFF_MAX_SENDERS = 20;
export const OFF_CREATOR_PID = 24;
/** Nonzero once the channel is closed; set under the claim lock. */
export const OFF_CLOSED = 28;
/** Writer id of the sender inside the claim critical section, 0 when free. */
export const OFF_CLAIM_LOCK = 64;
/** Reserve cursor: bytes ever claimed, modulo 2^32. Moved under the claim lock. */
export const OFF_TAIL = 68;
/**
 * How many senders wait for the claim lock right now (a hint): a sender may
 * keep the lock between its claims only while this is 0.
 */
export const OFF_LOCK_WANTED = 72;
/**
 * 256 bits (8 words), bit i of word i >> 5 for sender entry i: set while
 * that entry's holder has its 1 in LOCK_WANTED. A holder that dies waiting
 * leaves both; whoever takes its entry next takes the 1 back, or the count
 * would stay raised and no sender could keep the lock again.
 */
export const OFF_LOCK_WANTED_BY = 76;
/** Consume cursor: bytes ever released, modulo 2^32. Only the receiver moves it. */
export const OFF_HEAD = 128;
/** pid of the receiver, for people to read (it names nothing in another PID namespace). */
export const OFF_RECEIVER_PID = 132;
/** The receiver's presence token (docs/presence.md), two words, 0 if none: its place, taken by a 64-bit CAS. */
export const OFF_RECEIVER_PRESENCE = 136;
/** Nonzero while the receiver sleeps (or is about to) on DATA_FUTEX. */
export const OFF_RECV_WAITING = 192;
/** Bumped by a sender that wakes the receiver; the receiver's futex word. */
export const OFF_DATA_FUTEX = 196;
/** Nonzero while a sender sleeps (or is about to) on SPACE_FUTEX. */
export const OFF_SPACE_WAITING = 256;
/** Bumped by the receiver when it frees space for sleeping senders. */
export const OFF_SPACE_FUTEX = 260;
/**
 * The codec's name, as the creator recorded it: its length in bytes, then up
 * to CODEC_NAME_MAX bytes of UTF-8. Length 0 (a channel made before codecs,
 * or by a C program) means `bytes`.
 */
export const OFF_CODEC_LENGTH = 512;
export const OFF_CODEC_NAME = 516;
export const CODEC_NAME_MAX = 64;
/** The sender table: MAX_SENDERS entries of SENDER_ENTRY bytes. */
export const OFF_SENDERS = 4096;
export const MAX_SENDERS = 256;
export const SENDER_ENTRY = 16;

/**
 * A sender table entry, as 32-bit word indexes from the entry's start.
 * `registration` counts takes and releases of the entry: odd while a sender
 * holds it. A writer id names one registration: entry index | generation << 8.
 * `presence` is the holder's presence token (two words); `pid` is for people.
 */
export const SENDER = { registration: 0, pid: 1, presence: 2 } as const;

// Records in the ring: a 16-byte header, then the payload, padded to 16.
export const RECORD_HEADER = 16;
export const RECORD_ALIGN = 16;
/** A record header, as 32-bit word indexes from the record's start. */
export const RECORD = { state: 0, length: 1, writer: 2, span: 3 } as const;

/**
 * Record states. The state word of the record at the receiver's cursor is
 * zero until the record is published (senders zero it ahead of time); a
 * record is published by storing its state last.
 */
export const STATE_EMPTY = 0;
export const STATE_COMMITTED = 1;
export const STATE_PADDING = 2;
export const STATE_ABANDONED = 3;

export const MIN_CAPACITY = 256;
export const MAX_CAPACITY = 2 ** 30;

export type { WaitMode } from '../core/wait-options.js';
/** @internal A mode's index in it is the mode's number in the segment's header. */
export { WAIT_MODES } from '../core/wait-options.js';

/** Bytes a record with `length` payload bytes takes in the ring. */
export function spanOf(length: number): number {
  return (RECORD_HEADER + length + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
}

/**
 * The largest payload a ring of `capacity` bytes can carry: a claim always
 * leaves one record header's room, the next record's zeroed state word.
 */
export function maxMessage(capacity: number): number {
  return capacity - RECORD_HEADER - RECORD_ALIGN;
}

/** The ring size for a requested capacity: the next power of two, at least MIN_CAPACITY. */
export function ringCapacity(requested: number): number {
  let capacity = MIN_CAPACITY;
  while (capacity < requested) capacity *= 2;
  return capacity;
}

/** The writer id of generation `generation` of sender entry `slot`. */
export function writerId(slot: number, generation: number): number {
  return slot | ((generation & 0xff_ffff) << 8) | 0;
}
