import { SHM_DEST, SHM_LOCKED } from '../../index.js';
import { parse, parseId, parseKey } from '../args.js';
import { UsageError, writeOut, type Command } from '../command.js';
import { CLI_DOCS } from '../files.js';
import { clip, formatTime, hexKey, lines, toJson } from '../format.js';
import { groupName, isAlive, procSegments, userName } from '../proc.js';
import { findSegment, findSegmentByKey, segmentSize, type Segment } from '../segments.js';
import { findQueue, findQueueByKey, type QueueInfo } from '../queues.js';
import { findSemaphoreSet, findSemaphoreSetByKey, onSemaphoreSet, semValues, type SemaphoreSetInfo } from '../semaphores.js';
import { renderTable, useColor } from '../table.js';

function octal0(mode: number): string {
  return `0${mode.toString(8)}`;
}

function who(uid: number, gid: number): string {
  return `${userName(uid)} (uid ${uid}), group ${groupName(gid)} (gid ${gid})`;
}

function pidText(pid: number, never = false): string {
  if (pid === 0) return never ? '0 (never attached)' : '0 (not visible from this PID namespace)';
  const alive = isAlive(pid);
  return `${pid} (${alive === null ? 'unknown' : alive ? 'alive' : 'gone'})`;
}

/** The fields of ipcs -m -i, named, one a line. */
function segmentLines(segment: Segment, bytes: number | string, rss: number | undefined): string[] {
  const { ds, id } = segment;
  const p = ds.shm_perm;
  const status = [p.mode & SHM_DEST ? 'dest' : '', p.mode & SHM_LOCKED ? 'locked' : ''].filter(Boolean).join(' ');
  const rows: [string, string][] = [
    ['shmid', String(id)],
    ['key', hexKey(p.key)],
    ['owner', who(p.uid, p.gid)],
    ['creator', who(p.cuid, p.cgid)],
    ['mode', `${octal0(p.mode)} (access_perms ${octal0(p.mode & 0o777)})`],
    ['status', status || '-'],
    ['bytes', String(bytes)],
    ['resident', rss === undefined ? '?' : `${rss} bytes`],
    ['nattch', String(ds.shm_nattch)],
    ['cpid', pidText(ds.shm_cpid)],
    ['lpid', pidText(ds.shm_lpid, ds.shm_atime === 0 && ds.shm_dtime === 0)],
    ['att_time', formatTime(ds.shm_atime)],
    ['det_time', formatTime(ds.shm_dtime)],
    ['change_time', formatTime(ds.shm_ctime)],
    ['seq', String(p.seq)],
  ];
  return rows.map(([name, value]) => `${name.padEnd(12)}${value}`);
}

function semaphoreLines(set: SemaphoreSetInfo, values: ReturnType<typeof semValues>, color: boolean): string[] {
  const { ds, id } = set;
  const p = ds.sem_perm;
  const rows: [string, string][] = [
    ['semid', String(id)],
    ['key', hexKey(p.key)],
    ['owner', who(p.uid, p.gid)],
    ['creator', who(p.cuid, p.cgid)],
    ['mode', `${octal0(p.mode)} (access_perms ${octal0(p.mode & 0o777)})`],
    ['nsems', String(ds.sem_nsems)],
    ['otime', formatTime(ds.sem_otime)],
    ['ctime', formatTime(ds.sem_ctime)],
  ];
  const table = renderTable(
    [
      { header: 'semnum', cell: (v: (typeof values)[number]) => String(v.semnum), align: 'right' },
      { header: 'value', cell: (v) => String(v.semval), align: 'right' },
      { header: 'ncount', cell: (v) => String(v.semncnt), align: 'right' },
      { header: 'zcount', cell: (v) => String(v.semzcnt), align: 'right' },
      { header: 'pid', cell: (v) => String(v.sempid), align: 'right' },
    ],
    values,
    { color },
  );
  return [...rows.map(([name, value]) => `${name.padEnd(12)}${value}`), '', ...table];
}

/** The fields of ipcs -q -i, named, one a line. */
function queueLines(queue: QueueInfo): string[] {
  const { ds, id } = queue;
  const p = ds.msg_perm;
  const rows: [string, string][] = [
    ['msqid', String(id)],
    ['key', hexKey(p.key)],
    ['owner', who(p.uid, p.gid)],
    ['creator', who(p.cuid, p.cgid)],
    ['mode', `${octal0(p.mode)} (access_perms ${octal0(p.mode & 0o777)})`],
    ['cbytes', String(ds.msg_cbytes)],
    ['qbytes', String(ds.msg_qbytes)],
    ['qnum', String(ds.msg_qnum)],
    ['lspid', ds.msg_stime === 0 ? '- (nothing sent yet)' : pidText(ds.msg_lspid)],
    ['lrpid', ds.msg_rtime === 0 ? '- (nothing received yet)' : pidText(ds.msg_lrpid)],
    ['send_time', formatTime(ds.msg_stime)],
    ['rcv_time', formatTime(ds.msg_rtime)],
    ['change_time', formatTime(ds.msg_ctime)],
    ['seq', String(p.seq)],
  ];
  return rows.map(([name, value]) => `${name.padEnd(12)}${value}`);
}

export const stat: Command = {
  name: 'stat',
  summary: 'everything the kernel keeps about one segment, semaphore set or message queue (ipcs -i)',
  help: `Usage: shmkit stat ID [--json]
       shmkit stat --key KEY [--json]
       shmkit stat -s ID|--key KEY [--json]
       shmkit stat -q ID|--key KEY [--json]

Prints the kernel's structure of one segment (struct shmid_ds, all of
ipcs -m -i ID), with its resident size and whether its creator and last user
are alive. With -s, one semaphore set (struct semid_ds, ipcs -s -i ID) and
every semaphore's value, last pid, ncount and zcount. With -q, one message
queue (struct msqid_ds, ipcs -q -i ID).

Options:
  -s, --sem        a semaphore set
  -q, --queue      a message queue
      --key KEY    find it by key (0x1234abcd or decimal) instead of by id
      --json       the structure with the kernel's C field names, plus id;
                   times in seconds since the epoch (see ${CLI_DOCS})
`,
  async run(argv, io) {
    const { values, positionals } = parse(
      argv,
      { sem: { type: 'boolean', short: 's' }, queue: { type: 'boolean', short: 'q' }, key: { type: 'string' }, json: { type: 'boolean' } },
      true,
    );
    if (values.key !== undefined && positionals.length > 0) {
      throw new UsageError(
        positionals[0],
        'ERR_INCOMPATIBLE_OPTION_PAIR',
        `both an id and --key ${clip(values.key)} were given: give one of them`,
      );
    }
    if (values.key === undefined && positionals.length === 0)
      throw new UsageError(undefined, 'ERR_MISSING_ARGS', 'give an id or --key KEY');
    if (positionals.length > 1) throw new UsageError(positionals[1], 'ERR_UNEXPECTED_ARGUMENT', 'stat takes one id');
    const arg = values.key === undefined ? positionals[0]! : '--key';
    if (values.queue) {
      if (values.sem) throw new UsageError('-q', 'ERR_INCOMPATIBLE_OPTION_PAIR', 'both -s and -q were given: give one of them');
      const queue = values.key === undefined ? findQueue(parseId(arg), arg) : findQueueByKey(parseKey(values.key), `--key ${values.key}`);
      await writeOut(io.stdout, values.json ? toJson({ id: queue.id, ...queue.ds }) : lines(queueLines(queue)));
      return 0;
    }
    if (values.sem) {
      const set =
        values.key === undefined ? findSemaphoreSet(parseId(arg), arg) : findSemaphoreSetByKey(parseKey(values.key), `--key ${values.key}`);
      const sems = onSemaphoreSet(arg, () => semValues(set));
      await writeOut(
        io.stdout,
        values.json ? toJson({ id: set.id, ...set.ds, sems }) : lines(semaphoreLines(set, sems, useColor(io.stdout))),
      );
      return 0;
    }
    const segment =
      values.key === undefined ? findSegment(parseId(arg), arg) : findSegmentByKey(parseKey(values.key), `--key ${values.key}`);
    const proc = procSegments().get(segment.id);
    // shm_segsz past 2^53 as a decimal string, as ls --json has it.
    const bytes = segmentSize(segment.ds, proc);
    await writeOut(
      io.stdout,
      values.json ? toJson({ id: segment.id, ...segment.ds, shm_segsz: bytes }) : lines(segmentLines(segment, bytes, proc?.resident)),
    );
    return 0;
  },
};
