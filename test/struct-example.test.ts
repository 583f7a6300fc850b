// examples/struct-st-pid.ts works, and shares its segment with the C program
// it was ported from.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { IpcError, shmget } from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, removeSegment, uniqueKey } from './helpers/ipc.js';
import { assertExitedCleanly, ROOT, run } from './helpers/processes.js';

assertNoLeaks();

const EXAMPLE = join(ROOT, 'dist', 'examples', 'struct-st-pid.js');

// The seed's program, minus the removal, at the key given after the name:
// one source, so compileC builds it once and not again for each run's key.
const SEED = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/shm.h>
struct st_pid { int pid; char name[51]; };
int main(int argc, char* argv[]) {
  int shmid;
  if ((shmid = shmget((key_t)strtol(argv[2], NULL, 0), sizeof(struct st_pid), 0640|IPC_CREAT)) == -1) { printf("shmget failed\\n"); return -1; }
  struct st_pid *stpid = 0;
  if ((stpid = (struct st_pid *)shmat(shmid, 0, 0)) == (void *)-1) { printf("shmat failed\\n"); return -1; }
  printf("pid=%d, name=%s\\n", stpid->pid, stpid->name);
  stpid->pid = getpid();
  strcpy(stpid->name, argv[1]);
  printf("pid=%d, name=%s\\n", stpid->pid, stpid->name);
  shmdt(stpid);
  return 0;
}`;

function segmentExists(key: number): boolean {
  try {
    shmget(key, 0, 0);
    return true;
  } catch (error) {
    if (error instanceof IpcError && error.code === 'ENOENT') return false;
    throw error;
  }
}

test('struct-st-pid prints, sets pid and name, and takes turns with the C original on one segment', async () => {
  const key = uniqueKey();
  const keyArg = `--key=0x${key.toString(16)}`;
  try {
    const first = await run(process.execPath, [EXAMPLE, 'Node', '--keep', keyArg]);
    assertExitedCleanly(first, 'example');
    const [, written] = first.stdout.trim().split('\n');
    assert.equal(first.stdout.split('\n')[0], 'pid=0, name=');
    assert.match(written!, /^pid=\d+, name=Node$/);

    const c = await run(await compileC('struct-st-pid-seed', SEED), ['Ceé', `0x${key.toString(16)}`]);
    assertExitedCleanly(c, 'C original');
    const cLines = c.stdout.trim().split('\n');
    assert.equal(cLines[0], written, 'C reads what the example wrote');

    const last = await run(process.execPath, [EXAMPLE, 'Zoë 😀', keyArg]);
    assertExitedCleanly(last, 'example');
    const lines = last.stdout.trim().split('\n');
    assert.equal(lines[0], cLines[1], 'the example reads what C wrote, UTF-8 included');
    assert.match(lines[1]!, /^pid=\d+, name=Zoë 😀$/);
    assert.equal(segmentExists(key), false, 'removed without --keep');

    const tooLong = await run(process.execPath, [EXAMPLE, 'x'.repeat(51), keyArg]);
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /at most 50 bytes/);
    assert.equal(segmentExists(key), false);
  } finally {
    if (segmentExists(key)) removeSegment(shmget(key, 0, 0));
  }
});
