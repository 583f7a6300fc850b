// The machine's segments as the CLI sees them, built only on the public API:
// shmctl(SHM_INFO) for the table's extent, shmctl(index, SHM_STAT_ANY) for each
// slot (no read permission needed, like ipcs and /proc/sysvipc/shm).
import { IpcError, SHM_DEST, SHM_INFO, SHM_LOCKED, SHM_STAT, SHM_STAT_ANY, shmctl, type ShmidDs } from '../index.js';
import { scanTable } from './ipc-table.js';
import { CliError, ipcCliError } from './command.js';
import { hexKey } from './format.js';
import { isAlive, procSegments, type ProcSegment, userName } from './proc.js';

/** One segment, as `ls --json` prints it (the shape is fixed by DESIGN.md and documented in docs/cli.md). */
export interface SegmentRow {
  key: number;
  id: number;
  owner: string;
  uid: number;
  perms: number;
  /** shm_segsz; a decimal string past 2^53, which a number would round (as `ls -p` sizes). */
  bytes: number | string;
  nattch: number;
  dest: boolean;
  locked: boolean;
  cpid: number;
  lpid: number;
  /** null: the creator is not visible from this PID namespace (cpid 0), so nobody can tell. */
  creatorAlive: boolean | null;
  /** false also when nobody ever attached (lpid 0); null when the last user is not visible from here. */
  lastAlive: boolean | null;
  residentBytes: number | null;
}

export interface Segment {
  id: number;
  ds: ShmidDs;
}

/** Every segment in this IPC namespace, in the kernel's table order (as ipcs lists them). */
export function listSegments(): Segment[] {
  const info = shmctl(0, SHM_INFO);
  return scanTable<ShmidDs>(info.highest_index, info.used_ids, (index, any) => shmctl(index, any ? SHM_STAT_ANY : SHM_STAT));
}

/** The segment with this id, or a CliError naming `arg`. */
export function findSegment(id: number, arg: string): Segment {
  const segment = listSegments().find((s) => s.id === id);
  if (!segment) throw new CliError(arg, 'EINVAL', 'no such segment');
  return segment;
}

/**
 * The segment that has this key (only a live, unremoved segment has one;
 * parseKey refuses 0, IPC_PRIVATE, the key of removed and private ones), or a CliError.
 */
export function findSegmentByKey(key: number, arg: string): Segment {
  const segment = listSegments().find((s) => s.ds.shm_perm.key === key);
  if (!segment) throw new CliError(arg, 'ENOENT', `no segment has key ${hexKey(key)}`);
  return segment;
}

/**
 * A segment's size as the CLI prints it: a number up to 2^53, past it the
 * exact decimal string. shmctl gives shm_segsz as a double, which rounds
 * there (9007199254740993 reads ...992); /proc/sysvipc/shm (`proc`) has it
 * exactly. Without it, the double's own value, which is near.
 */
export function segmentSize(ds: ShmidDs, proc: ProcSegment | undefined): number | string {
  if (Number.isSafeInteger(ds.shm_segsz)) return ds.shm_segsz;
  // The same segment only if the exact size rounds to the double (an id removed and reused meanwhile would not).
  const exact = proc !== undefined && Number(proc.size) === ds.shm_segsz ? proc.size : BigInt(ds.shm_segsz);
  return exact <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(exact) : exact.toString();
}

/** The JSON row of a segment; `proc` from {@link procSegments}. */
export function segmentRow(segment: Segment, proc: Map<number, ProcSegment>): SegmentRow {
  const { ds } = segment;
  const known = proc.get(segment.id);
  return {
    key: ds.shm_perm.key,
    id: segment.id,
    owner: userName(ds.shm_perm.uid),
    uid: ds.shm_perm.uid,
    perms: ds.shm_perm.mode & 0o777,
    bytes: segmentSize(ds, known),
    nattch: ds.shm_nattch,
    dest: (ds.shm_perm.mode & SHM_DEST) !== 0,
    locked: (ds.shm_perm.mode & SHM_LOCKED) !== 0,
    cpid: ds.shm_cpid,
    lpid: ds.shm_lpid,
    creatorAlive: isAlive(ds.shm_cpid),
    lastAlive: neverAttached(ds) ? false : isAlive(ds.shm_lpid),
    residentBytes: known?.resident ?? null,
  };
}

/** Rows of every segment. */
export function segmentRows(): SegmentRow[] {
  const proc = procSegments();
  return listSegments().map((s) => segmentRow(s, proc));
}

/** lpid 0 is "nobody" only when the segment was never attached (no attach or detach time). */
function neverAttached(ds: ShmidDs): boolean {
  return ds.shm_lpid === 0 && ds.shm_atime === 0 && ds.shm_dtime === 0;
}

function pidWords(who: string, pid: number, alive: boolean | null): string {
  if (alive === null) return `${who} is not visible from this PID namespace (pid ${pid}): unknown, not dead`;
  return `${who} ${pid} ${alive ? 'lives' : 'is dead'}`;
}

/** Whether `rm --orphans` removes a segment, and why (or why not), in words. */
export interface OrphanVerdict {
  orphan: boolean;
  reason: string;
}

/**
 * Judges whether a segment is abandoned: nobody attached, and its creator
 * and last user both known dead (a pid the kernel reports as 0, from another
 * PID namespace, is unknown, never dead), so no process is left that knows to
 * use or remove it. A segment with a key can still be found again by any
 * program that knows the key (it may be meant to outlive its creator, as a
 * writer's data outlives the writer until the reader comes): it counts only
 * with `includeKeyed`.
 */
export function judgeOrphan(row: SegmentRow, { includeKeyed = false } = {}): OrphanVerdict {
  if (row.nattch > 0) return { orphan: false, reason: `attached by ${row.nattch} process${row.nattch === 1 ? '' : 'es'}` };
  if (row.creatorAlive !== false) return { orphan: false, reason: pidWords('its creator', row.cpid, row.creatorAlive) };
  if (row.lastAlive !== false) return { orphan: false, reason: pidWords('its last user', row.lpid, row.lastAlive) };
  const last = row.lpid === 0 ? 'never attached' : `last user ${row.lpid} dead`;
  if (row.key !== 0 && !includeKeyed) {
    return { orphan: false, reason: `has key ${hexKey(row.key)}: a program can still find it (--include-keyed removes it)` };
  }
  const key = row.key === 0 ? 'no key' : `key ${hexKey(row.key)}`;
  return { orphan: true, reason: `${key}, nobody attached, creator ${row.cpid} dead, ${last}` };
}

/** The command's words for an IpcError about a segment, for `shmkit CMD: ARG: CODE text`; undefined where the message says it. */
export function segmentErrorText(error: IpcError): string | undefined {
  switch (error.code) {
    case 'EINVAL':
      return 'no such segment';
    case 'EIDRM':
      return 'the segment was removed';
    case 'EACCES':
      return 'permission denied';
    case 'EPERM':
      return 'not permitted (only the owner, the creator or a process with CAP_SYS_ADMIN)';
    case 'ENOENT':
      return 'no segment has this key';
    case 'EEXIST':
      return 'a segment with this key exists';
    case 'ENOSPC':
      return 'the system limit of segments or of shared memory (shmmni, shmall) is reached';
    case 'ENOMEM':
      return 'out of memory';
    default:
      return undefined;
  }
}

/**
 * Runs `fn`, turning an IpcError into a CliError about `arg`; `special` gives
 * other words (and argument) for some codes.
 */
export function onSegment<T>(arg: string, fn: () => T, special: Record<string, [string, string]> = {}): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof IpcError)) throw error;
    const [specialArg, text] = special[error.code] ?? [arg, segmentErrorText(error)];
    throw ipcCliError(specialArg, error, text);
  }
}
