// Taking an entry of a ring's endpoint table (a channel's senders, a PubSub's
// publishers and subscribers), and judging whether its holder lives. An entry
// is `registration` (odd while held), the holder's `pid` and its presence
// token. Between taking the entry and writing its token, a registrant must not
// be judged by the previous holder's token (gone, so "dead": the entry would be
// freed under it, its records skipped, its claim lock taken). So the pid word
// is 0 from the moment the entry is taken, read as "registering, alive", and
// written last, after the token.
import type { Liveness } from './liveness.js';

/**
 * Takes the entry whose registration word is `at` from `registration` to
 * `next`, with its pid word 0 at the same moment (`pid` is the pid word's
 * index). When the pid word follows the registration word in one aligned
 * 64-bit word (sender and publisher entries), one CAS does both; otherwise
 * (subscriber entries) it is zeroed right after the CAS, which leaves a
 * window of one store in which the last holder's pid and token still show.
 * False if another registrant was first.
 */
export function takeEntry(i32: Int32Array, i64: BigInt64Array, at: number, pid: number, registration: number, next: number): boolean {
  if (pid === at + 1 && (at & 1) === 0) {
    const pair = Atomics.load(i64, at >> 1);
    if (Number(BigInt.asIntN(32, pair)) !== registration) return false;
    // Little-endian: registration is the low half, pid the high half (0).
    return Atomics.compareExchange(i64, at >> 1, pair, BigInt(next >>> 0)) === pair;
  }
  if (Atomics.compareExchange(i32, at, registration, next) !== registration) return false;
  Atomics.store(i32, pid, 0);
  return true;
}

/** Writes the taker's token, then its pid (last: from then on the token is the one to judge by). */
export function fillEntry(i32: Int32Array, presence: number, pid: number, token: readonly [number, number], ownPid: number): void {
  Atomics.store(i32, presence, token[0]);
  Atomics.store(i32, presence + 1, token[1]);
  Atomics.store(i32, pid, ownPid);
}

/** Whether the holder of an entry lives: registering (pid 0), or by its token (or pid, if it wrote none). */
export function holderAlive(i32: Int32Array, presence: number, pid: number, liveness: Liveness): boolean {
  // The pid first: written last, so a token read after a nonzero pid is the holder's.
  const holder = Atomics.load(i32, pid);
  if (holder === 0) return true;
  return liveness.alive(Atomics.load(i32, presence), Atomics.load(i32, presence + 1), holder);
}
