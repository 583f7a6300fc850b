// Semaphore operations that wait without blocking the event loop, in FIFO
// queues. An operation is first tried at once (IPC_NOWAIT, no thread), and
// then, as its wait mode says, again and again for a bounded time (a
// semaphore released by a process that is running is taken within a
// microsecond or two, where a wake-up through a thread costs tens). One
// that still has to wait joins the queue of its kind: the pending waits of this
// process with the same set and the same operations (semaphores, values,
// flags). Only the queue's first wait is in the kernel, on one addon thread
// (sysv/wait-threads.ts); when it completes, the next ones are tried at once, in
// order, and the first that has to wait takes the thread. So any number of
// pending waits costs one thread per kind, and waits of one kind complete in
// the order they were made.
//
// Exactness: a wait that never reached the kernel has changed nothing when
// it times out or is aborted. The one in the kernel times out there
// (semtimedop), which changes nothing either; an abort interrupts its call,
// and if the operation won that race it is given back when that can be done
// exactly. Removal of the set ends every wait of this process on it with
// EIDRM, as the kernel ends every waiter: by remove(), or when a wait learns
// it (EIDRM, or EINVAL, "no such set", for a set that existed when the wait
// began). A wait in the kernel then ends when its thread answers: if its
// operation completed first, it stands (the promise resolves).
import { constants as osConstants } from 'node:os';
import { abortError, ipcError, timeoutError, type IpcError } from '../core/errors.js';
import { IPC_NOWAIT, SEM_UNDO } from '../sysv/constants.js';
import { semopErrno, semopError } from '../sysv/sem.js';
import { closedError, timeLimit, type ValidWaitOptions } from '../core/wait-options.js';
import { semWaitStart } from '../sysv/sem-wait.js';
import { spinOnCalls } from '../sysv/spin.js';
import { claimResult, runOnThread, type ThreadWaitHandle } from '../sysv/wait-threads.js';
import { whenAborted } from '../core/abort-listeners.js';

const { EAGAIN, ECANCELED, EIDRM, EINVAL, ETIMEDOUT } = osConstants.errno;

interface Waiter {
  readonly queue: Queue;
  readonly timeoutMs: number | undefined;
  readonly deadline: number | undefined; // performance.now() scale
  readonly signal: AbortSignal | undefined;
  readonly closed: AbortSignal | undefined;
  readonly what: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  cause: 'abort' | 'close' | 'timeout' | undefined;
  thread: ThreadWaitHandle | undefined; // the first of its queue, handed to the threads
  stopTimer: (() => void) | undefined;
  settled: boolean;
  stopAbort: () => void;
  onClose: () => void;
}

interface Queue {
  readonly key: string;
  readonly semid: number;
  readonly sops: Int32Array;
  readonly waiters: Waiter[]; // waiters[0] is the one in (or queued for) the kernel
  removed: boolean; // the set was removed: no wait of this queue starts again
}

const queues = new Map<string, Queue>();

/** Waits with the same key are of one kind: the same set and the same operations. */
function queueKey(semid: number, sops: Int32Array): string {
  return `${semid}:${sops.join(',')}`;
}

function allNoWait(sops: Int32Array): boolean {
  for (let i = 2; i < sops.length; i += 3) if (((sops[i] ?? 0) & IPC_NOWAIT) === 0) return false;
  return true;
}

/**
 * Undoes an operation that completed although its wait was aborted: every
 * non-zero sem_op negated, with the same SEM_UNDO (so undo adjustments
 * return too), all at once or not at all. False if that is not possible
 * exactly (another process took what an increment gave, or the set is gone).
 */
function giveBack(semid: number, sops: Int32Array): boolean {
  // Ours to give back now: the addon must not give it back again if the worker ends before dispatch returns.
  claimResult();
  const inverse: number[] = [];
  for (let i = 0; i < sops.length; i += 3) {
    const op = sops[i + 1] ?? 0;
    if (op !== 0) inverse.push(sops[i] ?? 0, -op, ((sops[i + 2] ?? 0) & SEM_UNDO) | IPC_NOWAIT);
  }
  if (inverse.length === 0) return true;
  return semopErrno(semid, Int32Array.from(inverse)) === 0;
}

function semTimeout(w: Waiter, timeoutMs: number): IpcError {
  return timeoutError('semtimedop', `${w.what}: semid ${w.queue.semid}`, timeoutMs, 'nothing was changed');
}

function interruptedError(w: Waiter): unknown {
  if (w.cause === 'close') return closedError('ERR_SEM_CLOSED', w.what);
  if (w.cause === 'timeout') return semTimeout(w, w.timeoutMs ?? 0);
  return abortError(w.signal);
}

function settle(w: Waiter, error?: unknown): void {
  if (w.settled) return;
  w.settled = true;
  w.stopTimer?.();
  w.stopAbort();
  w.closed?.removeEventListener('abort', w.onClose);
  if (error === undefined) w.resolve();
  else w.reject(error);
}

function remove(w: Waiter): void {
  const i = w.queue.waiters.indexOf(w);
  if (i >= 0) w.queue.waiters.splice(i, 1);
  if (w.queue.waiters.length === 0 && queues.get(w.queue.key) === w.queue) queues.delete(w.queue.key);
}

/** The first wait of the queue goes to the kernel, on a thread. */
function startFirst(w: Waiter): void {
  const { semid, sops } = w.queue;
  const handle = runOnThread({
    start: (timeoutMs) => semWaitStart(semid, sops, timeoutMs),
    deadline: w.deadline,
    done: (result, noThread) => finishFirst(w, result, noThread === true),
    poll: () => {
      const errno = semopErrno(semid, sops, IPC_NOWAIT);
      return errno === EAGAIN ? undefined : { result: -errno };
    },
  });
  // The handle may already be done (no thread could be started at all).
  if (!w.settled) w.thread = handle;
}

function removedError(queue: Queue): IpcError {
  return semopError(queue.semid, queue.sops, EIDRM);
}

/**
 * @internal Ends every pending wait of this process on set `semid` with
 * EIDRM: the set was removed (by this process, or as a wait learnt). Waits
 * not in the kernel end at once; one in the kernel is interrupted and ends
 * when its thread answers, since its operation may have completed just
 * before (then the units were taken, and the promise resolves).
 */
export function semSetRemoved(semid: number): void {
  for (const queue of [...queues.values()]) {
    if (queue.semid !== semid) continue;
    queues.delete(queue.key);
    queue.removed = true;
    const thread = queue.waiters[0]?.thread;
    for (const w of queue.waiters.splice(thread?.inKernel === true ? 1 : 0)) settle(w, removedError(queue));
    // In the kernel: finishFirst decides. Queued for a thread: take it back (finishFirst gets ECANCELED).
    thread?.cancel();
  }
}

/** The kernel's answer for the first wait of a queue. */
function finishFirst(w: Waiter, result: number, noThread: boolean): void {
  w.thread = undefined;
  const { semid, sops } = w.queue;
  if (noThread) {
    settle(w, ipcError('pthread_create', -result, 'could not start a thread to wait on (no thread of the addon is running)'));
  } else if (result === 0) {
    // Completed, but perhaps after an abort or a disposal: then it must not count.
    if (w.cause !== undefined && w.cause !== 'timeout' && giveBack(semid, sops)) settle(w, interruptedError(w));
    else settle(w);
  } else if (w.queue.removed) {
    // Interrupted by the removal, or the kernel's own EIDRM: either way, removed.
    settle(w, removedError(w.queue));
  } else if (result === -EIDRM || result === -EINVAL) {
    // The set existed when this queue began (its first semop said EAGAIN),
    // so EINVAL ("no such set") means it was removed before this call
    // reached the kernel. Every wait on it ends, as the kernel ends every waiter.
    settle(w, removedError(w.queue));
    semSetRemoved(semid);
  } else if (result === -ECANCELED || (w.cause !== undefined && result === -ETIMEDOUT)) {
    settle(w, interruptedError(w));
  } else if (result === -ETIMEDOUT) {
    settle(w, semTimeout(w, w.timeoutMs ?? 0));
  } else {
    settle(w, semopError(semid, sops, -result));
  }
  remove(w);
  advance(w.queue);
}

/**
 * After the first wait of a queue ended: the next ones are tried at once, in
 * order; the first that would have to wait goes to the kernel.
 */
function advance(queue: Queue): void {
  while (queue.waiters.length > 0 && !queue.removed) {
    const next = queue.waiters[0] as Waiter;
    if (next.thread !== undefined) return; // already in the kernel
    const errno = semopErrno(queue.semid, queue.sops, IPC_NOWAIT);
    if (errno === EAGAIN) {
      startFirst(next);
      return;
    }
    if (errno === EIDRM || errno === EINVAL) {
      // Removed since these waits began (EINVAL: as in finishFirst).
      semSetRemoved(queue.semid);
      return;
    }
    settle(next, errno === 0 ? undefined : semopError(queue.semid, queue.sops, errno));
    remove(next);
  }
}

/** An abort, a disposal or the time limit of a wait. */
function interrupt(w: Waiter, cause: 'abort' | 'close' | 'timeout'): void {
  if (w.settled) return;
  if (w.thread !== undefined) {
    // The kernel keeps its own time limit (semtimedop): that answer is exact.
    if (cause === 'timeout' && w.thread.inKernel) return;
    w.cause ??= cause;
    w.thread.cancel();
    return;
  }
  w.cause ??= cause;
  // Never reached the kernel: nothing to undo.
  settle(w, interruptedError(w));
  remove(w);
}

/**
 * @internal Performs `sops` (packed triples) on set `semid` atomically,
 * waiting without blocking the event loop. `closed` aborts the wait with the
 * handle's closed error (the handle was disposed).
 */
export function waitOps(semid: number, sops: Int32Array, options: ValidWaitOptions, closed?: AbortSignal, what = 'op'): Promise<void> {
  const { timeoutMs, signal, wait } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (closed?.aborted) return Promise.reject(closedError('ERR_SEM_CLOSED', what));
  // Most waits find no queue at all, and skip making the key (a string of every sop).
  const key = queues.size === 0 ? undefined : queueKey(semid, sops);
  let queue = key === undefined ? undefined : queues.get(key);
  // With waits of its kind pending, a new one queues behind them (FIFO),
  // unless it only wants what is possible at once.
  if (queue === undefined || timeoutMs === 0) {
    let errno = semopErrno(semid, sops, IPC_NOWAIT);
    if (errno === EAGAIN && !allNoWait(sops)) {
      // Only without waits of its kind pending here: one that spun past them would break their order.
      spinOnCalls(wait, () => (errno = semopErrno(semid, sops, IPC_NOWAIT)) !== EAGAIN, timeoutMs);
    }
    if (errno === 0) return Promise.resolve();
    if (errno !== EAGAIN || allNoWait(sops)) return Promise.reject(semopError(semid, sops, errno));
    if (timeoutMs === 0) return Promise.reject(timeoutError('semtimedop', `${what}: semid ${semid}`, 0, 'nothing was changed'));
  }
  if (queue === undefined) {
    queue = { key: key ?? queueKey(semid, sops), semid, sops: sops.slice(), waiters: [], removed: false };
    queues.set(queue.key, queue);
  }
  const q = queue;
  return new Promise<void>((resolve, reject) => {
    const w: Waiter = {
      queue: q,
      timeoutMs,
      deadline: timeoutMs === undefined ? undefined : performance.now() + timeoutMs,
      signal,
      closed,
      what,
      resolve,
      reject,
      cause: undefined,
      thread: undefined,
      stopTimer: undefined,
      settled: false,
      stopAbort: () => {},
      onClose: () => interrupt(w, 'close'),
    };
    w.stopAbort = whenAborted(signal, () => interrupt(w, 'abort'));
    closed?.addEventListener('abort', w.onClose, { once: true });
    // Waits behind the first keep time here; the first one's limit is the kernel's.
    if (timeoutMs !== undefined) w.stopTimer = timeLimit(timeoutMs, () => interrupt(w, 'timeout'));
    q.waiters.push(w);
    if (q.waiters.length === 1) startFirst(w);
  });
}

/** @internal For tests: how many waits are pending in this process, and in how many queues. */
export function pendingWaitStats(): { waits: number; queues: number } {
  let waits = 0;
  for (const q of queues.values()) waits += q.waiters.length;
  return { waits, queues: queues.size };
}
