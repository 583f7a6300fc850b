// The machine's semaphore sets, through the public semctl: SEM_INFO for the
// table's extent, SEM_STAT_ANY for each slot (no read permission needed, like
// ipcs), GETVAL/GETPID/GETNCNT/GETZCNT for each semaphore.
import {
  GETNCNT,
  GETPID,
  GETVAL,
  GETZCNT,
  IPC_INFO,
  IPC_RMID,
  IpcError,
  SEM_INFO,
  SEM_STAT,
  SEM_STAT_ANY,
  semctl,
  type SemidDs,
  type SemInfo,
} from '../index.js';
import { scanTable } from './ipc-table.js';
import { CliError, ipcCliError } from './command.js';
import { userName } from './proc.js';

/** One semaphore of a set, with the field names of the kernel's `struct sem`. */
export interface SemValue {
  semnum: number;
  semval: number;
  sempid: number;
  semncnt: number;
  semzcnt: number;
}

export interface SemaphoreSetInfo {
  id: number;
  ds: SemidDs;
}

/** One set, as `ls --json` prints it. */
export interface SemaphoreRow {
  key: number;
  id: number;
  owner: string;
  uid: number;
  perms: number;
  nsems: number;
}

/** `struct seminfo` without shmkit's highest_index: the kernel's structure only. */
function seminfo(info: SemInfo): Omit<SemInfo, 'highest_index'> {
  const { highest_index: _, ...fields } = info;
  return fields;
}

/** `semctl(0, 0, IPC_INFO)`: the limits. */
export function semLimits(): Omit<SemInfo, 'highest_index'> {
  return seminfo(semctl(0, 0, IPC_INFO));
}

/** `semctl(0, 0, SEM_INFO)`: semusz is the number of sets in use, semaem of semaphores in them. */
export function semUsage(): Omit<SemInfo, 'highest_index'> {
  return seminfo(semctl(0, 0, SEM_INFO));
}

/** Every semaphore set in this IPC namespace, in the kernel's table order (as ipcs lists them). */
export function listSemaphoreSets(): SemaphoreSetInfo[] {
  const info = semctl(0, 0, SEM_INFO);
  return scanTable<SemidDs>(info.highest_index, info.semusz, (index, any) => semctl(index, 0, any ? SEM_STAT_ANY : SEM_STAT));
}

/** The set with this id, or a CliError naming `arg`. */
export function findSemaphoreSet(id: number, arg: string): SemaphoreSetInfo {
  const set = listSemaphoreSets().find((s) => s.id === id);
  if (!set) throw new CliError(arg, 'EINVAL', 'no such semaphore set');
  return set;
}

/** The set that has this key (parseKey refuses 0, IPC_PRIVATE, which removed sets have too), or a CliError. */
export function findSemaphoreSetByKey(key: number, arg: string): SemaphoreSetInfo {
  const set = listSemaphoreSets().find((s) => s.ds.sem_perm.key === key);
  if (!set) throw new CliError(arg, 'ENOENT', 'no semaphore set has this key');
  return set;
}

/**
 * Every semaphore's value, last pid and waiter counts. These semctl
 * commands need read permission, unlike SEM_STAT_ANY.
 */
export function semValues(set: SemaphoreSetInfo): SemValue[] {
  const values: SemValue[] = [];
  for (let semnum = 0; semnum < set.ds.sem_nsems; semnum++) {
    values.push({
      semnum,
      semval: semctl(set.id, semnum, GETVAL),
      sempid: semctl(set.id, semnum, GETPID),
      semncnt: semctl(set.id, semnum, GETNCNT),
      semzcnt: semctl(set.id, semnum, GETZCNT),
    });
  }
  return values;
}

/** `semctl(id, 0, IPC_RMID)`: removes the set at once (waiters fail with EIDRM). */
export function removeSemaphoreSet(id: number): void {
  semctl(id, 0, IPC_RMID);
}

export function semaphoreRow(set: SemaphoreSetInfo): SemaphoreRow {
  const perm = set.ds.sem_perm;
  return { key: perm.key, id: set.id, owner: userName(perm.uid), uid: perm.uid, perms: perm.mode & 0o777, nsems: set.ds.sem_nsems };
}

export function semaphoreRows(): SemaphoreRow[] {
  return listSemaphoreSets().map(semaphoreRow);
}

/** The command's words for an IpcError about a semaphore set; undefined where the message says it. */
export function semaphoreErrorText(error: IpcError): string | undefined {
  switch (error.code) {
    case 'EINVAL':
      return 'no such semaphore set';
    case 'EIDRM':
      return 'the semaphore set was removed';
    case 'EACCES':
      return 'permission denied';
    case 'EPERM':
      return 'not permitted (only the owner, the creator or a process with CAP_SYS_ADMIN)';
    case 'ENOENT':
      return 'no semaphore set has this key';
    case 'EEXIST':
      return 'a semaphore set with this key exists';
    case 'ENOSPC':
      return 'the system limit of semaphore sets or of semaphores (semmni, semmns) is reached';
    default:
      return undefined;
  }
}

/** Runs `fn`, turning an IpcError into a CliError about `arg`. */
export function onSemaphoreSet<T>(arg: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof IpcError) throw ipcCliError(arg, error, semaphoreErrorText(error));
    throw error;
  }
}
