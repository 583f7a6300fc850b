// What the System V calls do not tell and Linux shows in files: user and
// group names, whether a pid is a live process, a segment's resident size.
import { readFileSync, readlinkSync } from 'node:fs';

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function nameTable(path: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of readOrEmpty(path).split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && /^\d+$/.test(id) && !names.has(Number(id))) names.set(Number(id), name);
  }
  return names;
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

/**
 * The name of a uid from /etc/passwd, or the number as text (what ipcs
 * prints when getpwuid finds nothing; users known only to NSS show as numbers).
 */
export function userName(uid: number): string {
  users ??= nameTable('/etc/passwd');
  return users.get(uid) ?? String(uid);
}

/** The name of a gid from /etc/group, or the number as text. */
export function groupName(gid: number): string {
  groups ??= nameTable('/etc/group');
  return groups.get(gid) ?? String(gid);
}

let procIsOurs: boolean | undefined;

/**
 * Whether /proc shows this PID namespace (false in a new PID namespace whose
 * /proc was not remounted, where its numbers are another namespace's).
 */
function procShowsOurPids(): boolean {
  if (procIsOurs === undefined) {
    try {
      procIsOurs = Number(readlinkSync('/proc/self')) === process.pid;
    } catch {
      procIsOurs = false;
    }
  }
  return procIsOurs;
}

/**
 * Whether `pid`, as the kernel gave it to this process, is a running process:
 * true, false, or null when nobody can tell from here. The kernel reports a
 * process of a PID namespace this one cannot see as pid 0: that is null
 * (unknown), never dead. A zombie is dead (it will never attach again). A pid
 * reused by another process counts as alive: the error is on the safe side
 * for `rm --orphans`.
 */
export function isAlive(pid: number): boolean | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    if (code !== 'EPERM') return null; // another user's process answers EPERM: it exists
  }
  if (!procShowsOurPids()) return true;
  // "pid (comm) S ...": comm may hold spaces and parentheses. Unreadable (hidepid): kill found it.
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && state !== 'x';
}

/** The one line create, limits and demo print when kernel.shm_rmid_forced is set. */
export const RMID_FORCED_NOTE = 'kernel.shm_rmid_forced is 1: the kernel removes a segment as soon as nobody is attached to it, key or not';

/**
 * kernel.shm_rmid_forced of this IPC namespace: when true the kernel removes
 * a segment, key or not, as soon as nobody is attached to it (at the last
 * detach; for one never attached, when its creator exits). Null when
 * /proc/sys cannot be read.
 */
export function shmRmidForced(): boolean | null {
  const value = readOrEmpty('/proc/sys/kernel/shm_rmid_forced').trim();
  return value === '' ? null : value !== '0';
}

/** What /proc/sysvipc/shm says of one segment that shmctl does not, or not exactly. */
export interface ProcSegment {
  /** Bytes of the pages really touched (the rss column). */
  resident: number;
  /** shm_segsz exactly: shmctl's number rounds it past 2^53 (a segment made with SHM_NORESERVE can be that large). */
  size: bigint;
}

/** /proc/sysvipc/shm by shmid: resident bytes and exact sizes. Empty when the file cannot be read. */
export function procSegments(): Map<number, ProcSegment> {
  const result = new Map<number, ProcSegment>();
  const [header, ...rows] = readOrEmpty('/proc/sysvipc/shm').split('\n');
  const columns = header?.trim().split(/\s+/) ?? [];
  const idAt = columns.indexOf('shmid');
  const rssAt = columns.indexOf('rss');
  const sizeAt = columns.indexOf('size');
  if (idAt < 0 || rssAt < 0 || sizeAt < 0) return result;
  for (const row of rows) {
    const fields = row.trim().split(/\s+/);
    const id = Number(fields[idAt]);
    const rss = Number(fields[rssAt]);
    const size = fields[sizeAt] ?? '';
    if (fields.length > rssAt && Number.isInteger(id) && Number.isFinite(rss) && /^\d+$/.test(size)) {
      result.set(id, { resident: rss, size: BigInt(size) });
    }
  }
  return result;
}

/** This process's effective uid (whose objects `rm` may remove). */
export function euid(): number {
  return process.geteuid?.() ?? process.getuid?.() ?? -1;
}

/** CAP_SYS_ADMIN's bit in the capability sets (linux/capability.h). */
const CAP_SYS_ADMIN = 21n;

/**
 * Whether this process may remove another user's IPC objects: the kernel
 * (ipcctl_obtain_check) lets the owner, the creator, or a process with
 * CAP_SYS_ADMIN do IPC_RMID, not root as such; root without the capability
 * (capsh --drop=cap_sys_admin, many containers) is refused. Read from
 * /proc/self/status's CapEff; without it, whether this is root.
 */
export function canRemoveOthers(): boolean {
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readOrEmpty('/proc/self/status'))?.[1];
  if (capEff === undefined) return euid() === 0;
  return ((BigInt(`0x${capEff}`) >> CAP_SYS_ADMIN) & 1n) === 1n;
}
