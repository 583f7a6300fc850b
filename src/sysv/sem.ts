// The C-faithful semaphore calls: same names, arguments and errors as
// semget(2), semop(2), semtimedop(2) and semctl(2). Synchronous, like C: a
// semop that has to wait blocks the whole thread (and so Node's event loop)
// until it can proceed. The high-level SemaphoreSet, Semaphore and Mutex
// wait without blocking.
import { constants as osConstants } from 'node:os';
import {
  check,
  errnoName,
  invalidType,
  ipcError,
  outOfRange,
  type IpcError,
  withHint,
  type Explained,
  explainedError,
} from '../core/errors.js';
import { int32sForAddon } from '../core/addon-arrays.js';
import { native, type NativeSemStat } from '../core/native.js';
import {
  validateFlags,
  validateId,
  validateInteger,
  validateKey,
  validateObject,
  INT32_MAX,
  INT32_MIN,
  UINT32_MAX,
} from '../core/validate.js';
import {
  GETALL,
  GETNCNT,
  GETPID,
  GETVAL,
  GETZCNT,
  IPC_INFO,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
  SEM_INFO,
  SEM_STAT,
  SEM_STAT_ANY,
  SETALL,
  SETVAL,
} from './constants.js';
import { assertMakesNew } from './exclusive.js';
import { hint, unknownIdHint } from './hints.js';
import { statWithoutRead } from './access.js';
import type { IpcPerm } from './shm.js';

/**
 * One semaphore operation, `struct sembuf`: add `sem_op` to semaphore
 * `sem_num` (a negative `sem_op` waits until the value is large enough, 0
 * waits until the value is zero). `sem_flg` takes IPC_NOWAIT and SEM_UNDO.
 */
export interface Sembuf {
  sem_num: number;
  sem_op: number;
  sem_flg?: number | undefined;
}

/** `struct semid_ds`, with the C field names; times in seconds since the epoch. */
export interface SemidDs {
  /** Owner, creator and permission bits; `key` is the set's key_t. */
  sem_perm: IpcPerm;
  /** Time of the last semop (0: none yet). */
  sem_otime: number;
  /** Time of the last change by semctl (creation, SETVAL, SETALL, IPC_SET). */
  sem_ctime: number;
  /** Number of semaphores in the set. */
  sem_nsems: number;
}

/** What `semctl(index, 0, SEM_STAT)` gives: the structure and the set's id. */
export interface SemidDsWithId extends SemidDs {
  /** The set's id (C returns it as semctl's result). */
  id: number;
}

/**
 * `struct seminfo`, with the C field names. From IPC_INFO these are the
 * system's limits; from SEM_INFO the same, except that `semusz` is the number
 * of sets in use and `semaem` the number of semaphores in use.
 */
export interface SemInfo {
  semmap: number;
  /** Maximum number of sets. */
  semmni: number;
  /** Maximum number of semaphores in all sets. */
  semmns: number;
  semmnu: number;
  /** Maximum number of semaphores in a set. */
  semmsl: number;
  /** Maximum number of operations in one semop (more: E2BIG). */
  semopm: number;
  semume: number;
  semusz: number;
  /** Maximum value of a semaphore, SEMVMX (more: ERANGE). */
  semvmx: number;
  semaem: number;
  /** semctl's result: the highest index in use in the kernel's table. */
  highest_index: number;
}

/** What IPC_SET may change. */
export interface SemSetOptions {
  uid?: number | undefined;
  gid?: number | undefined;
  mode?: number | undefined;
}

function hex(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * @internal Checks `sops` and packs it as (sem_num, sem_op, sem_flg)
 * triples for the addon.
 */
export function encodeSops(sops: unknown, name = 'sops', syscall = 'semop'): Int32Array {
  if (!Array.isArray(sops)) throw invalidType(name, 'an array of { sem_num, sem_op, sem_flg? }', sops);
  // More operations than SEMOPM is the kernel's E2BIG; said before packing,
  // so that a huge (even sparse) array costs nothing. 500 is the kernel's
  // default SEMOPM: shorter arrays need not ask.
  if (sops.length > 500) {
    const semopm = check(native.semctlInfo(IPC_INFO), 'semctl', () => 'IPC_INFO')[1].semopm ?? 0;
    if (sops.length > semopm) {
      throw ipcError(
        syscall,
        osConstants.errno.E2BIG,
        `nsops ${sops.length} is more than the system allows in one call (SEMOPM ${semopm})`,
      );
    }
  }
  const packed = new Int32Array(sops.length * 3);
  // An index loop, not forEach: a hole in the array is an error, not a skipped operation.
  for (let i = 0; i < sops.length; i++) {
    const s = validateObject(sops[i], `${name}[${i}]`);
    packed[3 * i] = validateInteger(s.sem_num, `${name}[${i}].sem_num`, 0, 0xffff);
    packed[3 * i + 1] = validateInteger(s.sem_op, `${name}[${i}].sem_op`, -0x8000, 0x7fff);
    packed[3 * i + 2] = s.sem_flg === undefined ? 0 : validateInteger(s.sem_flg, `${name}[${i}].sem_flg`, 0, 0x7fff);
  }
  return packed;
}

/** @internal The words that explain a semop error. */
export function explainSemop(semid: number, sops: Int32Array, timed = false) {
  return (code: string): string | Explained => {
    const nsops = sops.length / 3;
    switch (code) {
      case 'E2BIG':
        return `semid ${semid}: nsops ${nsops} is more than the system allows in one call (SEMOPM)`;
      case 'EFBIG': {
        let max = 0;
        for (let i = 0; i < sops.length; i += 3) max = Math.max(max, sops[i] ?? 0);
        return `semid ${semid}: sem_num ${max} is not below the number of semaphores in the set`;
      }
      case 'ERANGE':
        return `semid ${semid}: a value would exceed SEMVMX, or an undo adjustment its range`;
      case 'EAGAIN':
        return timed
          ? `semid ${semid}: the operation was not possible within the time limit (nothing was changed)`
          : `semid ${semid}: IPC_NOWAIT was given and the operation would have to wait (nothing was changed)`;
      case 'EIDRM':
        return withHint(`semid ${semid}: the set was removed`, hint(code, { object: 'set', id: semid }));
      case 'EINVAL':
        return nsops === 0 ? `semid ${semid}: nsops is 0` : `semid ${semid}: no such set (or it was removed)`;
      case 'EACCES':
        return withHint(`semid ${semid}: the set's permission bits deny this user`, hint(code, { object: 'set', id: semid }));
      case 'EINTR':
        return `semid ${semid}: interrupted by a signal (nothing was changed)`;
      case 'ENOMEM':
        return `semid ${semid}: no memory for the SEM_UNDO record`;
      default:
        return `semid ${semid}`;
    }
  };
}

/**
 * `semget(2)`: the id of the semaphore set for `key`, created with `nsems`
 * semaphores (all 0) if `flags` has IPC_CREAT. The low 9 bits of `flags` are
 * the permission bits of a new set. `nsems` may be 0 when opening.
 * @throws IpcError EEXIST, ENOENT, EINVAL (nsems out of 0..SEMMSL or more than the set has), EACCES, ENOSPC.
 */
export function semget(key: number, nsems: number, flags: number): number {
  const k = validateSemget(key, nsems, flags);
  return check(native.semget(k, nsems, flags), 'semget', explainSemget(k, nsems, flags));
}

/** semget's arguments checked: the key as a key_t. */
function validateSemget(key: number, nsems: number, flags: number): number {
  const k = validateKey(key);
  validateInteger(nsems, 'nsems', INT32_MIN, INT32_MAX);
  validateFlags(flags, 'flags');
  return k;
}

/** The words that explain a failed semget. */
function explainSemget(k: number, nsems: number, flags: number) {
  return (code: string): string | Explained => {
    const args = `key ${hex(k)}, nsems ${nsems}`;
    const fix = hint(code, { object: 'set', key: k, nsems, flags });
    switch (code) {
      case 'EEXIST':
        return withHint(`${args}: a set with this key exists (IPC_CREAT|IPC_EXCL)`, fix);
      case 'ENOENT':
        return withHint(`${args}: no set has this key and IPC_CREAT was not given`, fix);
      case 'EINVAL':
        return withHint(`${args}: nsems is out of 0..SEMMSL, or more than the existing set has`, fix);
      case 'EACCES':
        return withHint(`${args}: the set's permission bits deny this user`, fix);
      case 'ENOSPC':
        return withHint(`${args}: the system's limit of sets (SEMMNI) or semaphores (SEMMNS) is reached`, fix);
      default:
        return args;
    }
  };
}

/** @internal The first values of a set {@link semCreate} makes: a semop of packed triples, SETALL, or SETVAL of semaphore 0. */
export type FirstValues = { semop: Int32Array } | { setall: readonly number[] } | { setval: number };

/**
 * @internal A new set (`flags` has IPC_CREAT|IPC_EXCL, or `key` is
 * IPC_PRIVATE) with its first values, in one native call, so that a worker
 * terminated part way leaves no set at 0 that openers take for made. If the
 * first values fail, the set is removed and the error is that call's.
 * @throws IpcError as semget, semop and semctl do.
 */
export function semCreate(key: number, nsems: number, flags: number, first?: FirstValues): number {
  const k = validateSemget(key, nsems, flags);
  assertMakesNew(k, flags, 'semCreate', 'set');
  let result: number | [number, 0 | 1, number];
  if (first === undefined) result = native.semCreate(k, nsems, flags, 0, 0);
  else if ('semop' in first) result = native.semCreate(k, nsems, flags, 1, first.semop);
  else if ('setall' in first) result = native.semCreate(k, nsems, flags, 2, Uint16Array.from(first.setall));
  else result = native.semCreate(k, nsems, flags, 3, first.setval);
  if (typeof result === 'number') return result;
  const [errno, call, semid] = result;
  if (call === 0) return check(errno, 'semget', explainSemget(k, nsems, flags));
  if (first !== undefined && 'semop' in first) throw semopError(semid, first.semop, -errno);
  return check(errno, 'semctl', explainCtl(semid, 0, first !== undefined && 'setall' in first ? 'SETALL' : 'SETVAL'));
}

/**
 * `semop(2)`: performs all of `sops` atomically, or none. **Synchronous,
 * like C**: if an operation must wait (and has no IPC_NOWAIT), the calling
 * thread, and with it Node's event loop, blocks until it can proceed. Use
 * {@link SemaphoreSet.op} to wait without blocking.
 * @throws IpcError EAGAIN (IPC_NOWAIT), E2BIG, EFBIG, ERANGE, EIDRM (removed while waiting), EINVAL, EACCES.
 */
export function semop(semid: number, sops: readonly Sembuf[]): void {
  validateId(semid, 'semid');
  const packed = encodeSops(sops);
  check(nativeSemop(semid, packed, -1), 'semop', explainSemop(semid, packed));
}

/**
 * native.semop on packed triples, each flag or'ed with `orFlags`. One
 * operation without a time limit goes as numbers (semop1), which the addon
 * reads in a fraction of the time an array takes; locks and semaphores do
 * one per call. More go in an array the addon reads without V8 moving it
 * (core/addon-arrays.ts).
 */
function nativeSemop(semid: number, sops: Int32Array, timeoutMs: number, orFlags = 0): number {
  if (sops.length === 3 && timeoutMs < 0) return native.semop1(semid, sops[0]!, sops[1]!, sops[2]! | orFlags);
  let forAddon = int32sForAddon(sops);
  if (orFlags !== 0) {
    if (forAddon === sops) forAddon = sops.slice(); // a large array is passed as it is: never change the caller's
    for (let i = 2; i < forAddon.length; i += 3) forAddon[i]! |= orFlags;
  }
  return native.semop(semid, forAddon, timeoutMs);
}

/**
 * @internal semop(2) on checked, packed triples (see {@link encodeSops}), for
 * the high level: 0 when done, else the errno (positive). An operation
 * without IPC_NOWAIT that has to wait blocks the thread, so callers pass
 * IPC_NOWAIT (in the triples, or in `orFlags`, which is or'ed into every
 * flag) unless the operation can never wait (an increment).
 */
export function semopErrno(semid: number, sops: Int32Array, orFlags = 0): number {
  const result = nativeSemop(semid, sops, -1, orFlags);
  return result < 0 ? -result : 0;
}

/** @internal The IpcError of a semop on packed triples that failed with `errno`. */
export function semopError(semid: number, sops: Int32Array, errno: number): IpcError {
  return explainedError('semop', errno, explainSemop(semid, sops)(errnoName(errno)));
}

/**
 * @internal {@link semopErrno} that throws the IpcError of a failure, except
 * EAGAIN (IPC_NOWAIT and it would have to wait): then false.
 */
export function trySemop(semid: number, sops: Int32Array): boolean {
  const errno = semopErrno(semid, sops);
  if (errno === osConstants.errno.EAGAIN) return false;
  if (errno !== 0) throw semopError(semid, sops, errno);
  return true;
}

/**
 * `semtimedop(2)`: {@link semop} with a time limit; `timeoutMs` null (or
 * undefined) waits without limit. **Synchronous, like C**: it blocks the
 * event loop for up to `timeoutMs`. When the time runs out nothing has been
 * changed and it throws EAGAIN, as in C.
 * @throws IpcError EAGAIN (time limit or IPC_NOWAIT), E2BIG, EFBIG, ERANGE, EIDRM, EINVAL, EACCES.
 */
export function semtimedop(semid: number, sops: readonly Sembuf[], timeoutMs: number | null | undefined): void {
  validateId(semid, 'semid');
  const packed = encodeSops(sops, 'sops', 'semtimedop');
  let timeout = -1;
  if (timeoutMs !== null && timeoutMs !== undefined) {
    if (typeof timeoutMs !== 'number') throw invalidType('timeoutMs', 'of type number or null', timeoutMs);
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw outOfRange('timeoutMs', 'a finite number >= 0', timeoutMs);
    timeout = timeoutMs;
  }
  check(nativeSemop(semid, packed, timeout), 'semtimedop', explainSemop(semid, packed, true));
}

const semStat = (id: number, cmd: number): [number, NativeSemStat] | number => native.semctlStat(id, cmd);

/**
 * @internal The record of set `semid` for an open by the high level: also
 * for a process that may alter the set but not read it, which C lets find
 * it (semget with flags 0) and semop on it; one with neither gets IPC_STAT's
 * EACCES.
 */
export function semStatForOpen(semid: number): SemidDs {
  return toSemidDs(check(statWithoutRead(semid, semStat, SEM_STAT_ANY, true), 'semctl', explainCtl(semid, 0, 'IPC_STAT'))[1]);
}

function toSemidDs(s: NativeSemStat): SemidDs {
  return {
    sem_perm: { key: s.key, uid: s.uid, gid: s.gid, cuid: s.cuid, cgid: s.cgid, mode: s.mode, seq: s.seq },
    sem_otime: s.sem_otime,
    sem_ctime: s.sem_ctime,
    sem_nsems: s.sem_nsems,
  };
}

function explainCtl(semid: number, semnum: number, cmd: string) {
  return (code: string): string | Explained => {
    switch (code) {
      case 'EINVAL':
        // IPC_STAT ignores semnum: only the id can be wrong.
        if (cmd === 'IPC_STAT') return withHint(`semid ${semid}, ${cmd}: no such set`, unknownIdHint('set'));
        return `semid ${semid}, ${cmd}: no such set, semnum ${semnum} out of range, or an invalid command`;
      case 'EIDRM':
        return withHint(`semid ${semid}, ${cmd}: the set was removed`, hint(code, { object: 'set', id: semid }));
      case 'EACCES':
        return withHint(`semid ${semid}, ${cmd}: the set's permission bits deny this user`, hint(code, { object: 'set', id: semid }));
      case 'EPERM':
        return withHint(
          `semid ${semid}, ${cmd}: only the owner, the creator or a privileged user may do this`,
          hint(code, { object: 'set', id: semid }),
        );
      case 'ERANGE':
        return `semid ${semid}, ${cmd}: a value is above SEMVMX or below 0`;
      default:
        return `semid ${semid}, ${cmd}`;
    }
  };
}

const NAMES = new Map<number, string>([
  [GETVAL, 'GETVAL'],
  [GETPID, 'GETPID'],
  [GETNCNT, 'GETNCNT'],
  [GETZCNT, 'GETZCNT'],
  [IPC_RMID, 'IPC_RMID'],
]);

/**
 * `semctl(2)`, with each command's result:
 * - GETVAL, GETPID, GETNCNT, GETZCNT: a number for semaphore `semnum`
 *   (its value, the pid of the last semop on it, how many wait for it to
 *   grow, how many wait for it to be zero);
 * - SETVAL: sets semaphore `semnum` to `arg` (ERANGE above SEMVMX) and clears
 *   every process's undo adjustment for it, as in C;
 * - GETALL: every value; SETALL: sets every value from `arg` (one per semaphore);
 * - IPC_STAT: the set's {@link SemidDs}; SEM_STAT / SEM_STAT_ANY: the same
 *   for the set at index `semid` of the kernel's table, with its `id`;
 * - IPC_SET: changes uid, gid and mode from `arg` (what is not given stays);
 * - IPC_RMID: removes the set at once, waking every waiter with EIDRM;
 * - IPC_INFO / SEM_INFO: `struct seminfo` (`semid` and `semnum` ignored).
 *
 * Synchronous, like C (no semctl command waits).
 * @throws IpcError EINVAL, EIDRM, EACCES, EPERM, ERANGE.
 */
export function semctl(semid: number, semnum: number, cmd: typeof GETVAL | typeof GETPID | typeof GETNCNT | typeof GETZCNT): number;
export function semctl(semid: number, semnum: number, cmd: typeof SETVAL, arg: number): void;
export function semctl(semid: number, semnum: number, cmd: typeof GETALL): number[];
export function semctl(semid: number, semnum: number, cmd: typeof SETALL, arg: ArrayLike<number>): void;
export function semctl(semid: number, semnum: number, cmd: typeof IPC_STAT): SemidDs;
export function semctl(index: number, semnum: number, cmd: typeof SEM_STAT | typeof SEM_STAT_ANY): SemidDsWithId;
export function semctl(semid: number, semnum: number, cmd: typeof IPC_SET, arg: SemSetOptions): void;
export function semctl(semid: number, semnum: number, cmd: typeof IPC_RMID): void;
export function semctl(semid: number, semnum: number, cmd: typeof IPC_INFO | typeof SEM_INFO): SemInfo;
export function semctl(
  semid: number,
  semnum: number,
  cmd: number,
  arg?: unknown,
): number | number[] | SemidDs | SemidDsWithId | SemInfo | void;
export function semctl(
  semid: number,
  semnum: number,
  cmd: number,
  arg?: unknown,
): number | number[] | SemidDs | SemidDsWithId | SemInfo | void {
  validateId(semid, 'semid');
  validateId(semnum, 'semnum');
  validateId(cmd, 'cmd');
  switch (cmd) {
    case GETVAL:
    case GETPID:
    case GETNCNT:
    case GETZCNT:
      return check(native.semctlCmd(semid, semnum, cmd), 'semctl', explainCtl(semid, semnum, NAMES.get(cmd) ?? ''));
    case IPC_RMID:
      check(native.semctlCmd(semid, semnum, cmd), 'semctl', explainCtl(semid, semnum, 'IPC_RMID'));
      return;
    case SETVAL: {
      // C's semun.val is an int; the kernel answers ERANGE outside 0..SEMVMX.
      const value = validateInteger(arg, 'arg', INT32_MIN, INT32_MAX);
      check(native.semctlSetVal(semid, semnum, value), 'semctl', explainCtl(semid, semnum, 'SETVAL'));
      return;
    }
    case GETALL:
      return check(native.semctlGetAll(semid), 'semctl', explainCtl(semid, semnum, 'GETALL'));
    case SETALL: {
      const notArray = (): TypeError => invalidType('arg', 'an array of numbers (one per semaphore)', arg);
      if (typeof arg !== 'object' || arg === null) throw notArray();
      let length: unknown;
      try {
        length = (arg as ArrayLike<number>).length;
      } catch {
        // A getter that refuses (a typed array's on an object that only inherits from one).
        throw notArray();
      }
      if (typeof length !== 'number') throw notArray();
      validateInteger(length, 'arg.length', 0, Number.MAX_SAFE_INTEGER);
      const given = arg as ArrayLike<number>;
      // SETALL needs write permission only: the size is read without the read check IPC_STAT makes.
      const nsems = (): number =>
        check(statWithoutRead(semid, semStat, SEM_STAT_ANY), 'semctl', explainCtl(semid, semnum, 'SETALL'))[1].sem_nsems;
      const wrongLength = (n: number): RangeError =>
        outOfRange('arg', `an array of ${n} values (one per semaphore of set ${semid})`, given);
      // Longer than any usable set (sem_num is 16-bit): compared with the set
      // before anything is allocated or looped over for it.
      if (given.length > 0x1_0000) {
        const n = nsems();
        if (given.length !== n) throw wrongLength(n);
      }
      const values = new Uint16Array(given.length);
      for (let i = 0; i < given.length; i++) values[i] = validateInteger(given[i], `arg[${i}]`, 0, 0xffff);
      const n = nsems();
      if (values.length !== n) throw wrongLength(n);
      check(native.semctlSetAll(semid, values), 'semctl', explainCtl(semid, semnum, 'SETALL'));
      return;
    }
    case IPC_STAT:
      return toSemidDs(check(native.semctlStat(semid, cmd), 'semctl', explainCtl(semid, semnum, 'IPC_STAT'))[1]);
    case SEM_STAT:
    case SEM_STAT_ANY: {
      const name = cmd === SEM_STAT ? 'SEM_STAT' : 'SEM_STAT_ANY';
      const [id, raw] = check(native.semctlStat(semid, cmd), 'semctl', explainCtl(semid, semnum, name));
      return { ...toSemidDs(raw), id };
    }
    case IPC_SET: {
      const opts = validateObject(arg, 'arg');
      const uid = opts.uid === undefined ? undefined : validateInteger(opts.uid, 'arg.uid', 0, UINT32_MAX);
      const gid = opts.gid === undefined ? undefined : validateInteger(opts.gid, 'arg.gid', 0, UINT32_MAX);
      const mode = opts.mode === undefined ? undefined : validateInteger(opts.mode, 'arg.mode', 0, 0o777);
      // IPC_SET needs ownership, not read permission: the fields not given are
      // read without IPC_STAT's read check, so that the owner of a set it may
      // not read can change it and a stranger gets the kernel's EPERM, as in C.
      const current =
        uid === undefined || gid === undefined || mode === undefined
          ? check(statWithoutRead(semid, semStat, SEM_STAT_ANY), 'semctl', explainCtl(semid, semnum, 'IPC_SET'))[1]
          : undefined;
      check(
        native.semctlSet(semid, uid ?? current!.uid, gid ?? current!.gid, mode ?? current!.mode & 0o777),
        'semctl',
        explainCtl(semid, semnum, 'IPC_SET'),
      );
      return;
    }
    case IPC_INFO:
    case SEM_INFO: {
      const [ret, info] = check(native.semctlInfo(cmd), 'semctl', () => (cmd === IPC_INFO ? 'IPC_INFO' : 'SEM_INFO'));
      return { ...(info as unknown as Omit<SemInfo, 'highest_index'>), highest_index: ret };
    }
    default:
      // Unknown commands go to the kernel, which answers EINVAL as in C.
      return check(native.semctlCmd(semid, semnum, cmd), 'semctl', explainCtl(semid, semnum, `cmd ${cmd}`));
  }
}
