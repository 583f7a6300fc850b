// A process that calls process.exit() on its main thread while semaphore or
// message-queue waits of its own are pending or have just completed, for
// sem-wait-threads and msg-wait. exit() does not run the environment's
// cleanup hooks, and the waiter threads keep blocking in the kernel during
// the teardown: what they take then, or took just before, must go back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setImmediate as turn } from 'node:timers/promises';
import { type MessageQueue, SemaphoreSet, semop } from '../../src/index.js';
import { withShmkit } from './processes.js';

/** How many waits (of different semaphores or message types, so each has a thread of its own) the child has pending. */
export const EXIT_WAITS = 4;
const WAITS = EXIT_WAITS;

/**
 * `blocked`: the child's JavaScript spins once its waits are in the kernel
 * and exits without running again, so no result reaches it and everything
 * the parent gives must come back. `live`: the child takes what comes in a
 * loop, always with a wait pending, while the parent gives as fast as it
 * can (keeping a queue below 64 messages, so that there is room to give a
 * message back), and exits from a timer; what it took plus what is left
 * must be all that was given.
 */
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
if (mode === 'blocked') {
  process.stdout.write('ready\\n'); // a pipe: written before the next line runs
  const until = performance.now() + 300;
  while (performance.now() < until) {}
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
async function oneExit(kind: 'sem' | 'msg', target: SemaphoreSet | MessageQueue, mode: 'blocked' | 'live'): Promise<Tally> {
  const t: Tally = { given: 0, givenSum: 0, got: 0, gotSum: 0, left: 0, leftSum: 0 };
  let next = 1;
  const give = (k: number): boolean => {
    if (target instanceof SemaphoreSet) {
      if (target.get(k) >= 8) return false; // far below the kernel's maximum value
      semop(target.id, [{ sem_num: k, sem_op: 1 }]);
    } else {
      // Never full: a message taken as the child exits goes back with IPC_NOWAIT,
      // and is lost (as documented) if the queue has no room by then.
      if (target.stat().msg_qnum >= 64 || !target.trySend(String(next), { type: k + 1 })) return false;
      t.givenSum += next++;
    }
    t.given++;
    return true;
  };
  const child = spawn(process.execPath, ['--input-type=module', '-e', withShmkit(CHILD), '--', kind, String(target.id), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines = createInterface({ input: child.stdout });
  const lastLine = new Promise<string>((resolve) => {
    let last = '';
    lines.on('line', (line) => (last = line)).on('close', () => resolve(last));
  });
  const [ready] = (await Promise.race([once(lines, 'line'), exited])) as [string | number | null];
  assert.equal(ready, 'ready', `the child did not get ready: ${stderr}`);
  let running = true;
  void exited.then(() => (running = false));
  if (mode === 'blocked') {
    for (let k = 0; k < WAITS; k++) give(k);
  } else {
    for (let k = 0; running; k = (k + 1) % WAITS) if (!give(k) || k === WAITS - 1) await turn();
  }
  const [code, signal] = await exited;
  clearTimeout(timer);
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `the child's exit; its stderr:\n${stderr}`);
  if (mode === 'live') Object.assign(t, JSON.parse(await lastLine) as { got: number; gotSum: number });
  if (target instanceof SemaphoreSet) {
    for (let k = 0; k < WAITS; k++) t.left += target.get(k);
  } else {
    for (let m = target.tryReceive(); m !== null; m = target.tryReceive()) {
      t.left++;
      t.leftSum += Number(new TextDecoder().decode(m.data));
    }
  }
  return t;
}

/**
 * Runs `rounds` children in each mode against semaphore set `set` (WAITS
 * semaphores, all 0) or queue `queue` (empty), and asserts that nothing was
 * lost: every unit or message given is either taken by the child's
 * JavaScript or back in the set or queue.
 */
export async function assertProcessExitLosesNothing(target: SemaphoreSet | MessageQueue, rounds: number): Promise<void> {
  const kind = target instanceof SemaphoreSet ? 'sem' : 'msg';
  for (const mode of ['blocked', 'live'] as const) {
    for (let r = 0; r < rounds; r++) {
      const t = await oneExit(kind, target, mode);
      const where = `${kind} ${mode}, round ${r}: ${JSON.stringify(t)}`;
      if (mode === 'blocked') assert.deepEqual([t.given, t.got, t.left, t.leftSum], [WAITS, 0, WAITS, t.givenSum], where);
      else assert.deepEqual([t.got + t.left, t.gotSum + t.leftSum], [t.given, t.givenSum], where);
      if (target instanceof SemaphoreSet) for (let k = 0; k < WAITS; k++) target.set(k, 0);
    }
  }
}
