// Whether the thread or process behind a channel endpoint still runs, from
// any process that shares the IPC namespace, whatever its PID namespace.
// Endpoints write the token of their thread's presence (presence.ts) next to
// their registration; pids stay beside it for people to read, and for peers
// that write no token. Only slow paths (a wait that timed out, a stuck record,
// a busy lock or place) ask.
import { readFileSync } from 'node:fs';
import { processExists } from '../sysv/process.js';
import { isPresent, isPresentId, Presence, type PresenceToken } from './presence.js';

export type { PresenceToken };

/** How the ring registers endpoints and tells live ones from dead ones (tests inject their own). */
export interface Liveness {
  /** The token words this thread's endpoints write; one call per endpoint that registers. */
  hold(): PresenceToken;
  /** An endpoint of this thread let go of its registration; the presence ends with the last. */
  letGo(): void;
  /** Whether the holder of token `word0, word1` (or, if it wrote none, of `pid`) lives. */
  alive(word0: number, word1: number, pid: number): boolean;
  /** Whether a registrant, known so far only by its token's word 0 (its presence's id), lives. */
  registrantAlive(word0: number): boolean;
}

/**
 * False once process `pid` has exited (or never existed); true for a running
 * one of any user. Meaningful only within one PID namespace: the fallback for
 * peers that write no presence token. kill(pid, 0) alone calls a zombie alive,
 * so /proc is read too.
 */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  if (!processExists(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The state letter follows the command name's closing parenthesis.
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // /proc hidden (hidepid): trust kill()
  }
}

// One presence per thread (module state is per thread), shared by all its
// endpoints and counted: it is claimed with the first and released with the
// last, so a thread with no endpoint holds no segment. A worker thread's
// presence ends with the worker, however it ends.
let presence: Presence | undefined;
let holders = 0;

export const threadLiveness: Liveness = {
  hold() {
    presence ??= Presence.claim();
    holders++;
    return presence.token;
  },
  letGo() {
    if (holders > 0 && --holders === 0) {
      presence?.release();
      presence = undefined;
    }
  },
  alive(word0, word1, pid) {
    if (word1 === 0) return pid === 0 || isAlive(pid);
    if (presence && word0 === presence.token[0] && word1 === presence.token[1]) return true;
    return isPresent(word0, word1);
  },
  registrantAlive(word0) {
    if (presence && word0 === presence.token[0]) return true;
    return isPresentId(word0);
  },
};
