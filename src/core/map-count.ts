// Room in the process's map count (vm.max_map_count) for V8 and Node. Every
// mapping (shmat, mmap) is one more memory area; at the limit the kernel
// refuses V8's own next mmap and V8 aborts the process (exit 134: 65,180
// one-page mappings took it there). So the addon refuses a new mapping with
// ENOMEM while the areas are within MAP_COUNT_MARGIN of the limit
// (native/mapping.cc, AdmitArea), counting /proc/self/maps only once
// shmkit's own areas are a quarter of the limit, where forgotten mappings
// also stop new ones (EAGAIN, src/sysv/shm.ts).
import { readFileSync } from 'node:fs';
import { native } from './native.js';

/**
 * Areas kept free below the limit. Measured on Node 20 at 65,530: a worker
 * thread's start failed (V8 aborted) with 100 left, and a worker plus 200 MB
 * of heap growth and 50 buffers of 4 MiB passed with 200; ten times that.
 */
export const MAP_COUNT_MARGIN = 2048;

/** Set (a number) in the environment, lowers the limit shmkit assumes: for tests, since vm.max_map_count is machine-wide and cannot be lowered for one process. */
const LIMIT_VARIABLE = 'SHMKIT_MAX_MAP_COUNT';

let limit: { value: number; lowered: boolean } | undefined;

/** @internal vm.max_map_count, or the lower SHMKIT_MAX_MAP_COUNT; 65530 (the default) where /proc says nothing. */
export function maxMapCount(): { value: number; lowered: boolean } {
  if (limit !== undefined) return limit;
  let value = 65530;
  try {
    value = Number.parseInt(readFileSync('/proc/sys/vm/max_map_count', 'utf8'), 10) || value;
  } catch {
    // another kernel, a sandbox: the default
  }
  const lower = Number(process.env[LIMIT_VARIABLE]);
  const lowered = Number.isSafeInteger(lower) && lower > 0 && lower < value;
  limit = { value: lowered ? lower : value, lowered };
  return limit;
}

const assumed = maxMapCount();
native.mapCountPolicy(assumed.value, MAP_COUNT_MARGIN, Math.floor(assumed.value / 4));

/**
 * @internal What a mapping's ENOMEM means: the words for the map count when
 * the addon refused it for want of room there (with the count), or
 * undefined when the kernel did (no address space for the length).
 */
export function mapCountRefusal(): string | undefined {
  const [, areas] = native.mapCountStats();
  if (areas === 0) return undefined;
  const { value, lowered } = maxMapCount();
  return (
    `this process has ${areas} memory mappings (/proc/self/maps), within ${MAP_COUNT_MARGIN} of vm.max_map_count (${value}${lowered ? `, lowered by ${LIMIT_VARIABLE}` : ''}), ` +
    'and shmkit keeps that room for Node and V8, which abort the process when they cannot map; ' +
    'unmap what is no longer needed (munmap, shmdt, detach), or raise the limit (sysctl vm.max_map_count)'
  );
}
