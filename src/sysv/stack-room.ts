// Where the main thread's stack may grow. An explicit shmat address there
// (free memory, so the kernel accepts it) would stop the stack from growing:
// a deep recursion then dies with SIGSEGV instead of V8's RangeError.
import { readFileSync } from 'node:fs';
import { PAGE_SIZE } from './constants.js';

/** The kernel's default stack_guard_gap, in pages (mm/mmap.c). */
const DEFAULT_GUARD_GAP_PAGES = 256n;
/**
 * With RLIMIT_STACK unlimited the stack may grow until it meets a mapping;
 * the kernel itself then keeps at least this much room below it for the
 * stack when it lays out mmap (MIN_GAP in mm/util.c).
 */
const UNLIMITED_ROOM = 128n << 20n;

/** @internal `[low, high)`: the main thread's stack, the room RLIMIT_STACK gives it, and the guard gap below. */
export function stackRoom(): readonly [bigint, bigint] | undefined {
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return undefined;
  }
  const line = maps.split('\n').find((entry) => entry.endsWith('[stack]'));
  const range = line?.split(' ', 1)[0]?.split('-');
  if (range === undefined || range.length !== 2) return undefined;
  const high = BigInt(`0x${range[1]}`);
  const low = BigInt(`0x${range[0]}`);
  const room = maxBigint(stackLimit(), high - low);
  return [maxBigint(0n, high - room - guardGap()), high];
}

function maxBigint(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** RLIMIT_STACK's soft limit in bytes, from /proc/self/limits. */
function stackLimit(): bigint {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('Max stack size'));
    const soft = line?.slice('Max stack size'.length).trim().split(/\s+/)[0];
    if (soft !== undefined && /^\d+$/.test(soft)) return BigInt(soft);
  } catch {
    // No /proc: assume no limit.
  }
  return UNLIMITED_ROOM;
}

/** The kernel's stack guard gap (boot parameter stack_guard_gap, in pages). */
function guardGap(): bigint {
  let pages = DEFAULT_GUARD_GAP_PAGES;
  try {
    const match = /(?:^|\s)stack_guard_gap=(\d+)/.exec(readFileSync('/proc/cmdline', 'utf8'));
    if (match !== null) pages = BigInt(match[1]!);
  } catch {
    // Not readable: the default.
  }
  return pages * BigInt(PAGE_SIZE);
}
