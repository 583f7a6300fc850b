// Mutex: a lock between processes, always held with SEM_UNDO. Lock, unlock,
// tryLock and withLock; a holder SIGKILLed gives the lock back through the
// kernel to the next waiter; openOrCreate races; disposal unlocks but never
// removes; timeouts and aborts leave it as it was.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GETNCNT, GETVAL, IpcError, Mutex, semctl } from 'shmkit';
import { assertNoLeaks, uniqueKey, removeSetsAfterEach } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { waitFor } from './helpers/shm.js';

assertNoLeaks();

// Every set a test makes is removed right after it, pass or fail.
const made = removeSetsAfterEach();

/**
 * The other process of the tests where it only locks or removes (4 processes
 * -> 1); one that dies, exits holding the lock or races the others keeps a
 * process of its own.
 */
const other = peer({ sharedLibrary: true });
after(() => other.end());

function newMutex(key?: number): Mutex {
  const mutex = Mutex.create({ key });
  made.push(mutex.id);
  return mutex;
}

describe('Mutex', () => {
  it('lock, unlock and tryLock', async () => {
    const mutex = newMutex();
    assert.equal(semctl(mutex.id, 0, GETVAL), 1, 'created unlocked');
    assert.ok(mutex.stat().sem_otime > 0, 'initialized by a semop');
    await mutex.lock();
    assert.equal(mutex.held, true);
    assert.equal(semctl(mutex.id, 0, GETVAL), 0);
    const other = Mutex.open({ id: mutex.id });
    assert.equal(other.tryLock(), false);
    mutex.unlock();
    assert.equal(mutex.held, false);
    assert.equal(other.tryLock(), true);
    other.unlock();
    assert.equal(semctl(mutex.id, 0, GETVAL), 1);
  });

  it('a second lock waits for the unlock, in this process and in another', async () => {
    const mutex = newMutex();
    await mutex.lock();
    const sameProcess = Mutex.open({ id: mutex.id });
    let sameLocked = false;
    const second = sameProcess.lock({ timeoutMs: 20_000 }).then(() => (sameLocked = true));
    const child = other.run(
      `
      import { Mutex } from 'SHMKIT';
      const mutex = Mutex.open({ id: Number(process.argv[1]) });
      await mutex.lock();
      mutex.unlock();
      console.log(JSON.stringify({ locked: true }));
    `,
      [String(mutex.id)],
      { timeoutMs: 20_000 },
    );
    await waitFor('two waiters', () => semctl(mutex.id, 0, GETNCNT) === 2);
    assert.equal(sameLocked, false);
    mutex.unlock();
    // Whichever goes first, both get their turn.
    await second;
    sameProcess.unlock();
    const result = await child;
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { locked: true });
    assert.equal(semctl(mutex.id, 0, GETVAL), 1);
  });

  it('withLock releases after fn returns, throws or rejects', async () => {
    const mutex = newMutex();
    assert.equal(await mutex.withLock(() => 42), 42);
    assert.equal(await mutex.withLock(async () => 'async'), 'async');
    await assert.rejects(
      mutex.withLock(() => {
        throw new Error('boom');
      }),
      /boom/,
    );
    await assert.rejects(
      mutex.withLock(async () => Promise.reject(new Error('late boom'))),
      /late boom/,
    );
    assert.equal(mutex.held, false);
    assert.equal(semctl(mutex.id, 0, GETVAL), 1);
    await assert.rejects(mutex.withLock('x' as never), { name: 'TypeError', message: /"fn"/ });
  });

  it('withLock keeps what fn returned or threw when another process removes the set meanwhile, and the handle holds nothing after', async () => {
    // The unlock then finds no set (EINVAL): there is no lock left to release. It replaced fn's result and error.
    const removeFrom = (id: number) => other.run(`import { semctl, IPC_RMID } from 'SHMKIT'; semctl(${id}, 0, IPC_RMID);`);
    const returning = newMutex();
    const result = await returning.withLock(async () => {
      assertExitedCleanly(await removeFrom(returning.id));
      return 'fn-result';
    });
    assert.equal(result, 'fn-result');
    assert.equal(returning.held, false);
    const throwing = newMutex();
    await assert.rejects(
      throwing.withLock(async () => {
        assertExitedCleanly(await removeFrom(throwing.id));
        throw new Error('from fn');
      }),
      { message: 'from fn' },
    );
    assert.equal(throwing.held, false);
    // unlock() itself still says the set is gone.
    const unlocking = newMutex();
    await unlocking.lock();
    assertExitedCleanly(await removeFrom(unlocking.id));
    assert.throws(
      () => unlocking.unlock(),
      (error: unknown) => error instanceof IpcError && error.code === 'EINVAL',
    );
    assert.equal(unlocking.held, false);
  });

  it('concurrent withLock calls on one handle run one at a time', async () => {
    const mutex = newMutex();
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        mutex.withLock(
          async () => {
            inside++;
            most = Math.max(most, inside);
            await sleep(i % 3);
            inside--;
          },
          { timeoutMs: 20_000 },
        ),
      ),
    );
    assert.equal(most, 1);
    assert.equal(semctl(mutex.id, 0, GETVAL), 1);
  });

  it('unlock without holding throws ERR_MUTEX_NOT_HELD and changes nothing', async () => {
    const mutex = newMutex();
    assert.throws(() => mutex.unlock(), { name: 'StateError', code: 'ERR_MUTEX_NOT_HELD' });
    await mutex.lock();
    const other = Mutex.open({ id: mutex.id });
    assert.throws(() => other.unlock(), { code: 'ERR_MUTEX_NOT_HELD' });
    assert.equal(semctl(mutex.id, 0, GETVAL), 0);
    mutex.unlock();
  });

  it('a process SIGKILLed while holding the mutex gives it back through the kernel; the next waiter gets it', async () => {
    const mutex = newMutex();
    const child = runNode(
      `
      import { GETNCNT, Mutex, semctl } from 'SHMKIT';
      const id = Number(process.argv[1]);
      const mutex = Mutex.open({ id });
      await mutex.lock();
      while (semctl(id, 0, GETNCNT) < 1) await new Promise((r) => setTimeout(r, 5));
      process.kill(process.pid, 'SIGKILL');
    `,
      [String(mutex.id)],
      { timeoutMs: 20_000 },
    );
    await waitFor('the child to hold the mutex', () => semctl(mutex.id, 0, GETVAL) === 0);
    const next = mutex.lock({ timeoutMs: 20_000 });
    const result = await child;
    assert.equal(result.signal, 'SIGKILL', result.stderr);
    await next;
    assert.equal(mutex.held, true);
    mutex.unlock();
    assert.equal(semctl(mutex.id, 0, GETVAL), 1);
  });

  it('a process that exits without unlocking releases the mutex too', async () => {
    const mutex = newMutex();
    const child = await runNode(
      `
      import { Mutex } from 'SHMKIT';
      await Mutex.open({ id: Number(process.argv[1]) }).lock();
    `,
      [String(mutex.id)],
    );
    assertExitedCleanly(child);
    assert.equal(mutex.tryLock(), true);
    mutex.unlock();
  });

  it('openOrCreate from four processes at once makes exactly one mutex', async () => {
    const key = uniqueKey();
    try {
      const children = await Promise.all(
        Array.from({ length: 4 }, () =>
          runNode(
            `
        import { Mutex } from 'SHMKIT';
        const mutex = Mutex.openOrCreate({ key: Number(process.argv[1]) });
        await mutex.withLock(() => {});
        console.log(JSON.stringify({ id: mutex.id }));
      `,
            [String(key)],
          ),
        ),
      );
      for (const child of children) assertExitedCleanly(child);
      const ids = new Set(children.map((c) => lastJson<{ id: number }>(c).id));
      assert.equal(ids.size, 1);
      const mutex = Mutex.openOrCreate({ key });
      made.push(mutex.id);
      assert.equal(mutex.id, [...ids][0]);
      assert.equal(semctl(mutex.id, 0, GETVAL), 1);
    } finally {
      try {
        made.push(Mutex.open({ key }).id);
      } catch {
        // never created
      }
    }
  });

  it('using unlocks what the handle holds and keeps the mutex', async () => {
    const key = uniqueKey();
    const mutex = newMutex(key);
    {
      using held = Mutex.open({ key });
      await held.lock();
      assert.equal(semctl(mutex.id, 0, GETVAL), 0);
    }
    assert.equal(semctl(mutex.id, 0, GETVAL), 1, 'unlocked at the end of the block');
    assert.equal(Mutex.open({ key }).id, mutex.id, 'still there');
  });

  it('timeout and abort leave the mutex as it was', async () => {
    const mutex = newMutex();
    await mutex.lock();
    const other = Mutex.open({ id: mutex.id });
    await assert.rejects(other.lock({ timeoutMs: 10 }), (e: unknown) => e instanceof IpcError && e.code === 'ETIMEDOUT');
    const controller = new AbortController();
    const aborted = other.lock({ signal: controller.signal });
    await waitFor('the waiter', () => semctl(mutex.id, 0, GETNCNT) === 1);
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    assert.equal(other.held, false);
    mutex.unlock();
    assert.equal(semctl(mutex.id, 0, GETVAL), 1);
  });

  it('remove rejects pending locks with EIDRM', async () => {
    const mutex = newMutex();
    await mutex.lock();
    const pending = Mutex.open({ id: mutex.id }).lock();
    await waitFor('the waiter', () => semctl(mutex.id, 0, GETNCNT) === 1);
    mutex.remove();
    await assert.rejects(pending, (e: unknown) => e instanceof IpcError && e.code === 'EIDRM');
  });

  it('rejects bad arguments with TypeError and RangeError naming them', () => {
    assert.throws(() => Mutex.create({ mode: -1 }), { name: 'RangeError', message: /"options.mode"/ });
    assert.throws(() => Mutex.openOrCreate({} as never), { name: 'TypeError', message: /"options.key"/ });
    assert.throws(() => Mutex.open(null as never), { name: 'TypeError', message: /"options"/ });
  });
});
