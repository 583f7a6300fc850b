// Every example runs with one command and does what its comment says.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IPC_STAT, ftok, shmctl, shmget } from 'shmkit';
import { assertExitedCleanly, ROOT, run } from './helpers/processes.js';
import { assertNoLeaks, removeSegment, uniqueKey } from './helpers/ipc.js';

assertNoLeaks();

function example(name: string, args: string[] = [], env: Record<string, string> = {}) {
  return run(process.execPath, [join(ROOT, 'dist/examples', `${name}.js`), ...args], {
    env: { ...process.env, ...env },
  });
}

function segmentFor(key: number): number | undefined {
  try {
    return shmget(key, 0, 0);
  } catch {
    return undefined;
  }
}

describe('examples', () => {
  it('create, write-struct, read-struct and delete share struct st_pid through one segment', async () => {
    const key = uniqueKey();
    const env = { SHMKIT_EXAMPLE_KEY: String(key) };
    try {
      const created = await example('create', [], env);
      assertExitedCleanly(created, 'create');
      const id = segmentFor(key);
      assert.ok(id !== undefined, 'create made a segment');
      assert.equal(shmctl(id, IPC_STAT).shm_segsz, 56);
      assert.equal(shmctl(id, IPC_STAT).shm_perm.mode & 0o777, 0o600);

      const written = await example('write-struct', ['alice'], env);
      assertExitedCleanly(written, 'write-struct');
      assert.match(written.stdout, /before: pid=0, name=\n/);
      const pid = /after: {2}pid=(\d+), name=alice/.exec(written.stdout)?.[1];
      assert.ok(pid, written.stdout);

      const read = await example('read-struct', [], env);
      assertExitedCleanly(read, 'read-struct');
      assert.equal(read.stdout, `pid=${pid}, name=alice\n`);

      const deleted = await example('delete', [], env);
      assertExitedCleanly(deleted, 'delete');
      assert.equal(segmentFor(key), undefined, 'delete removed the segment');
    } finally {
      removeSegment(segmentFor(key));
    }
  });

  it('lifecycle allocates, stats, writes, reattaches, reads and deallocates a private segment', async () => {
    const result = await example('lifecycle');
    assertExitedCleanly(result, 'lifecycle');
    assert.match(result.stdout, /shared memory attached at address 0x[0-9a-f]+\n/);
    assert.match(result.stdout, /segment size: 25600\n/);
    assert.match(result.stdout, /shared memory reattached at address 0x[0-9a-f]+\n/);
    assert.match(result.stdout, /Hello, world\.\n$/);
  });

  it('hello-writer and hello-reader meet through the same ftok key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-hello-'));
    const path = join(dir, 'shm');
    writeFileSync(path, '');
    try {
      const written = await example('hello-writer', [path]);
      assertExitedCleanly(written, 'hello-writer');
      const id = segmentFor(ftok(path, 0x66));
      assert.ok(id !== undefined, 'the writer left the segment for the reader');
      const read = await example('hello-reader', [path]);
      assertExitedCleanly(read, 'hello-reader');
      assert.equal(read.stdout, 'Hello World\n');
      assert.equal(segmentFor(ftok(path, 0x66)), undefined, 'the reader removed it');
    } finally {
      removeSegment(segmentFor(ftok(path, 0x66)));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hello-writer takes any existing path as its key file without opening it (a directory here; another user may own it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-hello-'));
    try {
      const written = await example('hello-writer', [dir]);
      assertExitedCleanly(written, 'hello-writer');
      const read = await example('hello-reader', [dir]);
      assertExitedCleanly(read, 'hello-reader');
      assert.equal(read.stdout, 'Hello World\n');
    } finally {
      removeSegment(segmentFor(ftok(dir, 0x66)));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('quick-start creates, shares, reads back and removes a segment', async () => {
    const key = uniqueKey();
    try {
      const result = await example('quick-start', [], { SHMKIT_EXAMPLE_KEY: String(key) });
      assertExitedCleanly(result, 'quick-start');
      assert.equal(result.stdout, 'hello from Node\n2\n');
      assert.equal(segmentFor(key), undefined, 'the segment is gone after the last detach');
    } finally {
      removeSegment(segmentFor(key));
    }
  });
});
