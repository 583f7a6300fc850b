// Pending semaphore waits share a bounded number of threads: waits of one
// kind (same set, same operations) queue behind one thread in FIFO order,
// waits of many kinds take turns on at most MAX_WAIT_THREADS threads, and
// none fails or starves for lack of a thread. Queued waits keep the exact
// semantics of a wait in the kernel: a time limit or an abort changes
// nothing, and removing the set ends them all with EIDRM. Thread counts are
// measured in fresh child processes (/proc/self/task), each with a time limit.
// A worker thread that ends while its waits complete takes no unit with it
// that its JavaScript did not receive, and does not abort the process; nor
// does a process that calls process.exit().
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
// The library's modules this file uses, not all of dist/src/index.js (some 30 ms of CPU less to load).
import { IpcError } from '../src/core/errors.js';
import { MessageQueue } from '../src/msg/message-queue.js';
import { Semaphore } from '../src/sem/semaphore.js';
import { SemaphoreSet } from '../src/sem/semaphore-set.js';
import { GETNCNT } from '../src/sysv/constants.js';
import { semctl } from '../src/sysv/sem.js';
import { MAX_WAIT_THREADS, waitThreadStats } from '../src/sysv/wait-threads.js';
import { pendingWaitStats } from '../src/sem/wait-queue.js';
import { assertWorkersEndWithoutLoss, WAITS_PER_WORKER } from './helpers/ending-workers.js';
import { assertProcessExitLosesNothing, EXIT_WAITS } from './helpers/exiting-process.js';
import { budget } from './helpers/soak.js';
import { assertNoLeaks, semaphoreSetsOfEachTest } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { waitFor } from './helpers/shm.js';

assertNoLeaks();

/**
 * Rounds of each way a worker or this process's child ends while its waits
 * complete (a worker or a child a round, each way). One catches, in 5 of 5
 * runs on the code before each fix, the units a process.exit() took with it
 * ('blocked'), the ones lost to a set at SEMVMX at the exit, and the abort
 * (SIGABRT) of a worker ended as its waits completed.
 */
const ROUNDS = budget(1, 3);

const { made, newSet } = semaphoreSetsOfEachTest(SemaphoreSet);

/** Where the children find the internal counters. */
const WAIT_THREADS = new URL('../src/sysv/wait-threads.js', import.meta.url).href;

function newSemaphore(initial = 0): Semaphore {
  const sem = Semaphore.create({ initial });
  made.push(sem.id);
  return sem;
}

/** Outcome of every promise, by index: 'ok' or the rejection's code or name. */
function outcomes(promises: Promise<unknown>[]): Promise<string[]> {
  // An AbortError is a DOMException, whose numeric code is not the point.
  const name = (e: { code?: unknown; name?: string }): string => (e.name === 'AbortError' ? e.name : String(e.code));
  return Promise.all(promises.map((p) => p.then(() => 'ok', name)));
}

describe('pending waits share a bounded number of threads', () => {
  it('5,000 pending acquires on one Semaphore use at most 64 extra threads, and all complete in the order they were made', async () => {
    const sem = newSemaphore();
    const child = runNode(
      `
      import { readdirSync } from 'node:fs';
      import { readFile } from 'node:fs/promises';
      import { GETNCNT, Semaphore, semctl } from 'SHMKIT';
      const threads = () => readdirSync('/proc/self/task').length;
      await readFile('/proc/self/stat'); // libuv's pool starts before the baseline
      const sem = Semaphore.open({ id: Number(process.argv[1]) });
      const before = threads();
      const order = [];
      const waits = Array.from({ length: 5000 }, (_, i) => sem.acquire().then(() => order.push(i)));
      while (semctl(sem.id, 0, GETNCNT) < 1) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 200)); // time for any thread that would still start
      const during = threads();
      const doneEarly = order.length;
      sem.release(5000);
      await Promise.all(waits);
      const inOrder = order.every((v, i) => v === i);
      console.log(JSON.stringify({ extra: during - before, doneEarly, done: order.length, inOrder, value: sem.value }));
    `,
      [String(sem.id)],
      { timeoutMs: 60_000 },
    );
    const result = await child;
    assertExitedCleanly(result);
    const r = lastJson<{ extra: number; doneEarly: number; done: number; inOrder: boolean; value: number }>(result);
    assert.ok(r.extra <= 64, `${r.extra} extra threads for 5,000 pending waits`);
    assert.deepEqual(
      { doneEarly: r.doneEarly, done: r.done, inOrder: r.inOrder, value: r.value },
      { doneEarly: 0, done: 5000, inOrder: true, value: 0 },
    );
  });

  it('a wait queued behind hundreds of others sees its semaphore released within a few turns, not when its turn for a thread comes', async () => {
    // 600 receives of as many message types hold the threads and queue for
    // them; the acquire queues last, and then a receive of another type. Queued waits try their call at each
    // turn, the 256 that tried least recently: each tries within 600 / 256 turns
    // (+1 for the turn under way), where its turn for a thread came after 35.
    const sem = newSemaphore();
    const queue = MessageQueue.create();
    const idle = Array.from({ length: 600 }, (_, i) => queue.receive({ type: i + 1, wait: 'sleep' }).catch(() => {}));
    try {
      await waitFor('receives on every thread', () => waitThreadStats().running === MAX_WAIT_THREADS);
      const acquired = sem.acquire({ wait: 'sleep' });
      const before = waitThreadStats().turns;
      sem.release();
      await acquired;
      const turns = waitThreadStats().turns - before;
      assert.ok(turns <= 5, `acquired after ${turns} turns`);
      assert.equal(sem.value, 0);
      // A receive queued as long: the message for it is taken as soon.
      const last = queue.receive({ type: 1000, wait: 'sleep' });
      const sent = waitThreadStats().turns;
      queue.trySend('for the last', { type: 1000 });
      assert.equal(new TextDecoder().decode((await last).data), 'for the last');
      assert.ok(waitThreadStats().turns - sent <= 5, `received after ${waitThreadStats().turns - sent} turns`);
      assert.equal(queue.stat().msg_qnum, 0);
    } finally {
      queue.remove();
      await Promise.allSettled(idle);
    }
  });

  it(`waits on 200 different sets use at most ${MAX_WAIT_THREADS} threads, take turns, and each completes when its set is released`, async () => {
    const sets = Array.from({ length: 200 }, () => newSet(1));
    const child = runNode(
      `
      import { readdirSync } from 'node:fs';
      import { readFile } from 'node:fs/promises';
      import { waitThreadStats } from '${WAIT_THREADS}';
      // The module of dist/src's it uses, not all (some 50 ms of CPU more to load).
      const { SemaphoreSet } = await import(new URL('./sem/semaphore-set.js', 'SHMKIT_MODULES').href);
      const threads = () => readdirSync('/proc/self/task').length;
      await readFile('/proc/self/stat');
      const sets = process.argv.slice(1).map((id) => SemaphoreSet.open({ id: Number(id) }));
      const before = threads();
      const done = new Set();
      const waits = sets.map((set, i) => set.op([{ sem_num: 0, sem_op: -1 }]).then(() => done.add(i)));
      await new Promise((r) => setTimeout(r, 300));
      const stats = waitThreadStats();
      const extra = threads() - before;
      // The last sets' waits were queued for a thread: releasing them still completes them.
      const last = sets.slice(-20);
      for (const set of last) await set.op([{ sem_num: 0, sem_op: 1 }]);
      while (done.size < 20) await new Promise((r) => setTimeout(r, 5));
      const lastDone = [...done].every((i) => i >= 180);
      for (const set of sets.slice(0, -20)) await set.op([{ sem_num: 0, sem_op: 1 }]);
      await Promise.all(waits);
      console.log(JSON.stringify({ extra, stats, lastDone, done: done.size, values: sets.map((s) => s.get(0)).reduce((a, b) => a + b) }));
    `,
      sets.map((s) => String(s.id)),
      { timeoutMs: 60_000 },
    );
    const result = await child;
    assertExitedCleanly(result);
    const r = lastJson<{ extra: number; stats: { running: number; queued: number }; lastDone: boolean; done: number; values: number }>(
      result,
    );
    assert.ok(r.extra <= MAX_WAIT_THREADS, `${r.extra} extra threads for 200 kinds of wait`);
    assert.deepEqual({ running: r.stats.running, queued: r.stats.queued }, { running: MAX_WAIT_THREADS, queued: 200 - MAX_WAIT_THREADS });
    assert.deepEqual({ lastDone: r.lastDone, done: r.done, values: r.values }, { lastDone: true, done: 200, values: 0 });
  });

  it('waits beyond the thread bound keep their time limits and aborts, and change nothing', async () => {
    const sets = Array.from({ length: MAX_WAIT_THREADS + 10 }, () => newSet(1));
    const child = runNode(
      `
      import { SemaphoreSet } from 'SHMKIT';
      const sets = process.argv.slice(1).map((id) => SemaphoreSet.open({ id: Number(id) }));
      const controller = new AbortController();
      const waits = sets.map((set, i) => set.op([{ sem_num: 0, sem_op: -1 }], i % 2 ? { timeoutMs: 100 } : { signal: controller.signal }));
      setTimeout(() => controller.abort(), 100);
      const results = await Promise.allSettled(waits);
      const names = results.map((r) => r.status === 'rejected' ? (r.reason.name === 'AbortError' ? r.reason.name : r.reason.code) : 'ok');
      console.log(JSON.stringify({ names, values: sets.map((s) => s.get(0)) }));
    `,
      sets.map((s) => String(s.id)),
      { timeoutMs: 30_000 },
    );
    const result = await child;
    assertExitedCleanly(result);
    const r = lastJson<{ names: string[]; values: number[] }>(result);
    assert.deepEqual(
      r.names,
      sets.map((_, i) => (i % 2 ? 'ETIMEDOUT' : 'AbortError')),
    );
    assert.deepEqual(
      r.values,
      sets.map(() => 0),
    );
    for (const set of sets) assert.equal(semctl(set.id, 0, GETNCNT), 0);
  });
});

describe('waits of one kind queue in FIFO order', () => {
  it('a queued wait that times out or is aborted changes nothing, and the ones behind it keep their turn', async () => {
    const set = newSet(1);
    const take = [{ sem_num: 0, sem_op: -1 }];
    const controller = new AbortController();
    const order: number[] = [];
    const waits = [
      set.op(take).then(() => order.push(0)),
      set.op(take, { timeoutMs: 50 }).then(() => order.push(1)),
      set.op(take, { signal: controller.signal }).then(() => order.push(2)),
      set.op(take).then(() => order.push(3)),
    ];
    const settledWaits = outcomes(waits);
    await waitFor('the first wait in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
    controller.abort();
    await waitFor('the time limit of the second', () => pendingWaitStats().waits === 2);
    assert.equal(set.get(0), 0);
    await set.op([{ sem_num: 0, sem_op: 2 }]);
    assert.deepEqual(await settledWaits, ['ok', 'ETIMEDOUT', 'AbortError', 'ok']);
    assert.deepEqual(order, [0, 3]);
    assert.equal(set.get(0), 0);
    assert.deepEqual(pendingWaitStats(), { waits: 0, queues: 0 });
  });

  it('a release of n units completes the first n queued waits at once', async () => {
    const set = newSet(1);
    const order: number[] = [];
    const waits = Array.from({ length: 10 }, (_, i) => set.op([{ sem_num: 0, sem_op: -1 }]).then(() => order.push(i)));
    await waitFor('the first wait in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
    await set.op([{ sem_num: 0, sem_op: 4 }]);
    await waitFor('four waits done', () => order.length === 4);
    assert.deepEqual(order, [0, 1, 2, 3]);
    await waitFor('the fifth wait in the kernel', () => semctl(set.id, 0, GETNCNT) === 1 && pendingWaitStats().waits === 6);
    await set.op([{ sem_num: 0, sem_op: 6 }]);
    await Promise.all(waits);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('removing the set ends every queued wait with EIDRM', async () => {
    const set = newSet(1);
    const waits = Array.from({ length: 50 }, () => set.op([{ sem_num: 0, sem_op: -1 }], { timeoutMs: 60_000 }));
    await waitFor('the first wait in the kernel', () => semctl(set.id, 0, GETNCNT) === 1);
    set.remove();
    const codes = await outcomes(waits);
    assert.deepEqual(
      codes,
      waits.map(() => 'EIDRM'),
    );
    for (const w of waits) await w.catch((e: unknown) => assert.ok(e instanceof IpcError && e.syscall === 'semop'));
    assert.deepEqual(pendingWaitStats(), { waits: 0, queues: 0 });
  });
});

describe('two copies of the library in one thread (the bundle beside a deep import)', () => {
  it("share the threads, and each gets its own waits' results: semaphores and message queues", async () => {
    // The addon has one set of threads per thread of JavaScript; the second
    // copy's results went to the first copy's dispatch, which did not know
    // them: its waits never settled, and what they took was lost.
    const child = await runNode(
      `
      import * as bundle from 'SHMKIT';
      // The deep imports: the two modules of dist/src's it uses, not all (some 50 ms of CPU more).
      const deep = (path) => import(new URL(path, 'SHMKIT_MODULES').href);
      const modules = { ...(await deep('./sem/semaphore.js')), ...(await deep('./msg/message-queue.js')) };
      const outcome = (p) => Promise.race([p.then(() => 'ok', (e) => String(e.code)), new Promise((r) => setTimeout(() => r('still pending'), 5000).unref())]);
      const results = {};
      for (const [name, first, second] of [['bundle first', bundle, modules], ['modules first', modules, bundle]]) {
        const sems = [first, second].map((lib) => lib.Semaphore.create({ initial: 0 }));
        const queues = [first, second].map((lib) => lib.MessageQueue.create());
        try {
          const waits = [...sems.map((s) => s.acquire({ wait: 'sleep' })), ...queues.map((q) => q.receive({ wait: 'sleep' }))];
          await new Promise((r) => setTimeout(r, 50));
          for (const s of sems) s.release();
          for (const q of queues) q.trySend('m');
          results[name] = { outcomes: await Promise.all(waits.map(outcome)), left: [...sems.map((s) => s.value), ...queues.map((q) => q.stat().msg_qnum)] };
        } finally {
          for (const x of [...sems, ...queues]) x.remove();
        }
      }
      console.log(JSON.stringify(results));
      `,
      [],
      { timeoutMs: 30_000 },
    );
    assertExitedCleanly(child);
    const everything = { outcomes: ['ok', 'ok', 'ok', 'ok'], left: [0, 0, 0, 0] };
    assert.deepEqual(lastJson(child), { 'bundle first': everything, 'modules first': everything });
  });
});

describe('a worker thread that ends while its waits complete', () => {
  it('does not abort the process, and a unit its JavaScript did not receive goes back to the set', async () => {
    // In a child process: an abort is a signal there. Each worker has a wait
    // in the kernel on each semaphore of the set; units come while it exits
    // or is terminated (ending-workers.ts has the ways and what each asserts).
    const set = newSet(WAITS_PER_WORKER);
    await assertWorkersEndWithoutLoss('sem', set.id, ROUNDS);
    for (let k = 0; k < WAITS_PER_WORKER; k++) assert.equal(semctl(set.id, k, GETNCNT), 0);
  });
});

describe('a process that calls process.exit() while its waits complete', () => {
  it('takes no unit with it: what its waiter threads took and its JavaScript never saw goes back to the set', async () => {
    // exit() runs no cleanup hook, and the waiter threads block in the kernel
    // through the teardown (exiting-process.ts has the ways and what each asserts).
    const set = newSet(EXIT_WAITS);
    await assertProcessExitLosesNothing(set, ROUNDS);
    for (let k = 0; k < EXIT_WAITS; k++) assert.equal(semctl(set.id, k, GETNCNT), 0);
  });

  it('gives a unit back even if the semaphore is at SEMVMX as it exits: the give-back tries again until there is room', async () => {
    // Each semaphore is raised to SEMVMX after the child's waits took their
    // unit, and lowered only once the child has been exiting for a while
    // (exiting-process.ts, 'full'). A single try (IPC_NOWAIT) got ERANGE
    // and lost the unit.
    const set = newSet(EXIT_WAITS);
    await assertProcessExitLosesNothing(set, ROUNDS, ['full']);
    for (let k = 0; k < EXIT_WAITS; k++) assert.equal(semctl(set.id, k, GETNCNT), 0);
  });
});
