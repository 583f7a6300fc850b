// Semaphore: a counting semaphore between processes. Units acquired with
// undo come back through the kernel when the holder is SIGKILLed; releases
// balance the kernel's undo record; waits leave the value exact on timeout
// and abort.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GETNCNT, IpcError, Semaphore, semctl } from 'shmkit';
import { assertNoLeaks, uniqueKey, removeSetsAfterEach } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { waitFor } from './helpers/shm.js';

assertNoLeaks();

// Every set a test makes is removed right after it, pass or fail.
const made = removeSetsAfterEach();

function newSemaphore(initial = 0, key?: number): Semaphore {
  const sem = Semaphore.create({ initial, key });
  made.push(sem.id);
  return sem;
}

// A child that takes a unit of semaphore argv[1] (with undo if argv[2] is
// 'undo'), waits until someone else waits for it, then SIGKILLs itself.
const DIE_HOLDING = `
  import { GETNCNT, Semaphore, semctl } from 'SHMKIT';
  const id = Number(process.argv[1]);
  const sem = Semaphore.open({ id });
  await sem.acquire({ undo: process.argv[2] === 'undo' });
  while (semctl(id, 0, GETNCNT) < 1) await new Promise((r) => setTimeout(r, 5));
  process.kill(process.pid, 'SIGKILL');
`;

describe('Semaphore', () => {
  it('create, open, acquire, tryAcquire and release count units', async () => {
    const key = uniqueKey();
    const sem = newSemaphore(2, key);
    assert.equal(sem.key, key);
    assert.equal(sem.value, 2);
    assert.equal(sem.stat().sem_perm.mode & 0o777, 0o600);
    const same = Semaphore.open({ key });
    assert.equal(same.id, sem.id);
    await sem.acquire();
    assert.equal(sem.tryAcquire(), true);
    assert.equal(sem.tryAcquire(), false);
    assert.equal(same.value, 0);
    sem.release(3);
    assert.equal(sem.value, 3);
    assert.equal(newSemaphore().key, 0, 'no key: IPC_PRIVATE');
  });

  it('acquire waits until another process releases', async () => {
    const sem = newSemaphore(0);
    const acquired = sem.acquire({ timeoutMs: 20_000 });
    await waitFor('the waiter', () => semctl(sem.id, 0, GETNCNT) === 1);
    const child = await runNode(
      `
      import { Semaphore } from 'SHMKIT';
      Semaphore.open({ id: Number(process.argv[1]) }).release();
    `,
      [String(sem.id)],
    );
    assertExitedCleanly(child);
    await acquired;
    assert.equal(sem.value, 0);
  });

  it('a process SIGKILLed holding a unit acquired with undo gives it back; the next waiter gets it', async () => {
    const sem = newSemaphore(1);
    const child = runNode(DIE_HOLDING, [String(sem.id), 'undo'], { timeoutMs: 20_000 });
    await waitFor('the child to hold the unit', () => sem.value === 0);
    const next = sem.acquire({ timeoutMs: 20_000 });
    const result = await child;
    assert.equal(result.signal, 'SIGKILL', result.stderr);
    await next;
    assert.equal(sem.value, 0, 'the kernel gave the unit back and the waiter took it');
  });

  it('without undo, a unit taken by a killed process stays taken', async () => {
    const sem = newSemaphore(1);
    const child = runNode(DIE_HOLDING, [String(sem.id), 'no-undo'], { timeoutMs: 20_000 });
    await waitFor('the child to hold the unit', () => sem.value === 0);
    // Its rejection is handled from the start: the child may take longer than 100 ms to be reaped.
    const next = assert.rejects(sem.acquire({ timeoutMs: 100 }), { code: 'ETIMEDOUT' });
    assert.equal((await child).signal, 'SIGKILL');
    await next;
    assert.equal(sem.value, 0);
  });

  it('releases balance units acquired with undo, so the kernel adds nothing at exit', async () => {
    const sem = newSemaphore(3);
    const child = await runNode(
      `
      import { Semaphore } from 'SHMKIT';
      const sem = Semaphore.open({ id: Number(process.argv[1]) });
      await sem.acquire({ undo: true });
      sem.tryAcquire({ undo: true });
      sem.release();
      sem.release(2); // one more than it holds with undo: that one is a plain release
      console.log(JSON.stringify({ inside: sem.value }));
    `,
      [String(sem.id)],
    );
    assertExitedCleanly(child);
    assert.deepEqual(lastJson(child), { inside: 4 });
    assert.equal(sem.value, 4, 'the exit changed nothing');
  });

  it('timeout and abort reject and leave the value as it was', async () => {
    const sem = newSemaphore(0);
    await assert.rejects(sem.acquire({ timeoutMs: 10, undo: true }), (e: unknown) => e instanceof IpcError && e.code === 'ETIMEDOUT');
    const controller = new AbortController();
    const aborted = sem.acquire({ signal: controller.signal });
    await waitFor('the waiter', () => semctl(sem.id, 0, GETNCNT) === 1);
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    assert.equal(sem.value, 0);
    assert.equal(semctl(sem.id, 0, GETNCNT), 0);
  });

  it('remove rejects pending acquires with EIDRM', async () => {
    const sem = newSemaphore();
    const pending = [sem.acquire(), sem.acquire({ undo: true })];
    await waitFor('two waiters', () => semctl(sem.id, 0, GETNCNT) === 2);
    sem.remove();
    for (const outcome of await Promise.allSettled(pending)) {
      assert.equal(outcome.status, 'rejected');
      const reason = (outcome as PromiseRejectedResult).reason as unknown;
      assert.ok(reason instanceof IpcError && reason.code === 'EIDRM', String(reason));
    }
  });

  it('remove() right after the kernel granted a waiting acquire: that acquire resolves, the one queued behind it ends with EIDRM', async () => {
    const sem = newSemaphore();
    const first = sem.acquire({ wait: 'sleep' });
    const behind = sem.acquire({ wait: 'sleep' });
    const outcomes = Promise.allSettled([first, behind]);
    await waitFor('the first acquire in the kernel', () => semctl(sem.id, 0, GETNCNT) === 1);
    sem.release();
    // Spin without yielding: the waiter thread's result cannot reach this thread before remove().
    let tries = 0;
    while (sem.value !== 0 || semctl(sem.id, 0, GETNCNT) !== 0) {
      if (++tries > 10_000_000) throw new Error('the waiting acquire never took the unit');
    }
    sem.remove();
    const [got, queued] = await outcomes;
    assert.equal(got.status, 'fulfilled', 'the unit was taken: the acquire must say so');
    assert.equal(queued.status, 'rejected');
    const reason = (queued as PromiseRejectedResult).reason as unknown;
    assert.ok(reason instanceof IpcError && reason.code === 'EIDRM' && reason.syscall === 'semop', String(reason));
    assert.match(reason.message, new RegExp(`semid ${sem.id}: the set was removed`));
  });

  it('release above SEMVMX fails with ERANGE and changes nothing', () => {
    const sem = newSemaphore(32767);
    assert.throws(
      () => sem.release(),
      (e: unknown) => e instanceof IpcError && e.code === 'ERANGE',
    );
    assert.equal(sem.value, 32767);
  });

  it('rejects bad arguments with TypeError and RangeError naming them', async () => {
    const sem = newSemaphore(0);
    assert.throws(() => sem.release(0), { name: 'RangeError', message: /"n"/ });
    assert.throws(() => sem.release(1.5), { name: 'RangeError', message: /"n"/ });
    await assert.rejects(sem.acquire({ undo: 'yes' as never }), { name: 'TypeError', message: /"options.undo"/ });
    await assert.rejects(sem.acquire({ timeoutMs: Number.NaN }), { name: 'RangeError', message: /"options.timeoutMs"/ });
    assert.throws(() => Semaphore.create({ initial: -1 }), { name: 'RangeError', message: /"options.initial"/ });
    assert.throws(() => Semaphore.open({ key: 0 }), { name: 'RangeError', message: /"options.key"/ });
  });

  it('dispose rejects pending acquires of the handle and keeps the semaphore', async () => {
    const sem = newSemaphore(0);
    const handle = Semaphore.open({ id: sem.id });
    const pending = handle.acquire();
    await waitFor('the waiter', () => semctl(sem.id, 0, GETNCNT) === 1);
    handle[Symbol.dispose]();
    await assert.rejects(pending, { code: 'ERR_SEM_CLOSED' });
    assert.throws(() => handle.release(), { code: 'ERR_SEM_CLOSED' });
    sem.release();
    assert.equal(sem.value, 1);
  });
});
