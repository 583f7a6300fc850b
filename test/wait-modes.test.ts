// How a wait of a semaphore or a message queue spends its time
// (options.wait): 'adaptive' (default) and 'spin' try again on this thread
// before they sleep in the kernel, 'sleep' goes there at once. In every mode
// a semaphore and messages go back and forth with another process, a wait
// nothing answers sleeps and wakes for what another process does later, and
// the time limit and abort of every wait hold. Whether something was caught
// while spinning depends on timing, so the benchmark (npm run bench,
// "semaphore") measures that, not these tests.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
// The library's modules this file uses, not all of dist/src/index.js (some 30 ms of CPU less to load).
import type { WaitMode } from '../src/core/wait-options.js';
import { MessageQueue } from '../src/msg/message-queue.js';
import { Mutex } from '../src/sem/mutex.js';
import { Semaphore } from '../src/sem/semaphore.js';
import { SemaphoreSet } from '../src/sem/semaphore-set.js';
import { GETNCNT, IPC_SET } from '../src/sysv/constants.js';
import { msgctl } from '../src/sysv/msg.js';
import { semctl } from '../src/sysv/sem.js';
import { pendingWaitStats } from '../src/sem/wait-queue.js';
import { SPIN_MS, spinsFirst } from '../src/sysv/spin.js';
import { assertNoLeaks, removeQueue, semaphoreSetsOfEachTest } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { budget } from './helpers/soak.js';
import { assertExitedCleanly } from './helpers/processes.js';
import { waitFor } from './helpers/shm.js';

assertNoLeaks();

/**
 * The other process of every test: their programs run in turn in one, where
 * each had a process of its own (12 in all), with one copy of the library
 * (each opens the test's set or queue by id).
 */
const other = peer({ sharedLibrary: true });
after(() => other.end());

const { made, newSet } = semaphoreSetsOfEachTest(SemaphoreSet);

const MODES: readonly WaitMode[] = ['adaptive', 'spin', 'sleep'];

/**
 * Round trips of the back-and-forth tests: a stress budget in 'spin' mode,
 * 50 (500 in a soak run); no defect is behind the count. Spin mode keeps
 * both processes on a CPU through each wait, which spins its 2 ms out
 * whenever the other process is off its CPU: the two spin tests took
 * 0.25-1.05 CPU-s with 500 on this busy 2-CPU machine, 0.15 with 50.
 * 'adaptive' and 'sleep', whose waits sleep (where a lost wake-up would
 * show), keep 500.
 */
const roundsOf = (mode: WaitMode): number => (mode === 'spin' ? budget(50, 500) : 500);

/** A message queue of this test, removed afterwards whatever happens. */
async function withQueue(fn: (queue: MessageQueue) => Promise<void>): Promise<void> {
  const queue = MessageQueue.create();
  try {
    await fn(queue);
  } finally {
    removeQueue(queue.id);
  }
}

describe('semaphore wait modes', () => {
  it("refuses a wait mode that is not 'adaptive', 'spin' or 'sleep', naming options.wait, and changes nothing", async () => {
    const set = newSet(1, 1);
    const semaphore = Semaphore.create({ initial: 1 });
    made.push(semaphore.id);
    const mutex = Mutex.create();
    made.push(mutex.id);
    await withQueue(async (queue) => {
      queue.trySend('kept');
      const calls: [string, () => Promise<unknown>][] = [
        ['SemaphoreSet.op', () => set.op([{ sem_num: 0, sem_op: -1 }], { wait: 'fast' as WaitMode })],
        ['Semaphore.acquire', () => semaphore.acquire({ wait: 1 as unknown as WaitMode })],
        ['Mutex.lock', () => mutex.lock({ wait: 'Spin' as WaitMode })],
        ['MessageQueue.send', () => queue.send('lost', { wait: 'busy' as WaitMode })],
        ['MessageQueue.receive', () => queue.receive({ wait: null as unknown as WaitMode })],
      ];
      for (const [what, call] of calls) {
        await assert.rejects(call, (error: NodeJS.ErrnoException) => {
          assert.ok(error instanceof TypeError, what);
          assert.equal(error.code, 'ERR_INVALID_ARG_VALUE', what);
          assert.match(error.message, /options\.wait.*'adaptive', 'spin' or 'sleep'/, what);
          return true;
        });
      }
      assert.equal(set.get(0), 1);
      assert.equal(semaphore.value, 1);
      assert.equal(mutex.tryLock(), true, 'the mutex is still free');
      mutex.unlock();
      assert.equal(queue.stat().msg_qnum, 1, 'nothing was sent and nothing taken');
    });
  });

  for (const mode of MODES) {
    it(`'${mode}': ${roundsOf(mode)} hand-offs with another process waiting the same way end with every value back at 0`, async () => {
      const set = newSet(2);
      const rounds = roundsOf(mode);
      const child = other.run(
        `
        import { SemaphoreSet } from 'SHMKIT';
        const [id, rounds, wait] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
        const set = SemaphoreSet.open({ id });
        for (let i = 0; i < rounds; i++) {
          await set.op([{ sem_num: 0, sem_op: -1 }], { wait, timeoutMs: 20_000 });
          await set.op([{ sem_num: 1, sem_op: 1 }]);
        }
        `,
        [String(set.id), String(rounds), mode],
      );
      for (let i = 0; i < rounds; i++) {
        await set.op([{ sem_num: 0, sem_op: 1 }]);
        await set.op([{ sem_num: 1, sem_op: -1 }], { wait: mode, timeoutMs: 20_000 });
      }
      assertExitedCleanly(await child);
      assert.deepEqual([set.get(0), set.get(1)], [0, 0]);
    });

    it(`'${mode}': a wait nothing answers sleeps in the kernel, and another process's later release ends it`, async () => {
      const set = newSet(1);
      const wait = set.op([{ sem_num: 0, sem_op: -1 }], { wait: mode });
      await waitFor('the waiter in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
      const child = await other.run(
        `
        import { SemaphoreSet } from 'SHMKIT';
        await SemaphoreSet.open({ id: Number(process.argv[1]) }).op([{ sem_num: 0, sem_op: 1 }]);
        `,
        [String(set.id)],
      );
      assertExitedCleanly(child);
      await wait;
      assert.equal(set.get(0), 0);
      assert.deepEqual(pendingWaitStats(), { waits: 0, queues: 0 });
    });

    it(`'${mode}': a time limit and an abort end the wait with nothing changed`, async () => {
      const set = newSet(1);
      await assert.rejects(set.op([{ sem_num: 0, sem_op: -1 }], { wait: mode, timeoutMs: 30 }), {
        code: 'ETIMEDOUT',
        syscall: 'semtimedop',
      });
      const controller = new AbortController();
      const aborted = set.op([{ sem_num: 0, sem_op: -1 }], { wait: mode, signal: controller.signal });
      await sleep(20);
      controller.abort();
      await assert.rejects(aborted, { name: 'AbortError' });
      assert.equal(set.get(0), 0);
      assert.equal(semctl(set.id, 0, GETNCNT), 0, 'no waiter is left in the kernel');
    });

    it(`'${mode}': ${roundsOf(mode)} messages each way with another process waiting the same way arrive in order`, async () => {
      await withQueue(async (queue) => {
        const rounds = roundsOf(mode);
        const child = other.run(
          `
          import { MessageQueue } from 'SHMKIT';
          const [id, rounds, wait] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
          const queue = MessageQueue.open({ id });
          for (let i = 0; i < rounds; i++) {
            const { data } = await queue.receive({ type: 1, wait, timeoutMs: 20_000 });
            await queue.send(data, { type: 2, wait });
          }
          `,
          [String(queue.id), String(rounds), mode],
        );
        for (let i = 0; i < rounds; i++) {
          await queue.send(`m${i}`, { type: 1, wait: mode });
          const { data } = await queue.receive({ type: 2, wait: mode, timeoutMs: 20_000 });
          assert.equal(new TextDecoder().decode(data), `m${i}`);
        }
        assertExitedCleanly(await child);
        assert.equal(queue.stat().msg_qnum, 0);
      });
    });

    it(`'${mode}': a receive nothing answers sleeps, and another process's later send ends it; a time limit and an abort take nothing`, async () => {
      await withQueue(async (queue) => {
        await assert.rejects(queue.receive({ wait: mode, timeoutMs: 30 }), { code: 'ETIMEDOUT', syscall: 'msgrcv' });
        const controller = new AbortController();
        const aborted = queue.receive({ wait: mode, signal: controller.signal });
        await sleep(20);
        controller.abort();
        await assert.rejects(aborted, { name: 'AbortError' });
        const waiting = queue.receive({ wait: mode, timeoutMs: 20_000 });
        await sleep(20);
        const child = await other.run(
          `
          import { MessageQueue } from 'SHMKIT';
          await MessageQueue.open({ id: Number(process.argv[1]) }).send('later');
          `,
          [String(queue.id)],
        );
        assertExitedCleanly(child);
        assert.equal(new TextDecoder().decode((await waiting).data), 'later');
        assert.equal(queue.stat().msg_qnum, 0);
      });
    });
  }

  it('spins only in a spinning mode and when the time limit is longer than the spin', () => {
    assert.equal(spinsFirst('adaptive', undefined), true);
    assert.equal(spinsFirst('spin', 30), true);
    assert.equal(spinsFirst('sleep', undefined), false);
    assert.equal(spinsFirst('spin', 1), false, '1 ms is shorter than the 2 ms spin');
    assert.equal(spinsFirst('adaptive', SPIN_MS.adaptive), false);
    assert.equal(spinsFirst('adaptive', 0), false, 'timeoutMs 0: only if possible at once');
  });

  it("'spin' with a time limit shorter than its spin (1 ms against 2) still ends in ETIMEDOUT with nothing changed", async () => {
    const set = newSet(1);
    await assert.rejects(set.op([{ sem_num: 0, sem_op: -1 }], { wait: 'spin', timeoutMs: 1 }), {
      code: 'ETIMEDOUT',
      syscall: 'semtimedop',
    });
    assert.equal(set.get(0), 0);
    assert.equal(semctl(set.id, 0, GETNCNT), 0);
  });

  it("a 'spin' wait made while a wait of its kind is pending queues behind it and completes after it", async () => {
    const set = newSet(1);
    const order: number[] = [];
    const first = set.op([{ sem_num: 0, sem_op: -1 }], { wait: 'sleep' }).then(() => order.push(1));
    await waitFor('the first waiter in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
    const second = set.op([{ sem_num: 0, sem_op: -1 }], { wait: 'spin' }).then(() => order.push(2));
    assert.deepEqual(pendingWaitStats(), { waits: 2, queues: 1 });
    set.set(0, 2);
    await Promise.all([first, second]);
    assert.deepEqual(order, [1, 2]);
    assert.equal(set.get(0), 0);
  });

  it("'spin' receives and sends made while one of their kind is pending skip the spin, and each completes", async () => {
    await withQueue(async (queue) => {
      // Each would spin its 2 ms out: 100 take at least 200 ms so.
      const timed = <T>(make: () => Promise<T>): [Promise<T[]>, number] => {
        const start = performance.now();
        const made = Array.from({ length: 100 }, make);
        return [Promise.all(made), performance.now() - start];
      };
      const first = queue.receive({ type: 1, wait: 'sleep' });
      const [receives, receiving] = timed(() => queue.receive({ type: 1, wait: 'spin' }));
      assert.ok(receiving < 200, `100 receives behind a pending one took ${receiving} ms`);
      for (let i = 0; i < 101; i++) queue.trySend('m', { type: 1 });
      await first;
      assert.equal((await receives).length, 100);
      msgctl(queue.id, IPC_SET, { msg_qbytes: 1 });
      queue.trySend('x');
      const second = queue.send('y', { wait: 'sleep' });
      const [sends, sending] = timed(() => queue.send('z', { wait: 'spin' }));
      assert.ok(sending < 200, `100 sends behind a pending one took ${sending} ms`);
      for (let got = 0; got < 102; got++) await queue.receive({ timeoutMs: 20_000 });
      await Promise.all([second, sends]);
      assert.equal(queue.stat().msg_qnum, 0);
    });
  });
});
