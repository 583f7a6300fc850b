// Which permission bits apply to this process, as the kernel's ipcperms()
// chooses them; and an object's record for the commands that need no read
// permission, where IPC_STAT (which does) is refused.
import { constants as osConstants } from 'node:os';
import { IPC_STAT } from './constants.js';

const { EACCES } = osConstants.errno;

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
 * @internal `stat(id, IPC_STAT)` (a shim's result: [id, record] or -errno),
 * or, when that is refused for want of read permission (EACCES),
 * `stat(id, statAny)`. Commands that need no read permission read the
 * object's record this way: IPC_SET needs only ownership, SETALL only write
 * permission, and C's semop or msgsnd, after a semget or msgget with flags
 * 0, only write permission (`needWrite`: the fallback counts only for a
 * process whose bits grant it). *_STAT_ANY (Linux 4.17+) takes an index and
 * reads the slot of `id` (the id's low bits), which may by then hold another
 * object, so its answer counts only when the id it returns is `id`.
 * Otherwise (an older kernel, a security module that refuses it, another
 * object) IPC_STAT's EACCES stands.
 */
export function statWithoutRead<T extends Perm>(
  id: number,
  stat: (id: number, cmd: number) => readonly [number, T] | number,
  statAny: number,
  needWrite = false,
): readonly [number, T] | number {
  const result = stat(id, IPC_STAT);
  if (result !== -EACCES) return result;
  const any = stat(id, statAny);
  if (typeof any === 'number' || any[0] !== id) return result;
  if (needWrite && (appliesToMe(any[1]).bits & 2) === 0) return result;
  return any;
}
