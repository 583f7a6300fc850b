// Scratch directories for tests that write many files (packing, installing).
// Under the test runner each file has a tmpfs of its own at /dev/shm
// (scripts/run-tests.mjs names it in SHMKIT_TEST_TMPFS), gone with the file's
// mount namespace. Creating files there costs a fraction of what it costs on
// a disk: the install test's npm pack, npm install and npm rebuild took 0.7 s
// of CPU less, most of it in the kernel, on an ext4 /tmp. Elsewhere, the
// system's temporary directory: a /dev/shm shared with the machine may be
// mounted noexec (containers' is), where an addon built there would not load.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new directory whose name starts with `prefix`, on the file's own tmpfs where it has one; the caller removes it. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(process.env.SHMKIT_TEST_TMPFS ?? tmpdir(), prefix));
}
