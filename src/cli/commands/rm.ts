import type { Writable } from 'node:stream';
import { IPC_RMID, shmctl } from '../../index.js';
import { parse, parseId, parseKey } from '../args.js';
import { CliError, CliErrors, UsageError, writeOut, type Command } from '../command.js';
import { clip, hexKey, lines, toJson } from '../format.js';
import { canRemoveOthers, euid, procSegments } from '../proc.js';
import { judgeOrphan, listSegments, onSegment, segmentRow, type SegmentRow } from '../segments.js';
import { listQueues, onQueue, queueRow, removeQueue, type QueueRow } from '../queues.js';
import { listSemaphoreSets, onSemaphoreSet, removeSemaphoreSet, semaphoreRow, type SemaphoreRow } from '../semaphores.js';
import { outputWidth, useColor } from '../table.js';
import { listingLines } from '../views.js';

type Row = SegmentRow | SemaphoreRow | QueueRow;

interface Target<R extends Row> {
  row: R;
  arg: string;
  /** With --orphans: why it goes (or, in the kept list, why it stays). */
  reason?: string;
}

interface Request {
  ids: [number, string][];
  keys: [number, string][];
  orphans: boolean;
  includeKeyed: boolean;
  all: boolean;
}

/**
 * Picks what goes. Another user's object is never picked by key, --orphans
 * or --all, and by id only when this process has CAP_SYS_ADMIN or made it
 * (`cuids`: the creator's uid by id): the kernel's rule for IPC_RMID, as
 * ipcrm meets it. Root without the capability is refused like anyone else.
 */
function select<R extends Row>(
  rows: R[],
  cuids: Map<number, number>,
  request: Request,
  kind: string,
  errors: CliError[],
  kept: Target<R>[] = [],
): Target<R>[] {
  const me = euid();
  const admin = canRemoveOthers();
  const mine = (row: R) => row.uid === me;
  const picked = new Map<number, Target<R>>();
  for (const [id, arg] of request.ids) {
    const row = rows.find((r) => r.id === id);
    if (!row) errors.push(new CliError(arg, 'EINVAL', `no such ${kind}`));
    else if (!mine(row) && !admin && cuids.get(id) !== me)
      errors.push(new CliError(arg, 'EPERM', `${kind} owned by ${row.owner}, not by you`));
    else if (!picked.has(id)) picked.set(id, { row, arg });
  }
  for (const [key, arg] of request.keys) {
    const row = rows.find((r) => r.key === key);
    if (!row) errors.push(new CliError(arg, 'ENOENT', `no ${kind} has this key`));
    else if (!mine(row))
      errors.push(
        new CliError(arg, 'EPERM', `${kind} owned by ${row.owner}, not by you${admin ? ' (you have CAP_SYS_ADMIN: remove it by id)' : ''}`),
      );
    else if (!picked.has(row.id)) picked.set(row.id, { row, arg });
  }
  for (const row of rows) {
    if (!mine(row) || picked.has(row.id)) continue;
    if (request.all) picked.set(row.id, { row, arg: String(row.id) });
    else if (request.orphans) {
      const verdict = judgeOrphan(row as SegmentRow, { includeKeyed: request.includeKeyed });
      const target = { row, arg: String(row.id), reason: verdict.reason };
      if (verdict.orphan) picked.set(row.id, target);
      else if ((row as SegmentRow).nattch === 0) kept.push(target);
    }
  }
  return [...picked.values()];
}

/** `rm --orphans --dry-run`: each candidate with the reason it goes, then the unattached ones that stay and why. */
async function writeOrphanReport(out: Writable, going: Target<Row>[], staying: Target<Row>[], json: boolean): Promise<void> {
  if (json) {
    const withReason = (t: Target<Row>) => ({ ...t.row, reason: t.reason });
    await writeOut(out, toJson({ segments: going.map(withReason), kept: staying.map(withReason) }));
    return;
  }
  const line = (verb: string, t: Target<Row>) =>
    `${verb} shmid ${t.row.id} (key ${hexKey(t.row.key)}, ${(t.row as SegmentRow).bytes} bytes): ${t.reason}`;
  const text = [...going.map((t) => line('would remove', t)), ...staying.map((t) => line('keeps', t))];
  if (text.length > 0) await writeOut(out, lines(text));
}

export const rm: Command = {
  name: 'rm',
  summary: 'remove segments, (-s) semaphore sets or (-q) message queues: by id, by key, orphans, all yours',
  help: `Usage: shmkit rm [-s] ID...
       shmkit rm [-s] --key KEY [--key KEY...]
       shmkit rm --orphans [--include-keyed]
       shmkit rm [-s] --all
       shmkit rm -q ID... | --key KEY... | --all
       (each with --dry-run [--json] to see what would go)

Removes segments (IPC_RMID: a segment still attached goes when its last
process detaches; ls shows it as "dest" until then) or, with -s, semaphore
sets (at once; processes waiting on them fail with EIDRM) or, with -q,
message queues (at once, with their messages; waiters fail with EIDRM).

Only your own objects are removed: --key, --orphans and --all skip or refuse
those of other users, and an id of another user's object is refused unless
you have CAP_SYS_ADMIN (root usually has it) or created it, as the kernel
allows. Errors are
reported one a line; the others still go.

Options:
  -s, --sem        semaphore sets instead of segments
  -q, --queue      message queues instead of segments
      --key KEY    the object with this key (0x1234abcd or decimal)
      --orphans    segments nobody can find again: no key (IPC_PRIVATE), nobody
                   attached, creator and last user (cpid, lpid) both known dead.
                   A pid from a PID namespace not visible here (shown as 0) is
                   unknown, never dead: such a segment stays
      --include-keyed  with --orphans: also segments with a key (a key lets a
                   program come back for data its creator left)
      --all        all of your segments (or, with -s, semaphore sets)
  -n, --dry-run    print what would be removed, remove nothing; with --orphans,
                   why each one qualifies, and why unattached ones stay
      --json       with --dry-run: the rows as ls --json prints them (with
                   --orphans each has a "reason", and "kept" lists the others)
`,
  async run(argv, io) {
    const { values, positionals } = parse(
      argv,
      {
        sem: { type: 'boolean', short: 's' },
        queue: { type: 'boolean', short: 'q' },
        key: { type: 'string', multiple: true },
        orphans: { type: 'boolean' },
        'include-keyed': { type: 'boolean' },
        all: { type: 'boolean' },
        'dry-run': { type: 'boolean', short: 'n' },
        json: { type: 'boolean' },
      },
      true,
    );
    const keys = (values.key ?? []).map((k): [number, string] => [parseKey(k), `--key ${k}`]);
    const ids = positionals.map((p): [number, string] => [parseId(p), p]);
    // What picks the objects, by the argument that asked: ids and --key go together, --orphans and --all alone.
    const modes = [
      positionals[0] !== undefined ? `the id ${clip(positionals[0])}` : keys.length > 0 ? '--key' : undefined,
      values.orphans ? '--orphans' : undefined,
      values.all ? '--all' : undefined,
    ].filter((m) => m !== undefined);
    if (modes.length === 0) throw new UsageError(undefined, 'ERR_MISSING_ARGS', 'give ids, --key, --orphans or --all (one kind)');
    if (modes.length > 1) {
      throw new UsageError(
        modes[1],
        'ERR_INCOMPATIBLE_OPTION_PAIR',
        `both ${modes[0]} and ${modes[1]} were given: give ids, --key, --orphans or --all (one kind)`,
      );
    }
    if (values['include-keyed'] && !values.orphans) throw new UsageError('--include-keyed', 'ERR_INVALID_ARG_VALUE', 'only with --orphans');
    if (values.sem && values.queue)
      throw new UsageError('-q', 'ERR_INCOMPATIBLE_OPTION_PAIR', 'both -s and -q were given: give one of them');
    if (values.orphans && values.queue)
      throw new UsageError('--orphans', 'ERR_INVALID_ARG_VALUE', 'applies to segments only (a message queue has no attachments)');
    if (values.orphans && values.sem)
      throw new UsageError('--orphans', 'ERR_INVALID_ARG_VALUE', 'applies to segments only (a semaphore set has no attachments)');
    if (values.json && !values['dry-run'])
      throw new UsageError('--json', 'ERR_INVALID_ARG_VALUE', 'only with --dry-run (rm prints nothing when it removes)');
    const request = {
      ids,
      keys,
      orphans: values.orphans === true,
      includeKeyed: values['include-keyed'] === true,
      all: values.all === true,
    };
    const errors: CliError[] = [];
    const kept: Target<Row>[] = [];

    let targets: Target<Row>[];
    if (values.queue) {
      const queues = listQueues();
      const cuids = new Map(queues.map((q) => [q.id, q.ds.msg_perm.cuid]));
      targets = select(queues.map(queueRow), cuids, request, 'message queue', errors);
    } else if (values.sem) {
      const sets = listSemaphoreSets();
      const cuids = new Map(sets.map((s) => [s.id, s.ds.sem_perm.cuid]));
      targets = select(sets.map(semaphoreRow), cuids, request, 'semaphore set', errors);
    } else {
      const proc = procSegments();
      const segments = listSegments();
      const cuids = new Map(segments.map((s) => [s.id, s.ds.shm_perm.cuid]));
      targets = select<Row>(
        segments.map((s) => segmentRow(s, proc)),
        cuids,
        request,
        'segment',
        errors,
        kept,
      );
    }

    if (values['dry-run']) {
      // As the real run: what would go is shown, and a bad id is reported on its own line (exit 1).
      if (request.orphans) {
        await writeOrphanReport(io.stdout, targets, kept, values.json === true);
        if (errors.length > 0) throw new CliErrors(errors);
        return 0;
      }
      const rows = targets.map((t) => t.row);
      const listing = values.queue
        ? { queues: rows as QueueRow[] }
        : values.sem
          ? { semaphores: rows as SemaphoreRow[] }
          : { segments: rows as SegmentRow[] };
      if (values.json) await writeOut(io.stdout, toJson(listing));
      else if (rows.length > 0)
        await writeOut(io.stdout, lines(listingLines(listing, { width: outputWidth(io.stdout), color: useColor(io.stdout) })));
      if (errors.length > 0) throw new CliErrors(errors);
      return 0;
    }

    if (request.orphans) {
      // Judged again just before removing: a process may have attached meanwhile.
      const now = new Map(listSegments().map((s) => [s.id, s]));
      targets = targets.filter(({ row }) => {
        const segment = now.get(row.id);
        return segment !== undefined && judgeOrphan(segmentRow(segment, new Map()), { includeKeyed: request.includeKeyed }).orphan;
      });
    }
    for (const { row, arg } of targets) {
      try {
        if (values.queue) onQueue(arg, () => removeQueue(row.id));
        else if (values.sem) onSemaphoreSet(arg, () => removeSemaphoreSet(row.id));
        else onSegment(arg, () => shmctl(row.id, IPC_RMID));
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new CliErrors(errors);
    return 0;
  },
};
