// Waiting on semaphores without blocking the event loop: a thousand pending
// waits at once while timers and the thread pool keep working, removal under
// waiters, time limits and aborts that leave every value as it was (also
// when the abort races the operation), and a process that exits by itself
// once nothing is pending.
import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
// The library's modules this file uses, not all of dist/src/index.js (some 30 ms of CPU less to load).
import { IpcError } from '../src/core/errors.js';
import { SemaphoreSet } from '../src/sem/semaphore-set.js';
import { GETALL, GETNCNT, GETZCNT, IPC_NOWAIT, SEM_UNDO } from '../src/sysv/constants.js';
import { semctl } from '../src/sysv/sem.js';
import { assertNoLeaks, semaphoreSetsOfEachTest } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { waitFor } from './helpers/shm.js';
import { pendingWaitStats } from '../src/sem/wait-queue.js';
import { MAX_WAIT_THREADS, waitThreadStats } from '../src/sysv/wait-threads.js';

assertNoLeaks();

// Every set a test makes is removed right after it, pass or fail.
const { newSet } = semaphoreSetsOfEachTest(SemaphoreSet);
/** Resolves to the promise's outcome, or rejects if it has not settled after `tries` turns of the loop. */
async function settled<T>(promise: Promise<T>, what: string, tries = 4000): Promise<{ value?: T; error?: unknown }> {
  let outcome: { value?: T; error?: unknown } | undefined;
  promise.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  for (let i = 0; i < tries && outcome === undefined; i++) await sleep(5);
  if (outcome === undefined) throw new Error(`${what} never settled`);
  return outcome;
}

const take = [{ sem_num: 0, sem_op: -1 }];

describe('waiting without blocking', () => {
  it('1,000 pending waits in one process all complete once released, while timers fire and fs and crypto calls complete', async () => {
    const set = newSet(1);
    const waits = Array.from({ length: 1000 }, () => set.op(take));
    let done = 0;
    for (const w of waits) void w.then(() => done++);
    // Waits of one kind share one thread: the kernel sees one waiter for all of them.
    await waitFor('the shared waiter in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
    assert.deepEqual(pendingWaitStats(), { waits: 1000, queues: 1 });

    // With every wait pending, the loop and libuv's thread pool still work.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const files = await Promise.all(Array.from({ length: 32 }, () => readFile('/proc/self/stat', 'utf8')));
      assert.equal(files.length, 32);
      const keys = await Promise.all(Array.from({ length: 8 }, () => promisify(pbkdf2)('x', 'salt', 1000, 32, 'sha256')));
      assert.equal(keys.length, 8);
      await waitFor('timers to fire', () => ticks >= 20);
    } finally {
      clearInterval(timer);
    }
    assert.equal(done, 0, 'no wait completed before the release');

    await set.op([{ sem_num: 0, sem_op: 1000 }]);
    const outcome = await settled(Promise.all(waits), 'the 1,000 waits');
    assert.equal(outcome.error, undefined);
    assert.equal(done, 1000);
    assert.equal(set.get(0), 0);
    assert.equal(semctl(set.id, 0, GETNCNT), 0);
  });

  it('a wait completes when another process releases', async () => {
    const set = newSet(2);
    const wait = set.op([
      { sem_num: 0, sem_op: -2 },
      { sem_num: 1, sem_op: 0 },
    ]);
    const child = await runNode(
      `
      import { SemaphoreSet } from 'SHMKIT';
      const set = SemaphoreSet.open({ id: Number(process.argv[1]) });
      await set.op([{ sem_num: 0, sem_op: 2 }]);
    `,
      [String(set.id)],
    );
    assertExitedCleanly(child);
    assert.equal((await settled(wait, 'the wait')).error, undefined);
    assert.equal(set.get(0), 0);
  });

  it('waits for zero', async () => {
    const set = newSet(1, 2);
    const zero = set.op([{ sem_num: 0, sem_op: 0 }]);
    await waitFor('a wait for zero', () => semctl(set.id, 0, GETZCNT) === 1);
    set.set(0, 0);
    assert.equal((await settled(zero, 'the wait for zero')).error, undefined);
  });

  it('an operation on many semaphores waits, first and queued behind one of its kind: its tries without waiting leave its flags alone', async () => {
    // 8 triples are 96 bytes, more than V8 keeps on its heap: the array itself goes to the addon.
    const set = newSet(8);
    const all = (sem_op: number) => Array.from({ length: 8 }, (_, sem_num) => ({ sem_num, sem_op }));
    const first = set.op(all(-1));
    const second = set.op(all(-1));
    await waitFor('the first wait in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
    await set.op(all(1));
    assert.equal((await settled(first, 'the first wait')).error, undefined);
    await waitFor('the second wait in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
    await set.op(all(1));
    assert.equal((await settled(second, 'the second wait')).error, undefined);
    assert.deepEqual(semctl(set.id, 0, GETALL), new Array(8).fill(0));
  });

  it('removing the set rejects every pending wait with EIDRM', async () => {
    const set = newSet(2, [0, 1]);
    const waits = [
      ...Array.from({ length: 20 }, () => set.op(take)),
      ...Array.from({ length: 20 }, () => set.op([{ sem_num: 1, sem_op: 0 }], { timeoutMs: 60_000 })),
    ];
    await waitFor('a waiter for each kind', () => semctl(set.id, 0, GETNCNT) === 1 && semctl(set.id, 1, GETZCNT) === 1);
    assert.deepEqual(pendingWaitStats(), { waits: 40, queues: 2 });
    set.remove();
    const outcomes = await settled(Promise.allSettled(waits), 'the waits');
    for (const o of outcomes.value ?? []) {
      assert.equal(o.status, 'rejected');
      const reason = (o as PromiseRejectedResult).reason as IpcError;
      assert.ok(reason instanceof IpcError);
      assert.equal(reason.code, 'EIDRM', reason.message);
    }
    // A wait started after the removal fails at once.
    await assert.rejects(set.op(take), { code: 'EINVAL' });
  });

  for (const by of ['remove()', 'another process'] as const) {
    it(`removal by ${by} ends waits of more kinds than there are threads with EIDRM, never EINVAL`, async () => {
      // One kind per semaphore, two waits of each: the first of most kinds
      // is in the kernel, the rest queue for a thread or behind it, and never
      // meet the kernel's EIDRM themselves.
      const kinds = MAX_WAIT_THREADS + 8;
      const set = newSet(kinds);
      const waits = Array.from({ length: 2 * kinds }, (_, i) => set.op([{ sem_num: i % kinds, sem_op: -1 }], { wait: 'sleep' }));
      const all = Promise.allSettled(waits);
      assert.deepEqual(pendingWaitStats(), { waits: 2 * kinds, queues: kinds });
      assert.ok(waitThreadStats().queued > 0, 'some kinds wait for a thread');
      await waitFor('the first kind in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
      if (by === 'remove()') set.remove();
      else {
        const child = await runNode(
          `
          import { IPC_RMID, semctl } from 'SHMKIT';
          semctl(Number(process.argv[1]), 0, IPC_RMID);
        `,
          [String(set.id)],
        );
        assertExitedCleanly(child);
      }
      const outcomes = (await settled(all, 'the waits')).value ?? [];
      const codes = outcomes.map((o) => (o.status === 'rejected' ? String((o.reason as IpcError).code) : 'resolved'));
      assert.deepEqual(
        codes,
        waits.map(() => 'EIDRM'),
      );
      for (const o of outcomes) {
        const reason = (o as PromiseRejectedResult).reason as IpcError;
        assert.equal(reason.syscall, 'semop');
        assert.match(reason.message, new RegExp(`semid ${set.id}: the set was removed`));
      }
      assert.deepEqual(pendingWaitStats(), { waits: 0, queues: 0 });
    });
  }

  it('timeoutMs rejects with ETIMEDOUT and leaves every value as it was', async () => {
    const set = newSet(2, [1, 0]);
    const error = (
      await settled(
        set.op(
          [
            { sem_num: 0, sem_op: -1 },
            { sem_num: 1, sem_op: -1 },
          ],
          { timeoutMs: 30 },
        ),
        'the wait',
      )
    ).error;
    assert.ok(error instanceof IpcError);
    assert.equal(error.code, 'ETIMEDOUT');
    assert.equal(error.syscall, 'semtimedop');
    assert.deepEqual([set.get(0), set.get(1)], [1, 0]);
    assert.equal(semctl(set.id, 1, GETNCNT), 0, 'no waiter left in the kernel');
    await assert.rejects(
      set.op(
        take.map((s) => ({ ...s, sem_num: 1 })),
        { timeoutMs: 0 },
      ),
      { code: 'ETIMEDOUT' },
    );
  });

  it('a timeoutMs longer than setTimeout allows (2 ** 31 ms and more) does not time out early, first in line or behind another wait', async () => {
    const set = newSet(1);
    // Node fires a timer of more than 2 ** 31 - 1 ms after 1 ms: each must keep waiting.
    const waits = [2 ** 31, 2 ** 31, 2 ** 40].map((timeoutMs) => set.op(take, { timeoutMs, wait: 'sleep' }));
    const outcomes = waits.map((wait) => settled(wait, 'a wait'));
    await sleep(100);
    set.set(0, 3);
    for (const outcome of await Promise.all(outcomes)) assert.equal(outcome.error, undefined);
    assert.equal(set.get(0), 0);
  });

  it('IPC_NOWAIT rejects with EAGAIN instead of waiting', async () => {
    const set = newSet(1);
    await assert.rejects(set.op([{ sem_num: 0, sem_op: -1, sem_flg: IPC_NOWAIT }]), { name: 'IpcError', code: 'EAGAIN' });
  });

  it('an AbortSignal rejects with AbortError and leaves every value as it was', async () => {
    const set = newSet(2, [1, 0]);
    const controller = new AbortController();
    const wait = set.op(
      [
        { sem_num: 0, sem_op: -1, sem_flg: SEM_UNDO },
        { sem_num: 1, sem_op: -1 },
      ],
      { signal: controller.signal },
    );
    await waitFor('the waiter', () => semctl(set.id, 1, GETNCNT) === 1);
    const reason = new Error('changed my mind');
    controller.abort(reason);
    const { error } = await settled(wait, 'the aborted wait');
    assert.ok(error instanceof DOMException, String(error));
    assert.equal(error.name, 'AbortError');
    assert.equal(error.cause, reason);
    assert.deepEqual([set.get(0), set.get(1)], [1, 0]);
    assert.equal(semctl(set.id, 1, GETNCNT), 0);

    await assert.rejects(set.op(take, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(set.get(0), 1, 'an already aborted signal does nothing');
  });

  it('an abort racing a release is exact: a resolved wait took the unit, a rejected one left it', async () => {
    const set = newSet(1);
    const counts = { resolved: 0, aborted: 0 };
    for (let i = 0; i < 300; i++) {
      set.set(0, 0);
      const controller = new AbortController();
      const outcome = settled(set.op(take, { signal: controller.signal }), `wait ${i}`);
      // Release and abort in varying order and distance, so that some
      // aborts come after the kernel granted the wait.
      const order = i % 3;
      if (order === 0) {
        set.set(0, 1);
        controller.abort();
      } else if (order === 1) {
        controller.abort();
        set.set(0, 1);
      } else {
        await nextTurn();
        set.set(0, 1);
        for (let t = 0; t < i % 7; t++) await nextTurn();
        controller.abort();
      }
      const { error } = await outcome;
      if (error === undefined) {
        counts.resolved++;
        assert.equal(set.get(0), 0, `wait ${i} resolved, so it took the unit`);
      } else {
        counts.aborted++;
        assert.equal((error as Error).name, 'AbortError');
        assert.equal(set.get(0), 1, `wait ${i} was aborted, so the unit is still there`);
      }
      assert.equal(semctl(set.id, 0, GETNCNT), 0);
    }
    assert.ok(counts.aborted > 0, 'some waits were aborted');
  });

  it('a timeout racing a release is exact too', async () => {
    const set = newSet(1);
    for (let i = 0; i < 60; i++) {
      set.set(0, 0);
      const outcome = settled(set.op(take, { timeoutMs: 1 + (i % 3) }), `wait ${i}`);
      await sleep(i % 4);
      set.set(0, 1);
      const { error } = await outcome;
      if (error === undefined) {
        assert.equal(set.get(0), 0, `wait ${i} resolved, so it took the unit`);
      } else {
        assert.equal((error as IpcError).code, 'ETIMEDOUT');
        assert.equal(set.get(0), 1, `wait ${i} timed out, so the unit is still there`);
      }
    }
  });

  it('disposing a handle rejects its pending waits with ERR_SEM_CLOSED and keeps the set', async () => {
    const set = newSet(1);
    const handle = SemaphoreSet.open({ id: set.id });
    const wait = handle.op(take);
    const other = set.op(take);
    await waitFor('the first waiter', () => semctl(set.id, 0, GETNCNT) === 1);
    assert.deepEqual(pendingWaitStats(), { waits: 2, queues: 1 });
    handle[Symbol.dispose]();
    const { error } = await settled(wait, 'the disposed wait');
    assert.equal((error as { code?: string }).code, 'ERR_SEM_CLOSED');
    await waitFor('one waiter left', () => semctl(set.id, 0, GETNCNT) === 1);
    set.set(0, 1);
    assert.equal((await settled(other, 'the other wait')).error, undefined);
  });
});

describe('process lifetime', () => {
  it('a pending wait keeps the process alive; once waits are done, timed out or aborted it exits by itself', async () => {
    // The timed-out and aborted waits use semaphore 1, so the parent's GETNCNT on semaphore 0 sees only the last wait.
    const set = newSet(2);
    const child = runNode(
      `
      import { SemaphoreSet } from 'SHMKIT';
      const set = SemaphoreSet.open({ id: Number(process.argv[1]) });
      const results = [];
      await set.op([{ sem_num: 0, sem_op: 0 }], { timeoutMs: 0 }).then(() => results.push('zero'));
      await set.op([{ sem_num: 1, sem_op: -1 }], { timeoutMs: 20 }).catch((e) => results.push(e.code));
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 20);
      await set.op([{ sem_num: 1, sem_op: -1 }], { signal: controller.signal }).catch((e) => results.push(e.name));
      // Nothing but this wait is left: it alone keeps the process alive until the parent releases.
      set.op([{ sem_num: 0, sem_op: -1 }]).then(() => {
        results.push('released');
        console.log(JSON.stringify(results));
      });
    `,
      [String(set.id)],
      { timeoutMs: 30_000 },
    );
    await waitFor('the child to wait', () => semctl(set.id, 0, GETNCNT) === 1);
    await sleep(50); // give a wrongly unreferenced waiter time to let the child exit early
    set.op([{ sem_num: 0, sem_op: 1 }]);
    const result = await child;
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), ['zero', 'ETIMEDOUT', 'AbortError', 'released']);
  });
});
