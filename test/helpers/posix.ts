// POSIX shared-memory bookkeeping for tests: names no other test (or run)
// uses, unlinked after each test whatever happened, and a final check that
// none of this file's names is left in /dev/shm.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, afterEach } from 'node:test';
import { shm_unlink } from 'shmkit';

const made = new Set<string>();
const pending: string[] = [];

/** A fresh name, `/shmkit-test-TAG-PID-RANDOM`, remembered for cleanup. */
export function uniqueName(tag: string): string {
  const name = `/shmkit-test-${tag}-${process.pid}-${randomBytes(4).toString('hex')}`;
  made.add(name);
  pending.push(name);
  return name;
}

/** Whether `name` exists in /dev/shm. */
export function shmExists(name: string): boolean {
  return existsSync(`/dev/shm${name}`);
}

/** Unlinks `name` if it exists (cleanup that never throws). */
export function unlinkQuietly(name: string): void {
  try {
    shm_unlink(name);
  } catch {
    // already gone
  }
}

/**
 * Registers hooks that unlink every name the test asked for after each
 * test, and assert at the end of the file that none of them remains (a test
 * that left one behind is then reported even though the hook removed it).
 */
export function cleanUpPosixNames(): void {
  const leftBehind: string[] = [];
  afterEach(() => {
    for (const name of pending.splice(0)) {
      if (shmExists(name)) {
        leftBehind.push(name);
        unlinkQuietly(name);
      }
    }
  });
  after(() => {
    for (const name of made) unlinkQuietly(name);
    assert.deepEqual(leftBehind, [], 'tests left POSIX shared-memory objects behind in /dev/shm');
    assert.deepEqual([...made].filter(shmExists), [], 'POSIX shared-memory objects remain in /dev/shm');
  });
}
