// The C-faithful semaphore calls: semget, semop, semtimedop and semctl with
// every command, atomic multi-operation semop, IPC_NOWAIT, SEM_UNDO,
// wait-for-zero, and the kernel's errors as IpcError, including EACCES and
// EPERM for an unprivileged user (a child that drops to nobody).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  GETALL,
  GETNCNT,
  GETPID,
  GETVAL,
  GETZCNT,
  IPC_CREAT,
  IPC_EXCL,
  IPC_INFO,
  IPC_NOWAIT,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
  IpcError,
  SEM_INFO,
  SEM_STAT,
  SETALL,
  SETVAL,
  semctl,
  semget,
  semop,
  semtimedop,
} from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, uniqueKey, removeSetsAfterEach } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, C_AS_NOBODY, isRoot, JS_AS_NOBODY, lastJson, run, runNode } from './helpers/processes.js';
import { waitFor } from './helpers/shm.js';

assertNoLeaks();

// Every set a test makes is removed right after it, pass or fail.
const made = removeSetsAfterEach();

/**
 * Another process for the tests whose child only operates on a set, one
 * after another (3 processes -> 1); one that must exit (SEM_UNDO) or become
 * nobody keeps a process of its own.
 */
const other = peer({ sharedLibrary: true });
after(() => other.end());

/** A new private set of `n` semaphores, removed after the test. */
function newSet(n: number, mode = 0o600): number {
  const id = semget(IPC_PRIVATE, n, IPC_CREAT | mode);
  made.push(id);
  return id;
}

function ipcError(code: string, syscall: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof IpcError, `expected an IpcError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.syscall, syscall);
    return true;
  };
}

describe('semget', () => {
  it('creates a set by key, opens it again, and refuses a second exclusive create with EEXIST', () => {
    const key = uniqueKey();
    const id = semget(key, 3, IPC_CREAT | IPC_EXCL | 0o640);
    made.push(id);
    assert.equal(semget(key, 0, 0), id);
    assert.equal(semget(key, 3, 0), id);
    assert.throws(() => semget(key, 3, IPC_CREAT | IPC_EXCL | 0o600), ipcError('EEXIST', 'semget'));
    const ds = semctl(id, 0, IPC_STAT);
    assert.equal(ds.sem_perm.key, key);
    assert.equal(ds.sem_perm.mode & 0o777, 0o640);
    assert.equal(ds.sem_nsems, 3);
  });

  it('fails with ENOENT for a key without a set, and EINVAL for more semaphores than the set has', () => {
    const key = uniqueKey();
    assert.throws(() => semget(key, 1, 0), ipcError('ENOENT', 'semget'));
    const id = semget(key, 2, IPC_CREAT | 0o600);
    made.push(id);
    assert.throws(() => semget(key, 5, 0), ipcError('EINVAL', 'semget'));
  });

  it('fails with EINVAL for nsems above SEMMSL', () => {
    const { semmsl } = semctl(0, 0, IPC_INFO);
    assert.throws(() => semget(IPC_PRIVATE, semmsl + 1, IPC_CREAT | 0o600), ipcError('EINVAL', 'semget'));
  });

  it('rejects bad arguments with TypeError and RangeError naming them', () => {
    assert.throws(() => semget('1' as unknown as number, 1, 0), { name: 'TypeError', message: /"key"/ });
    assert.throws(() => semget(1.5, 1, 0), { name: 'RangeError', message: /"key"/ });
    assert.throws(() => semget(IPC_PRIVATE, 1.5, IPC_CREAT), { name: 'RangeError', message: /"nsems"/ });
    assert.throws(() => semget(IPC_PRIVATE, 1, -1), { name: 'RangeError', message: /"flags"/ });
  });
});

describe('semctl', () => {
  it('GETVAL, SETVAL, GETALL and SETALL read and write the values', () => {
    const id = newSet(3);
    assert.deepEqual(semctl(id, 0, GETALL), [0, 0, 0]);
    semctl(id, 1, SETVAL, 7);
    assert.equal(semctl(id, 1, GETVAL), 7);
    semctl(id, 0, SETALL, [1, 2, 3]);
    assert.deepEqual(semctl(id, 0, GETALL), [1, 2, 3]);
    semctl(id, 0, SETALL, new Uint16Array([4, 5, 6]));
    assert.deepEqual(
      [0, 1, 2].map((i) => semctl(id, i, GETVAL)),
      [4, 5, 6],
    );
  });

  it('SETVAL and SETALL above SEMVMX fail with ERANGE and change nothing', () => {
    const id = newSet(2);
    const { semvmx } = semctl(0, 0, IPC_INFO);
    semctl(id, 0, SETVAL, semvmx);
    assert.equal(semctl(id, 0, GETVAL), semvmx);
    assert.throws(() => semctl(id, 0, SETVAL, semvmx + 1), ipcError('ERANGE', 'semctl'));
    assert.throws(() => semctl(id, 0, SETVAL, -1), ipcError('ERANGE', 'semctl'));
    assert.throws(() => semctl(id, 0, SETALL, [1, semvmx + 1]), ipcError('ERANGE', 'semctl'));
    assert.deepEqual(semctl(id, 0, GETALL), [semvmx, 0]);
  });

  it('SETALL wants exactly one value per semaphore', () => {
    const id = newSet(3);
    assert.throws(() => semctl(id, 0, SETALL, [1, 2]), { name: 'RangeError', message: /"arg"/ });
    assert.throws(() => semctl(id, 0, SETALL, 5 as unknown as number[]), { name: 'TypeError', message: /"arg"/ });
    assert.throws(() => semctl(id, 0, SETALL, [1, 2, 70000]), { name: 'RangeError', message: /"arg\[2\]"/ });
  });

  it('IPC_STAT returns struct semid_ds with the C field names, and IPC_SET changes the mode', () => {
    const id = newSet(2, 0o600);
    const before = semctl(id, 0, IPC_STAT);
    assert.deepEqual(Object.keys(before).sort(), ['sem_ctime', 'sem_nsems', 'sem_otime', 'sem_perm']);
    assert.deepEqual(Object.keys(before.sem_perm).sort(), ['cgid', 'cuid', 'gid', 'key', 'mode', 'seq', 'uid']);
    assert.equal(before.sem_perm.key, IPC_PRIVATE);
    assert.equal(before.sem_perm.uid, process.getuid?.());
    assert.equal(before.sem_otime, 0, 'no semop yet');
    assert.ok(before.sem_ctime > 0);
    semctl(id, 0, IPC_SET, { mode: 0o644 });
    const afterSet = semctl(id, 0, IPC_STAT);
    assert.equal(afterSet.sem_perm.mode & 0o777, 0o644);
    assert.equal(afterSet.sem_perm.uid, before.sem_perm.uid, 'what IPC_SET is not given stays');
    semop(id, [{ sem_num: 0, sem_op: 1 }]);
    assert.ok(semctl(id, 0, IPC_STAT).sem_otime > 0, 'semop sets sem_otime');
  });

  it('GETPID names the last process that operated on the semaphore', async () => {
    const id = newSet(1);
    semop(id, [{ sem_num: 0, sem_op: 1 }]);
    assert.equal(semctl(id, 0, GETPID), process.pid);
    const child = await other.run(
      `
      import { semop } from 'SHMKIT';
      semop(Number(process.argv[1]), [{ sem_num: 0, sem_op: 1 }]);
      console.log(JSON.stringify({ pid: process.pid }));
    `,
      [String(id)],
    );
    assertExitedCleanly(child);
    assert.equal(semctl(id, 0, GETPID), lastJson<{ pid: number }>(child).pid);
  });

  it('IPC_INFO and SEM_INFO return struct seminfo; SEM_STAT finds a set by its index', () => {
    const id = newSet(4);
    const limits = semctl(0, 0, IPC_INFO);
    for (const name of [
      'semmap',
      'semmni',
      'semmns',
      'semmnu',
      'semmsl',
      'semopm',
      'semume',
      'semusz',
      'semvmx',
      'semaem',
      'highest_index',
    ]) {
      assert.equal(typeof (limits as unknown as Record<string, unknown>)[name], 'number', name);
    }
    assert.equal(limits.semvmx, 32767);
    const usage = semctl(0, 0, SEM_INFO);
    assert.ok(usage.semusz >= 1, 'SEM_INFO semusz counts sets in use');
    assert.ok(usage.semaem >= 4, 'SEM_INFO semaem counts semaphores in use');
    let found = false;
    for (let index = 0; index <= usage.highest_index; index++) {
      try {
        const ds = semctl(index, 0, SEM_STAT);
        if (ds.id === id) {
          found = true;
          assert.equal(ds.sem_nsems, 4);
        }
      } catch (error) {
        assert.ok(error instanceof IpcError && error.code === 'EINVAL', String(error));
      }
    }
    assert.ok(found, 'SEM_STAT over the indices finds the set');
  });

  it('IPC_RMID removes the set: later calls fail with EINVAL', () => {
    const id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600);
    semctl(id, 0, IPC_RMID);
    assert.throws(() => semctl(id, 0, GETVAL), ipcError('EINVAL', 'semctl'));
    assert.throws(() => semop(id, [{ sem_num: 0, sem_op: 1 }]), ipcError('EINVAL', 'semop'));
  });

  it('fails with EINVAL for a semnum outside the set and for an unknown command', () => {
    const id = newSet(2);
    assert.throws(() => semctl(id, 2, GETVAL), ipcError('EINVAL', 'semctl'));
    assert.throws(() => semctl(id, 0, 9999), ipcError('EINVAL', 'semctl'));
  });
});

describe('semop', () => {
  it('performs several operations atomically: all or none', () => {
    const id = newSet(2);
    semctl(id, 0, SETALL, [1, 0]);
    // Semaphore 1 cannot be lowered, so semaphore 0 is not lowered either.
    assert.throws(
      () =>
        semop(id, [
          { sem_num: 0, sem_op: -1, sem_flg: IPC_NOWAIT },
          { sem_num: 1, sem_op: -1, sem_flg: IPC_NOWAIT },
        ]),
      ipcError('EAGAIN', 'semop'),
    );
    assert.deepEqual(semctl(id, 0, GETALL), [1, 0]);
    semop(id, [
      { sem_num: 1, sem_op: 2 },
      { sem_num: 0, sem_op: -1 },
      { sem_num: 1, sem_op: -1 },
    ]);
    assert.deepEqual(semctl(id, 0, GETALL), [0, 1]);
  });

  it('IPC_NOWAIT fails with EAGAIN instead of waiting, for a decrement and for wait-for-zero', () => {
    const id = newSet(1);
    assert.throws(() => semop(id, [{ sem_num: 0, sem_op: -1, sem_flg: IPC_NOWAIT }]), ipcError('EAGAIN', 'semop'));
    semop(id, [{ sem_num: 0, sem_op: 0, sem_flg: IPC_NOWAIT }]);
    semctl(id, 0, SETVAL, 1);
    assert.throws(() => semop(id, [{ sem_num: 0, sem_op: 0, sem_flg: IPC_NOWAIT }]), ipcError('EAGAIN', 'semop'));
  });

  it('fails with E2BIG for more operations than SEMOPM, EFBIG for a sem_num beyond the set, EINVAL for none', () => {
    const id = newSet(2);
    const { semopm } = semctl(0, 0, IPC_INFO);
    const many = Array.from({ length: semopm + 1 }, () => ({ sem_num: 0, sem_op: 0 }));
    assert.throws(() => semop(id, many), ipcError('E2BIG', 'semop'));
    assert.throws(() => semop(id, [{ sem_num: 2, sem_op: 1 }]), ipcError('EFBIG', 'semop'));
    assert.throws(() => semop(id, []), ipcError('EINVAL', 'semop'));
    assert.deepEqual(semctl(id, 0, GETALL), [0, 0]);
  });

  it('fails with ERANGE when a value would exceed SEMVMX', () => {
    const id = newSet(1);
    const { semvmx } = semctl(0, 0, IPC_INFO);
    semctl(id, 0, SETVAL, semvmx - 1);
    assert.throws(() => semop(id, [{ sem_num: 0, sem_op: 2 }]), ipcError('ERANGE', 'semop'));
    assert.equal(semctl(id, 0, GETVAL), semvmx - 1);
  });

  it('rejects malformed operations with TypeError and RangeError naming them', () => {
    const id = newSet(1);
    assert.throws(() => semop(id, {} as never), { name: 'TypeError', message: /"sops"/ });
    assert.throws(() => semop(id, [null as never]), { name: 'TypeError', message: /"sops\[0\]"/ });
    assert.throws(() => semop(id, [{ sem_num: -1, sem_op: 1 }]), { name: 'RangeError', message: /"sops\[0\]\.sem_num"/ });
    assert.throws(() => semop(id, [{ sem_num: 0, sem_op: 40000 }]), { name: 'RangeError', message: /"sops\[0\]\.sem_op"/ });
    assert.throws(() => semop(id, [{ sem_num: 0, sem_op: 1, sem_flg: 1.5 }]), { name: 'RangeError', message: /"sops\[0\]\.sem_flg"/ });
    assert.throws(() => semop('x' as never, [{ sem_num: 0, sem_op: 1 }]), { name: 'TypeError', message: /"semid"/ });
  });

  it("SEM_UNDO: the kernel reverts a process's operations when it exits", async () => {
    const id = newSet(1);
    semctl(id, 0, SETVAL, 5);
    const child = await runNode(
      `
      import { semop, semctl, GETVAL, SEM_UNDO } from 'SHMKIT';
      const id = Number(process.argv[1]);
      semop(id, [{ sem_num: 0, sem_op: -2, sem_flg: SEM_UNDO }]);
      semop(id, [{ sem_num: 0, sem_op: -1 }]);
      console.log(JSON.stringify({ inside: semctl(id, 0, GETVAL) }));
    `,
      [String(id)],
    );
    assertExitedCleanly(child);
    assert.equal(lastJson<{ inside: number }>(child).inside, 2);
    assert.equal(semctl(id, 0, GETVAL), 4, 'the SEM_UNDO -2 is given back, the plain -1 is not');
  });

  it('a blocked semop waits for zero and proceeds when the value reaches zero', async () => {
    const id = newSet(1);
    semctl(id, 0, SETVAL, 1);
    const child = other.run(
      `
      import { semop } from 'SHMKIT';
      semop(Number(process.argv[1]), [{ sem_num: 0, sem_op: 0 }]);
      console.log(JSON.stringify({ passed: true }));
    `,
      [String(id)],
      { timeoutMs: 20_000 },
    );
    await waitFor('the child to wait for zero', () => semctl(id, 0, GETZCNT) === 1);
    semop(id, [{ sem_num: 0, sem_op: -1 }]);
    const result = await child;
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { passed: true });
  });

  it('a semop blocked in another process fails with EIDRM when the set is removed', async () => {
    const id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600);
    made.push(id);
    const child = other.run(
      `
      import { semop } from 'SHMKIT';
      try {
        semop(Number(process.argv[1]), [{ sem_num: 0, sem_op: -1 }]);
        console.log(JSON.stringify({ code: null }));
      } catch (error) {
        console.log(JSON.stringify({ code: error.code, syscall: error.syscall, name: error.name }));
      }
    `,
      [String(id)],
      { timeoutMs: 20_000 },
    );
    await waitFor('the child to wait', () => semctl(id, 0, GETNCNT) === 1);
    semctl(id, 0, IPC_RMID);
    const result = await child;
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { code: 'EIDRM', syscall: 'semop', name: 'IpcError' });
  });
});

describe('semtimedop', () => {
  it('gives up with EAGAIN when the time runs out, having changed nothing', () => {
    const id = newSet(2);
    semctl(id, 0, SETVAL, 1);
    assert.throws(
      () =>
        semtimedop(
          id,
          [
            { sem_num: 0, sem_op: -1 },
            { sem_num: 1, sem_op: -1 },
          ],
          20,
        ),
      ipcError('EAGAIN', 'semtimedop'),
    );
    assert.deepEqual(semctl(id, 0, GETALL), [1, 0]);
    semtimedop(id, [{ sem_num: 0, sem_op: -1 }], 20);
    assert.equal(semctl(id, 0, GETVAL), 0);
  });

  it('rejects a negative or non-numeric timeout', () => {
    const id = newSet(1);
    assert.throws(() => semtimedop(id, [{ sem_num: 0, sem_op: 1 }], -1), { name: 'RangeError', message: /"timeoutMs"/ });
    assert.throws(() => semtimedop(id, [{ sem_num: 0, sem_op: 1 }], '5' as never), { name: 'TypeError', message: /"timeoutMs"/ });
  });
});

describe('permissions', { skip: isRoot ? false : 'needs root to become nobody' }, () => {
  it('as nobody: EACCES to read or operate on a 0600 set of root, EPERM to change or remove it', async () => {
    const id = newSet(1, 0o600);
    const child = await runNode(
      `
      import { semctl, semop, semget, GETVAL, IPC_RMID, IPC_SET, IPC_STAT, SETVAL } from 'SHMKIT';
      process.setgroups([]);
      process.setgid(65534);
      process.setuid(65534);
      const id = Number(process.argv[1]);
      const codes = {};
      const attempt = (name, fn) => {
        try { fn(); codes[name] = 'ok'; } catch (error) { codes[name] = error.code + ' ' + error.syscall; }
      };
      attempt('GETVAL', () => semctl(id, 0, GETVAL));
      attempt('IPC_STAT', () => semctl(id, 0, IPC_STAT));
      attempt('SETVAL', () => semctl(id, 0, SETVAL, 1));
      attempt('semop', () => semop(id, [{ sem_num: 0, sem_op: 1 }]));
      attempt('IPC_RMID', () => semctl(id, 0, IPC_RMID));
      console.log(JSON.stringify(codes));
    `,
      [String(id)],
    );
    assertExitedCleanly(child);
    assert.deepEqual(lastJson(child), {
      GETVAL: 'EACCES semctl',
      IPC_STAT: 'EACCES semctl',
      SETVAL: 'EACCES semctl',
      semop: 'EACCES semop',
      IPC_RMID: 'EPERM semctl',
    });
    assert.equal(semctl(id, 0, GETVAL), 0, 'nothing changed');
  });

  it('as nobody: EPERM for IPC_SET on a set it may read and write but does not own', async () => {
    const id = newSet(1, 0o666);
    const child = await runNode(
      `
      import { semctl, semop, GETVAL, IPC_SET, SEM_UNDO } from 'SHMKIT';
      process.setgroups([]);
      process.setgid(65534);
      process.setuid(65534);
      const id = Number(process.argv[1]);
      semop(id, [{ sem_num: 0, sem_op: 3 }]);
      let code;
      try { semctl(id, 0, IPC_SET, { mode: 0o600 }); } catch (error) { code = error.code; }
      console.log(JSON.stringify({ value: semctl(id, 0, GETVAL), code }));
    `,
      [String(id)],
    );
    assertExitedCleanly(child);
    assert.deepEqual(lastJson(child), { value: 3, code: 'EPERM' });
  });

  // As nobody: IPC_SET needs ownership and SETALL write permission, neither
  // needs read permission. C and shmkit run the same steps on sets nobody
  // creates (and removes), and on root's 0600 set `stranger`.
  const C_NO_READ = `${C_AS_NOBODY}
union semun { int val; struct semid_ds *buf; unsigned short *array; };
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int stranger = atoi(argv[1]);
  if (become_nobody()) return 3;
  struct semid_ds ds;
  union semun arg;
  /* the owner of a set with mode 0 changes its mode (uid and gid stay) */
  int none = semget(IPC_PRIVATE, 2, IPC_CREAT | 0);
  memset(&ds, 0, sizeof ds);
  ds.sem_perm.uid = 65534; ds.sem_perm.gid = 65534; ds.sem_perm.mode = 0600;
  arg.buf = &ds;
  const char *ownerSet = result(semctl(none, 0, IPC_SET, arg));
  arg.buf = &ds;
  semctl(none, 0, IPC_STAT, arg);
  unsigned mode = ds.sem_perm.mode & 0777;
  /* SETALL on a write-only set */
  int writeOnly = semget(IPC_PRIVATE, 2, IPC_CREAT | 0200);
  unsigned short values[2] = { 3, 4 };
  arg.array = values;
  const char *setAll = result(semctl(writeOnly, 0, SETALL, arg));
  const char *getVal = result(semctl(writeOnly, 0, GETVAL));
  memset(&ds, 0, sizeof ds);
  ds.sem_perm.uid = 65534; ds.sem_perm.gid = 65534; ds.sem_perm.mode = 0600;
  arg.buf = &ds;
  const char *ownerSetAll = result(semctl(writeOnly, 0, IPC_SET, arg));
  int written = semctl(writeOnly, 0, GETVAL) * 10 + semctl(writeOnly, 1, GETVAL);
  /* a stranger: EPERM for IPC_SET, EACCES for SETALL */
  memset(&ds, 0, sizeof ds);
  ds.sem_perm.uid = 0; ds.sem_perm.gid = 0; ds.sem_perm.mode = 0666;
  arg.buf = &ds;
  const char *strangerSet = result(semctl(stranger, 0, IPC_SET, arg));
  arg.array = values;
  const char *strangerSetAll = result(semctl(stranger, 0, SETALL, arg));
  semctl(none, 0, IPC_RMID);
  semctl(writeOnly, 0, IPC_RMID);
  printf("{\\"ownerSet\\":\\"%s\\",\\"mode\\":%u,\\"setAll\\":\\"%s\\",\\"getVal\\":\\"%s\\",\\"ownerSetAll\\":\\"%s\\",\\"written\\":%d,\\"strangerSet\\":\\"%s\\",\\"strangerSetAll\\":\\"%s\\"}\\n",
         ownerSet, mode, setAll, getVal, ownerSetAll, written, strangerSet, strangerSetAll);
  return 0;
}
`;

  it("as nobody, as in C: IPC_SET by the owner of a set it may not read, SETALL on a write-only set, EPERM for a stranger's IPC_SET", async () => {
    const stranger = newSet(2, 0o600);
    const c = await run(await compileC('sem-no-read', C_NO_READ), [String(stranger)]);
    assertExitedCleanly(c, 'C as nobody');
    const js = await runNode(
      `
      import { semctl, semget, GETVAL, IPC_CREAT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, SETALL } from 'SHMKIT';
      ${JS_AS_NOBODY}
      const stranger = Number(process.argv[1]);
      // Each step's value, or the code it failed with: the output compares whole with C's.
      const none = semget(IPC_PRIVATE, 2, IPC_CREAT | 0);
      const writeOnly = semget(IPC_PRIVATE, 2, IPC_CREAT | 0o200);
      const out = {};
      try {
        out.ownerSet = result(() => semctl(none, 0, IPC_SET, { mode: 0o600 }));
        out.mode = value(() => semctl(none, 0, IPC_STAT).sem_perm.mode & 0o777);
        out.setAll = result(() => semctl(writeOnly, 0, SETALL, [3, 4]));
        out.getVal = result(() => semctl(writeOnly, 0, GETVAL));
        out.ownerSetAll = result(() => semctl(writeOnly, 0, IPC_SET, { uid: 65534, gid: 65534, mode: 0o600 }));
        out.written = value(() => semctl(writeOnly, 0, GETVAL) * 10 + semctl(writeOnly, 1, GETVAL));
        out.strangerSet = result(() => semctl(stranger, 0, IPC_SET, { mode: 0o666 }));
        out.strangerSetAll = result(() => semctl(stranger, 0, SETALL, [3, 4]));
      } finally {
        semctl(none, 0, IPC_RMID);
        semctl(writeOnly, 0, IPC_RMID);
      }
      console.log(JSON.stringify(out));
    `,
      [String(stranger)],
    );
    assertExitedCleanly(js, 'shmkit as nobody');
    const expected = {
      ownerSet: 'ok',
      mode: 0o600,
      setAll: 'ok',
      getVal: 'EACCES',
      ownerSetAll: 'ok',
      written: 34,
      strangerSet: 'EPERM',
      strangerSetAll: 'EACCES',
    };
    assert.deepEqual(lastJson(c), expected, 'C');
    assert.deepEqual(lastJson(js), expected, 'shmkit, as C');
    assert.deepEqual(semctl(stranger, 0, GETALL), [0, 0], "the stranger's set is unchanged");
    assert.equal(semctl(stranger, 0, IPC_STAT).sem_perm.mode & 0o777, 0o600);
  });
});
