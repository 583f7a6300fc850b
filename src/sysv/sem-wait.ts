// semtimedop(2) on one of the addon's waiter threads (native/sem.cc, the
// threads in native/waits.cc), so that the high level waits without blocking
// the event loop. Which waits get a thread, and when, is decided in
// wait-threads.ts, which also receives the results: 0, or a negative errno.

import { int32sForAddon } from '../core/addon-arrays.js';
import { native } from '../core/native.js';

/**
 * @internal Starts semtimedop(semid, sops, timeoutMs; -1: no limit) on a
 * thread of the addon: its token (> 0), or the negative errno of
 * pthread_create when no thread could be started.
 */
export function semWaitStart(semid: number, sops: Int32Array, timeoutMs: number): number {
  return native.semWaitStart(semid, int32sForAddon(sops), timeoutMs);
}
