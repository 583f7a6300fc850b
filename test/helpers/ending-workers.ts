// Worker threads that end (process.exit() in the worker, or terminate() from
// outside) while their semaphore or message-queue waits complete, for
// sem-wait-threads and msg-wait. It runs in a child process, so that an abort
// (the addon's fatal error) shows as a signal instead of killing the test
// runner. The child reports, for each way of ending, how many semaphore units
// or messages the parent gave and where they are now: received by a worker's
// JavaScript, or back in the set or queue. Nothing else takes them.
import assert from 'node:assert/strict';
import { assertExitedCleanly, lastJson, runNode } from './processes.js';

/** How many waits (of different kinds, so each has a thread of its own) a worker has pending. */
export const WAITS_PER_WORKER = 4;

/** One way of ending, over every round: units or messages given, received, left (and for messages the sums of their numbers). */
export interface EndingTally {
  given: number;
  got: number;
  left: number;
  givenSum: number;
  gotSum: number;
  leftSum: number;
}

/**
 * The ways of ending, as `${how}-${when}` keys. `blocked`: the worker's
 * JavaScript is stuck in Atomics.wait once its waits are in the kernel, so it
 * never takes a result and every unit or message must come back; `queued`
 * ends it once its waits have completed (their results wait for the event
 * loop: Node dispatches them during the environment's teardown), `late`
 * gives the units or messages only after the end was asked for (they
 * complete while the environment goes away, or after), `full` is `queued`
 * with the queue then filled (each semaphore raised to SEMVMX) before the
 * end, and emptied only a while after the worker is gone, so that what the
 * worker gives back has to wait for room. `live`: JavaScript
 * runs and takes what completes before the end, which comes 0-3 ms after
 * the giving; after process.exit() the tally is exact, after terminate() a
 * result can be taken by dispatch and cut off before the counting code runs,
 * so only "nothing was made up" holds.
 */
export const ENDINGS = [
  'blocked-exit-queued',
  'blocked-terminate-queued',
  'blocked-exit-late',
  'blocked-terminate-late',
  'blocked-exit-full',
  'blocked-terminate-full',
  'live-exit',
  'live-terminate',
] as const;

const CHILD = `
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { GETNCNT, IPC_INFO, IPC_NOWAIT, IPC_SET, MessageQueue, SemaphoreSet, msgctl, semctl, semop } from 'SHMKIT';
const url = 'SHMKIT';
const [kind, idArg, roundsArg] = process.argv.slice(1);
const id = Number(idArg);
const rounds = Number(roundsArg);
const KINDS = ${WAITS_PER_WORKER};
const WORKER = \`
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  const { SemaphoreSet, MessageQueue } = await import(workerData.url);
  const flag = new Int32Array(workerData.flag);
  const got = new Int32Array(workerData.got);
  const count = (n) => { Atomics.add(got, 0, 1); Atomics.add(got, 1, n); };
  if (workerData.kind === 'sem') {
    const set = SemaphoreSet.open({ id: workerData.id });
    for (let k = 0; k < \${KINDS}; k++) set.op([{ sem_num: k, sem_op: -1 }], { wait: 'sleep' }).then(() => count(0), () => {});
  } else {
    const q = MessageQueue.open({ id: workerData.id });
    const decode = (m) => Number(new TextDecoder().decode(m.data));
    for (let k = 1; k <= \${KINDS}; k++) q.receive({ type: k, wait: 'sleep' }).then((m) => count(decode(m)), () => {});
  }
  await new Promise((r) => setTimeout(r, 10)); // the waits' threads are in the kernel
  parentPort.postMessage('ready');
  if (workerData.blocked) {
    Atomics.wait(flag, 0, 0); // no JavaScript runs again: every result stays queued
    process.exit(0);
  }
  parentPort.on('message', () => process.exit(0));
})();
\`;
const set = kind === 'sem' ? SemaphoreSet.open({ id }) : undefined;
const q = kind === 'msg' ? MessageQueue.open({ id }) : undefined;
const queueBytes = q?.stat().msg_qbytes;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const spin = (ms) => { const until = performance.now() + ms; while (performance.now() < until) {} };
const inSet = () => { let n = 0; for (let k = 0; k < KINDS; k++) n += set.get(k); return n; };
let next = 1;
const tallies = {};
for (const ending of process.argv.slice(4)) {
  const [mode, how, when] = ending.split('-');
  const blocked = mode === 'blocked';
  const t = { given: 0, got: 0, left: 0, givenSum: 0, gotSum: 0, leftSum: 0 };
  const got = new Int32Array(new SharedArrayBuffer(8));
  for (let r = 0; r < rounds; r++) {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { url, kind, id, blocked, flag: flag.buffer, got: got.buffer } });
    const exited = once(w, 'exit');
    await once(w, 'message');
    if (set) for (let k = 0; k < KINDS; k++) while (semctl(id, k, GETNCNT) === 0) await sleep(1);
    const give = () => {
      for (let k = 0; k < KINDS; k++) {
        if (set) semop(id, [{ sem_num: k, sem_op: 1 }]);
        else {
          q.trySend(String(next), { type: k + 1 });
          t.givenSum += next++;
        }
        t.given++;
        if (when === 'late') spin(Math.random());
      }
    };
    // No room left: the queue full of messages numbered 0, each semaphore at SEMVMX.
    // The queue holds 128 bytes meanwhile: as full as with 16,384, in 128 sends instead of 16,384.
    const fill = () => {
      if (q) msgctl(id, IPC_SET, { msg_qbytes: 128 });
      if (set) {
        const { semvmx } = semctl(0, 0, IPC_INFO);
        for (let k = 0; k < KINDS; k++) {
          const room = semvmx - set.get(k);
          semop(id, [{ sem_num: k, sem_op: room }]);
          t.given += room;
        }
      } else {
        for (let k = 0; q.trySend('0', { type: k + 1 }); k = (k + 1) % KINDS) t.given++;
      }
    };
    // Takes what is there, as a consumer would, into left.
    const takeAll = () => {
      if (set) {
        for (let k = 0; k < KINDS; k++) {
          const value = set.get(k);
          if (value > 0) semop(id, [{ sem_num: k, sem_op: -value, sem_flg: IPC_NOWAIT }]);
          t.left += value;
        }
      } else {
        for (let m; (m = q.tryReceive()) !== null; ) {
          t.left++;
          t.leftSum += Number(new TextDecoder().decode(m.data));
        }
      }
    };
    const end = () => {
      if (how === 'terminate') w.terminate();
      else if (blocked) {
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
      } else w.postMessage('exit');
    };
    if (when === 'late') {
      end();
      give();
    } else {
      give();
      if (when === 'queued' || when === 'full') while ((set ? inSet() : q.stat().msg_qnum) > 0) await sleep(1);
      else spin(Math.random() * 3);
      if (when === 'full') fill();
      end();
    }
    await exited;
    if (when === 'full') {
      await sleep(50); // the give-backs found no room, and wait for it
      for (let i = 0; i < 300 && t.left + got[0] < t.given; i++) {
        takeAll();
        await sleep(5);
      }
    }
    // A thread of the worker may still be giving back what it took: wait for
    // it (a bound against a hang; without the give-back it never comes).
    for (let i = 0; i < 300 && t.left + (set ? inSet() : q.stat().msg_qnum) + got[0] < t.given; i++) await sleep(5);
    if (set) {
      t.left += inSet();
      for (let k = 0; k < KINDS; k++) set.set(k, 0);
    } else {
      for (let m; (m = q.tryReceive()) !== null; ) {
        t.left++;
        t.leftSum += Number(new TextDecoder().decode(m.data));
      }
      if (when === 'full') msgctl(id, IPC_SET, { msg_qbytes: queueBytes });
    }
  }
  t.got = got[0];
  t.gotSum = got[1];
  tallies[ending] = t;
}
console.log(JSON.stringify(tallies));
`;

/**
 * Runs `rounds` workers for each of {@link ENDINGS} against semaphore set `id`
 * (`kind` 'sem', WAITS_PER_WORKER semaphores, all 0) or message queue `id`
 * (`kind` 'msg', empty), in a child process, and asserts that the child
 * exited cleanly (no abort) and that no unit or message was lost or made up.
 * Returns the tallies.
 */
export async function assertWorkersEndWithoutLoss(kind: 'sem' | 'msg', id: number, rounds: number): Promise<Record<string, EndingTally>> {
  const result = await runNode(CHILD, [kind, String(id), String(rounds), ...ENDINGS], { timeoutMs: 60_000 });
  assertExitedCleanly(result);
  const tallies = lastJson<Record<string, EndingTally>>(result);
  for (const ending of ENDINGS) {
    const t = tallies[ending] as EndingTally;
    const where = `${ending}: ${JSON.stringify(t)}`;
    if (ending.endsWith('-full')) assert.ok(t.given > rounds * WAITS_PER_WORKER, where);
    else assert.equal(t.given, rounds * WAITS_PER_WORKER, where);
    if (ending.startsWith('blocked-')) {
      // JavaScript took nothing: everything is back.
      assert.deepEqual([t.got, t.left, t.leftSum], [0, t.given, t.givenSum], where);
    } else if (ending === 'live-exit') {
      assert.deepEqual([t.got + t.left, t.gotSum + t.leftSum], [t.given, t.givenSum], where);
    } else {
      assert.ok(t.got + t.left <= t.given && t.gotSum + t.leftSum <= t.givenSum, where);
    }
  }
  return tallies;
}
