// atomic(view, field).wait and .notify: a futex on a 32-bit field, across
// processes (Node children) and with a C peer that waits and wakes with
// futex(2) on the same word; and every way a wait ends.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { atomic, int32, int64, IpcError, SharedMemory, StateError, struct, uint32 } from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { startNode } from './helpers/namespaces.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, run, runNode, SHMKIT } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

/**
 * The children whose process need not be new (the live waiters that meet a
 * killed or terminated one, the waiter beside the aborting process, the
 * thread-engine loops) run in turn in one (6 processes -> 1); each has a
 * copy of the library of its own, and SHMKIT_IO_URING as its process had.
 */
const other = peer();
after(() => other.end());

const segments: SharedMemory[] = [];
after(() => {
  for (const shm of segments) shm[Symbol.dispose]();
});
assertNoLeaks();

const State = struct({ seq: uint32, flag: int32, total: int64 });

function segment(): SharedMemory {
  const shm = SharedMemory.create({ size: State.size });
  segments.push(shm);
  return shm;
}

/** Child code: the State view of segment argv[1], as `view`. */
const OPEN_STATE = `
  import { SharedMemory, atomic, int32, int64, struct, uint32 } from 'SHMKIT';
  const view = struct({ seq: uint32, flag: int32, total: int64 }).view(SharedMemory.open({ id: Number(process.argv[1]) }));
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Notifies until a waiter wakes (a waiter that is not yet asleep in the
 * kernel misses a notify, as in C) and returns how many woke then.
 */
async function notifyUntilWoken(word: { notify(count?: number): number }, count?: number): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    const woke = word.notify(count);
    if (woke > 0) return woke;
    await sleep(5);
  }
  return 0;
}

describe('atomic().wait and notify()', () => {
  test("resolve 'not-equal' at once when the field does not hold the value", async () => {
    const seq = atomic(State.view(segment()), 'seq');
    seq.store(7);
    assert.equal(await seq.wait(6), 'not-equal');
    assert.equal(seq.notify(), 0, 'nobody waits');
  });

  test('a wait in one process is woken by a store and a notify in another, which counts it', async () => {
    const shm = segment();
    const seq = atomic(State.view(shm), 'seq');
    const child = startNode(
      `
      ${OPEN_STATE}
      const seq = atomic(view, 'seq');
      const flag = atomic(view, 'flag');
      flag.store(1); // about to wait
      console.log(await seq.wait(0));
      // Waiting as one should: until the value changes.
      while (seq.load() === 0) await seq.wait(0);
      console.log('saw ' + seq.load());
      `,
      [String(shm.id)],
    );
    try {
      const flag = atomic(State.view(shm), 'flag');
      while (flag.load() === 0) await sleep(5);
      // Woken with nothing changed (so that it must have slept to see it), then for a change.
      assert.equal(await notifyUntilWoken(seq), 1, 'notify() woke the other process, and counted it');
      assert.equal(await child.line(), 'ok');
      seq.store(41);
      seq.notify();
      assert.equal(await child.line(), 'saw 41');
      assertExitedCleanly(await child.exited, 'the waiting process');
    } finally {
      await child.kill();
    }
  });

  test('a pending wait keeps its process alive until it is notified', async () => {
    const shm = segment();
    const seq = atomic(State.view(shm), 'seq');
    const child = startNode(
      `
      ${OPEN_STATE}
      atomic(view, 'flag').store(1);
      // Nothing else keeps this process running.
      atomic(view, 'seq').wait(0).then((outcome) => console.log('woke ' + outcome));
      `,
      [String(shm.id)],
    );
    try {
      const flag = atomic(State.view(shm), 'flag');
      while (flag.load() === 0) await sleep(5);
      await sleep(300);
      assert.equal(child.process.exitCode, null, 'the waiting process still runs');
      assert.equal(await notifyUntilWoken(seq), 1);
      assert.equal(await child.line(), 'woke ok');
      assertExitedCleanly(await child.exited, 'the waiting process');
    } finally {
      await child.kill();
    }
  });

  test("with C: a C program's FUTEX_WAIT is woken by notify(), and its FUTEX_WAKE wakes a wait here", async () => {
    const shm = segment();
    const view = State.view(shm);
    const seq = atomic(view, 'seq');
    const flag = atomic(view, 'flag');
    const peer = await compileC(
      'struct-atomic-futex',
      `#include <limits.h>
       #include <linux/futex.h>
       #include <stdint.h>
       #include <stdio.h>
       #include <stdlib.h>
       #include <sys/shm.h>
       #include <sys/syscall.h>
       #include <unistd.h>
       struct state { uint32_t seq; int32_t flag; int64_t total; };
       static long futex(void *word, int op, uint32_t value) { return syscall(SYS_futex, word, op, value, NULL, NULL, 0); }
       int main(int argc, char **argv) {
         struct state *s = shmat(atoi(argv[1]), NULL, 0);
         if (s == (void *)-1) return 2;
         /* Waits while seq is 0: Node wakes it once with seq unchanged, then stores 1. */
         __atomic_store_n(&s->flag, 1, __ATOMIC_SEQ_CST);
         int wakes = 0;
         while (__atomic_load_n(&s->seq, __ATOMIC_SEQ_CST) == 0)
           if (futex(&s->seq, FUTEX_WAIT, 0) == 0) wakes++;
         printf("C woke %d time(s), saw %u\\n", wakes, __atomic_load_n(&s->seq, __ATOMIC_SEQ_CST));
         /* Then Node waits while flag is 2: wake it until it is woken (flag unchanged), then store 3. */
         while (__atomic_load_n(&s->flag, __ATOMIC_SEQ_CST) != 2) usleep(1000);
         long woke;
         while ((woke = futex(&s->flag, FUTEX_WAKE, INT_MAX)) == 0) usleep(1000);
         printf("C woke %ld\\n", woke);
         __atomic_store_n(&s->flag, 3, __ATOMIC_SEQ_CST);
         futex(&s->flag, FUTEX_WAKE, INT_MAX);
         shmdt(s);
         return 0;
       }`,
    );
    const running = run(peer, [String(shm.id)], { timeoutMs: 30_000 });
    while (flag.load() === 0) await sleep(5);
    assert.equal(await notifyUntilWoken(seq, 1), 1, "notify(1) woke the C program's FUTEX_WAIT");
    seq.store(1);
    seq.notify();
    flag.store(2);
    // The C program stores 3 only once its FUTEX_WAKE woke a waiter, and this is the only one ("C woke 1").
    assert.equal(await flag.wait(2, { timeoutMs: 20_000 }), 'ok', "the C program's FUTEX_WAKE woke this wait");
    while (flag.load() === 2) await flag.wait(2, { timeoutMs: 20_000 });
    assert.equal(flag.load(), 3);
    const result = await running;
    assertExitedCleanly(result, 'the C peer');
    // Woken once with seq unchanged, and maybe again by the notify after the store.
    assert.match(result.stdout, /^C woke [12] time\(s\), saw 1\nC woke 1\n$/);
  });

  test('notify(count) wakes at most count waiters, and returns how many', async () => {
    const seq = atomic(State.view(segment()), 'seq');
    const outcomes: string[] = [];
    const waits = [0, 1, 2].map(() => seq.wait(0).then((outcome) => outcomes.push(outcome)));
    assert.equal(await notifyUntilWoken(seq, 1), 1);
    while (outcomes.length < 1) await sleep(5);
    await sleep(50);
    assert.deepEqual(outcomes, ['ok'], 'one woke, two still wait');
    assert.equal(seq.notify(0), 0, 'notify(0) wakes nobody (FUTEX_WAKE with 0 wakes one)');
    await sleep(50);
    assert.deepEqual(outcomes, ['ok']);
    let rest = 0;
    for (let i = 0; i < 400 && rest < 2; i++) {
      rest += seq.notify();
      if (rest < 2) await sleep(5);
    }
    assert.equal(rest, 2);
    await Promise.all(waits);
    assert.deepEqual(outcomes, ['ok', 'ok', 'ok']);
  });

  test('end with ETIMEDOUT at timeoutMs, with an AbortError on abort, and with ERR_SHM_DETACHED when the memory goes', async () => {
    const shm = segment();
    const seq = atomic(State.view(shm), 'seq');
    await assert.rejects(seq.wait(0, { timeoutMs: 30 }), (error: unknown) => {
      assert.ok(error instanceof IpcError, String(error));
      assert.equal(error.code, 'ETIMEDOUT');
      assert.equal(error.syscall, 'futex');
      assert.match(error.message, /atomic wait: field "seq": not done within 30 ms/);
      return true;
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('enough')), 30);
    await assert.rejects(seq.wait(0, { signal: controller.signal }), (error: unknown) => {
      assert.ok(error instanceof DOMException && error.name === 'AbortError', String(error));
      assert.equal((error.cause as Error).message, 'enough');
      return true;
    });
    await assert.rejects(seq.wait(0, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    // A limit past setTimeout's longest delay (2^31 - 1 ms) is no limit that fires at once.
    let long = 'pending';
    const longWait = seq.wait(0, { timeoutMs: 2 ** 32 }).then((outcome) => (long = outcome));
    await sleep(100);
    assert.equal(long, 'pending');
    assert.equal(await notifyUntilWoken(seq), 1);
    await longWait;
    assert.equal(long, 'ok');

    const other = segment();
    const doomed = atomic(State.view(other), 'seq');
    const pending = doomed.wait(0);
    setTimeout(() => other.detach(), 30);
    await assert.rejects(pending, (error: unknown) => error instanceof StateError && error.code === 'ERR_SHM_DETACHED');
    await assert.rejects(doomed.wait(0), { code: 'ERR_SHM_DETACHED' });
    assert.throws(() => doomed.notify(), { code: 'ERR_SHM_DETACHED' });

    // A wait that ends with its attachment leaves the kernel with it: it takes no notify meant
    // for a wait through another attachment of the same segment (a waiter thread used to sleep
    // on, its wake-up sent to the memory that replaced the segment).
    const again = SharedMemory.open({ id: shm.id });
    const gone = atomic(State.view(again), 'seq').wait(0);
    await sleep(30);
    again.detach();
    await assert.rejects(gone, { code: 'ERR_SHM_DETACHED' });
    const live = seq.wait(0, { timeoutMs: 10_000 });
    assert.equal(await notifyUntilWoken(seq, 1), 1);
    assert.equal(await live, 'ok');
  });

  test('work on a read-only view, and refuse 64-bit fields, bad values and options, and a SharedArrayBuffer', async () => {
    const shm = segment();
    using readOnly = SharedMemory.open({ id: shm.id, readOnly: true });
    const seq = atomic(State.view(readOnly), 'seq');
    assert.equal(await seq.wait(1), 'not-equal');
    assert.equal(seq.notify(), 0);

    const view = State.view(shm);
    const total = atomic(view, 'total') as unknown as { wait(v: bigint): Promise<string>; notify(): number };
    await assert.rejects(total.wait(0n), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /32-bit field.*"total" is int64/ });
    assert.throws(() => total.notify(), { name: 'TypeError', message: /"total" is int64/ });
    const writable = atomic(view, 'seq');
    await assert.rejects(writable.wait(-1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    await assert.rejects(writable.wait(0, { timeoutMs: -1 }), { name: 'RangeError', message: /options\.timeoutMs/ });
    await assert.rejects(writable.wait(0, { timeoutMs: '5' as unknown as number }), { name: 'TypeError', message: /options\.timeoutMs/ });
    await assert.rejects(writable.wait(0, 'soon' as never), { name: 'TypeError', message: /options/ });
    assert.throws(() => writable.notify(-1), { name: 'RangeError', message: /count/ });
    assert.throws(() => writable.notify(1.5), { name: 'RangeError', message: /count/ });
    assert.equal(writable.notify(Number.POSITIVE_INFINITY), 0);

    const shared = atomic(State.view(new SharedArrayBuffer(State.size)), 'seq');
    await assert.rejects(shared.wait(0), { name: 'TypeError', message: /Atomics\.waitAsync/ });
    assert.throws(() => shared.notify(), { name: 'TypeError', message: /Atomics\.waitAsync/ });
  });

  test('a wait of a process that is killed leaves nothing that holds others back', async () => {
    const shm = segment();
    const seq = atomic(State.view(shm), 'seq');
    const code = `
      ${OPEN_STATE}
      atomic(view, 'flag').add(1);
      console.log(await atomic(view, 'seq').wait(0));
    `;
    const victim = startNode(code, [String(shm.id)]);
    const flag = atomic(State.view(shm), 'flag');
    while (flag.load() < 1) await sleep(5);
    await sleep(50);
    await victim.kill();
    const survivor = other.run(code, [String(shm.id)], { timeoutMs: 30_000 });
    while (flag.load() < 2) await sleep(5);
    assert.equal(await notifyUntilWoken(seq), 1, 'only the live waiter is counted');
    const result = await survivor;
    assertExitedCleanly(result, 'the second waiter');
    assert.equal(result.stdout, 'ok\n');
  });

  // A terminated worker's JavaScript never detaches its memory; the addon
  // unmaps it. On the addon's threads, its waiter stayed asleep on the word
  // until its 200 ms slice ended, and took a notify(1) meant for the live one.
  for (const [engine, ioUring] of [
    ['the addon threads', '0'],
    ['io_uring', undefined],
  ] as const) {
    test(`a wait of a worker that is terminated takes no notify from a live waiter (${engine})`, async () => {
      const shm = segment();
      const seq = atomic(State.view(shm), 'seq');
      const flag = atomic(State.view(shm), 'flag');
      const worker = new Worker(
        `
        const { workerData } = require('node:worker_threads');
        import(${JSON.stringify(SHMKIT)}).then(({ SharedMemory, atomic, int32, int64, struct, uint32 }) => {
          const view = struct({ seq: uint32, flag: int32, total: int64 }).view(SharedMemory.open({ id: workerData }));
          atomic(view, 'flag').add(1);
          return atomic(view, 'seq').wait(0);
        });
        `,
        { eval: true, workerData: shm.id, env: { ...process.env, SHMKIT_IO_URING: ioUring } },
      );
      while (flag.load() < 1) await sleep(5);
      await sleep(50);
      await worker.terminate();
      // Asleep before the notify, and after the dead waiter in the word's queue.
      const survivor = other.run(
        `
        ${OPEN_STATE}
        atomic(view, 'flag').add(1);
        console.log(await atomic(view, 'seq').wait(0, { timeoutMs: 5_000 }).catch((error) => error.code));
        `,
        [String(shm.id)],
        { timeoutMs: 30_000 },
      );
      while (flag.load() < 2) await sleep(5);
      assert.equal(await notifyUntilWoken(seq, 1), 1);
      const result = await survivor;
      assertExitedCleanly(result, 'the live waiter');
      assert.equal(result.stdout, 'ok\n', 'the notify woke the live waiter');
    });
  }

  // An abort ended the thread engine's FUTEX_WAIT with a FUTEX_WAKE of the
  // whole word, so every other waiter on it, in any process, woke with 'ok'
  // though nobody had notified. The abort now signals its own thread alone.
  test('aborting waits on the thread engine wakes no other waiter on the word', async () => {
    const shm = segment();
    const view = State.view(shm);
    const seq = atomic(view, 'seq');
    const flag = atomic(view, 'flag');
    const threadEngine = { env: { ...process.env, SHMKIT_IO_URING: '0' }, timeoutMs: 60_000 };
    const waiter = other.run(
      `
      ${OPEN_STATE}
      atomic(view, 'flag').add(1);
      const outcome = await atomic(view, 'seq').wait(0, { timeoutMs: 30_000 });
      console.log(JSON.stringify({ outcome, seq: atomic(view, 'seq').load() }));
      `,
      [String(shm.id)],
      threadEngine,
    );
    while (flag.load() < 1) await sleep(5);
    await sleep(50);
    const aborter = await runNode(
      `
      ${OPEN_STATE}
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      let aborted = 0;
      for (let i = 0; i < 100; i++) {
        const controller = new AbortController();
        const wait = atomic(view, 'seq').wait(0, { signal: controller.signal });
        await sleep(2);
        controller.abort();
        await wait.catch((error) => { if (error.name === 'AbortError') aborted++; else throw error; });
      }
      console.log(JSON.stringify({ aborted }));
      `,
      [String(shm.id)],
      threadEngine,
    );
    assertExitedCleanly(aborter, 'the aborting process');
    assert.deepEqual(lastJson(aborter), { aborted: 100 });
    seq.store(1);
    await notifyUntilWoken(seq);
    const result = await waiter;
    assertExitedCleanly(result, 'the waiter');
    assert.deepEqual(lastJson(result), { outcome: 'ok', seq: 1 }, 'the waiter woke for the notify, not for an abort');
  });

  // A cancel (here by a detach) returns only once the waiter thread has left
  // the word's queue: a notify(1) right after must wake the live waiter, not
  // the one that ended. Signalling the thread without waiting for it let the
  // notify reach the old one in most rounds on a busy machine.
  test('on the thread engine, a notify(1) right after a wait ended by a detach wakes the live waiter', async () => {
    const result = await other.run(
      `
      ${OPEN_STATE}
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const seq = atomic(view, 'seq');
      let missed = 0;
      for (let i = 0; i < 100; i++) {
        const again = SharedMemory.open({ id: Number(process.argv[1]) });
        const gone = atomic(struct({ seq: uint32, flag: int32, total: int64 }).view(again), 'seq').wait(0);
        await sleep(2);
        again.detach();
        await gone.catch(() => {});
        const live = seq.wait(0, { timeoutMs: 1000 });
        let woke = 0;
        for (let k = 0; k < 200 && woke === 0; k++) if ((woke = seq.notify(1)) === 0) await sleep(1);
        if (woke !== 1 || (await live.catch((error) => error.code)) !== 'ok') missed++;
      }
      console.log(JSON.stringify({ missed }));
      `,
      [String(segment().id)],
      { env: { ...process.env, SHMKIT_IO_URING: '0' }, timeoutMs: 120_000 },
    );
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { missed: 0 });
  });

  test('waits one after another, each through an atomic() of its own, keep a few waiter threads, not one each (thread engine)', async () => {
    // Each atomic() object kept an idle waiter, a thread, until it was
    // collected: a loop that called atomic() for each wait grew a thread a
    // wait, up to thousands, and then failed to start one (EAGAIN). 30 waits
    // made 30 more threads before the fix, far over the 4 allowed.
    const waits = budget(30, 300);
    const result = await other.run(
      `
      ${OPEN_STATE}
      import { readFileSync } from 'node:fs';
      const threads = () => Number(/Threads:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
      await atomic(view, 'seq').wait(0, { timeoutMs: 1 }).catch(() => {});
      const before = threads();
      for (let i = 0; i < ${waits}; i++) await atomic(view, 'seq').wait(0, { timeoutMs: 1 }).catch((error) => { if (error.code !== 'ETIMEDOUT') throw error; });
      console.log(JSON.stringify({ more: threads() - before }));
      `,
      [String(segment().id)],
      { env: { ...process.env, SHMKIT_IO_URING: '0' }, timeoutMs: 30_000 },
    );
    assertExitedCleanly(result);
    const { more } = lastJson<{ more: number }>(result);
    assert.ok(more <= 4, `${more} more threads after ${waits} waits`);
  });
});
