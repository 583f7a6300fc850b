// shmkit rm --orphans removes only what nobody can find again, and never on a
// guess: keyed segments stay unless asked (--include-keyed), and a creator
// the kernel hides behind pid 0 (another PID namespace) is unknown, not dead.
// rm runs in this process (shmkitHere) where it can: what it decides depends
// on other processes, never on its own. Creators that must be gone, and the
// commands run in new PID namespaces, are real processes.
// Also kernel.shm_rmid_forced, which makes unattached segments vanish. The
// file runs in its own IPC namespace; some commands run in new PID namespaces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IPC_CREAT, IPC_PRIVATE, IPC_RMID, SharedMemory, shmctl, shmget } from 'shmkit';
import type { SegmentRow } from '../src/cli/segments.js';
import { assertNoLeaks, removeSegment } from './helpers/ipc.js';
import { runFileInPrivateIpc } from './helpers/namespaces.js';
import { shmkitHere } from './helpers/cli.js';
import { assertExitedCleanly, BIN, run, type RunResult } from './helpers/processes.js';
import { C_SHM_PEER, segmentExists } from './helpers/shm.js';
import { compileC } from './helpers/c.js';
import { SHMKIT_STEPS, shmkitSteps } from './helpers/shmkit-steps.js';

const skip = await runFileInPrivateIpc();
assertNoLeaks();

type Row = SegmentRow & { reason: string };
interface OrphanReport {
  segments: Row[];
  kept: Row[];
}

/**
 * Runs shmkit commands one after another in one process (helpers/shmkit-steps.ts),
 * pid 1 of a new PID namespace (same IPC namespace), as each ran before as pid 1 of one.
 */
function shmkitInNewPidNamespace(commands: readonly (readonly string[])[]): Promise<RunResult[]> {
  return shmkitSteps(commands, { unshare: ['--pid', '--fork', '--mount-proc'] });
}

const DRY_RUN = ['rm', '--orphans', '--dry-run', '--json'];

function ok(result: RunResult, what: string): string {
  assertExitedCleanly(result, what);
  return result.stdout;
}

function parseReport(result: RunResult): OrphanReport {
  return JSON.parse(ok(result, 'rm --dry-run')) as OrphanReport;
}

async function report(args: string[] = []): Promise<OrphanReport> {
  return parseReport(await shmkitHere([...DRY_RUN, ...args]));
}

// Creators, writers and last users that must be gone: the C program helpers/shm.ts's C_SHM_PEER,
// which makes a segment as `shmkit create` does (and writes to it) or attaches one and detaches, as
// SharedMemory.open().detach() does, and exits. What rm --orphans decides depends only on
// their pids being dead (or invisible); a C process costs about 1 ms of CPU, a Node or shmkit
// one 30 to 40 (compiled once, cached by its source: helpers/c.ts).
let compiled: Promise<string> | undefined;
const peer = () => (compiled ??= compileC('shm-peer', C_SHM_PEER));

/** Creates a segment (`key` 0: private) in a process that has exited; returns its id. */
async function createdByDeadProcess(key: number, size: number): Promise<number> {
  return Number(ok(await run(await peer(), [String(key), String(size)]), 'create'));
}

describe('rm --orphans and keyed segments', { skip }, () => {
  it("keeps a keyed segment whose creator is gone (the seeds' 0x5005); --include-keyed removes it", async () => {
    const id = await createdByDeadProcess(0x5005, 4096);
    try {
      const dry = await report();
      assert.deepEqual(dry.segments, []);
      assert.deepEqual(
        dry.kept.map((r) => [r.id, r.reason]),
        [[id, 'has key 0x00005005: a program can still find it (--include-keyed removes it)']],
      );
      const text = ok(await shmkitHere(['rm', '--orphans', '-n']), 'rm -n');
      assert.equal(
        text,
        `keeps shmid ${id} (key 0x00005005, 4096 bytes): has key 0x00005005: a program can still find it (--include-keyed removes it)\n`,
      );
      ok(await shmkitHere(['rm', '--orphans']), 'rm --orphans');
      assert.equal(segmentExists(id), true, 'still there');
      const keyed = await report(['--include-keyed']);
      assert.deepEqual(
        keyed.segments.map((r) => r.id),
        [id],
      );
      assert.match(keyed.segments[0]!.reason, /^key 0x00005005, nobody attached, creator \d+ dead, never attached$/);
      ok(await shmkitHere(['rm', '--orphans', '--include-keyed']), 'rm --orphans --include-keyed');
      assert.equal(segmentExists(id), false);
    } finally {
      removeSegment(id);
    }
  });

  it('loses nothing between a writer that has exited and the reader that comes for its data', async () => {
    const key = 0x5005;
    // The C peer writes as SharedMemory.openOrCreate({ key, size: 55 }).write(0, TEXT) and detach() did.
    assertExitedCleanly(await run(await peer(), [String(key), '55', 'written by a process that is gone']), 'writer');
    let id: number | undefined;
    try {
      ok(await shmkitHere(['rm', '--orphans']), 'rm --orphans');
      const reader = SharedMemory.open({ key });
      id = reader.id;
      assert.equal(new TextDecoder().decode(reader.read(0, 33)), 'written by a process that is gone');
      reader.detach();
    } finally {
      removeSegment(id ?? shmget(key, 0, 0));
    }
  });

  it('--include-keyed without --orphans is a usage error', async () => {
    const result = await shmkitHere(['rm', '--all', '--include-keyed']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--include-keyed.*only with --orphans/);
  });
});

describe('rm --orphans and private segments', { skip }, () => {
  it('removes a private segment nobody attached whose creator is dead, saying why in --dry-run', async () => {
    const id = await createdByDeadProcess(IPC_PRIVATE, 100);
    try {
      const dry = await report();
      assert.deepEqual(
        dry.segments.map((r) => [r.id, r.reason]),
        [[id, `no key, nobody attached, creator ${dry.segments[0]!.cpid} dead, never attached`]],
      );
      assert.match(
        ok(await shmkitHere(['rm', '--orphans', '--dry-run']), 'rm -n'),
        new RegExp(
          `^would remove shmid ${id} \\(key 0x00000000, 100 bytes\\): no key, nobody attached, creator \\d+ dead, never attached\\n$`,
        ),
      );
      ok(await shmkitHere(['rm', '--orphans']), 'rm --orphans');
      assert.equal(segmentExists(id), false);
    } finally {
      removeSegment(id);
    }
  });

  it('keeps a private segment whose last user lives, and removes it once that user is dead too', async () => {
    const id = await createdByDeadProcess(IPC_PRIVATE, 100);
    try {
      // This process attaches and detaches: it is the last user, and alive.
      SharedMemory.open({ id }).detach();
      const dry = await report();
      assert.deepEqual(dry.segments, []);
      assert.deepEqual(
        dry.kept.map((r) => [r.id, r.reason]),
        [[id, `its last user ${process.pid} lives`]],
      );
      // A process that is gone attaches and detaches last.
      assertExitedCleanly(await run(await peer(), ['attach', String(id)]), 'last user');
      assert.deepEqual(
        (await report()).segments.map((r) => r.id),
        [id],
      );
      assert.match((await report()).segments[0]!.reason, /^no key, nobody attached, creator \d+ dead, last user \d+ dead$/);
    } finally {
      removeSegment(id);
    }
  });

  it('never removes one attached or whose creator lives', async () => {
    const mine = shmget(IPC_PRIVATE, 100, IPC_CREAT | 0o600);
    const attached = SharedMemory.create({ size: 100 });
    try {
      const dry = await report();
      assert.deepEqual(dry.segments, []);
      assert.deepEqual(
        dry.kept.map((r) => [r.id, r.reason]),
        [[mine, `its creator ${process.pid} lives`]],
        'attached segments are not even candidates',
      );
    } finally {
      shmctl(mine, IPC_RMID);
      attached.detach();
    }
  });
});

describe('pids from PID namespaces not visible here', { skip }, () => {
  it('a creator the kernel reports as pid 0 is unknown in ls, and its segment is never removed as an orphan', async () => {
    // Made by this process, which a new PID namespace cannot see: there its cpid is 0.
    const id = shmget(IPC_PRIVATE, 100, IPC_CREAT | 0o600);
    try {
      // ls, ls --json, the dry run and rm, one after another in one new PID namespace.
      const [lsJson, lsTable, dryRun, rm] = await shmkitInNewPidNamespace([
        ['ls', '--json'],
        ['ls'],
        DRY_RUN,
        ['rm', '--orphans', '--include-keyed'],
      ]);
      const ls = JSON.parse(ok(lsJson!, 'ls')) as { segments: SegmentRow[] };
      const row = ls.segments.find((r) => r.id === id)!;
      assert.deepEqual([row.cpid, row.creatorAlive, row.lpid, row.lastAlive], [0, null, 0, false], 'creator unknown; never attached');
      const table = ok(lsTable!, 'ls');
      assert.match(table, new RegExp(`^0x00000000\\s+${id}\\s.*\\s\\?\\s+-$`, 'm'), 'cpid "?", lpid "-"');
      const dry = parseReport(dryRun!);
      assert.deepEqual(dry.segments, []);
      assert.deepEqual(
        dry.kept.map((r) => [r.id, r.reason]),
        [[id, 'its creator is not visible from this PID namespace (pid 0): unknown, not dead']],
      );
      ok(rm!, 'rm --orphans');
      assert.equal(segmentExists(id), true);
    } finally {
      removeSegment(id);
    }
  });

  it('a dead creator is dead where it was visible and unknown where it was not', async () => {
    const id = await createdByDeadProcess(IPC_PRIVATE, 100);
    try {
      // The dry run and rm, one after the other in one new PID namespace.
      const [dryRun, rm] = await shmkitInNewPidNamespace([DRY_RUN, ['rm', '--orphans']]);
      const there = parseReport(dryRun!);
      assert.deepEqual(there.segments, []);
      assert.deepEqual(
        there.kept.map((r) => r.id),
        [id],
      );
      assert.equal(there.kept[0]!.creatorAlive, null);
      ok(rm!, 'rm --orphans there');
      assert.equal(segmentExists(id), true, 'kept where the creator is invisible');
      assert.deepEqual(
        (await report()).segments.map((r) => r.id),
        [id],
      );
      ok(await shmkitHere(['rm', '--orphans']), 'rm --orphans here');
      assert.equal(segmentExists(id), false, 'removed where the creator is known dead');
    } finally {
      removeSegment(id);
    }
  });

  it('a last user the kernel reports as pid 0 is unknown: stat says so and rm keeps the segment', async () => {
    // Created here by a process that is gone, last attached by a process inside a new PID namespace that is gone too.
    const id = await createdByDeadProcess(IPC_PRIVATE, 100);
    try {
      const attach = await run('unshare', ['--pid', '--fork', '--mount-proc', await peer(), 'attach', String(id)]);
      assertExitedCleanly(attach, 'attacher');
      // Seen from a second new PID namespace, neither the creator nor the last user is visible.
      // The dry run and stat, one after the other in that second namespace.
      const [dryRun, statResult] = await shmkitInNewPidNamespace([DRY_RUN, ['stat', String(id)]]);
      const there = parseReport(dryRun!);
      assert.deepEqual(there.segments, []);
      assert.deepEqual([there.kept[0]!.lpid, there.kept[0]!.lastAlive], [0, null]);
      const stat = ok(statResult!, 'stat');
      assert.match(stat, /^lpid\s+0 \(not visible from this PID namespace\)$/m);
      // From here, both are visible and dead.
      assert.deepEqual(
        (await report()).segments.map((r) => r.id),
        [id],
      );
    } finally {
      removeSegment(id);
    }
  });
});

describe('kernel.shm_rmid_forced', { skip }, () => {
  // Each run in a nested IPC namespace: setting the sysctl there touches nothing of this file.
  // The first create is a process of its own, since its exit is what removes the segment; the
  // commands that only print run as steps in one process for each value of the sysctl
  // (helpers/shmkit-steps.ts), their output read from their files as it was from their pipes.
  const SCRIPT = String.raw`
    set -e
    echo 1 > /proc/sys/kernel/shm_rmid_forced
    "$NODE" "$BIN" create --key 0x5005 --size 4096 > create.out 2> create.err
    echo "create: $(cat create.out) | $(cat create.err)"
    mkdir at1 at0
    printf '%s\n' 'ls ls --json' 'limits limits -m --json' 'limits-m limits -m' 'demo demo' | "$NODE" "$STEPS" at1
    echo "ls: $(tr -d ' \n' < at1/ls.out)"
    echo "limits: $(tr -d '\n' < at1/limits.out)"
    grep shm_rmid_forced at1/limits-m.out
    grep -c 'Note: kernel.shm_rmid_forced is 1' at1/demo.out | sed 's/^/demo notes: /'
    echo 0 > /proc/sys/kernel/shm_rmid_forced
    printf '%s\n' 'create create --key 0x5005 --size 4096' 'limits-m limits -m' | "$NODE" "$STEPS" at0
    echo "create at 0: $(cat at0/create.err)"
    grep shm_rmid_forced at0/limits-m.out
  `;

  it('when it is 1, create, limits and the demo say so, and a keyed segment nobody attaches is gone at once', async () => {
    const dir = (await run('mktemp', ['-d'])).stdout.trim();
    try {
      const result = await run('unshare', ['--ipc', 'sh', '-c', SCRIPT], {
        cwd: dir,
        env: { ...process.env, NODE: process.execPath, BIN, STEPS: SHMKIT_STEPS },
        timeoutMs: 60_000,
      });
      const out = ok(result, 'scenario');
      const line = (prefix: string) => out.split('\n').find((l) => l.startsWith(prefix)) ?? '';
      assert.match(
        line('create: '),
        /^create: \d+ \| shmkit create: note: kernel\.shm_rmid_forced is 1: the kernel removes a segment as soon as nobody is attached to it, key or not; nobody is attached to segment \d+, so it goes as shmkit exits$/,
      );
      assert.equal(line('ls: '), 'ls: {"segments":[]}', 'the keyed segment vanished with its creator');
      assert.equal((JSON.parse(line('limits: ').slice('limits: '.length)) as { shm: { shm_rmid_forced: number } }).shm.shm_rmid_forced, 1);
      assert.match(
        out,
        /^remove when unattached \(shm_rmid_forced\)\s+1: the kernel removes a segment as soon as nobody is attached, key or not$/m,
      );
      assert.equal(line('demo notes: '), 'demo notes: 1');
      assert.equal(line('create at 0: '), 'create at 0: ', 'no note when it is 0');
      assert.match(out, /^remove when unattached \(shm_rmid_forced\)\s+0$/m);
    } finally {
      await run('rm', ['-rf', dir]);
    }
  });
});
