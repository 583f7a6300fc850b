// The two process calls the channel needs: kill(pid, 0), to tell whether a
// peer process exists, and sched_yield(2), to let a peer run while spinning.

import { constants as osConstants } from 'node:os';
import { native } from '../core/native.js';

const { ESRCH } = osConstants.errno;

/**
 * @internal kill(pid, 0): false only when no process `pid` exists (ESRCH).
 * A process of another user (EPERM) exists; so does a zombie.
 */
export function processExists(pid: number): boolean {
  return native.kill0(pid) !== -ESRCH;
}

/** @internal sched_yield(2): gives the CPU to another runnable thread. */
export function schedYield(): void {
  native.schedYield();
}
