// The machine's POSIX shared-memory objects: the files of /dev/shm, where
// glibc's shm_open keeps them (named semaphores, "sem.NAME", are left out).
import { type Dirent, readdirSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { userName } from './proc.js';

/** Where shm_open keeps its objects on Linux (glibc and musl). */
export const SHM_DIR = '/dev/shm';

/** One object, as `ls -p --json` prints it. */
export interface PosixRow {
  /** The name as shm_open takes it: "/" and the file's name. */
  name: string;
  owner: string;
  uid: number;
  gid: number;
  perms: number;
  bytes: number;
  /** Bytes of memory the object holds (tmpfs pages, st_blocks; includes swapped-out ones), null if unknown. */
  residentBytes: number | null;
  /** Last modification, epoch seconds. */
  mtime: number;
}

/** Every object in /dev/shm, by name; none when there is no /dev/shm. */
export function posixRows(dir = SHM_DIR): PosixRow[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const rows: PosixRow[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || entry.name.startsWith('sem.')) continue;
    let stats: Stats;
    try {
      stats = statSync(join(dir, entry.name));
    } catch {
      continue; // unlinked meanwhile
    }
    rows.push({
      name: `/${entry.name}`,
      owner: userName(stats.uid),
      uid: stats.uid,
      gid: stats.gid,
      perms: stats.mode & 0o777,
      bytes: stats.size,
      residentBytes: Number.isFinite(stats.blocks) ? stats.blocks * 512 : null,
      mtime: Math.floor(stats.mtimeMs / 1000),
    });
  }
  return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
