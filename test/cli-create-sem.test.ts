// shmkit create -s --count N makes a semaphore set, as ipcmk -S N does: key
// or private, mode 0600 unless asked, every value 0, exclusive on its key.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GETALL, IPC_CREAT, IPC_STAT, semctl, semget } from 'shmkit';
import { assertNoLeaks, removeSetsAfterEach, uniqueKey } from './helpers/ipc.js';
import { shmkitHere } from './helpers/cli.js';
import { run } from './helpers/processes.js';

assertNoLeaks();
const made = removeSetsAfterEach();

describe('shmkit create -s', () => {
  it('creates a set of --count semaphores with the key and mode given, prints its id, and ipcs -s agrees', async () => {
    const key = uniqueKey();
    const result = await shmkitHere(['create', '-s', '--key', `0x${key.toString(16)}`, '--count', '3', '--mode', '640']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\d+\n$/);
    const id = Number(result.stdout);
    made.push(id);
    assert.equal(semget(key, 0, 0), id, 'the set is found by its key');
    const ds = semctl(id, 0, IPC_STAT);
    assert.equal(ds.sem_nsems, 3);
    assert.equal(ds.sem_perm.mode & 0o777, 0o640);
    assert.deepEqual([...semctl(id, 0, GETALL)], [0, 0, 0]);
    const ipcs = await run('ipcs', ['-s', '-i', String(id)]);
    assert.match(ipcs.stdout, /nsems = 3/);
  });

  it('--private makes a set without a key, mode 0600 by default', async () => {
    const result = await shmkitHere(['create', '--sem', '--private', '--count', '1']);
    assert.equal(result.code, 0, result.stderr);
    const id = Number(result.stdout);
    made.push(id);
    const ds = semctl(id, 0, IPC_STAT);
    assert.equal(ds.sem_perm.key, 0);
    assert.equal(ds.sem_perm.mode & 0o777, 0o600);
    assert.equal(ds.sem_nsems, 1);
  });

  it('refuses a key that is taken: EEXIST naming the key, nothing on stdout, exit 1', async () => {
    const key = uniqueKey();
    const id = semget(key, 1, IPC_CREAT | 0o600);
    made.push(id);
    const result = await shmkitHere(['create', '-s', '--key', String(key), '--count', '2']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    // The command's words, as for a segment: the library's message named SemaphoreSet.open and Mutex.openOrCreate.
    assert.equal(result.stderr, `shmkit create: --key ${key}: EEXIST a semaphore set with this key exists\n`);
    assert.equal(semctl(id, 0, IPC_STAT).sem_nsems, 1, 'the existing set is untouched');
  });

  it('is a usage error (exit 2) without --count, with --size, or with --count but no -s; nothing is created', async () => {
    const cases: [string[], RegExp][] = [
      [['create', '-s', '--private'], /^shmkit create: --count: ERR_MISSING_ARGS /],
      [['create', '-s', '--private', '--count', '2', '--size', '10'], /^shmkit create: --size: ERR_INCOMPATIBLE_OPTION_PAIR /],
      [['create', '--private', '--count', '2'], /^shmkit create: --count: ERR_INCOMPATIBLE_OPTION_PAIR /],
      [['create', '-s', '--private', '--count', '0'], /^shmkit create: --count: ERR_OUT_OF_RANGE /],
      [['create', '-s', '--private', '--count', 'three'], /^shmkit create: --count: ERR_INVALID_ARG_VALUE /],
      [['create', '-s', '--count', '2'], /^shmkit create: --key: ERR_MISSING_ARGS /],
    ];
    for (const [args, stderr] of cases) {
      const result = await shmkitHere(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, stderr);
    }
  });

  it('a set it made is removed by shmkit rm -s', async () => {
    const created = await shmkitHere(['create', '-s', '--private', '--count', '2']);
    const id = Number(created.stdout);
    made.push(id);
    const removed = await shmkitHere(['rm', '-s', String(id)]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.throws(() => semctl(id, 0, IPC_STAT), { code: 'EINVAL' });
  });
});
