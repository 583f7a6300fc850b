// Message-queue waits that never block the event loop: a msgsnd or msgrcv
// that has to wait runs on one of the addon's waiter threads
// (sysv/wait-threads.ts, shared with semaphores), so any number can be pending.
//
// Exactness: a wait that never reached the kernel has done nothing when it
// times out or is aborted. The one in the kernel is interrupted by a signal
// (at its deadline, or on abort), and an interrupted msgsnd or msgrcv has
// done nothing either: the queue is exactly as before. If the call completed
// first, its result stands (a message taken is returned, never dropped).
// Removal of the queue ends every wait on it with EIDRM, as the kernel ends
// every waiter; except that a wait whose call had already completed in the
// kernel keeps that result (its thread's answer decides, not the removal).
import { constants as osConstants } from 'node:os';
import { abortError, errnoName, IpcError, ipcError, timeoutError, type StateError } from '../core/errors.js';
import { closedError, timeLimit } from '../core/wait-options.js';
import { IPC_STAT } from '../sysv/constants.js';
import { msgctl } from '../sysv/msg.js';
import { type CallOutcome, runOnThread, type ThreadWaitHandle } from '../sysv/wait-threads.js';
import { whenAborted } from '../core/abort-listeners.js';

const { ECANCELED, EIDRM, EINVAL, ETIMEDOUT } = osConstants.errno;

/** @internal One wait for msgsnd or msgrcv on a thread. */
export interface MessageWait<T> {
  readonly msqid: number;
  readonly syscall: 'msgsnd' | 'msgrcv';
  /** Which waits of the queue it competes with ({@link waitKind}). */
  readonly kind: string;
  /** Hands the call to the addon (sysv/msg.ts): its token or a negative errno (timeoutMs < 0: no limit). */
  readonly start: (timeoutMs: number) => number;
  /** The call once without waiting, as its thread would report it; undefined if it would have to wait. */
  readonly poll: () => CallOutcome | undefined;
  /** The words that explain an errno name (the call and its arguments). */
  readonly explain: (code: string) => string;
  /** The promise's value from the call's value. */
  readonly result: (value: unknown) => T;
  /** Whether to run the call again after this negative errno (msgrcv's E2BIG with a bigger buffer). */
  readonly retry?: ((result: number) => boolean) | undefined;
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  /** Aborted when the handle is disposed. */
  readonly closed: AbortSignal;
  /** 'MessageQueue.receive', for the disposed-handle and timeout errors. */
  readonly what: string;
}

interface Pending {
  /** Its {@link waitKind}. */
  readonly kind: string;
  settled: boolean;
  /** The queue was removed: end the wait with EIDRM (or, in the kernel, once its thread answers). */
  fail: () => void;
  thread: ThreadWaitHandle | undefined;
  /** The queue was removed while this wait was in the kernel: its error, unless the call completed. */
  removed: IpcError | undefined;
}

const byQueue = new Map<number, Set<Pending>>();

/**
 * @internal The kind of a wait on a queue: every send (they wait for the same
 * room), or a receive of one type and flags.
 */
export function waitKind(syscall: 'msgsnd' | 'msgrcv', type = 0, flags = 0): string {
  return syscall === 'msgsnd' ? 'msgsnd' : `msgrcv ${type} ${flags}`;
}

/**
 * @internal Whether a wait of `kind` on queue `msqid` is pending in this
 * process. A new wait of that kind then skips the spin: the kernel hands a
 * message to a receive already in msgrcv, so the spin could only take one
 * (or room) before a wait that came first.
 */
export function waitsOfKind(msqid: number, kind: string): boolean {
  for (const p of byQueue.get(msqid) ?? []) if (p.kind === kind) return true;
  return false;
}
/** Waits of removed queues still in the kernel: pending until their thread answers. */
const leaving = new Set<Pending>();

/** @internal The error of a MessageQueue used, or waited on, after its `[Symbol.dispose]()`. */
export function queueClosedError(what: string): StateError {
  return closedError('ERR_MSG_CLOSED', what);
}

/**
 * @internal The error of a send or receive whose time limit ran out: the
 * one timeout error of every wait; the queue is unchanged.
 */
export function queueTimeoutError(syscall: 'msgsnd' | 'msgrcv', what: string, msqid: number, timeoutMs: number): IpcError {
  return timeoutError(syscall, `${what}: msqid ${msqid}`, timeoutMs, 'nothing was changed');
}

/**
 * Whether `w` runs its call again after `result`; a retry hook that throws
 * (it may look at a queue removed meanwhile) settles the wait with its error,
 * as a removal if the queue is gone.
 */
function retries(w: MessageWait<unknown>, result: number, settle: (error: unknown) => void): boolean {
  if (w.retry === undefined) return false;
  try {
    return w.retry(result);
  } catch (error) {
    if (queueGone(w.msqid)) {
      settle(removedError(w.syscall, w.msqid));
      queueRemoved(w.msqid);
    } else settle(error);
    return false;
  }
}

/** Whether queue `msqid` no longer exists (IPC_STAT says EINVAL or EIDRM; EACCES: it does). */
function queueGone(msqid: number): boolean {
  try {
    msgctl(msqid, IPC_STAT);
    return false;
  } catch (error) {
    return error instanceof IpcError && (error.code === 'EINVAL' || error.code === 'EIDRM');
  }
}

/** @internal The error of waits on a removed queue. */
export function removedError(syscall: string, msqid: number): IpcError {
  return ipcError(syscall, EIDRM, `msqid ${msqid}: the queue was removed`);
}

/**
 * @internal Ends every pending wait of this process on queue `msqid` with
 * EIDRM (the queue was removed: by this process, or as a wait learnt). A
 * wait in the kernel is interrupted instead, and ends when its thread
 * answers: its call may have completed already (a message taken, its
 * result still on the way to this thread), and that result stands.
 */
export function queueRemoved(msqid: number): void {
  const waits = byQueue.get(msqid);
  if (waits === undefined) return;
  byQueue.delete(msqid);
  for (const p of waits) p.fail();
}

/** @internal Runs `w` on a waiter thread; resolves with its result. */
export function waitOnThread<T>(w: MessageWait<T>): Promise<T> {
  if (w.signal?.aborted) return Promise.reject(abortError(w.signal));
  if (w.closed.aborted) return Promise.reject(queueClosedError(w.what));
  return new Promise<T>((resolve, reject) => {
    let cause: 'abort' | 'close' | 'timeout' | undefined;
    let stopTimer: (() => void) | undefined;
    let stopAbort = (): void => {};
    const deadline = w.timeoutMs === undefined ? undefined : performance.now() + w.timeoutMs;
    const interruptedError = (): unknown => {
      if (cause === 'close') return queueClosedError(w.what);
      if (cause === 'timeout') return queueTimeoutError(w.syscall, w.what, w.msqid, w.timeoutMs ?? 0);
      return abortError(w.signal);
    };
    const p: Pending = {
      kind: w.kind,
      settled: false,
      thread: undefined,
      removed: undefined,
      fail: () => {
        const error = removedError(w.syscall, w.msqid);
        if (p.thread?.inKernel !== true) {
          settle(error);
          return;
        }
        p.removed = error;
        leaving.add(p);
        p.thread.cancel();
      },
    };
    const settle = (error: unknown, value?: T): void => {
      if (p.settled) return;
      p.settled = true;
      stopTimer?.();
      stopAbort();
      w.closed.removeEventListener('abort', onClose);
      leaving.delete(p);
      const waits = byQueue.get(w.msqid);
      waits?.delete(p);
      if (waits?.size === 0) byQueue.delete(w.msqid);
      // A removal ends at once a wait still queued for a thread: take it back.
      p.thread?.cancel();
      p.thread = undefined;
      if (error === undefined) resolve(value as T);
      else reject(error);
    };
    const interrupt = (why: 'abort' | 'close' | 'timeout'): void => {
      if (p.settled) return;
      // In the kernel, the thread keeps the time limit itself: that answer is exact.
      if (why === 'timeout' && p.thread?.inKernel) return;
      cause ??= why;
      if (p.thread !== undefined) p.thread.cancel();
      else settle(interruptedError());
    };
    const onAbort = (): void => interrupt('abort');
    const onClose = (): void => interrupt('close');
    const done = (result: number, noThread = false, value?: unknown): void => {
      p.thread = undefined;
      if (p.settled) return;
      if (noThread) {
        settle(ipcError('pthread_create', -result, 'could not start a thread to wait on (no thread of the addon is running)'));
      } else if (result === 0) {
        // Done, even if an abort or a removal came meanwhile: what was sent or taken stands.
        settle(undefined, w.result(value));
      } else if (p.removed !== undefined) {
        // Interrupted by the removal, or the kernel's own EIDRM: either way, removed.
        settle(p.removed);
      } else if (result === -ECANCELED || (cause !== undefined && result === -ETIMEDOUT)) {
        settle(interruptedError());
      } else if (result === -ETIMEDOUT) {
        settle(queueTimeoutError(w.syscall, w.what, w.msqid, w.timeoutMs ?? 0));
      } else if (result === -EIDRM || (result === -EINVAL && queueGone(w.msqid))) {
        // The id was valid when the wait began, so EINVAL with no queue
        // there means it went before the call reached the kernel (another
        // EINVAL, msgsnd's size past a lowered MSGMAX, is this wait's own).
        // Every wait on it ends.
        settle(removedError(w.syscall, w.msqid));
        queueRemoved(w.msqid);
      } else if (retries(w, result, settle)) {
        // Interrupted meanwhile: the call would have been made again, so nothing was done.
        if (cause === undefined) go();
        else settle(interruptedError());
      } else if (!p.settled) {
        settle(ipcError(w.syscall, -result, w.explain(errnoName(-result))));
      }
    };
    const go = (): void => {
      const handle = runOnThread({ start: w.start, deadline, done, poll: w.poll });
      // The handle may already be done (no thread could be started at all).
      if (!p.settled) p.thread = handle;
    };
    stopAbort = whenAborted(w.signal, onAbort);
    w.closed.addEventListener('abort', onClose, { once: true });
    let waits = byQueue.get(w.msqid);
    if (waits === undefined) byQueue.set(w.msqid, (waits = new Set()));
    waits.add(p);
    // Waits still queued for a thread keep time here; one in the kernel, there.
    if (w.timeoutMs !== undefined) stopTimer = timeLimit(w.timeoutMs, () => interrupt('timeout'));
    go();
  });
}

/** @internal For tests: how many message-queue waits are pending in this process. */
export function pendingMessageWaits(): number {
  let n = leaving.size;
  for (const waits of byQueue.values()) n += waits.size;
  return n;
}
