// Whether a peer process still runs. kill(pid, 0) alone calls a zombie alive,
// and a SIGKILLed child stays a zombie until its parent reaps it, so a
// process that kill() finds is also looked up in /proc. Only slow paths
// (a wait that timed out, a stuck record) call this.
import { readFileSync } from 'node:fs';
import { native } from '../native.js';

const ESRCH = 3;

/** False once `pid` has exited (or never existed); true for a running process of any user. */
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
