// The machine's POSIX shared-memory objects: the files of /dev/shm, where
// glibc's shm_open keeps them (named semaphores, "sem.NAME", are left out).
import { Buffer } from 'node:buffer';
import { type BigIntStats, type Dirent, readdirSync, statSync } from 'node:fs';
import { CliError } from './command.js';
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
  /** The size; a decimal string past 2^53 (a sparse file any user may truncate to that), which a number would round. */
  bytes: number | string;
  /** Bytes of memory the object holds (tmpfs pages, st_blocks; includes swapped-out ones), null if unknown. */
  residentBytes: number | null;
  /** Last modification, epoch seconds. */
  mtime: number;
}

/**
 * Every object in /dev/shm, by name; none when there is no /dev/shm. One that
 * cannot be read (EACCES) is an error naming it: an empty list would say
 * there are no objects.
 */
export function posixRows(dir = SHM_DIR): PosixRow[] {
  // Names as bytes: a name that is not UTF-8 read as a string has U+FFFD in
  // it, names no file, and its object went unlisted as if unlinked meanwhile.
  let entries: Dirent<Buffer>[];
  try {
    entries = readdirSync(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return [];
    // "EACCES: permission denied, scandir '/dev/shm'": the words alone.
    const text = message.replace(/^[A-Z0-9_]+: /, '').replace(/, \w+ '.*'$/, '');
    throw new CliError(dir, code ?? 'ERR_INTERNAL', `cannot be read: ${text}`);
  }
  const rows: PosixRow[] = [];
  const prefix = Buffer.from(`${dir}/`);
  for (const entry of entries) {
    const name = entry.name.toString('utf8');
    if (!entry.isFile() || name.startsWith('sem.')) continue;
    let stats: BigIntStats;
    try {
      stats = statSync(Buffer.concat([prefix, entry.name]), { bigint: true });
    } catch {
      continue; // unlinked meanwhile
    }
    rows.push({
      // Bytes that are not UTF-8 show as U+FFFD: such an object is listed, though shm_open cannot name it from JavaScript.
      name: `/${name}`,
      owner: userName(Number(stats.uid)),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      perms: Number(stats.mode) & 0o777,
      bytes: stats.size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(stats.size) : stats.size.toString(),
      residentBytes: Number(stats.blocks) * 512,
      mtime: Number(stats.mtimeMs / 1000n),
    });
  }
  return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
