// Opening the segment of a Channel, PubSub or Service by key, path or id.
import { IpcError, withOtherHint } from '../core/errors.js';
import { type OpenOptions, type SegmentLocator, SharedMemory } from '../shm/shared-memory.js';
import { ftok } from '../sysv/ftok.js';
import { missingObjectHint } from '../sysv/hints.js';

/**
 * SharedMemory.open of the segment of a `what` ('Channel', 'PubSub', 'Service'). For a key nobody
 * created, the hint names `what`.create: SharedMemory.create or shmkit create, which the segment's
 * own hint offers, make a plain segment, which the open would then refuse as not a `what`.
 */
export function openSegment(where: SegmentLocator, what: string): SharedMemory {
  try {
    // Checked by open itself (exactly one of them): the caller's options, as the user gave them.
    return SharedMemory.open({ key: where.key, id: where.id, path: where.path, projId: where.projId } as OpenOptions);
  } catch (error) {
    if (!(error instanceof IpcError && error.code === 'ENOENT' && error.syscall === 'shmget')) throw error;
    let key: number;
    try {
      key = where.key ?? ftok(where.path as string, where.projId ?? 1);
    } catch {
      throw error;
    }
    throw withOtherHint(error, missingObjectHint(what, key));
  }
}

/**
 * The magic word at index `index` of `words`, waiting up to about 100 ms while
 * it is still 0: its creator may still be writing the header (the magic comes
 * last). Unsigned.
 */
export function awaitMagic(words: Int32Array, index: number): number {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 100 && Atomics.load(words, index) === 0; i++) Atomics.wait(pause, 0, 0, 1);
  return Atomics.load(words, index) >>> 0;
}
