// The claim lock both rings put in their header: one word holding the writer
// id of its owner, 0 when free. Its critical section is a few stores, so a
// contender spins, and takes over from an owner that died holding it (nothing
// in the section needs undoing); one that stays held by a live owner through
// the whole spin was preempted or stopped, and the caller backs off instead.
import { schedYield } from '../sysv/process.js';

/** Spins on a held lock before checking its owner, and before yielding the CPU. */
const CHECK_EVERY = 64;
const YIELD_AFTER = 128;
/** Spins before giving up on a lock a live owner holds. */
export const LOCK_PATIENCE = 1024;

/**
 * Lets go of the lock at word `index` if a writer that died holds it. A
 * closed ring's readers wait for the lock to be free before they call it
 * drained (a close that could not take the lock leaves a claim in flight),
 * and a dead owner never lets go by itself.
 */
export function freeIfOwnerDead(i32: Int32Array, index: number, ring: { writerAlive(writer: number): boolean }): void {
  const owner = Atomics.load(i32, index);
  if (owner !== 0 && !ring.writerAlive(owner)) Atomics.compareExchange(i32, index, owner, 0);
}

/**
 * Takes the lock at word `index` for `writer` within `patience` spins; false
 * if an owner `ring` says is alive kept it all that time.
 */
export function spinForLock(
  i32: Int32Array,
  index: number,
  writer: number,
  patience: number,
  ring: { writerAlive(writer: number): boolean },
): boolean {
  if (Atomics.compareExchange(i32, index, 0, writer) === 0) return true;
  for (let spin = 1; spin <= patience; spin++) {
    const owner = Atomics.load(i32, index);
    if (owner === 0) {
      if (Atomics.compareExchange(i32, index, 0, writer) === 0) return true;
    } else if (spin % CHECK_EVERY === 0 && owner !== writer && !ring.writerAlive(owner)) {
      if (Atomics.compareExchange(i32, index, owner, writer) === owner) return true;
    }
    // Lets a preempted owner on this CPU finish.
    if (spin > YIELD_AFTER) schedYield();
  }
  return false;
}
