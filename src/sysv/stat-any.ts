// The kernel's record of an object for the commands that need no read
// permission: IPC_SET needs only ownership, SETALL only write permission,
// yet both need fields that C's caller fills from what it knows (the fields
// IPC_SET leaves alone, the number of semaphores SETALL writes). IPC_STAT
// needs read permission; when it is refused, *_STAT_ANY (Linux 4.17+)
// reads the same record without that check.
import { constants as osConstants } from 'node:os';
import { IPC_STAT } from './constants.js';

const { EACCES } = osConstants.errno;

/**
 * @internal `stat(id, IPC_STAT)`, or, when that is refused for want of read
 * permission (EACCES), `stat(id, statAny)`: *_STAT_ANY takes an index, and
 * reads the slot of `id` (the kernel's index is the id's low bits), which
 * may by then hold another object, so its answer counts only when the id it
 * returns is `id`. Otherwise (an older kernel, a security module that
 * refuses it, another object) IPC_STAT's EACCES, as the shim returns it.
 */
export function statWithoutRead<T>(
  id: number,
  stat: (id: number, cmd: number) => [number, T] | number,
  statAny: number,
): [number, T] | number {
  const result = stat(id, IPC_STAT);
  if (result !== -EACCES) return result;
  const any = stat(id, statAny);
  return typeof any !== 'number' && any[0] === id ? any : result;
}
