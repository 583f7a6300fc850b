// Taking an entry of a ring's endpoint table (a channel's senders, a PubSub's
// publishers and subscribers), and judging whether its holder lives. An entry
// is `registration` (odd while held), the holder's `pid` and its presence
// token. Between taking the entry and writing its token, a registrant must not
// be judged by the previous holder's token (gone, so "dead": the entry would be
// freed under it, its records skipped, its claim lock taken). So from the
// moment the entry is taken the pid word names the registrant's presence
// instead, as -(word 0 + 1), and the pid is written last, after the token.
// (A registrant that ends in between, a worker terminated or a process
// killed, is then judged dead once its presence is gone. The pid word used to
// be 0 there, "registering, alive", which kept such an entry for ever; peers
// that still write 0 are taken as alive, as before.)
import type { Liveness, PresenceToken } from './liveness.js';

/** The pid word of an entry while token `token`'s holder registers: below 0, so never a pid. */
function registering(token: PresenceToken): number {
  return -(token[0] + 1) | 0;
}

/**
 * Takes the entry whose registration word is `at` from `registration` to
 * `next`, with its pid word naming `token`'s presence at the same moment
 * (`pid` is the pid word's index). When the pid word follows the registration
 * word in one aligned 64-bit word (sender and publisher entries), one CAS does
 * both; otherwise (subscriber entries) it is stored right after the CAS,
 * which leaves a window of one store in which the last holder's pid and token
 * still show. False if another registrant was first.
 */
export function takeEntry(
  i32: Int32Array,
  i64: BigInt64Array,
  at: number,
  pid: number,
  registration: number,
  next: number,
  token: PresenceToken,
): boolean {
  const mark = registering(token);
  if (pid === at + 1 && (at & 1) === 0) {
    const pair = Atomics.load(i64, at >> 1);
    if (Number(BigInt.asIntN(32, pair)) !== registration) return false;
    // Little-endian: registration is the low half, pid the high half.
    const taken = BigInt.asIntN(64, (BigInt(mark >>> 0) << 32n) | BigInt(next >>> 0));
    return Atomics.compareExchange(i64, at >> 1, pair, taken) === pair;
  }
  if (Atomics.compareExchange(i32, at, registration, next) !== registration) return false;
  Atomics.store(i32, pid, mark);
  return true;
}

/** Writes the taker's token, then its pid (last: from then on the token is the one to judge by). */
export function fillEntry(i32: Int32Array, presence: number, pid: number, token: PresenceToken, ownPid: number): void {
  Atomics.store(i32, presence, token[0]);
  Atomics.store(i32, presence + 1, token[1]);
  Atomics.store(i32, pid, ownPid);
}

/**
 * Whether the holder of an entry lives: a registrant by its presence (pid word
 * below 0) or, for a peer that marks registering with 0, always; a
 * registered holder by its token (or pid, if it wrote none).
 */
export function holderAlive(i32: Int32Array, presence: number, pid: number, liveness: Liveness): boolean {
  // The pid first: written last, so a token read after a pid above 0 is the holder's.
  const holder = Atomics.load(i32, pid);
  if (holder === 0) return true;
  if (holder < 0) return liveness.registrantAlive(-(holder + 1));
  return liveness.alive(Atomics.load(i32, presence), Atomics.load(i32, presence + 1), holder);
}
