// Semaphore operations that wait without blocking the event loop. The
// operation is first tried at once (IPC_NOWAIT, no thread involved); only if
// it would have to wait does a thread of the addon run semtimedop and report
// back. Timeouts are the kernel's (semtimedop), so a timed-out wait has
// changed nothing; an abort interrupts the thread's call, and if the
// operation won the race it is given back when that can be done exactly.
import { setMaxListeners } from 'node:events';
import { constants as osConstants } from 'node:os';
import { errnoName, IpcError, StateError } from './errors.js';
import { native } from './native.js';
import { IPC_NOWAIT, SEM_UNDO } from './sysv/constants.js';
import { explainSemop } from './sysv/sem.js';
import { invalidType, outOfRange, validateObject } from './validate.js';

const { EAGAIN, ECANCELED, ETIMEDOUT } = osConstants.errno;

/** Options of every wait: a time limit and a cancellation signal. */
export interface WaitOptions {
  /**
   * Give up after this many milliseconds: the promise rejects with an
   * IpcError whose code is `'ETIMEDOUT'` (syscall `'semtimedop'`), and no
   * semaphore has changed. 0 means: only if possible at once. Default: no limit.
   */
  timeoutMs?: number;
  /**
   * Abort the wait: the promise rejects with a DOMException named
   * `'AbortError'` (its `cause` is `signal.reason`), and no semaphore has
   * changed.
   */
  signal?: AbortSignal;
}

/** @internal Checked wait options. */
export interface ValidWaitOptions {
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
}

/** @internal Checks `{ timeoutMs?, signal? }`. */
export function validateWaitOptions(options: unknown, name = 'options'): ValidWaitOptions {
  if (options === undefined) return { timeoutMs: undefined, signal: undefined };
  const opts = validateObject(options, name);
  let timeoutMs: number | undefined;
  if (opts.timeoutMs !== undefined) {
    if (typeof opts.timeoutMs !== 'number') throw invalidType(`${name}.timeoutMs`, 'of type number', opts.timeoutMs);
    if (!(opts.timeoutMs >= 0) || !Number.isFinite(opts.timeoutMs)) {
      throw outOfRange(`${name}.timeoutMs`, 'a finite number >= 0', opts.timeoutMs);
    }
    timeoutMs = opts.timeoutMs;
  }
  let signal: AbortSignal | undefined;
  if (opts.signal !== undefined) {
    if (!(opts.signal instanceof AbortSignal)) throw invalidType(`${name}.signal`, 'an instance of AbortSignal', opts.signal);
    signal = opts.signal;
  }
  return { timeoutMs, signal };
}

/** The AbortError of Node's own promise APIs: a DOMException whose cause is the signal's reason. */
export function abortError(signal: AbortSignal | undefined): DOMException {
  return new DOMException('The operation was aborted', { name: 'AbortError', cause: signal?.reason });
}

/**
 * @internal The controller a handle aborts when disposed. Each pending wait
 * of the handle listens to it, so it may have any number of listeners.
 */
export function closeController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** @internal The error of an object used after its `[Symbol.dispose]()`. */
export function closedError(what: string): StateError {
  // StateError's code list predates semaphores; the code is new, the class is the one for misuse of state.
  return new StateError('ERR_SEM_CLOSED', `${what}: the handle was disposed`);
}

function timeoutError(semid: number, timeoutMs: number): IpcError {
  const error = new IpcError('semtimedop', ETIMEDOUT);
  error.message = `semtimedop: ETIMEDOUT: semid ${semid}: the operation was not possible within ${timeoutMs} ms (nothing was changed)`;
  return error;
}

/** Results of pending waits, by token. */
const pending = new Map<number, (result: number) => void>();
let initialized = false;

function dispatch(token: number, result: number): void {
  const settle = pending.get(token);
  if (settle === undefined) return;
  pending.delete(token);
  settle(result);
}

function withNoWait(sops: Int32Array): Int32Array {
  const copy = sops.slice();
  for (let i = 2; i < copy.length; i += 3) copy[i] = (copy[i] ?? 0) | IPC_NOWAIT;
  return copy;
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
  const inverse: number[] = [];
  for (let i = 0; i < sops.length; i += 3) {
    const op = sops[i + 1] ?? 0;
    if (op !== 0) inverse.push(sops[i] ?? 0, -op, ((sops[i + 2] ?? 0) & SEM_UNDO) | IPC_NOWAIT);
  }
  if (inverse.length === 0) return true;
  return native.semop(semid, Int32Array.from(inverse), -1) === 0;
}

/**
 * @internal Performs `sops` (packed triples) on set `semid` atomically,
 * waiting without blocking the event loop. `closed` aborts the wait with the
 * handle's closed error (the handle was disposed).
 */
export function waitOps(semid: number, sops: Int32Array, options: ValidWaitOptions, closed?: AbortSignal, what = 'op'): Promise<void> {
  const { timeoutMs, signal } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (closed?.aborted) return Promise.reject(closedError(what));
  const now = native.semop(semid, withNoWait(sops), -1);
  if (now === 0) return Promise.resolve();
  if (now !== -EAGAIN || allNoWait(sops)) {
    return Promise.reject(semopError(semid, sops, -now));
  }
  if (timeoutMs === 0) return Promise.reject(timeoutError(semid, 0));
  if (!initialized) {
    native.semWaitInit(dispatch);
    initialized = true;
  }
  return new Promise<void>((resolve, reject) => {
    const token = native.semWaitStart(semid, sops, timeoutMs ?? -1);
    if (token < 0) {
      reject(new IpcError('pthread_create', -token, 'could not start a thread to wait on'));
      return;
    }
    let cause: 'abort' | 'close' | undefined;
    const onAbort = (): void => {
      cause ??= 'abort';
      native.semWaitCancel(token);
    };
    const onClose = (): void => {
      cause ??= 'close';
      native.semWaitCancel(token);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    closed?.addEventListener('abort', onClose, { once: true });
    pending.set(token, (result) => {
      signal?.removeEventListener('abort', onAbort);
      closed?.removeEventListener('abort', onClose);
      const interrupted = (): Error => (cause === 'close' ? closedError(what) : abortError(signal));
      if (result === 0) {
        // Completed, but perhaps after the abort: then it must not count.
        if (cause !== undefined && giveBack(semid, sops)) reject(interrupted());
        else resolve();
      } else if (result === -ECANCELED || (cause !== undefined && result === -ETIMEDOUT)) {
        reject(interrupted());
      } else if (result === -ETIMEDOUT) {
        reject(timeoutError(semid, timeoutMs ?? 0));
      } else {
        reject(semopError(semid, sops, -result));
      }
    });
  });
}

/** @internal The IpcError of a failed semop. */
export function semopError(semid: number, sops: Int32Array, errno: number): IpcError {
  return new IpcError('semop', errno, explainSemop(semid, sops)(errnoName(errno)));
}

