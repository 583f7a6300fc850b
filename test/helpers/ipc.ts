// IPC bookkeeping for tests: fresh keys, cleanup that runs even when a test
// fails, and the check that a test file leaves no segment or semaphore set behind.
import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import { readFileSync } from 'node:fs';
import { IPC_RMID, MSG_INFO, SHM_INFO, SemaphoreSet, msgctl, semctl, shmctl } from 'shmkit';

let nextKey = 0x5300_0000 + ((process.pid * 4099) % 0x00ff_0000);

/** A key no other test in this run uses (and unlikely to be taken on the machine). */
export function uniqueKey(): number {
  nextKey += 1 + Math.floor(Math.random() * 16);
  return nextKey;
}

/** Removes segment `id` if it still exists (cleanup that never throws). */
export function removeSegment(id: number | undefined): void {
  if (id === undefined) return;
  try {
    shmctl(id, IPC_RMID);
  } catch {
    // already gone
  }
}

/** Number of segments in this IPC namespace. */
export function usedSegments(): number {
  return shmctl(0, SHM_INFO).used_ids;
}

/** Number of semaphore sets in this IPC namespace (from /proc/sysvipc/sem). */
export function usedSemaphoreSets(): number {
  return readFileSync('/proc/sysvipc/sem', 'utf8').trim().split('\n').length - 1;
}

/** Number of message queues in this IPC namespace (MSG_INFO msgpool). */
export function usedMessageQueues(): number {
  return msgctl(0, MSG_INFO).msgpool;
}

/** Removes message queue `id` if it still exists (cleanup that never throws). */
export function removeQueue(id: number | undefined): void {
  if (id === undefined) return;
  try {
    msgctl(id, IPC_RMID);
  } catch {
    // already gone
  }
}

/**
 * Registers hooks asserting that the test file ends with as many segments,
 * semaphore sets and message queues as it started with (SHM_INFO used_ids,
 * MSG_INFO msgpool).
 */
export function assertNoLeaks(): void {
  let segments = 0;
  let sets = 0;
  let queues = 0;
  before(() => {
    segments = usedSegments();
    sets = usedSemaphoreSets();
    queues = usedMessageQueues();
  });
  after(() => {
    assert.equal(usedSegments(), segments, 'shared-memory segments left behind (SHM_INFO used_ids changed)');
    assert.equal(usedSemaphoreSets(), sets, 'semaphore sets left behind');
    assert.equal(usedMessageQueues(), queues, 'message queues left behind (MSG_INFO msgpool changed)');
  });
}

/** Runs `fn` with a cleanup list whose entries run afterwards, whatever happens. */
export async function withCleanup<T>(fn: (defer: (cleanup: () => void) => void) => Promise<T> | T): Promise<T> {
  const cleanups: Array<() => void> = [];
  try {
    return await fn((cleanup) => cleanups.push(cleanup));
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        cleanup();
      } catch {
        // keep cleaning
      }
    }
  }
}

/**
 * Registers an afterEach hook that removes every semaphore set whose id the
 * test pushed on the returned list, pass or fail.
 */
export function removeSetsAfterEach(): number[] {
  const made: number[] = [];
  afterEach(() => {
    for (const id of made.splice(0)) {
      try {
        semctl(id, 0, IPC_RMID);
      } catch {
        // already removed by the test
      }
    }
  });
  return made;
}

/**
 * {@link removeSetsAfterEach} with a maker: `newSet(count, initial)` creates
 * a SemaphoreSet that is removed after the test, as is every id pushed on `made`.
 * A file that also imports shmkit's internal modules passes the SemaphoreSet
 * of dist/src's modules (`Maker`), so that the waits those modules count are
 * its sets' waits: this file imports the bundle, another copy of the library.
 */
export function semaphoreSetsOfEachTest(Maker: typeof SemaphoreSet = SemaphoreSet): {
  made: number[];
  newSet(count: number, initial?: number | number[]): SemaphoreSet;
} {
  const made = removeSetsAfterEach();
  const newSet = (count: number, initial: number | number[] = 0): SemaphoreSet => {
    const set = Maker.create({ count, initial });
    made.push(set.id);
    return set;
  };
  return { made, newSet };
}
