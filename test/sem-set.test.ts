// SemaphoreSet: exclusive create with initial values, open by key or id,
// get/set/stat/remove, atomic op, disposal that releases the handle but
// never removes the set, and argument errors that name the argument.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GETALL, IpcError, SemaphoreSet, semctl } from 'shmkit';
import { assertNoLeaks, uniqueKey, removeSetsAfterEach } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson } from './helpers/processes.js';
import { BECOME_NOBODY, noPrivateIpc, runNodeInPrivateIpc } from './helpers/shm.js';

assertNoLeaks();

// Every set a test makes is removed right after it, pass or fail.
const made = removeSetsAfterEach();

function track(set: SemaphoreSet): SemaphoreSet {
  made.push(set.id);
  return set;
}

describe('SemaphoreSet', () => {
  it('create makes a new set with mode 0600 and the initial values, exclusively', () => {
    const key = uniqueKey();
    const set = track(SemaphoreSet.create({ key, count: 3, initial: [2, 0, 5] }));
    assert.equal(set.key, key);
    assert.equal(set.count, 3);
    assert.deepEqual([set.get(0), set.get(1), set.get(2)], [2, 0, 5]);
    const ds = set.stat();
    assert.equal(ds.sem_perm.mode & 0o777, 0o600);
    assert.equal(ds.sem_nsems, 3);
    assert.throws(
      () => SemaphoreSet.create({ key, count: 3 }),
      (e: unknown) => e instanceof IpcError && e.code === 'EEXIST',
    );
    const all = track(SemaphoreSet.create({ count: 4, initial: 7, mode: 0o640 }));
    assert.deepEqual(semctl(all.id, 0, GETALL), [7, 7, 7, 7]);
    assert.equal(all.stat().sem_perm.mode & 0o777, 0o640);
    assert.equal(all.key, 0, 'no key: IPC_PRIVATE');
  });

  it('open finds the set by key or by id', () => {
    const key = uniqueKey();
    const set = track(SemaphoreSet.create({ key, count: 2, initial: 1 }));
    const byKey = SemaphoreSet.open({ key });
    const byId = SemaphoreSet.open({ id: set.id });
    assert.equal(byKey.id, set.id);
    assert.equal(byId.key, key);
    assert.equal(byId.count, 2);
    byId.set(1, 9);
    assert.equal(byKey.get(1), 9);
    assert.throws(
      () => SemaphoreSet.open({ key: uniqueKey() }),
      (e: unknown) => e instanceof IpcError && e.code === 'ENOENT',
    );
  });

  it('op performs several operations atomically', async () => {
    const set = track(SemaphoreSet.create({ count: 2, initial: [1, 1] }));
    await set.op([
      { sem_num: 0, sem_op: -1 },
      { sem_num: 1, sem_op: 3 },
    ]);
    assert.deepEqual([set.get(0), set.get(1)], [0, 4]);
    await assert.rejects(
      set.op(
        [
          { sem_num: 1, sem_op: -1, sem_flg: 0 },
          { sem_num: 0, sem_op: -1 },
        ],
        { timeoutMs: 0 },
      ),
      { code: 'ETIMEDOUT' },
    );
    assert.deepEqual([set.get(0), set.get(1)], [0, 4], 'semaphore 1 was not lowered alone');
  });

  it('set above SEMVMX fails with ERANGE', () => {
    const set = track(SemaphoreSet.create({ count: 1 }));
    assert.throws(
      () => set.set(0, 40000),
      (e: unknown) => e instanceof IpcError && e.code === 'ERANGE',
    );
    assert.throws(
      () => track(SemaphoreSet.create({ count: 1, initial: 40000 })),
      (e: unknown) => e instanceof IpcError && e.code === 'ERANGE',
    );
  });

  it('a create that fails to set the initial values leaves no set behind', () => {
    const key = uniqueKey();
    assert.throws(() => SemaphoreSet.create({ key, count: 2, initial: [1, 40000] }), { code: 'ERANGE' });
    assert.throws(() => SemaphoreSet.open({ key }), { code: 'ENOENT' });
  });

  it('remove deletes the set for everyone', () => {
    const set = track(SemaphoreSet.create({ count: 1 }));
    const other = SemaphoreSet.open({ id: set.id });
    set.remove();
    assert.throws(() => other.get(0), { code: 'EINVAL' });
  });

  it('dispose releases the handle, never the set', () => {
    const key = uniqueKey();
    const set = track(SemaphoreSet.create({ key, count: 1, initial: 3 }));
    {
      using handle = SemaphoreSet.open({ key });
      assert.equal(handle.get(0), 3);
    }
    assert.equal(SemaphoreSet.open({ key }).get(0), 3, 'the set is still there');
    set[Symbol.dispose]();
    assert.equal(set.closed, true);
    assert.throws(() => set.get(0), { name: 'StateError', code: 'ERR_SEM_CLOSED' });
  });

  it('rejects bad arguments with TypeError and RangeError naming them', async () => {
    assert.throws(() => SemaphoreSet.create({ count: 0 }), { name: 'RangeError', message: /"options.count"/ });
    assert.throws(() => SemaphoreSet.create({} as never), { name: 'TypeError', message: /"options.count"/ });
    assert.throws(() => SemaphoreSet.create({ count: 2, initial: [1] }), { name: 'RangeError', message: /"options.initial"/ });
    assert.throws(() => SemaphoreSet.create({ count: 1, mode: 0o1000 }), { name: 'RangeError', message: /"options.mode"/ });
    assert.throws(() => SemaphoreSet.open({} as never), { name: 'TypeError', message: /"options"/ });
    assert.throws(() => SemaphoreSet.open({ key: 1, id: 2 } as never), { name: 'TypeError', message: /"options"/ });
    const set = track(SemaphoreSet.create({ count: 2 }));
    assert.throws(() => set.get(2), { name: 'RangeError', message: /"i"/ });
    assert.throws(() => set.set(0, -1), { name: 'RangeError', message: /"value"/ });
    await assert.rejects(set.op([{ sem_num: 2, sem_op: 1 }]), { name: 'RangeError', message: /"ops\[0\]\.sem_num"/ });
    await assert.rejects(set.op([]), { name: 'RangeError', message: /"ops"/ });
    await assert.rejects(set.op('x' as never), { name: 'TypeError', message: /"ops"/ });
    await assert.rejects(set.op([{ sem_num: 0, sem_op: 1 }], { timeoutMs: -1 }), { name: 'RangeError', message: /"options.timeoutMs"/ });
    await assert.rejects(set.op([{ sem_num: 0, sem_op: 1 }], { signal: {} as never }), { name: 'TypeError', message: /"options.signal"/ });
    assert.deepEqual(semctl(set.id, 0, GETALL), [0, 0]);
  });

  it('open by key or id works for a user who may alter but not read (0622), as semget and semop in C; 0600 stays EACCES', {
    skip: noPrivateIpc,
  }, async () => {
    // In a namespace of its own, where the child may choose the next id (one
    // with a sequence number) and its root sets go with it after it became nobody.
    const result = await runNodeInPrivateIpc(`
      import { writeFileSync } from 'node:fs';
      import { Mutex, Semaphore, SemaphoreSet } from 'SHMKIT';
      writeFileSync('/proc/sys/kernel/sem_next_id', String(3 * 32768 + 5));
      const sem = Semaphore.create({ key: 0x5152, mode: 0o622 });
      const set = SemaphoreSet.create({ key: 0x5153, count: 3, mode: 0o622, initial: 1 });
      const mutex = Mutex.create({ key: 0x5154, mode: 0o622 });
      const closed = Semaphore.create({ key: 0x5155, mode: 0o600 });
      ${BECOME_NOBODY}
      const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
      const byKey = Semaphore.open({ key: 0x5152 });
      const byId = Semaphore.open({ id: sem.id });
      byKey.release(2);
      const took = byId.tryAcquire();
      const setById = SemaphoreSet.open({ id: set.id });
      await setById.op([{ sem_num: 2, sem_op: -1 }], { timeoutMs: 1000 });
      const m = Mutex.open({ key: 0x5154 });
      await m.withLock(() => {});
      console.log(JSON.stringify({
        id: sem.id,
        byKey: [byKey.id, byKey.key],
        byId: [byId.id, byId.key],
        took,
        set: [SemaphoreSet.open({ key: 0x5153 }).count, setById.count, setById.key],
        mutex: m.id === mutex.id,
        value: code(() => byId.value),
        closedByKey: code(() => Semaphore.open({ key: 0x5155 })),
        closedById: code(() => Semaphore.open({ id: closed.id })),
      }));
    `);
    assertExitedCleanly(result);
    const r = lastJson<Record<string, unknown>>(result);
    assert.equal(r.id, 3 * 32768 + 5);
    assert.deepEqual(r.byKey, [r.id, 0x5152]);
    assert.deepEqual(r.byId, [r.id, 0x5152]);
    assert.equal(r.took, true);
    assert.deepEqual(r.set, [3, 3, 0x5153]);
    assert.equal(r.mutex, true);
    assert.deepEqual(
      [r.value, r.closedByKey, r.closedById],
      ['EACCES', 'EACCES', 'EACCES'],
      'reading is still denied, and a set it may not alter',
    );
  });
});
