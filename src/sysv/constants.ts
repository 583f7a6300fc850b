// The System V constants, with the values the addon read from the system headers.
import { native } from '../core/native.js';

const c = native.constants as Readonly<Record<string, number>>;

/**
 * A command constant's type: a number, branded with its name so that the
 * overloads of shmctl and semctl can give each command its own result type.
 */
export type Command<Name extends string> = number & { readonly __command: Name };

function cmd<Name extends string>(name: Name): Command<Name> {
  return get(name) as Command<Name>;
}

function get(name: string): number {
  const value = c[name];
  if (value === undefined) throw new Error(`shmkit: the addon does not define ${name}; rebuild it`);
  return value;
}

/** Key that always creates a new segment or set (`key_t` 0). */
export const IPC_PRIVATE = get('IPC_PRIVATE');
/** Create the object if the key has none. */
export const IPC_CREAT = get('IPC_CREAT');
/** With IPC_CREAT: fail with EEXIST if the key already has an object. */
export const IPC_EXCL = get('IPC_EXCL');
/** Fail with EAGAIN instead of waiting. */
export const IPC_NOWAIT = get('IPC_NOWAIT');
/** Mark for removal (segments: destroyed after the last detach). */
export const IPC_RMID = cmd('IPC_RMID');
/** Set owner uid, gid and mode bits. */
export const IPC_SET = cmd('IPC_SET');
/** Read the kernel's data structure. */
export const IPC_STAT = cmd('IPC_STAT');
/** System-wide limits. */
export const IPC_INFO = cmd('IPC_INFO');
/** shmat: attach read-only. */
export const SHM_RDONLY = get('SHM_RDONLY');
/** shmat: round shmaddr down to a multiple of SHMLBA. */
export const SHM_RND = get('SHM_RND');
/** shmat: replace an existing mapping at shmaddr (refused by shmkit: it could unmap memory Node uses). */
export const SHM_REMAP = get('SHM_REMAP');
/** shmat: allow executing the segment's contents. */
export const SHM_EXEC = get('SHM_EXEC');
/** shmctl: lock the segment in memory. */
export const SHM_LOCK = cmd('SHM_LOCK');
/** shmctl: unlock the segment. */
export const SHM_UNLOCK = cmd('SHM_UNLOCK');
/** shmctl: system-wide usage. */
export const SHM_INFO = cmd('SHM_INFO');
/** shmctl: IPC_STAT by index into the kernel's table; returns the id too. */
export const SHM_STAT = cmd('SHM_STAT');
/** shmctl: as SHM_STAT without the read-permission check (Linux 4.17+). */
export const SHM_STAT_ANY = cmd('SHM_STAT_ANY');
/** shm_perm.mode bit: marked for destruction (IPC_RMID while attached). */
export const SHM_DEST = get('SHM_DEST');
/** shm_perm.mode bit: locked in memory (SHM_LOCK). */
export const SHM_LOCKED = get('SHM_LOCKED');
/** shmget: allocate the segment with huge pages. */
export const SHM_HUGETLB = get('SHM_HUGETLB');
/** shmget: do not reserve swap space. */
export const SHM_NORESERVE = get('SHM_NORESERVE');
/** semop: undo the operation when the process exits. */
export const SEM_UNDO = get('SEM_UNDO');
/** semctl: value of one semaphore. */
export const GETVAL = cmd('GETVAL');
/** semctl: set one semaphore's value. */
export const SETVAL = cmd('SETVAL');
/** semctl: values of all semaphores. */
export const GETALL = cmd('GETALL');
/** semctl: set all values. */
export const SETALL = cmd('SETALL');
/** semctl: pid of the last semop on a semaphore. */
export const GETPID = cmd('GETPID');
/** semctl: number of processes waiting for an increase. */
export const GETNCNT = cmd('GETNCNT');
/** semctl: number of processes waiting for zero. */
export const GETZCNT = cmd('GETZCNT');
/** semctl: system-wide semaphore usage. */
export const SEM_INFO = cmd('SEM_INFO');
/** semctl: IPC_STAT by index into the kernel's table. */
export const SEM_STAT = cmd('SEM_STAT');
/** semctl: as SEM_STAT without the read-permission check. */
export const SEM_STAT_ANY = cmd('SEM_STAT_ANY');
/** Segment addresses given to shmat must be multiples of this (or use SHM_RND). */
export const SHMLBA = get('SHMLBA');
/** The system's page size; segments occupy whole pages. */
export const PAGE_SIZE = get('PAGE_SIZE');
/** msgrcv: truncate a message longer than msgsz instead of failing with E2BIG (the rest is lost). */
export const MSG_NOERROR = get('MSG_NOERROR');
/** msgrcv: with msgtyp > 0, take the first message whose type is not msgtyp. */
export const MSG_EXCEPT = get('MSG_EXCEPT');
/** msgrcv: copy the message at index msgtyp without removing it (needs IPC_NOWAIT; Linux 3.8+). */
export const MSG_COPY = get('MSG_COPY');
/** msgctl: system-wide message-queue usage. */
export const MSG_INFO = cmd('MSG_INFO');
/** msgctl: IPC_STAT by index into the kernel's table; returns the id too. */
export const MSG_STAT = cmd('MSG_STAT');
/** msgctl: as MSG_STAT without the read-permission check (Linux 4.17+). */
export const MSG_STAT_ANY = cmd('MSG_STAT_ANY');
