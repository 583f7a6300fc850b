// Which permission bits apply to this process, as the kernel's ipcperms()
// chooses them; and the IPC_STAT that opening by the high level needs, for a
// user who may write (alter) an object but not read it.
import { IpcError } from '../core/errors.js';

/** The owner and mode fields of `struct ipc_perm`. */
interface Perm {
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  mode: number;
}

/** @internal Which permission bits of `perm` apply to this process, as the kernel chooses them (ipcperms). */
export function appliesToMe(perm: Perm): { who: 'owner' | 'group' | 'other'; bits: number } {
  const euid = process.geteuid!();
  if (euid === perm.uid || euid === perm.cuid) return { who: 'owner', bits: (perm.mode >> 6) & 7 };
  const groups = new Set([process.getegid!(), ...process.getgroups!()]);
  if (groups.has(perm.gid) || groups.has(perm.cgid)) return { who: 'group', bits: (perm.mode >> 3) & 7 };
  return { who: 'other', bits: perm.mode & 7 };
}

/**
 * @internal IPC_STAT of object `id` for an open(): `stat()`, or, when that
 * is refused with EACCES to a process whose bits grant write but not read,
 * `statAny()` (SEM_STAT_ANY or MSG_STAT_ANY, Linux 4.17+, which checks no
 * permission; given the id it reads the table slot id % IPCMNI, so the id
 * it answers must be `id`). In C such a process finds the object (semget
 * or msgget with flags 0 asks for no permission) and may semop or msgsnd
 * on it; only reading is denied. Otherwise the EACCES stands.
 */
export function statForOpen<T extends { perm: Perm }>(id: number, stat: () => T, statAny: () => T & { id: number }): T {
  try {
    return stat();
  } catch (error) {
    if (!(error instanceof IpcError) || error.code !== 'EACCES') throw error;
    let any: (T & { id: number }) | undefined;
    try {
      any = statAny();
    } catch {
      // Before 4.17, or refused by a security module: the EACCES stands.
    }
    if (any === undefined || any.id !== id || (appliesToMe(any.perm).bits & 2) === 0) throw error;
    return any;
  }
}
