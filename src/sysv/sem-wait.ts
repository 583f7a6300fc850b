// The addon's semaphore waiting threads (native/sem.cc): semtimedop(2) run
// off the main thread, so that the high level waits without blocking the
// event loop. Which waits get a thread, and when, is decided in
// src/sem/wait-threads.ts. Results are the addon's: 0, or a negative errno.

import { native } from '../core/native.js';

/** @internal Gives the addon the function that receives each wait's (token, result). Once per thread. */
export function semWaitInit(dispatch: (token: number, result: number) => void): void {
  native.semWaitInit(dispatch);
}

/**
 * @internal Starts semtimedop(semid, sops, timeoutMs; -1: no limit) on a
 * thread of the addon: its token (> 0), or the negative errno of
 * pthread_create when no thread could be started.
 */
export function semWaitStart(semid: number, sops: Int32Array, timeoutMs: number): number {
  return native.semWaitStart(semid, sops, timeoutMs);
}

/** @internal Interrupts the wait `token`: its result is then -ECANCELED, or what won the race. */
export function semWaitCancel(token: number): void {
  native.semWaitCancel(token);
}
