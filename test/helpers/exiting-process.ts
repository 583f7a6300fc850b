// A process that calls process.exit() on its main thread while semaphore or
// message-queue waits of its own are pending or have just completed, for
// sem-wait-threads and msg-wait. exit() does not run the environment's
// cleanup hooks, and the waiter threads keep blocking in the kernel during
// the teardown: what they take then, or took just before, must go back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises';
// The library's modules it uses, not all of dist/src/index.js (some 30 ms of CPU less to load).
import { IpcError } from '../../src/core/errors.js';
import type { MessageQueue } from '../../src/msg/message-queue.js';
import { SemaphoreSet } from '../../src/sem/semaphore-set.js';
import { GETNCNT, IPC_INFO, IPC_NOWAIT, IPC_SET } from '../../src/sysv/constants.js';
import { msgctl } from '../../src/sysv/msg.js';
import { semctl, semop } from '../../src/sysv/sem.js';
import { withShmkit } from './processes.js';
import { waitFor } from './shm.js';

/** How many waits (of different semaphores or message types, so each has a thread of its own) the child has pending. */
export const EXIT_WAITS = 4;
const WAITS = EXIT_WAITS;

/**
 * The ways the child exits. `blocked`: the child's main thread blocks (Atomics.wait)
 * once its waits are in the kernel and exits without running JavaScript again, so no result
 * reaches it and everything the parent gives must come back. `full`: the
 * same, but the parent then fills the queue (of SMALL_QUEUE_BYTES; raises
 * each semaphore to SEMVMX), so that what the child gives back at its exit finds no room;
 * the parent makes room only once the child has been exiting for HOLD_MS,
 * as a consumer that comes late would. `live`: the child takes what comes
 * in a loop, always with a wait pending, while the parent gives as fast as
 * it can (until a queue is full: a queue holds SMALL_QUEUE_BYTES then), and
 * exits from a timer; the parent goes on giving through the child's exit,
 * taking what is there before each round of giving once the child says it
 * exits, so that a message the child gives back finds room; what the child
 * took plus what is left must be all that was given.
 */
export type ExitMode = 'blocked' | 'full' | 'live';

/** How long the parent keeps the queue full (a semaphore at SEMVMX) after the child says it exits, in `full` mode: well within the second its exit gives back for. */
const HOLD_MS = 100;

/**
 * The queue's size (msg_qbytes) in `live` and `full` modes: some 30
 * messages, as a semaphore in `live` mode holds at most 8 units. The child's
 * receives take a message that is there without waiting, one after another
 * in promise callbacks, so its exit timer fires only once all four types
 * have run dry: with the default 16,384 bytes (3,276 messages) kept full by
 * the parent, that took anything from 0.15 to 3.5 s of both processes
 * spinning, where the child should exit after 30 ms. A small queue runs dry
 * as often as a semaphore, and is still full whenever the parent outruns the
 * child, so the child's give-backs still meet a full queue as it exits. In
 * `full` mode it is as full with 128 messages as with 16,384.
 */
const SMALL_QUEUE_BYTES = 128;

const CHILD = `
import { MessageQueue, SemaphoreSet } from 'SHMKIT';
const [kind, idArg, mode] = process.argv.slice(1);
const id = Number(idArg);
let got = 0, gotSum = 0;
const set = kind === 'sem' ? SemaphoreSet.open({ id }) : undefined;
const q = kind === 'msg' ? MessageQueue.open({ id }) : undefined;
const take = (k) => set
  ? set.op([{ sem_num: k, sem_op: -1 }], { wait: 'sleep' }).then(() => 0)
  : q.receive({ type: k + 1, wait: 'sleep' }).then((m) => Number(new TextDecoder().decode(m.data)));
const loop = (k) => take(k).then((n) => { got++; gotSum += n; if (mode === 'live') loop(k); }, () => {});
for (let k = 0; k < ${WAITS}; k++) loop(k);
await new Promise((r) => setTimeout(r, 20)); // the waits' threads are in the kernel
if (mode !== 'live') {
  process.stdout.write('ready\\n'); // a pipe: written before the next line runs
  // 300 ms in which no JavaScript runs and the event loop never turns, as
  // with a busy loop, but asleep in the kernel instead of on a CPU.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  process.stdout.write('exiting\\n');
  process.exit(0);
}
process.stdout.write('ready\\n');
setTimeout(() => { process.stdout.write(JSON.stringify({ got, gotSum }) + '\\n'); process.exit(0); }, 30);
`;

interface Tally {
  given: number;
  givenSum: number;
  got: number;
  gotSum: number;
  left: number;
  leftSum: number;
}

/** One child against `target` in `mode`; resolves with what was given, taken and left. */
async function oneExit(kind: 'sem' | 'msg', target: SemaphoreSet | MessageQueue, mode: ExitMode): Promise<Tally> {
  const t: Tally = { given: 0, givenSum: 0, got: 0, gotSum: 0, left: 0, leftSum: 0 };
  let next = 1;
  const give = (k: number): boolean => {
    if (target instanceof SemaphoreSet) {
      if (target.get(k) >= 8) return false; // far below the kernel's maximum value
      semop(target.id, [{ sem_num: k, sem_op: 1 }]);
    } else {
      if (!target.trySend(String(next), { type: k + 1 })) return false; // full
      t.givenSum += next++;
    }
    t.given++;
    return true;
  };
  /** Leaves no room: the queue full, each semaphore at SEMVMX. */
  const fill = (): void => {
    if (target instanceof SemaphoreSet) {
      const { semvmx } = semctl(0, 0, IPC_INFO);
      for (let k = 0; k < WAITS; k++) {
        // Only the child's waits change a value meanwhile, and only down.
        for (let room = semvmx - target.get(k); room > 0; room = semvmx - target.get(k)) {
          semop(target.id, [{ sem_num: k, sem_op: room }]);
          t.given += room;
        }
      }
    } else {
      // One-byte messages numbered 0, so that not a byte is left (the number of messages a queue holds is its byte limit too).
      for (let k = 0; target.trySend('0', { type: k + 1 }); k = (k + 1) % WAITS) t.given++;
    }
  };
  /** Takes what is there now, as a consumer would, into `left`. */
  const takeAll = (): void => {
    if (target instanceof SemaphoreSet) {
      for (let k = 0; k < WAITS; k++) {
        const value = target.get(k);
        try {
          if (value > 0) semop(target.id, [{ sem_num: k, sem_op: -value, sem_flg: IPC_NOWAIT }]);
          t.left += value;
        } catch (error) {
          if (!(error instanceof IpcError && error.code === 'EAGAIN')) throw error; // a wait of the child's took one first
        }
      }
    } else {
      for (let m = target.tryReceive(); m !== null; m = target.tryReceive()) {
        t.left++;
        t.leftSum += Number(new TextDecoder().decode(m.data));
      }
    }
  };
  const child = spawn(process.execPath, ['--input-type=module', '-e', withShmkit(CHILD), '--', kind, String(target.id), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines = createInterface({ input: child.stdout });
  let said = 0; // 'ready', then one more line just before the child exits
  lines.on('line', () => said++);
  const lastLine = new Promise<string>((resolve) => {
    let last = '';
    lines.on('line', (line) => (last = line)).on('close', () => resolve(last));
  });
  const [ready] = (await Promise.race([once(lines, 'line'), exited])) as [string | number | null];
  assert.equal(ready, 'ready', `the child did not get ready: ${stderr}`);
  if (target instanceof SemaphoreSet && mode !== 'live') {
    // Each unit is taken in the kernel as it is given, before 'full' fills
    // the set: a thread that came late would take it from the full set and
    // leave room for its give-back (1 in 5 rounds on a busy machine).
    for (let k = 0; k < WAITS; k++)
      await waitFor(`the child's wait on semaphore ${k} in the kernel`, () => semctl(target.id, k, GETNCNT) > 0, {
        tries: 5000,
        intervalMs: 1,
      });
  }
  let running = true;
  void exited.then(() => (running = false));
  if (mode === 'live') {
    for (let k = 0; running; k = (k + 1) % WAITS) {
      // Once the child exits, a consumer makes room for what it gives back, and the giving goes on.
      if (said > 1 && k === 0) takeAll();
      if (!give(k) || k === WAITS - 1) await turn();
    }
  } else {
    for (let k = 0; k < WAITS; k++) give(k);
  }
  if (mode === 'full') {
    fill();
    while (running && said < 2) await sleep(1);
    await sleep(HOLD_MS);
    // The give-backs wait for room.
    while (running) {
      takeAll();
      await sleep(1);
    }
  }
  const [code, signal] = await exited;
  clearTimeout(timer);
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `the child's exit; its stderr:\n${stderr}`);
  if (mode === 'live') Object.assign(t, JSON.parse(await lastLine) as { got: number; gotSum: number });
  if (target instanceof SemaphoreSet) {
    for (let k = 0; k < WAITS; k++) t.left += target.get(k);
  } else {
    takeAll();
  }
  return t;
}

/**
 * Runs `rounds` children in each of `modes` against semaphore set `target`
 * (WAITS semaphores, all 0) or queue `target` (empty), and asserts that
 * nothing was lost: every unit or message given is either taken by the
 * child's JavaScript or back in the set or queue.
 */
export async function assertProcessExitLosesNothing(
  target: SemaphoreSet | MessageQueue,
  rounds: number,
  modes: readonly ExitMode[] = ['blocked', 'live'],
): Promise<void> {
  const kind = target instanceof SemaphoreSet ? 'sem' : 'msg';
  for (const mode of modes) {
    // The caller's queue gets its size back.
    const queueBytes = mode !== 'blocked' && !(target instanceof SemaphoreSet) ? target.stat().msg_qbytes : undefined;
    if (queueBytes !== undefined) msgctl(target.id, IPC_SET, { msg_qbytes: SMALL_QUEUE_BYTES });
    try {
      for (let r = 0; r < rounds; r++) {
        const t = await oneExit(kind, target, mode);
        const where = `${kind} ${mode}, round ${r}: ${JSON.stringify(t)}`;
        if (mode === 'blocked') assert.deepEqual([t.given, t.got, t.left, t.leftSum], [WAITS, 0, WAITS, t.givenSum], where);
        else if (mode === 'full') assert.deepEqual([t.given > WAITS, t.got, t.left, t.leftSum], [true, 0, t.given, t.givenSum], where);
        else assert.deepEqual([t.got + t.left, t.gotSum + t.leftSum], [t.given, t.givenSum], where);
        if (target instanceof SemaphoreSet) for (let k = 0; k < WAITS; k++) target.set(k, 0);
      }
    } finally {
      if (queueBytes !== undefined) msgctl(target.id, IPC_SET, { msg_qbytes: queueBytes });
    }
  }
}
