// Whether a peer process still runs. kill(pid, 0) alone calls a zombie alive,
// and a SIGKILLed child stays a zombie until its parent reaps it, so a
// process that kill() finds is also looked up in /proc. Only slow paths
// (a wait that timed out, a stuck record) call this.
import { readFileSync } from 'node:fs';
import { native } from '../native.js';

const ESRCH = 3;

/**
 * This thread's id: the pid in a process's main thread, a thread id in a
 * worker. Endpoints register under it, so an endpoint of a worker that ended
 * is seen as gone even while its process lives. A module instance per thread
 * makes it per thread.
 */
export const SELF: number = native.gettid();

/**
 * False once the process or thread `pid` has exited (or never existed); true
 * for a running one of any user. (A thread id works too: kill() and /proc
 * accept it.)
 */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  if (native.kill0(pid) === -ESRCH) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The state letter follows the command name's closing parenthesis.
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // /proc hidden (hidepid): trust kill()
  }
}
