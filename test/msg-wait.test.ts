// MessageQueue waits never block the event loop: a thousand pending receives
// while timers and the thread pool keep working; time limits and aborts that
// leave the queue exactly as it was (no message is taken for a receive that
// gave up, none sent for a send that gave up, also when the abort races a
// message); removal (here or by another process) and dispose under waiters;
// a worker thread that ends while its receives complete, which must neither
// abort the process nor lose a message, and a process that calls
// process.exit() then, which must not lose one either; and more give-backs
// waiting for room at once than a process runs waits, each put back once.
import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
// The library's modules this file uses, not all of dist/src/index.js (some 30 ms of CPU less to load).
import { IpcError } from '../src/core/errors.js';
import { type Message, MessageQueue } from '../src/msg/message-queue.js';
import { IPC_SET } from '../src/sysv/constants.js';
import { msgctl } from '../src/sysv/msg.js';
import { timeLimit } from '../src/core/wait-options.js';
import { pendingMessageWaits } from '../src/msg/message-waits.js';
import { waitThreadStats, MAX_WAIT_THREADS } from '../src/sysv/wait-threads.js';
import { assertWorkersEndWithoutLoss } from './helpers/ending-workers.js';
import { assertProcessExitLosesNothing } from './helpers/exiting-process.js';
import { budget } from './helpers/soak.js';
import { assertNoLeaks, removeQueue } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { waitFor } from './helpers/shm.js';

assertNoLeaks();

/**
 * Rounds of each way a worker or this process's child ends while its waits
 * complete (a worker or a child a round, each way). One catches, in 5 of 5
 * runs on the code before each fix, the messages a process.exit() took with it
 * ('blocked'), the ones lost to a queue full at the exit, and the abort
 * (SIGABRT) of a worker ended as its waits completed.
 */
const ROUNDS = budget(1, 3);

const made: number[] = [];
afterEach(() => made.splice(0).forEach(removeQueue));

function newQueue(): MessageQueue {
  const q = MessageQueue.create();
  made.push(q.id);
  return q;
}

const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Resolves to the promise's outcome, or rejects if it has not settled after `tries` turns of 5 ms. */
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

/**
 * Spins on the JS thread, without yielding, until `probe` is true: a waiter
 * thread's result cannot reach this thread meanwhile. The bound only stops a hang.
 */
function spinUntil(what: string, probe: () => boolean, tries = 10_000_000): void {
  for (let i = 0; i < tries; i++) if (probe()) return;
  throw new Error(`gave up spinning for ${what} after ${tries} tries`);
}

/** Whether the promise is still pending after a few turns of the event loop. */
async function stillPending(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await sleep(30);
  return !done;
}

describe('waiting without blocking the event loop', () => {
  it('a thousand pending receives leave timers and the thread pool working, and each gets one message', async () => {
    const q = newQueue();
    const receives = Array.from({ length: 1000 }, () => q.receive());
    assert.equal(pendingMessageWaits(), 1000);
    assert.ok(waitThreadStats().running <= MAX_WAIT_THREADS);
    // Timers fire and libuv's pool (pbkdf2) still runs while all of them wait.
    // (Counted, not timed: a loaded machine may run a 1 ms interval only twice in 50 ms.)
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await promisify(pbkdf2)('secret', 'salt', 1000, 32, 'sha256');
      await waitFor('timers to fire', () => ticks >= 5);
    } finally {
      clearInterval(timer);
    }
    for (let i = 0; i < 1000; i++) await q.send(`m${i}`, { type: 1 + (i % 3) });
    const got = await Promise.all(receives);
    assert.deepEqual(got.map((m) => str(m.data)).sort(), Array.from({ length: 1000 }, (_, i) => `m${i}`).sort());
    assert.equal(pendingMessageWaits(), 0);
    assert.equal(q.stat().msg_qnum, 0);
  });

  it('a receive waits for a message another process sends', async () => {
    const q = newQueue();
    const received = q.receive({ type: 5 });
    const child = await runNode(
      `
      import { MessageQueue } from 'SHMKIT';
      const q = MessageQueue.open({ id: Number(process.argv[1]) });
      q.trySend('not this one', { type: 4 });
      await q.send('from the child', { type: 5 });
    `,
      [String(q.id)],
    );
    assertExitedCleanly(child);
    const m = await received;
    assert.deepEqual([m.type, str(m.data)], [5, 'from the child']);
    assert.equal(q.stat().msg_qnum, 1, 'the message of type 4 stays');
  });

  it('a send waits while the queue is full and goes in when there is room', async () => {
    const q = newQueue();
    msgctl(q.id, IPC_SET, { msg_qbytes: 4 });
    await q.send('1234');
    const sending = q.send('5678', { type: 2 });
    assert.ok(await stillPending(sending));
    assert.equal(str((await q.receive()).data), '1234');
    await sending;
    assert.deepEqual(await q.receive(), { type: 2, data: new TextEncoder().encode('5678') });
  });

  it('a process with nothing pending exits by itself', async () => {
    const result = await runNode(
      `
      import { MessageQueue } from 'SHMKIT';
      const q = MessageQueue.create();
      try {
        await q.receive({ timeoutMs: 20 }).catch(() => {});
        await q.send('x');
        console.log(JSON.stringify(await q.receive().then((m) => m.data.length)));
      } finally { q.remove(); }
    `,
      [],
      { timeoutMs: 20_000 },
    );
    assertExitedCleanly(result);
    assert.equal(lastJson(result), 1);
  });
});

describe('time limits and aborts leave the queue as it was', () => {
  it('a receive that times out takes nothing, now or later', async () => {
    const q = newQueue();
    q.trySend('other type', { type: 1 });
    const outcome = await settled(q.receive({ type: 2, timeoutMs: 40 }), 'receive');
    const error = outcome.error as IpcError;
    assert.ok(error instanceof IpcError, String(outcome.error));
    assert.equal(error.code, 'ETIMEDOUT');
    assert.equal(error.syscall, 'msgrcv');
    assert.match(error.message, /within 40 ms \(nothing was changed\)/);
    // Were its thread still in msgrcv, this message would vanish.
    q.trySend('after the time limit', { type: 2 });
    await sleep(50);
    assert.equal(q.stat().msg_qnum, 2);
    assert.equal(str(q.tryReceive({ type: 2 })!.data), 'after the time limit');
  });

  it('a timeoutMs longer than setTimeout allows (2 ** 31 ms and more) does not time out early', async () => {
    const q = newQueue();
    // Node fires a timer of more than 2 ** 31 - 1 ms after 1 ms: each receive must keep waiting.
    const receives = [2 ** 31, 2 ** 31, 2 ** 40].map((timeoutMs) => q.receive({ timeoutMs, wait: 'sleep' }));
    const outcomes = receives.map((receive) => settled(receive, 'a receive'));
    await sleep(100);
    for (const text of ['a', 'b', 'c']) q.trySend(text);
    const got = (await Promise.all(outcomes)).map((outcome) => {
      assert.equal(outcome.error, undefined);
      return str((outcome.value as Message).data);
    });
    assert.deepEqual(got.sort(), ['a', 'b', 'c']);
  });

  it('a time limit whose timer fires before its time by the clock waits out the rest', async () => {
    // Node's timers count from the event loop's time, in whole milliseconds,
    // and fired up to 2 ms early by performance.now(): queued waits, which
    // keep time in JavaScript, timed out before timeoutMs. Here the clock is
    // set back 20 ms once the limit is armed, so that its timer comes early.
    const real = performance.now.bind(performance);
    let skew = 0;
    const expired: number[] = [];
    performance.now = () => real() - skew;
    try {
      const start = performance.now();
      timeLimit(30, () => expired.push(performance.now() - start));
      skew = 20;
      await sleep(80);
    } finally {
      performance.now = real;
    }
    assert.equal(expired.length, 1);
    assert.ok(expired[0]! >= 30, `expired after ${expired[0]} ms by the clock`);
  });

  it('timeoutMs 0 takes a message only if there is one now', async () => {
    const q = newQueue();
    await assert.rejects(q.receive({ timeoutMs: 0 }), { code: 'ETIMEDOUT' });
    q.trySend('here');
    assert.equal(str((await q.receive({ timeoutMs: 0 })).data), 'here');
  });

  it('an aborted receive rejects with AbortError and takes nothing later', async () => {
    const q = newQueue();
    const controller = new AbortController();
    const receiving = q.receive({ signal: controller.signal });
    await sleep(20);
    controller.abort(new Error('changed my mind'));
    const error = (await settled(receiving, 'receive')).error as DOMException;
    assert.equal(error.name, 'AbortError');
    assert.equal((error.cause as Error).message, 'changed my mind');
    q.trySend('after the abort');
    await sleep(50);
    assert.equal(q.stat().msg_qnum, 1);
    await assert.rejects(q.receive({ signal: AbortSignal.abort() }), { name: 'AbortError' });
  });

  it('a send that times out or is aborted sends nothing', async () => {
    const q = newQueue();
    msgctl(q.id, IPC_SET, { msg_qbytes: 3 });
    await q.send('abc');
    await assert.rejects(q.send('late', { timeoutMs: 30 }), (e: IpcError) => e.code === 'ETIMEDOUT' && e.syscall === 'msgsnd');
    const controller = new AbortController();
    const sending = q.send('aborted', { signal: controller.signal });
    await sleep(10);
    controller.abort();
    await assert.rejects(sending, { name: 'AbortError' });
    assert.equal(str(q.tryReceive()!.data), 'abc');
    await sleep(50);
    assert.equal(q.stat().msg_qnum, 0, 'neither send went in after it gave up');
  });

  it('aborts racing messages: every message sent is received once or still on the queue', async () => {
    const q = newQueue();
    const received: string[] = [];
    let sent = 0;
    for (let round = 0; round < 200; round++) {
      const controller = new AbortController();
      const receiving = q.receive({ signal: controller.signal }).then(
        (m: Message) => received.push(str(m.data)),
        (e: unknown) => {
          if (!(e instanceof DOMException && e.name === 'AbortError')) throw e;
        },
      );
      // The message and the abort land at about the same moment.
      const delay = round % 4;
      setTimeout(() => controller.abort(), delay);
      setTimeout(() => q.trySend(`m${sent++}`), 3 - delay);
      await receiving;
      await sleep(4);
    }
    const left: string[] = [];
    for (let m = q.tryReceive(); m !== null; m = q.tryReceive()) left.push(str(m.data));
    assert.equal(received.length + left.length, sent);
    assert.deepEqual([...received, ...left].sort(), Array.from({ length: sent }, (_, i) => `m${i}`).sort());
  });
});

describe('removal and dispose under waiters', () => {
  it('remove rejects every pending receive and send with EIDRM', async () => {
    const q = MessageQueue.create();
    made.push(q.id);
    const full = MessageQueue.create();
    made.push(full.id);
    const receives = Array.from({ length: 50 }, () => settled(q.receive(), 'receive'));
    await sleep(20);
    q.remove();
    for (const outcome of await Promise.all(receives)) {
      assert.equal((outcome.error as IpcError).code, 'EIDRM');
      assert.equal((outcome.error as IpcError).syscall, 'msgrcv');
    }
    msgctl(full.id, IPC_SET, { msg_qbytes: 1 });
    await full.send('x');
    const sends = Array.from({ length: 5 }, () => settled(full.send('y'), 'send'));
    await sleep(20);
    full.remove();
    for (const outcome of await Promise.all(sends)) assert.equal((outcome.error as IpcError).code, 'EIDRM');
    assert.equal(pendingMessageWaits(), 0);
  });

  it('remove() right after a waiting receive took its message, or a waiting send put its own, leaves that result standing', async () => {
    // The receive's thread has taken the message; its result waits for this
    // thread when remove() comes. It must resolve with the message, not EIDRM.
    const q = newQueue();
    const receiving = settled(q.receive({ wait: 'sleep' }), 'receive');
    const behind = settled(q.receive({ wait: 'sleep', type: 2 }), 'receive of another type');
    assert.equal(waitThreadStats().running, 2, 'both receives have a thread');
    q.trySend('taken before the removal');
    spinUntil('the waiting receive to take the message', () => q.stat().msg_qnum === 0);
    q.remove();
    const got = await receiving;
    assert.equal(got.error, undefined, `the taken message was dropped: ${String(got.error)}`);
    assert.equal(str(got.value!.data), 'taken before the removal');
    // The receive with nothing to take still ends with EIDRM.
    const error = (await behind).error as IpcError;
    assert.ok(error instanceof IpcError && error.code === 'EIDRM' && error.syscall === 'msgrcv', String(error));
    assert.match(error.message, new RegExp(`msqid ${q.id}: the queue was removed`));

    // A send waiting for room: its msgsnd completes, then remove().
    const full = newQueue();
    msgctl(full.id, IPC_SET, { msg_qbytes: 1 });
    await full.send('a');
    const sending = settled(full.send('b', { wait: 'sleep' }), 'send');
    assert.equal(str(full.tryReceive()!.data), 'a');
    spinUntil('the waiting send to put its message', () => full.stat().msg_qnum === 1);
    full.remove();
    assert.equal((await sending).error, undefined, 'the send was done: it resolves');
    assert.equal(pendingMessageWaits(), 0);
  });

  it('removal by another process rejects pending receives with EIDRM', async () => {
    const q = MessageQueue.create();
    made.push(q.id);
    // More than the threads: some wait in the kernel, the rest for a thread.
    const receives = Array.from({ length: MAX_WAIT_THREADS + 20 }, () => settled(q.receive(), 'receive'));
    await waitFor('receives in the kernel', () => waitThreadStats().running > 0);
    const child = await runNode(
      `
      import { IPC_RMID, msgctl } from 'SHMKIT';
      msgctl(Number(process.argv[1]), IPC_RMID);
    `,
      [String(q.id)],
    );
    assertExitedCleanly(child);
    for (const outcome of await Promise.all(receives)) assert.equal((outcome.error as IpcError).code, 'EIDRM');
  });

  it("dispose rejects the handle's pending waits and leaves the queue and its messages", async () => {
    const q = newQueue();
    q.trySend('stays', { type: 1 });
    const handle = MessageQueue.open({ id: q.id });
    const receiving = settled(handle.receive({ type: 2 }), 'receive');
    await sleep(10);
    handle[Symbol.dispose]();
    assert.equal(((await receiving).error as { code: string }).code, 'ERR_MSG_CLOSED');
    q.trySend('also stays', { type: 2 });
    await sleep(50);
    assert.equal(q.stat().msg_qnum, 2);
  });
});

describe('a worker thread that ends while its receives complete', () => {
  it('does not abort the process, and a message its JavaScript did not receive goes back to the queue', async () => {
    // In a child process: an abort is a signal there. Each worker has a
    // receive in the kernel for each of four types; messages come while it
    // exits or is terminated (ending-workers.ts has the ways and what each asserts).
    const q = newQueue();
    await assertWorkersEndWithoutLoss('msg', q.id, ROUNDS);
    assert.equal(q.stat().msg_qnum, 0);
  });
});

describe('a process that calls process.exit() while its receives complete', () => {
  it('takes no message with it: what its waiter threads took and its JavaScript never saw goes back to the queue', async () => {
    // exit() runs no cleanup hook, and the waiter threads block in the kernel
    // through the teardown (exiting-process.ts has the ways and what each asserts).
    const q = newQueue();
    await assertProcessExitLosesNothing(q, ROUNDS);
    assert.equal(q.stat().msg_qnum, 0);
  });

  it('puts a message back even if the queue is full as it exits: the give-back waits for room', async () => {
    // The queue is filled after the child's receives took their message,
    // and emptied only once the child has been exiting for a while
    // (exiting-process.ts, 'full'). A single msgsnd with IPC_NOWAIT got
    // EAGAIN and lost the message.
    const q = newQueue();
    await assertProcessExitLosesNothing(q, ROUNDS, ['full']);
    assert.equal(q.stat().msg_qnum, 0);
  });
});

describe('more give-backs waiting for room than a process runs waits at once', () => {
  it('gives back every message exactly once, each on a thread of its own', async () => {
    // In a child process: two workers, each with MAX_WAIT_THREADS receives
    // in the kernel (the bound is per environment), take a numbered message
    // each while their JavaScript is stuck; the queue is then filled and
    // both are terminated, so that twice the bound of give-backs wait in
    // msgsnd at once (GiveBackLater, native/waits.cc), none of them counted
    // by TypeScript. Room then comes a little at a time, as from a slow
    // consumer: every numbered message must come back, and only once.
    const q = newQueue();
    msgctl(q.id, IPC_SET, { ...q.stat().msg_perm, msg_qbytes: 256 });
    const result = await runNode(
      `
      import { Worker } from 'node:worker_threads';
      import { once } from 'node:events';
      import { MessageQueue } from 'SHMKIT';
      const [idArg, perArg] = process.argv.slice(1);
      const id = Number(idArg), PER = Number(perArg), WORKERS = 2;
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const q = MessageQueue.open({ id });
      const WORKER = \`
      const { workerData, parentPort } = require('node:worker_threads');
      (async () => {
        const { MessageQueue } = await import(workerData.url);
        const q = MessageQueue.open({ id: workerData.id });
        for (let k = 0; k < \${PER}; k++) q.receive({ wait: 'sleep' }).then(() => Atomics.add(workerData.got, 0, 1), () => {});
        await new Promise((r) => setTimeout(r, 10));
        parentPort.postMessage('ready');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // no JavaScript runs again
      })();\`;
      const got = new Int32Array(new SharedArrayBuffer(4));
      const workers = [];
      for (let i = 0; i < WORKERS; i++) {
        const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { url: 'SHMKIT', id, got } });
        workers.push(w);
        await once(w, 'message');
      }
      const given = WORKERS * PER;
      for (let n = 1; n <= given; n++) while (!q.trySend(String(n))) await sleep(1);
      // Every receive has taken its message (none is left to take it).
      for (let i = 0; i < 2000 && q.stat().msg_qnum > 0; i++) await sleep(5);
      let filler = 0;
      while (q.trySend('0')) filler++;
      await Promise.all(workers.map((w) => { const exited = once(w, 'exit'); w.terminate(); return exited; }));
      await sleep(50); // the give-backs found no room, and wait for it
      const back = [];
      let zeros = 0;
      for (let i = 0; i < 1000 && back.length < given; i++) {
        // A few messages at a time: the give-backs compete for the room.
        for (let k = 0; k < 8; k++) {
          const m = q.tryReceive();
          if (m === null) break;
          const n = Number(new TextDecoder().decode(m.data));
          if (n === 0) zeros++;
          else back.push(n);
        }
        await sleep(2);
      }
      await sleep(50); // a duplicate would be in the queue by now
      for (let m = q.tryReceive(); m !== null; m = q.tryReceive()) {
        const n = Number(new TextDecoder().decode(m.data));
        if (n === 0) zeros++;
        else back.push(n);
      }
      console.log(JSON.stringify({ given, got: got[0], back: back.sort((a, b) => a - b), zeros, filler }));
      `,
      [String(q.id), String(MAX_WAIT_THREADS)],
      { timeoutMs: 60_000 },
    );
    assertExitedCleanly(result);
    const t = lastJson<{ given: number; got: number; back: number[]; zeros: number; filler: number }>(result);
    assert.equal(t.given, 2 * MAX_WAIT_THREADS);
    assert.equal(t.got, 0, 'the workers received nothing');
    assert.deepEqual(
      t.back,
      Array.from({ length: t.given }, (_, i) => i + 1),
      'every message back, once',
    );
    assert.equal(t.zeros, t.filler);
    assert.equal(q.stat().msg_qnum, 0);
  });
});
