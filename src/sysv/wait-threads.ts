// The addon's waiter threads (native/waits.cc), as a bounded resource. A
// wait that has to sleep needs a thread of the addon blocked in its call:
// semtimedop for a semaphore (sem-wait.ts), msgsnd or msgrcv for a message
// queue (msg.ts). At most MAX_WAIT_THREADS run at once for this thread of
// JavaScript (this module's state is per environment: the main thread and
// each worker have their own bound, and so does each copy of the library
// in one), however many waits are pending.
// Waits beyond the bound queue here (they do not fail) and take turns: while
// any is queued, a wait that has had a thread for QUANTUM_MS is interrupted
// (which changes nothing: an interrupted System V call has done nothing) and
// goes to the back of the queue, so every wait is in the kernel regularly
// and none starves. At each turn, the POLLS_PER_TURN queued waits that
// tried least recently also try their call once without waiting, so that
// what they wait for is seen within a turn for every POLLS_PER_TURN queued,
// not when their turn for a thread comes. Semaphores and message queues share this one bound.
import { constants as osConstants } from 'node:os';
import { native } from '../core/native.js';

const { ECANCELED, ETIMEDOUT } = osConstants.errno;

/** Most addon threads waiting at once, for this thread of JavaScript. */
export const MAX_WAIT_THREADS = 32;

/** How long a wait keeps its thread while others queue for one. */
export const QUANTUM_MS = 50;

/** Queued waits that try their call at each turn: each try is a system call. */
const POLLS_PER_TURN = 256;

/** A call's result as the addon's threads report it: 0 or a negative errno, and what a call that succeeded returns. */
export interface CallOutcome {
  readonly result: number;
  readonly value?: unknown;
}

/**
 * @internal A wait handed to the threads. `start` hands the call to the addon
 * (such as `semWaitStart(semid, sops, timeoutMs)`; timeoutMs < 0: no limit) and
 * returns its token or a negative errno. `done` runs once, with the call's 0
 * or negative errno and, after a 0, what the call returns (a received
 * message), or with pthread_create's errno when no thread could be started.
 */
export interface ThreadWait {
  readonly start: (timeoutMs: number) => number;
  /** performance.now() by which the kernel must give up (ETIMEDOUT), or undefined. */
  readonly deadline: number | undefined;
  readonly done: (result: number, noThread?: boolean, value?: unknown) => void;
  /**
   * Makes the call once without waiting (IPC_NOWAIT), while the wait is
   * queued for a thread: its outcome, then given to `done`, or undefined
   * if it would have to wait.
   */
  readonly poll?: () => CallOutcome | undefined;
}

interface Job {
  wait: ThreadWait;
  token: number; // the addon's token while running, else 0
  started: number; // performance.now() when it got its thread
  cancelled: boolean; // the owner gave up: report ECANCELED (or what won the race)
  preempted: boolean; // interrupted to let another wait have the thread
  tried: number; // the turn in which it last tried its call while queued (0: never)
}

const running = new Map<number, Job>();
const ready: Job[] = [];
let initialized = false;
let rotation: NodeJS.Timeout | undefined;
/** Turns taken so far (for tests). */
let turns = 0;

/**
 * A result of the addon's threads; false if the token is not this copy's
 * (another copy of shmkit's JavaScript in this thread, a bundle beside a
 * deep import, shares the threads, and is offered it next).
 */
function dispatch(token: number, result: number, value: unknown): boolean {
  const job = running.get(token);
  if (job === undefined) return false;
  running.delete(token);
  job.token = 0;
  if (result === -ECANCELED && job.preempted && !job.cancelled) {
    // Interrupted for another wait's turn: nothing happened. Its owner left
    // the time limit to the kernel, so one whose deadline has come times out
    // here; the others queue again.
    job.preempted = false;
    const { deadline } = job.wait;
    if (deadline !== undefined && performance.now() >= deadline) job.wait.done(-ETIMEDOUT);
    else ready.push(job);
  } else {
    job.wait.done(result, false, value);
  }
  fill();
  return true;
}

/** Starts queued waits while threads are free. */
function fill(): void {
  while (ready.length > 0 && running.size < MAX_WAIT_THREADS) {
    const job = ready.shift() as Job;
    if (!start(job)) break;
  }
  if (ready.length > 0) rotation ??= setInterval(rotate, QUANTUM_MS).unref();
  else if (rotation !== undefined) {
    clearInterval(rotation);
    rotation = undefined;
  }
}

/** Gives the job a thread; false (job queued again) if the addon could not start one. */
function start(job: Job): boolean {
  let timeoutMs = -1;
  if (job.wait.deadline !== undefined) timeoutMs = Math.max(0, job.wait.deadline - performance.now());
  const token = job.wait.start(timeoutMs);
  if (token < 0) {
    if (running.size === 0) {
      // No thread at all, and none will come free: this wait cannot be served.
      job.wait.done(token, true);
      return true;
    }
    ready.unshift(job);
    return false;
  }
  job.token = token;
  job.started = performance.now();
  running.set(token, job);
  return true;
}

/** One tick of the turns: interrupts the longest-running waits, one per queued wait. */
function rotate(): void {
  turns++;
  const now = performance.now();
  const candidates = [...running.values()]
    .filter((job) => !job.preempted && !job.cancelled && now - job.started >= QUANTUM_MS)
    .sort((a, b) => a.started - b.started);
  const waiting = ready.length - [...running.values()].filter((job) => job.preempted).length;
  for (const job of candidates.slice(0, Math.max(0, waiting))) {
    job.preempted = true;
    native.waitCancel(job.token);
  }
  pollQueued();
}

/**
 * Queued waits try their call: the POLLS_PER_TURN that tried least recently
 * (chosen by job, not by place: places shift as waits leave the queue and
 * come back to it), so each tries within ceil(queued / POLLS_PER_TURN) turns.
 */
function pollQueued(): void {
  if (ready.length === 0) return;
  const turn = ready.length <= POLLS_PER_TURN ? [...ready] : [...ready].sort((a, b) => a.tried - b.tried).slice(0, POLLS_PER_TURN);
  try {
    for (const job of turn) {
      // An owner that heard before may have ended this wait, or started it on a thread.
      if (job.cancelled || job.token !== 0 || job.wait.poll === undefined) continue;
      job.tried = turns;
      const outcome = job.wait.poll();
      if (outcome === undefined) continue;
      // Its owner hears at once: what the call took is never held while another owner acts.
      const i = ready.indexOf(job);
      if (i >= 0) ready.splice(i, 1);
      job.wait.done(outcome.result, false, outcome.value);
    }
  } finally {
    fill();
  }
}

/** @internal A wait given to the threads, which its owner can take back. */
export interface ThreadWaitHandle {
  /**
   * Gives up the wait. If it was still queued, `done` runs at once with
   * ECANCELED; if it is in the kernel, its thread is interrupted and `done`
   * gets ECANCELED, or 0 if the operation won the race, or what else happened first.
   */
  cancel(): void;
  /** Whether the wait is in the kernel now (on a thread), rather than queued for one. */
  readonly inKernel: boolean;
}

/** @internal Runs `wait` on an addon thread as soon as one is free. */
export function runOnThread(wait: ThreadWait): ThreadWaitHandle {
  if (!initialized) {
    native.waitInit(dispatch);
    initialized = true;
  }
  const job: Job = { wait, token: 0, started: 0, cancelled: false, preempted: false, tried: 0 };
  ready.push(job);
  fill();
  return {
    cancel(): void {
      if (job.cancelled) return;
      job.cancelled = true;
      if (job.token !== 0) {
        native.waitCancel(job.token);
        return;
      }
      const i = ready.indexOf(job);
      if (i >= 0) {
        ready.splice(i, 1);
        fill();
        wait.done(-ECANCELED);
      }
    },
    get inKernel(): boolean {
      return job.token !== 0;
    },
  };
}

/**
 * @internal Within a `done` callback: the completed call is JavaScript's
 * from here on, which is about to undo it itself (a semaphore give-back). A
 * worker terminated meanwhile then has the addon undo nothing more: it
 * would give back twice.
 */
export function claimResult(): void {
  native.waitClaim();
}

/** @internal For tests: how many waits have a thread, how many queue for one, and how many turns were taken. */
export function waitThreadStats(): { running: number; queued: number; turns: number } {
  return { running: running.size, queued: ready.length, turns };
}
