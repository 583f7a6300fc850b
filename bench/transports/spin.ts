// The spin loop a user writes around a non-blocking poll: spin, and after a
// while nap 1 µs per check (a timed Atomics.wait, which yields the CPU), so
// that a run pinned to one CPU does not spend a scheduler slice per hand-off.
// The shm-typed-array row and the channel's synchronous row share it.
const nap = new Int32Array(new SharedArrayBuffer(4));

export function spinUntil(done: () => boolean): void {
  for (let spins = 0; !done(); spins++) if (spins > 2000) Atomics.wait(nap, 0, 0, 0.001);
}
