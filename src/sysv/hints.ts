// What to do about the usual mistakes, for the message of an IpcError: the
// facts that show the cause (an object's owner and mode and who this process
// is, the size a segment really has, the limit that was reached) and the fix.
// Facts are gathered after the call failed, with more system calls (shmget or
// semget that create nothing, IPC_STAT, SHM_STAT_ANY, IPC_INFO) and files of
// /proc; each may fail in turn (the object went, an old kernel, a security
// module), and then the hint goes without that fact. Nothing here throws: a
// hint never replaces the error it explains.
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { meminfo } from '../core/memory.js';
import { native, type NativeIpcPerm } from '../core/native.js';
import { appliesToMe } from './access.js';
import { IPC_INFO, IPC_STAT, PAGE_SIZE, SEM_INFO, SEM_STAT_ANY, SHM_HUGETLB, SHM_INFO, SHM_RDONLY, SHM_STAT_ANY } from './constants.js';

/** What failed: a call about a segment or a semaphore set, by key or by id; or ftok's file. */
export type HintSubject =
  | { object: 'segment'; key: number; size: number; flags: number }
  | { object: 'set'; key: number; nsems: number; flags: number }
  | { object: 'segment' | 'set'; id: number; shmflg?: number }
  | { path: string };

/** The hint for `code` about `subject` (an IpcError's `hint`), or undefined when there is none. */
export function hint(code: string, subject: HintSubject): string | undefined {
  try {
    return hintText(code, subject);
  } catch {
    return undefined;
  }
}

function hintText(code: string, subject: HintSubject): string | undefined {
  if ('path' in subject) return pathHint(code, subject.path);
  switch (code) {
    case 'EEXIST':
      return 'key' in subject ? existsHint(subject.object, subject.key) : undefined;
    case 'ENOENT':
      return 'key' in subject ? missingHint(subject.object, subject.key) : undefined;
    case 'EACCES':
      return accessHint(subject);
    case 'EPERM':
      return ownerHint(subject);
    case 'EINVAL':
      if ('size' in subject) return sizeHint(subject.key, subject.size);
      if ('nsems' in subject) return nsemsHint(subject.key, subject.nsems);
      return undefined;
    case 'ENOSPC':
      return 'size' in subject ? shmSpaceHint(subject.size) : 'nsems' in subject ? semSpaceHint(subject.nsems) : undefined;
    case 'ENOMEM':
      return 'size' in subject ? shmMemoryHint(subject.size, subject.flags) : undefined;
    case 'EIDRM':
      return removedHint(subject.object);
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Facts

/** `gather()`, or undefined if it throws: a fact that cannot be had is left out. */
function fact<T>(gather: () => T): T | undefined {
  try {
    return gather();
  } catch {
    return undefined;
  }
}

function hex(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

interface Found {
  id: number;
  perm: NativeIpcPerm;
  /** shm_segsz or sem_nsems. */
  size: number;
}

/** The segment or set `id`, read without needing read permission where the kernel allows it. */
function findById(object: 'segment' | 'set', id: number): Found | undefined {
  // SHM_STAT_ANY (Linux 4.17+) skips the read check but reads the table slot
  // id % IPCMNI, which may hold another object: the ids must match. Before
  // 4.17, or where a security module refuses it, IPC_STAT, which needs read permission.
  for (const cmd of object === 'segment' ? [SHM_STAT_ANY, IPC_STAT] : [SEM_STAT_ANY, IPC_STAT]) {
    const found = object === 'segment' ? native.shmctlStat(id, cmd) : native.semctlStat(id, cmd);
    if (typeof found === 'number' || (cmd !== IPC_STAT && found[0] !== id)) continue;
    const [, stat] = found;
    return { id, perm: stat, size: 'shm_segsz' in stat ? stat.shm_segsz : stat.sem_nsems };
  }
  return undefined;
}

/** The segment or set that has `key`, if any. */
function findByKey(object: 'segment' | 'set', key: number): Found | undefined {
  if (key === 0) return undefined;
  // Asking for no permission and no size finds the id without any check, and creates nothing.
  const id = object === 'segment' ? native.shmget(key, 0, 0) : native.semget(key, 0, 0);
  return id < 0 ? undefined : findById(object, id);
}

function find(subject: Extract<HintSubject, { object: unknown }>): Found | undefined {
  return fact(() => ('id' in subject ? findById(subject.object, subject.id) : findByKey(subject.object, subject.key)));
}

function grants(bits: number): string {
  const r = (bits & 4) !== 0;
  const w = (bits & 2) !== 0;
  return r && w ? 'read and write' : r ? 'read only' : w ? 'write only' : 'nothing';
}

function whoIAm(): string {
  return `euid ${process.geteuid!()} (egid ${process.getegid!()})`;
}

/** A sysctl of /proc/sys, as text, or undefined. */
function sysctl(name: string): string | undefined {
  return fact(() => readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8').trim());
}

/** `n` and the noun, plural unless n is 1: "1 segment", "2 segments". */
function count(n: number | bigint, noun: string): string {
  return `${n} ${noun}${n === 1 || n === 1n ? '' : 's'}`;
}

function bytes(n: number): string {
  for (const [unit, size] of [
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (n >= size) return `${(n / size).toFixed(1)} ${unit}`;
  }
  return `${n} B`;
}

// ---------------------------------------------------------------------------
// Hints

function existsHint(object: 'segment' | 'set', key: number): string {
  const k = hex(key);
  return object === 'segment'
    ? `to share it, open it instead (SharedMemory.open or SharedMemory.openOrCreate({ key: ${k}, size })); if it is a leftover, remove it: shmkit rm --key ${k}`
    : `to share it, open it instead (SemaphoreSet.open({ key: ${k} }), Mutex.openOrCreate); if it is a leftover, remove it: shmkit rm -s --key ${k}`;
}

/**
 * For a key without a segment where the segment is a shmkit object made by `create` (a Channel, PubSub
 * or Service; `what` names it), what to do: run its creator first, which SharedMemory.create is not.
 */
export function missingObjectHint(what: string, key: number): string {
  const k = hex(key);
  let text = `nothing has created key ${k} in this IPC namespace (or it was removed): start the program that creates it first (${what}.create({ key: ${k}, capacity })), then open it`;
  if (sysctl('kernel.shm_rmid_forced') === '1')
    text += '; kernel.shm_rmid_forced is 1 here, so a segment goes as soon as nobody is attached';
  return text;
}

function missingHint(object: 'segment' | 'set', key: number): string {
  const k = hex(key);
  const creators =
    object === 'segment'
      ? `SharedMemory.create({ key: ${k}, size }), shmget with IPC_CREAT, shmkit create --key ${k} --size N`
      : `SemaphoreSet.create({ key: ${k}, count }), Mutex.create, semget with IPC_CREAT, shmkit create -s --key ${k} --count N`;
  const opener = object === 'segment' ? 'SharedMemory.openOrCreate' : 'Mutex.openOrCreate';
  let text = `nothing has created key ${k} in this IPC namespace (or it was removed): start the program that creates it first (${creators}), or use ${opener}`;
  if (object === 'segment' && sysctl('kernel.shm_rmid_forced') === '1') {
    text += '; kernel.shm_rmid_forced is 1 here, so a segment goes as soon as nobody is attached';
  }
  return text;
}

function pathHint(code: string, path: string): string | undefined {
  switch (code) {
    case 'ENOENT': {
      // The nearest directory on the way that is missing, if the file's own directory is.
      let missing = path;
      for (let dir = dirname(path); dir !== missing && fact(() => existsSync(dir)) === false; dir = dirname(dir)) missing = dir;
      const what = missing === path ? `'${path}' does not exist` : `'${path}' does not exist, nor its directory '${missing}'`;
      return (
        `${what}: ftok (and every { path } option) derives the key from an existing file's device and inode, so create the file first, ` +
        'and keep it: a file made again gets another inode, so another key'
      );
    }
    case 'ENOTDIR':
      return `a component of '${path}' before its last is a file, not a directory`;
    case 'EACCES':
      return `a directory on the way to '${path}' does not let this process (${whoIAm()}) search it (x permission)`;
    default:
      return undefined;
  }
}

function accessHint(subject: Extract<HintSubject, { object: unknown }>): string {
  const found = find(subject);
  const noun = subject.object === 'segment' ? 'segment' : 'set';
  const fix =
    subject.object === 'segment'
      ? 'run as its owner, or have the owner grant access (mode when creating it, or shmctl(id, IPC_SET, { mode }))'
      : 'run as its owner, or have the owner grant access (mode when creating it, or semctl(id, 0, IPC_SET, { mode }))';
  if (found === undefined) return `this process is ${whoIAm()}; ${fix}`;
  const { perm } = found;
  const mine = fact(() => appliesToMe(perm));
  let text = `the ${noun} is owned by uid ${perm.uid} (gid ${perm.gid}, creator uid ${perm.cuid}) with mode ${octal(perm.mode)}; this process is ${whoIAm()}`;
  if (mine !== undefined) text += `, so the ${mine.who} bits apply and grant ${grants(mine.bits)}`;
  text += `: ${fix}`;
  const attaching = subject.object === 'segment' && 'id' in subject && subject.shmflg !== undefined;
  if (attaching && mine !== undefined && (mine.bits & 4) !== 0 && ((subject.shmflg ?? 0) & SHM_RDONLY) === 0) {
    text += '; or attach it read-only (SHM_RDONLY; readOnly: true), which reading alone allows';
  }
  return text;
}

function ownerHint(subject: Extract<HintSubject, { object: unknown }>): string {
  const found = find(subject);
  const owners = found === undefined ? '' : `the owner is uid ${found.perm.uid} and the creator uid ${found.perm.cuid}, and `;
  return `${owners}this process is ${whoIAm()}`;
}

function sizeHint(key: number, size: number): string | undefined {
  const existing = find({ object: 'segment', key, size, flags: 0 });
  if (existing !== undefined) {
    if (existing.size >= size) return undefined;
    return `the segment with this key has ${existing.size} bytes: ask for at most that, or 0 to open it whatever its size (what SharedMemory.open does)`;
  }
  const limits = fact(() => native.shmctlInfo(IPC_INFO));
  if (limits === undefined || typeof limits === 'number') return 'a new segment must have shmmin to shmmax bytes (shmkit limits)';
  const { shmmin, shmmax } = limits[1] as { shmmin: bigint; shmmax: bigint };
  const n = BigInt(size);
  if (n < shmmin) return `a new segment has at least shmmin (${shmmin}) bytes`;
  if (n > shmmax) return `this is above shmmax, ${shmmax} bytes (sysctl kernel.shmmax; shmkit limits)`;
  return undefined;
}

function nsemsHint(key: number, nsems: number): string | undefined {
  const semmsl = fact(() => {
    const info = native.semctlInfo(IPC_INFO);
    return typeof info === 'number' ? undefined : info[1].semmsl;
  });
  if (semmsl !== undefined && (nsems < 0 || nsems > semmsl)) {
    return `a set has 0 to semmsl (${semmsl}) semaphores (semmsl is the first field of sysctl kernel.sem; shmkit limits)`;
  }
  const existing = find({ object: 'set', key, nsems, flags: 0 });
  if (existing !== undefined) {
    if (existing.size >= nsems) return undefined;
    return `the set with this key has ${existing.size} semaphores: ask for at most that, or 0 to open it whatever its size`;
  }
  return nsems === 0 ? 'a new set needs at least 1 semaphore' : undefined;
}

function leftovers(object: 'segment' | 'set'): string {
  const tools = object === 'segment' ? 'shmkit ls, shmkit rm --orphans' : 'shmkit ls -s, shmkit rm -s --key KEY';
  return `look for leftovers first (${tools}), or raise the limit (root)`;
}

function shmSpaceHint(size: number): string {
  const limits = fact(() => native.shmctlInfo(IPC_INFO));
  const usage = fact(() => native.shmctlInfo(SHM_INFO));
  if (limits !== undefined && typeof limits !== 'number' && usage !== undefined && typeof usage !== 'number') {
    const { shmmni, shmall } = limits[1] as { shmmni: bigint; shmall: bigint };
    const { used_ids: used, shm_tot: total } = usage[1] as { used_ids: number; shm_tot: bigint };
    if (BigInt(used) >= shmmni) {
      return `the system has ${count(used, 'segment')}, as many as shmmni allows (sysctl kernel.shmmni; shmkit limits): ${leftovers('segment')}`;
    }
    const pages = (BigInt(size) + BigInt(PAGE_SIZE) - 1n) / BigInt(PAGE_SIZE);
    if (total + pages > shmall) {
      return (
        `${count(total, 'page')} of ${PAGE_SIZE} bytes in use, and this segment needs ${pages} more: over shmall (${count(shmall, 'page')}; ` +
        `sysctl kernel.shmall; shmkit limits): ${leftovers('segment')}`
      );
    }
  }
  return `the number of segments (shmmni) or their total size (shmall) is at its limit (sysctl kernel.shmmni, kernel.shmall; shmkit limits): ${leftovers('segment')}`;
}

function semSpaceHint(nsems: number): string {
  const limits = fact(() => native.semctlInfo(IPC_INFO));
  const usage = fact(() => native.semctlInfo(SEM_INFO));
  const field = 'sysctl kernel.sem is "semmsl semmns semopm semmni"; shmkit limits';
  if (limits !== undefined && typeof limits !== 'number' && usage !== undefined && typeof usage !== 'number') {
    const { semmni = 0, semmns = 0 } = limits[1];
    // From SEM_INFO, semusz is the number of sets in use and semaem that of semaphores.
    const { semusz = 0, semaem = 0 } = usage[1];
    if (semusz >= semmni) return `the system has ${count(semusz, 'set')}, as many as semmni allows (${field}): ${leftovers('set')}`;
    if (semaem + nsems > semmns) {
      return `${count(semaem, 'semaphore')} in use, and this set needs ${nsems} more: over semmns (${semmns}; ${field}): ${leftovers('set')}`;
    }
  }
  return `the number of sets (semmni) or of semaphores (semmns) is at its limit (${field}): ${leftovers('set')}`;
}

function shmMemoryHint(size: number, flags: number): string {
  if ((flags & SHM_HUGETLB) !== 0) {
    return `no huge pages for ${size} bytes (sysctl vm.nr_hugepages; an unprivileged user also needs vm.hugetlb_shm_group or RLIMIT_MEMLOCK)`;
  }
  const { MemTotal: ram, SwapTotal: swap } = meminfo('MemTotal', 'SwapTotal');
  const overcommit = sysctl('vm.overcommit_memory');
  const machine = ram === undefined ? '' : ` (RAM ${bytes(ram)}${swap === undefined ? '' : `, swap ${bytes(swap)}`})`;
  return (
    `the kernel will not commit ${bytes(size)} of memory: more than this machine can back${machine}` +
    `${overcommit === undefined ? '' : `, under sysctl vm.overcommit_memory ${overcommit}`}; ` +
    'this is the memory limit, not shmmax or shmall (shmkit limits)'
  );
}

/**
 * For an id that names nothing (EINVAL where the id is the only possible cause:
 * shmat with the kernel choosing the address, IPC_STAT): why, and how to see
 * what there is. No facts to gather: the kernel has just said the id is unknown.
 */
export function unknownIdHint(object: 'segment' | 'set' | 'queue'): string {
  const [noun, flag, goes] =
    object === 'segment'
      ? ['segment', '', '; a private or autoRemove segment goes when its last process detaches']
      : object === 'set'
        ? ['semaphore set', ' -s', '']
        : ['message queue', ' -q', ''];
  return (
    `no ${noun} has this id in this IPC namespace: it was removed (remove(), shmkit rm${flag}, ipcrm${goes}), ` +
    `or the id comes from another IPC namespace (another container) or an earlier boot; shmkit ls${flag} lists those there are`
  );
}

function removedHint(object: 'segment' | 'set'): string {
  const noun = object === 'segment' ? 'segment' : 'set';
  return (
    `someone removed it (IPC_RMID: remove(), shmkit rm, ipcrm) while this process was using it; ` +
    `remove a shared ${noun} only once every process is done with it, or tell them first`
  );
}
