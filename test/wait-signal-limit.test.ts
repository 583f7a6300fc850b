// Semaphore and message-queue waits stay cancellable when the user's pending
// signals run out (RLIMIT_SIGPENDING): the addon interrupts a waiter thread
// with a real-time signal, and neither pthread_sigqueue nor tgkill can send
// one then (EAGAIN). An abort must still settle, and the rotation that lets
// queued waits take turns on the 32 threads must still turn. Each case runs in
// a child under `prlimit`, with a time limit that a wait left in the kernel
// (an hour-long semtimedop) would overrun.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { compileC } from './helpers/c.js';
import { assertExitedCleanly, lastJson, run, withShmkit } from './helpers/processes.js';

assertNoLeaks();

/** dist/src/sysv/futex.js: the same copy of the library as SHMKIT_MODULES. */
const FUTEX = new URL('../src/sysv/futex.js', import.meta.url).href;

/**
 * Queues a real-time signal to itself (blocked) until the kernel refuses, so
 * that this user's pending signals are at the limit; prints how many went and
 * the errno of the refusal, then holds them until its stdin closes.
 */
const FILL_PENDING = `#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN + 1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  union sigval value = { .sival_int = 0 };
  int queued = 0;
  while (sigqueue(getpid(), SIGRTMIN + 1, value) == 0) queued++;
  printf("%d %d\\n", queued, errno);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {}
  return 0;
}
`;

/**
 * The child's common part: `settles(promise)` resolves with the promise's
 * outcome and how long it took from `since`, or 'still pending' after 5 s.
 */
const SETTLES = `
const settles = (promise, since) => Promise.race([
  promise.then(() => 'ok', (e) => e.name === 'AbortError' ? e.name : String(e.code)).then((outcome) => ({ outcome, ms: Math.round(performance.now() - since) })),
  new Promise((r) => setTimeout(() => r({ outcome: 'still pending' }), 5000).unref()),
]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
`;

/** Runs ESM `code` in Node under `prlimit --sigpending=LIMIT`; 'SHMKIT' is the package. */
async function runLimited(limit: number, code: string, args: readonly string[] = []) {
  const result = await run(
    'prlimit',
    [`--sigpending=${limit}`, process.execPath, '--input-type=module', '-e', withShmkit(SETTLES + code), '--', ...args],
    { timeoutMs: 30_000 },
  );
  assertExitedCleanly(result);
  return result;
}

describe('waits when no signal can be queued', () => {
  it('with a limit of 0, an aborted semaphore wait and an aborted receive settle at once', async () => {
    const result = await runLimited(
      0,
      `
      import { MessageQueue, Semaphore } from 'SHMKIT';
      const sem = Semaphore.create({ initial: 0 });
      const queue = MessageQueue.create();
      try {
        const forSem = new AbortController();
        const forQueue = new AbortController();
        const acquired = sem.acquire({ signal: forSem.signal });
        const received = queue.receive({ signal: forQueue.signal });
        await sleep(100); // both in the kernel
        const since = performance.now();
        forSem.abort();
        forQueue.abort();
        const outcomes = await Promise.all([settles(acquired, since), settles(received, since)]);
        console.log(JSON.stringify({ outcomes, value: sem.value }));
      } finally {
        sem.remove();
        queue.remove();
      }
      `,
    );
    const { outcomes, value } = lastJson<{ outcomes: { outcome: string; ms: number }[]; value: number }>(result);
    assert.deepEqual(
      outcomes.map((o) => o.outcome),
      ['AbortError', 'AbortError'],
    );
    assert.equal(value, 0, 'the aborted wait took nothing');
  });

  it('with a limit of 0, an aborted atomic().wait on the waiter threads settles', async () => {
    // The futex waiter threads are cancelled by the same signal; without one,
    // a FUTEX_WAKE of the word ends the wait instead.
    const result = await runLimited(
      0,
      `
      import { SharedMemory, atomic, struct, uint32 } from 'SHMKIT_MODULES';
      import { futexEngine } from 'SHMKIT_FUTEX';
      process.env.SHMKIT_IO_URING = '0';
      const shm = SharedMemory.create({ size: 4 });
      try {
        const word = atomic(struct({ word: uint32 }).view(shm), 'word');
        const controller = new AbortController();
        const waited = word.wait(0, { signal: controller.signal });
        await sleep(100); // in the kernel
        const since = performance.now();
        controller.abort();
        const settled = await settles(waited, since);
        console.log(JSON.stringify({ engine: futexEngine().kind, ...settled }));
      } finally {
        shm.remove();
        shm[Symbol.dispose]();
      }
      `.replace('SHMKIT_FUTEX', FUTEX),
    );
    const { engine, outcome } = lastJson<{ engine: string; outcome: string }>(result);
    assert.deepEqual({ engine, outcome }, { engine: 'thread', outcome: 'AbortError' });
  });

  it('with a limit of 0, a wait queued behind 32 others still gets its turn', async () => {
    // 33 semaphores, one wait each: 32 run on threads, the last is queued
    // until the rotation interrupts one of the others. Only the last is released.
    const result = await runLimited(
      0,
      `
      import { GETNCNT, Semaphore, semctl } from 'SHMKIT';
      const sems = Array.from({ length: 33 }, () => Semaphore.create({ initial: 0 }));
      try {
        const stop = new AbortController();
        const waits = sems.map((sem) => sem.acquire({ signal: stop.signal }));
        // In the kernel on a thread, which only the rotation's cancels can free for it
        // (a queued wait would also take the unit by trying at a turn).
        let turn = false;
        for (const start = performance.now(); performance.now() - start < 5000 && !(turn = semctl(sems[32].id, 0, GETNCNT) === 1); ) await sleep(10);
        const since = performance.now();
        sems[32].release();
        const last = await settles(waits[32], since);
        stop.abort();
        const rest = await Promise.all(waits.slice(0, 32).map((w) => settles(w, since)));
        console.log(JSON.stringify({ turn, last, rest: [...new Set(rest.map((r) => r.outcome))] }));
      } finally {
        for (const sem of sems) sem.remove();
      }
      `,
    );
    const { turn, last, rest } = lastJson<{ turn: boolean; last: { outcome: string; ms: number }; rest: string[] }>(result);
    assert.equal(turn, true, 'the queued wait got a thread: the rotation interrupted another');
    assert.equal(last.outcome, 'ok');
    assert.deepEqual(rest, ['AbortError']);
  });

  it('when the limit is reached after the waits began, aborts still settle', async () => {
    // The waiter threads made their timers while signals could be had; then
    // another process of this user holds every pending signal the limit allows.
    const filler = await compileC('fill-pending-signals', FILL_PENDING);
    const result = await runLimited(
      16,
      `
      import { spawn } from 'node:child_process';
      import { once } from 'node:events';
      import { MessageQueue, Semaphore } from 'SHMKIT';
      const sem = Semaphore.create({ initial: 0 });
      const queue = MessageQueue.create();
      const fill = spawn(process.argv[1], { stdio: ['pipe', 'pipe', 'inherit'] });
      try {
        const forSem = new AbortController();
        const forQueue = new AbortController();
        const acquired = sem.acquire({ signal: forSem.signal });
        const received = queue.receive({ signal: forQueue.signal });
        await sleep(100); // both in the kernel, their threads' timers made
        fill.stdout.setEncoding('utf8');
        const [line] = await once(fill.stdout, 'data');
        const [queued, errno] = line.trim().split(' ').map(Number);
        const since = performance.now();
        forSem.abort();
        forQueue.abort();
        const outcomes = await Promise.all([settles(acquired, since), settles(received, since)]);
        console.log(JSON.stringify({ outcomes, queued, errno, value: sem.value }));
      } finally {
        fill.stdin.end();
        sem.remove();
        queue.remove();
      }
      `,
      [filler],
    );
    const { outcomes, errno, value } = lastJson<{ outcomes: { outcome: string; ms: number }[]; errno: number; value: number }>(result);
    assert.equal(errno, 11, 'the filler stopped at EAGAIN: the limit is reached');
    assert.deepEqual(
      outcomes.map((o) => o.outcome),
      ['AbortError', 'AbortError'],
    );
    assert.equal(value, 0);
  });
});
