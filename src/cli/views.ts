// The human tables of segments and semaphore sets, shared by ls, watch and rm --dry-run.
import { hexKey, octal, printable } from './format.js';
import type { PosixRow } from './posix.js';
import type { SegmentRow } from './segments.js';
import type { QueueRow } from './queues.js';
import type { SemaphoreRow } from './semaphores.js';
import { renderTable, type Column, type TableOptions } from './table.js';

// "?" is a process of a PID namespace not visible from here (the kernel says pid 0).
function pid(pid: number, alive: boolean | null): string {
  if (pid === 0) return alive === null ? '?' : '-';
  return `${pid}${alive === false ? ' (gone)' : ''}`;
}

// The ipcs -m columns first; pids and resident size are dropped first on a narrow terminal.
const SEGMENT_COLUMNS: Column<SegmentRow>[] = [
  { header: 'key', cell: (r) => hexKey(r.key) },
  { header: 'shmid', cell: (r) => String(r.id), align: 'right' },
  { header: 'owner', cell: (r) => r.owner, drop: 4 },
  { header: 'perms', cell: (r) => octal(r.perms), drop: 3 },
  { header: 'bytes', cell: (r) => String(r.bytes), align: 'right' },
  { header: 'nattch', cell: (r) => String(r.nattch), align: 'right' },
  {
    header: 'status',
    cell: (r) => [r.dest ? 'dest' : '', r.locked ? 'locked' : ''].filter(Boolean).join(' '),
    style: (r) => (r.dest ? 'yellow' : undefined),
  },
  { header: 'resident', cell: (r) => (r.residentBytes === null ? '?' : String(r.residentBytes)), align: 'right', drop: 2 },
  { header: 'cpid', cell: (r) => pid(r.cpid, r.creatorAlive), drop: 1, style: (r) => (r.creatorAlive === false ? 'dim' : undefined) },
  { header: 'lpid', cell: (r) => pid(r.lpid, r.lastAlive), drop: 0, style: (r) => (r.lastAlive === false ? 'dim' : undefined) },
];

const SEMAPHORE_COLUMNS: Column<SemaphoreRow>[] = [
  { header: 'key', cell: (r) => hexKey(r.key) },
  { header: 'semid', cell: (r) => String(r.id), align: 'right' },
  { header: 'owner', cell: (r) => r.owner, drop: 1 },
  { header: 'perms', cell: (r) => octal(r.perms), drop: 0 },
  { header: 'nsems', cell: (r) => String(r.nsems), align: 'right' },
];

const POSIX_COLUMNS: Column<PosixRow>[] = [
  { header: 'name', cell: (r) => printable(r.name) },
  { header: 'owner', cell: (r) => r.owner, drop: 2 },
  { header: 'perms', cell: (r) => octal(r.perms), drop: 1 },
  { header: 'bytes', cell: (r) => String(r.bytes), align: 'right' },
  { header: 'resident', cell: (r) => (r.residentBytes === null ? '?' : String(r.residentBytes)), align: 'right', drop: 0 },
];

// The columns of ipcs -q.
const QUEUE_COLUMNS: Column<QueueRow>[] = [
  { header: 'key', cell: (r) => hexKey(r.key) },
  { header: 'msqid', cell: (r) => String(r.id), align: 'right' },
  { header: 'owner', cell: (r) => r.owner, drop: 1 },
  { header: 'perms', cell: (r) => octal(r.perms), drop: 0 },
  { header: 'used-bytes', cell: (r) => String(r.bytes), align: 'right' },
  { header: 'messages', cell: (r) => String(r.messages), align: 'right' },
];

export function queueTable(rows: readonly QueueRow[], options: TableOptions): string[] {
  return renderTable(QUEUE_COLUMNS, rows, options);
}

export function segmentTable(rows: readonly SegmentRow[], options: TableOptions): string[] {
  return renderTable(SEGMENT_COLUMNS, rows, options);
}

export function semaphoreTable(rows: readonly SemaphoreRow[], options: TableOptions): string[] {
  return renderTable(SEMAPHORE_COLUMNS, rows, options);
}

export function posixTable(rows: readonly PosixRow[], options: TableOptions): string[] {
  return renderTable(POSIX_COLUMNS, rows, options);
}

export interface Listing {
  segments?: SegmentRow[];
  semaphores?: SemaphoreRow[];
  posix?: PosixRow[];
  queues?: QueueRow[];
}

/** The lines of `ls`: one table, or each under a title when several kinds were asked for. */
export function listingLines(listing: Listing, options: TableOptions): string[] {
  const both = [listing.segments, listing.semaphores, listing.queues, listing.posix].filter((rows) => rows !== undefined).length > 1;
  const out: string[] = [];
  if (listing.segments !== undefined) {
    if (both) out.push('Shared memory segments');
    out.push(...segmentTable(listing.segments, options));
  }
  if (listing.semaphores !== undefined) {
    if (both) out.push(...(out.length > 0 ? [''] : []), 'Semaphore sets');
    out.push(...semaphoreTable(listing.semaphores, options));
  }
  if (listing.queues !== undefined) {
    if (both) out.push(...(out.length > 0 ? [''] : []), 'Message queues');
    out.push(...queueTable(listing.queues, options));
  }
  if (listing.posix !== undefined) {
    if (both) out.push(...(out.length > 0 ? [''] : []), 'POSIX shared memory (/dev/shm)');
    out.push(...posixTable(listing.posix, options));
  }
  return out;
}
