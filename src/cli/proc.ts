// What the System V calls do not tell and Linux shows in files: user and
// group names, whether a pid is a live process, a segment's resident size.
import { readFileSync } from 'node:fs';

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

/**
 * Whether `pid` is a running process in this pid namespace. 0 (the kernel's
 * answer for a process it cannot name here) and zombies count as dead. A pid
 * reused by another process counts as alive: the error is on the safe side
 * for `rm --orphans`.
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  if (stat === '') return false;
  // "pid (comm) S ...": comm may hold spaces and parentheses.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && state !== 'x';
}

/**
 * Resident bytes of every segment by id, from /proc/sysvipc/shm's rss column
 * (the pages really touched, in bytes). Empty when the file cannot be read.
 */
export function residentBytes(): Map<number, number> {
  const result = new Map<number, number>();
  const [header, ...rows] = readOrEmpty('/proc/sysvipc/shm').split('\n');
  const columns = header?.trim().split(/\s+/) ?? [];
  const idAt = columns.indexOf('shmid');
  const rssAt = columns.indexOf('rss');
  if (idAt < 0 || rssAt < 0) return result;
  for (const row of rows) {
    const fields = row.trim().split(/\s+/);
    const id = Number(fields[idAt]);
    const rss = Number(fields[rssAt]);
    if (fields.length > rssAt && Number.isInteger(id) && Number.isFinite(rss)) result.set(id, rss);
  }
  return result;
}

/** This process's effective uid (whose objects `rm` may remove). */
export function euid(): number {
  return process.geteuid?.() ?? process.getuid?.() ?? -1;
}
