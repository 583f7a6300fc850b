// What every semaphore wait shares: its options ({ timeoutMs, signal }), and
// the errors it ends with (time limit, abort, disposed handle, failed semop).
// How waits are queued and run is in wait-queue.ts and wait-threads.ts.
import { setMaxListeners } from 'node:events';
import { constants as osConstants } from 'node:os';
import { IpcError, StateError } from '../core/errors.js';
import { invalidType, outOfRange, validateObject } from '../core/validate.js';

const { ETIMEDOUT } = osConstants.errno;

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

/** @internal The IpcError of a wait whose time limit ran out (nothing was changed). */
export function timeoutError(semid: number, timeoutMs: number): IpcError {
  const error = new IpcError('semtimedop', ETIMEDOUT);
  error.message = `semtimedop: ETIMEDOUT: semid ${semid}: the operation was not possible within ${timeoutMs} ms (nothing was changed)`;
  return error;
}

