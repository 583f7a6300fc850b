// A seeded pseudo-random generator (xorshift32) for tests that must replay
// the same sequence: a failure names its seed.

/** Numbers in [0, 1) from `seed`, the same sequence every time. */
export function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
