// shmkit ls, stat, limits, usage and rm against ipcs, inside a private IPC
// namespace (unshare --ipc): they list and remove machine-wide, so they must
// never see or touch other programs' objects. One scenario sets up segments
// and sets in every state, runs each command once, and the tests below check
// one behaviour each on what it printed. The commands run as the real binary
// where the process matters (a terminal, a pipe), the others one after another
// in one Node process (helpers/shmkit-steps.ts); creators that must be gone are C.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PAGE_SIZE, type ShmidDs } from 'shmkit';
import { compileC } from './helpers/c.js';
import { isRoot, NOBODY, run, BIN, SHMKIT } from './helpers/processes.js';
import { C_SHM_PEER } from './helpers/shm.js';
import { SHMKIT_STEPS } from './helpers/shmkit-steps.js';
import type { SegmentRow } from '../src/cli/segments.js';
import { renderTable, type Column } from '../src/cli/table.js';

// Keeps segments and semaphore sets in every state ls shows while a shell
// command runs, then exits with that command's status.
const HOLD = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static int must(int r, const char *what) {
  if (r < 0) { perror(what); exit(99); }
  return r;
}

int main(int argc, char **argv) {
  if (argc != 2) return 98;
  /* 0x7101: attached, 5000 bytes touched (two pages resident). */
  int a = must(shmget(0x7101, 10000, IPC_CREAT | 0644), "shmget a");
  char *pa = shmat(a, NULL, 0);
  if (pa == (void *)-1) return 97;
  memset(pa, 1, 5000);
  /* No key, attached, marked for removal: "dest". */
  int b = must(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600), "shmget b");
  if (shmat(b, NULL, 0) == (void *)-1) return 96;
  must(shmctl(b, IPC_RMID, NULL), "rmid b");
  /* 0x7102: attached and locked. */
  int c = must(shmget(0x7102, 8192, IPC_CREAT | 0640), "shmget c");
  if (shmat(c, NULL, 0) == (void *)-1) return 95;
  must(shmctl(c, SHM_LOCK, NULL), "lock c");
  /* 0x7103: not attached; its creator (this process) lives. */
  must(shmget(0x7103, 1, IPC_CREAT | 0600), "shmget d");
  /* 0x7104: not attached, given to nobody. */
  int g = must(shmget(0x7104, 1, IPC_CREAT | 0600), "shmget g");
  struct shmid_ds gds;
  must(shmctl(g, IPC_STAT, &gds), "stat g");
  gds.shm_perm.uid = 65534;
  must(shmctl(g, IPC_SET, &gds), "set g");
  /* 0x7002, made by a process now dead: attached and detached here, so its last user lives. */
  int e = must(shmget(0x7002, 0, 0), "shmget e");
  void *pe = shmat(e, NULL, 0);
  if (pe == (void *)-1) return 94;
  shmdt(pe);
  /* 0x7003, made by a process now dead: given to nobody. */
  int f = must(shmget(0x7003, 0, 0), "shmget f");
  struct shmid_ds ds;
  must(shmctl(f, IPC_STAT, &ds), "stat f");
  ds.shm_perm.uid = 65534;
  ds.shm_perm.gid = 65534;
  must(shmctl(f, IPC_SET, &ds), "set f");
  /* Semaphore sets: 0x7201 holding 0, 5, 7 (the 7 by semop), 0x7202 with one. */
  int s = must(semget(0x7201, 3, IPC_CREAT | 0644), "semget s");
  must(semctl(s, 1, SETVAL, 5), "setval");
  struct sembuf op = { 2, 7, 0 };
  must(semop(s, &op, 1), "semop");
  must(semget(0x7202, 1, IPC_CREAT | 0600), "semget t");
  /* 0x7203: owned by nobody. */
  int u = must(semget(0x7203, 2, IPC_CREAT | 0600), "semget u");
  struct semid_ds sds;
  sds.sem_perm.uid = 65534;
  sds.sem_perm.gid = 65534;
  sds.sem_perm.mode = 0600;
  must(semctl(u, 0, IPC_SET, &sds), "semctl set u");

  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", argv[1], (char *)NULL);
    _exit(93);
  }
  int status;
  if (waitpid(child, &status, 0) < 0) return 92;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 91;
}
`;

// Each step saves stdout, stderr and the exit code under its name; `steps`
// runs lines of "NAME ARGS..." as shmkit commands in one process, each saved so.
const PRELUDE = `
set -u
step() { n=$1; shift; "$@" >"$T/$n.out" 2>"$T/$n.err"; echo $? >"$T/$n.rc"; }
steps() { "$NODE" "$STEPS" "$T"; }
`;

// Segments made by a process that is gone by the time the holder starts: the
// C program helpers/shm.ts's C_SHM_PEER, which makes them as shmkit create
// does (mode 600) for about 1 ms of CPU where a Node process took 40.
const SETUP = `
for key in 0x7001 0x7002 0x7003; do "$PEER" $key 100 >/dev/null || exit 9; done
exec "$HOLD" "sh $T/steps.sh"
`;

// Run while the holder keeps its objects, in this order (ipcs and the real
// binary's steps only read, and run before the first rm).
const STEPS = `
  step ipcs-m ipcs -m
  step ipcs-mp ipcs -m -p
  step ipcs-s ipcs -s
  step ipcs-l ipcs -l
  step ipcs-u ipcs -u
  for id in 3 4 5; do step ipcs-i-$id ipcs -m -i $id; done
  step ipcs-si ipcs -s -i 0
  step ls-narrow script -qec 'env COLUMNS=50 NO_COLOR=1 "$NODE" "$BIN" ls' /dev/null
  step ls-pipe env COLUMNS=50 "$NODE" "$BIN" ls
  steps <<'END'
  ls ls --json
  ls-human ls
  ls-all ls -a --json
  ls-s ls -s --json
  limits limits --json
  usage usage --json
  stat-3 stat 3 --json
  stat-4 stat 4 --json
  stat-5 stat 5 --json
  stat-key stat --key 0x7101 --json
  stat-human stat 3
  stat-missing stat 99999
  stat-s stat -s 0 --json
  orphans-dry rm --orphans --dry-run --json
  after-dry ls --json
  orphans-default rm --orphans
  after-default ls --json
  orphans-keyed-dry rm --orphans --include-keyed --dry-run --json
  orphans rm --orphans --include-keyed
  after-orphans ls --json
  key-other rm --key 0x7003
  root-by-id rm 2
  after-root ls --json
END
  "$NODE" "$STEPS" --as-nobody "$T" <<'END'
  nobody-rm-id rm 3
  nobody-all-dry rm --all --dry-run --json
END
  steps <<'END'
  all-dry rm --all -n --json
  rm-some rm 6 99999 3
  after-some ls --json
  all rm --all
  after-all ls --json
  sem-key-other rm -s --key 0x7203
  sem-all rm -s --all
  after-sem ls -s --json
END
`;

interface SemaphoreRow {
  key: number;
  id: number;
  owner: string;
  uid: number;
  perms: number;
  nsems: number;
}

let dir = '';

function out(step: string): string {
  return readFileSync(join(dir, `${step}.out`), 'utf8');
}
function err(step: string): string {
  return readFileSync(join(dir, `${step}.err`), 'utf8');
}
function rc(step: string): number {
  return Number(readFileSync(join(dir, `${step}.rc`), 'utf8'));
}
function json<T>(step: string): T {
  assert.equal(rc(step), 0, `${step} failed: ${err(step)}`);
  return JSON.parse(out(step)) as T;
}
function segments(step: string): SegmentRow[] {
  return json<{ segments: SegmentRow[] }>(step).segments;
}
function ids(step: string): number[] {
  return segments(step).map((s) => s.id);
}

/** The rows of one ipcs table, split on blanks, below the header line starting with `header`. */
function ipcsRows(text: string, header: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  assert.ok(start >= 0, `no "${header}" header in:\n${text}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    rows.push(line.trim().split(/\s+/));
  }
  return rows;
}

/** `name = value` lines of ipcs -l / -u, and `name=value` fields of ipcs -i, by name. */
function ipcsFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = /^(.*?)\s*=\s*(.*?)\s*$/.exec(line);
    if (eq && !line.includes('\t')) fields.set(eq[1]!.trim(), eq[2]!);
    for (const m of line.matchAll(/(\w+)=(\S+)/g)) if (line.includes('\t')) fields.set(m[1]!, m[2]!);
  }
  return fields;
}

describe('shmkit ls, stat, limits, usage and rm in a private IPC namespace', {
  skip: isRoot ? false : 'needs root for unshare --ipc',
}, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shmkit-cli-'));
    const script = join(dir, 'scenario.sh');
    writeFileSync(script, PRELUDE + SETUP);
    writeFileSync(join(dir, 'steps.sh'), PRELUDE + STEPS);
    const [hold, peer] = await Promise.all([compileC('cli-hold', HOLD), compileC('shm-peer', C_SHM_PEER)]);
    const result = await run('unshare', ['--ipc', 'sh', script], {
      env: {
        ...process.env,
        NODE: process.execPath,
        BIN,
        STEPS: SHMKIT_STEPS,
        HOLD: hold,
        PEER: peer,
        T: dir,
        COLUMNS: '',
      },
      timeoutMs: 120_000,
    });
    assert.equal(result.code, 0, `scenario failed:\n${result.stdout}\n${result.stderr}`);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ls --json lists every segment ipcs -m lists, with the same columns', () => {
    const rows = segments('ls');
    const ipcs = ipcsRows(out('ipcs-m'), 'key');
    assert.equal(rows.length, 8);
    assert.equal(rows.length, ipcs.length);
    rows.forEach((row, i) => {
      const [key, shmid, owner, perms, bytes, nattch, ...status] = ipcs[i]!;
      assert.equal(row.key >>> 0, Number(key), 'key');
      assert.equal(row.id, Number(shmid), 'shmid');
      assert.equal(row.owner, owner, 'owner');
      assert.equal(row.perms, parseInt(perms!, 8), 'perms');
      assert.equal(row.bytes, Number(bytes), 'bytes');
      assert.equal(row.nattch, Number(nattch), 'nattch');
      assert.equal(row.dest, status.includes('dest'), 'dest');
      assert.equal(row.locked, status.includes('locked'), 'locked');
    });
  });

  it('ls --json gives the creator and last pids of ipcs -m -p, and the uid behind the owner name', () => {
    const rows = segments('ls');
    const ipcs = ipcsRows(out('ipcs-mp'), 'shmid');
    rows.forEach((row, i) => {
      const [shmid, , cpid, lpid] = ipcs[i]!;
      assert.equal(row.id, Number(shmid));
      assert.equal(row.cpid, Number(cpid));
      assert.equal(row.lpid, Number(lpid));
      assert.equal(row.uid, row.owner === 'nobody' ? 65534 : 0);
      assert.ok(row.owner === 'nobody' ? [0x7003, 0x7104].includes(row.key) : true);
    });
  });

  it('ls tells whether the creator and the last user still live', () => {
    const byKey = new Map(segments('ls').map((r) => [r.key, r]));
    // Made by shmkit create, which has exited; never attached (lpid 0).
    assert.deepEqual([byKey.get(0x7001)!.creatorAlive, byKey.get(0x7001)!.lastAlive, byKey.get(0x7001)!.lpid], [false, false, 0]);
    // Made by a dead process, last attached by the live holder.
    assert.deepEqual([byKey.get(0x7002)!.creatorAlive, byKey.get(0x7002)!.lastAlive], [false, true]);
    // Made by the live holder.
    assert.equal(byKey.get(0x7101)!.creatorAlive, true);
    assert.equal(byKey.get(0x7103)!.creatorAlive, true);
  });

  it('ls gives the resident size: the pages really touched', () => {
    const byKey = new Map(segments('ls').map((r) => [r.key, r]));
    assert.equal(byKey.get(0x7101)!.residentBytes, 2 * PAGE_SIZE, '5000 bytes written: two pages');
    assert.equal(byKey.get(0x7103)!.residentBytes, 0, 'never touched');
  });

  it('ls prints the ipcs -m columns as a table, narrowed to COLUMNS on a terminal by dropping the extra ones, whole in a pipe', () => {
    const lines = out('ls-human').trimEnd().split('\n');
    assert.deepEqual(lines[0]!.split(/\s+/), ['key', 'shmid', 'owner', 'perms', 'bytes', 'nattch', 'status', 'resident', 'cpid', 'lpid']);
    assert.equal(lines.length, 9);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looks for the escape that starts a colour
    assert.doesNotMatch(out('ls-human'), /\x1b\[/, 'no colour when stdout is not a terminal');
    // script gives ls a terminal, and its lines end in \r\n.
    const narrow = out('ls-narrow').replaceAll('\r', '').trimEnd().split('\n');
    assert.ok(
      narrow.every((l) => l.length <= 50),
      `lines wider than 50:\n${narrow.join('\n')}`,
    );
    assert.match(narrow[0]!, /^key\s+shmid\s+.*bytes\s+nattch\s+status/);
    assert.doesNotMatch(narrow[0]!, /lpid/);
    // In a pipe lines are never cut, whatever COLUMNS says: it dropped columns and cut lines.
    assert.equal(out('ls-pipe'), out('ls-human'));
  });

  it('ls -a --json has every kind (as ipcs -a), ls --json only segments', () => {
    assert.deepEqual(Object.keys(json<object>('ls')), ['segments']);
    assert.deepEqual(Object.keys(json<object>('ls-all')), ['segments', 'semaphores', 'queues']);
  });

  it('ls -s --json lists every semaphore set ipcs -s lists, with the same columns', () => {
    const rows = json<{ semaphores: SemaphoreRow[] }>('ls-s').semaphores;
    const ipcs = ipcsRows(out('ipcs-s'), 'key');
    assert.equal(rows.length, 3);
    assert.equal(rows.length, ipcs.length);
    rows.forEach((row, i) => {
      const [key, semid, owner, perms, nsems] = ipcs[i]!;
      assert.deepEqual(
        [row.key >>> 0, row.id, row.owner, row.perms, row.nsems],
        [Number(key), Number(semid), owner, parseInt(perms!, 8), Number(nsems)],
      );
    });
  });

  it('stat --json prints struct shmid_ds with the C field names, agreeing with ipcs -m -i', () => {
    for (const id of [3, 4, 5]) {
      const s = json<ShmidDs & { id: number }>(`stat-${id}`);
      const f = ipcsFields(out(`ipcs-i-${id}`));
      assert.equal(s.id, id);
      assert.deepEqual(Object.keys(s), [
        'id',
        'shm_perm',
        'shm_segsz',
        'shm_atime',
        'shm_dtime',
        'shm_ctime',
        'shm_cpid',
        'shm_lpid',
        'shm_nattch',
      ]);
      assert.deepEqual(Object.keys(s.shm_perm), ['key', 'uid', 'gid', 'cuid', 'cgid', 'mode', 'seq']);
      assert.deepEqual(
        [s.shm_perm.uid, s.shm_perm.gid, s.shm_perm.cuid, s.shm_perm.cgid],
        ['uid', 'gid', 'cuid', 'cgid'].map((n) => Number(f.get(n))),
      );
      assert.equal(s.shm_perm.mode, parseInt(f.get('mode')!, 8), 'mode, with SHM_DEST and SHM_LOCKED');
      assert.equal(s.shm_segsz, Number(f.get('bytes')));
      assert.equal(s.shm_cpid, Number(f.get('cpid')));
      assert.equal(s.shm_lpid, Number(f.get('lpid')));
      assert.equal(s.shm_nattch, Number(f.get('nattch')));
      const atime = /att_time=(.*)/.exec(out(`ipcs-i-${id}`))![1]!.trim();
      assert.equal(s.shm_atime, Date.parse(atime) / 1000, 'att_time');
    }
  });

  it('stat --key finds the segment by key; stat of a missing id fails with one line and no stdout', () => {
    assert.deepEqual(json('stat-key'), json('stat-3'));
    assert.match(out('stat-human'), /^shmid\s+3$/m);
    assert.match(out('stat-human'), /^key\s+0x00007101$/m);
    assert.equal(rc('stat-missing'), 1);
    assert.equal(out('stat-missing'), '');
    assert.equal(err('stat-missing'), 'shmkit stat: 99999: EINVAL no such segment\n');
  });

  it('stat -s prints struct semid_ds and every semaphore, agreeing with ipcs -s -i', () => {
    const s = json<{
      id: number;
      sem_perm: { key: number; mode: number };
      sem_nsems: number;
      sems: { semnum: number; semval: number; sempid: number; semncnt: number; semzcnt: number }[];
    }>('stat-s');
    assert.equal(s.id, 0);
    assert.equal(s.sem_perm.key, 0x7201);
    assert.equal(s.sem_nsems, 3);
    const rows = ipcsRows(out('ipcs-si'), 'semnum');
    assert.deepEqual(
      s.sems.map((v) => [v.semnum, v.semval, v.semncnt, v.semzcnt, v.sempid]),
      rows.map((r) => r.map(Number)),
    );
    assert.deepEqual(
      s.sems.map((v) => v.semval),
      [0, 5, 7],
    );
  });

  it('limits --json agrees with ipcs -l, shmmax and shmall as decimal strings', () => {
    const limits = json<{ shm: Record<string, number | string>; sem?: Record<string, number> }>('limits');
    const f = ipcsFields(out('ipcs-l'));
    assert.equal(typeof limits.shm.shmmax, 'string');
    assert.equal(typeof limits.shm.shmall, 'string');
    assert.equal(limits.shm.shmmni, Number(f.get('max number of segments')));
    assert.equal(BigInt(limits.shm.shmmax!) / 1024n, BigInt(f.get('max seg size (kbytes)')!));
    assert.equal(limits.shm.shmmin, Number(f.get('min seg size (bytes)')));
    // ipcs multiplies shmall by the page size in KiB and saturates below 2^64.
    const perPage = BigInt(PAGE_SIZE / 1024);
    const max = 2n ** 64n - 1n;
    let kbytes = BigInt(limits.shm.shmall!) * perPage;
    if (kbytes > max) kbytes = max - (max % perPage);
    assert.equal(kbytes, BigInt(f.get('max total shared memory (kbytes)')!));
    assert.equal(limits.sem!.semmni, Number(f.get('max number of arrays')));
    assert.equal(limits.sem!.semmsl, Number(f.get('max semaphores per array')));
    assert.equal(limits.sem!.semmns, Number(f.get('max semaphores system wide')));
    assert.equal(limits.sem!.semopm, Number(f.get('max ops per semop call')));
    assert.equal(limits.sem!.semvmx, Number(f.get('semaphore max value')));
  });

  it('usage --json agrees with ipcs -u', () => {
    const usage = json<{ shm: Record<string, number>; sem?: Record<string, number> }>('usage');
    const text = out('ipcs-u');
    const number = (re: RegExp) => Number(re.exec(text)![1]);
    assert.equal(usage.shm.used_ids, number(/segments allocated (\d+)/));
    assert.equal(usage.shm.shm_tot, number(/pages allocated (\d+)/));
    assert.equal(usage.shm.shm_rss, number(/pages resident\s+(\d+)/));
    assert.equal(usage.shm.shm_swp, number(/pages swapped\s+(\d+)/));
    assert.equal(usage.shm.used_ids, 8);
    assert.equal(usage.sem!.semusz, number(/used arrays = (\d+)/));
    assert.equal(usage.sem!.semaem, number(/allocated semaphores = (\d+)/));
  });

  it('rm --orphans keeps keyed segments: --dry-run says why each unattached one of yours stays, and removes nothing', () => {
    const dry = json<{ segments: SegmentRow[]; kept: (SegmentRow & { reason: string })[] }>('orphans-dry');
    assert.deepEqual(dry.segments, []);
    const kept = new Map(dry.kept.map((r) => [r.key, r.reason]));
    assert.deepEqual([...kept.keys()].sort(), [0x7001, 0x7002, 0x7103], "0x7003 and 0x7104 are nobody's; the others are attached");
    assert.match(kept.get(0x7001)!, /^has key 0x00007001: a program can still find it \(--include-keyed removes it\)$/);
    assert.match(kept.get(0x7002)!, /^its last user \d+ lives$/);
    assert.match(kept.get(0x7103)!, /^its creator \d+ lives$/);
    assert.deepEqual(ids('after-dry'), ids('ls'));
    assert.equal(rc('orphans-default'), 0, err('orphans-default'));
    assert.deepEqual(ids('after-default'), ids('ls'));
  });

  it('rm --orphans --include-keyed --dry-run names the unattached keyed segments whose creator and last user are dead', () => {
    const would = json<{ segments: (SegmentRow & { reason: string })[] }>('orphans-keyed-dry').segments;
    assert.deepEqual(
      would.map((r) => r.key),
      [0x7001],
      "0x7003 is an orphan too, but nobody's",
    );
    assert.match(would[0]!.reason, /^key 0x00007001, nobody attached, creator \d+ dead, never attached$/);
  });

  it('rm --orphans --include-keyed removes exactly those', () => {
    assert.equal(rc('orphans'), 0, err('orphans'));
    assert.equal(out('orphans'), '');
    assert.deepEqual(
      ids('after-orphans'),
      ids('ls').filter((id) => id !== 0),
    );
  });

  it("rm --key refuses another user's segment, even for root", () => {
    assert.equal(rc('key-other'), 1);
    assert.equal(out('key-other'), '');
    assert.match(err('key-other'), /^shmkit rm: --key 0x7003: EPERM segment owned by nobody, not by you/);
  });

  it("root removes another user's segment when asked by id", () => {
    assert.equal(rc('root-by-id'), 0, err('root-by-id'));
    assert.deepEqual(
      ids('after-root'),
      ids('after-orphans').filter((id) => id !== 2),
    );
  });

  it("another user can remove none of root's segments, by id or with --all", () => {
    assert.equal(rc('nobody-rm-id'), 1);
    assert.equal(out('nobody-rm-id'), '');
    assert.equal(err('nobody-rm-id'), 'shmkit rm: 3: EPERM segment owned by root, not by you\n');
    assert.deepEqual(
      segments('nobody-all-dry').map((r) => r.key),
      [0x7104],
    );
  });

  it("rm --all picks all of your segments and none of another user's", () => {
    const would = segments('all-dry');
    assert.deepEqual(
      would.map((r) => r.id),
      ids('after-root').filter((id) => id !== 7),
    );
    assert.ok(would.every((r) => r.owner === 'root'));
  });

  it('rm goes on past a bad id, reports it on its own line and exits 1', () => {
    assert.equal(rc('rm-some'), 1);
    assert.equal(out('rm-some'), '');
    assert.equal(err('rm-some'), 'shmkit rm: 99999: EINVAL no such segment\n');
    const after = segments('after-some');
    assert.deepEqual(
      after.map((r) => r.id),
      ids('after-root').filter((id) => id !== 6),
      'unattached 6 is gone',
    );
    assert.equal(after.find((r) => r.id === 3)!.dest, true, 'attached 3 stays, marked dest');
  });

  it('rm --all removes all of your segments; attached ones stay as "dest" until detached', () => {
    assert.equal(rc('all'), 0, err('all'));
    const left = segments('after-all');
    assert.deepEqual(
      left.map((r) => r.id),
      [3, 4, 5, 7],
    );
    for (const r of left) {
      if (r.id === 7) assert.equal(r.owner, 'nobody');
      else assert.ok(r.dest && r.nattch > 0 && r.key === 0, JSON.stringify(r));
    }
  });

  it("rm -s --all removes your semaphore sets and not another user's; --key refuses theirs", () => {
    assert.equal(rc('sem-key-other'), 1);
    assert.match(err('sem-key-other'), /^shmkit rm: --key 0x7203: EPERM semaphore set owned by nobody/);
    assert.equal(rc('sem-all'), 0, err('sem-all'));
    assert.deepEqual(
      json<{ semaphores: SemaphoreRow[] }>('after-sem').semaphores.map((r) => r.key),
      [0x7203],
    );
  });
});

describe('rm by id and the creator', { skip: isRoot ? false : 'needs root for unshare --ipc' }, () => {
  it('the creator of an object now owned by another user removes it by id, as ipcrm does; anyone else is refused', async () => {
    // nobody makes a segment and a set, then root gives both to daemon (uid 1): the kernel still lets nobody remove them.
    // The same root process makes root's segment (as shmkit create --private --size 10 did) and prints its id.
    const give = `import { shmctl, semctl, shmget, IPC_CREAT, IPC_PRIVATE, IPC_SET } from ${JSON.stringify(SHMKIT)};
      shmctl(Number(process.argv[1]), IPC_SET, { uid: 1, gid: 1 }); semctl(Number(process.argv[2]), 0, IPC_SET, { uid: 1, gid: 1 });
      console.log(shmget(IPC_PRIVATE, 10, IPC_CREAT | 0o600));`;
    // nobody's commands run as steps (helpers/shmkit-steps.ts), two processes instead of five; their stderr goes on.
    const script = `
      T=$(mktemp -d) || exit 8
      trap 'rm -rf "$T"' EXIT
      nobody() { "$NODE" "$STEPS" --as-nobody "$T" || exit 9; for step in "$@"; do cat "$T/$step.err" >&2; done; }
      printf 'shm create --private --size 10\\nsem create -s --private --count 1\\n' | nobody shm sem
      [ "$(cat "$T/shm.rc" "$T/sem.rc")" = "$(printf '0\\n0')" ] || exit 9
      shm=$(cat "$T/shm.out") sem=$(cat "$T/sem.out")
      other=$("$NODE" --input-type=module -e "$GIVE" "$shm" "$sem") || exit 9
      printf 'other rm %s\\nshm-rm rm %s\\nsem-rm rm -s %s\\n' "$other" "$shm" "$sem" | nobody other shm-rm sem-rm
      echo "other $(cat "$T/other.rc")"; echo "shm $(cat "$T/shm-rm.rc")"; echo "sem $(cat "$T/sem-rm.rc")"
      "$NODE" "$BIN" ls -a --json`;
    const r = await run('unshare', ['--ipc', 'sh', '-c', script], {
      env: { ...process.env, NODE: process.execPath, BIN, STEPS: SHMKIT_STEPS, GIVE: give },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'shmkit rm: 1: EPERM segment owned by root, not by you\n');
    const json = r.stdout.slice(r.stdout.indexOf('{'));
    assert.equal(r.stdout.slice(0, r.stdout.indexOf('{')), 'other 1\nshm 0\nsem 0\n');
    const left = JSON.parse(json) as { segments: SegmentRow[]; semaphores: unknown[] };
    assert.deepEqual(
      left.segments.map((s) => [s.id, s.owner]),
      [[1, 'root']],
    );
    assert.deepEqual(left.semaphores, []);
  });
});

// Segments past 2^53 bytes, as C makes them (SHM_NORESERVE reserves no memory; shmkit refuses to make one).
const HUGE = `
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (shmget(IPC_PRIVATE, strtoull(argv[i], NULL, 0), IPC_CREAT | 0600 | SHM_NORESERVE) < 0) { perror("shmget"); return 1; }
  return 0;
}
`;

describe('segments past 2^53 bytes', { skip: isRoot ? false : 'needs root for unshare --ipc' }, () => {
  it('ls, ls --json, stat, stat --json and rm -n give their sizes exactly, as ipcs does (a number rounded them)', async () => {
    const huge = await compileC('cli-huge-segments', HUGE);
    // The commands run in one process (helpers/shmkit-steps.ts), their outputs printed in turn.
    const script = `
      "$HUGE" 9007199254740993 4611686018427387905 100 || exit 9
      T=$(mktemp -d) || exit 8
      trap 'rm -rf "$T"' EXIT
      ipcs -m; echo @@
      "$NODE" "$STEPS" "$T" <<'END' || exit 7
      ls ls
      ls-json ls --json
      stat stat 0 --json
      stat-human stat 1
      dry rm -n 0 --json
      orphans rm -n --orphans
      dump dump 0 --length 16
END
      for step in ls ls-json stat stat-human dry orphans; do cat "$T/$step.out"; cat "$T/$step.err" >&2; echo @@; done
      cat "$T/dump.out" "$T/dump.err"; echo "status $(cat "$T/dump.rc")"`;
    const r = await run('unshare', ['--ipc', 'sh', '-c', script], {
      env: { ...process.env, NODE: process.execPath, STEPS: SHMKIT_STEPS, HUGE: huge },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const [ipcs, table, ls, stat, statHuman, dry, orphans, dump] = r.stdout.split('@@\n') as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    assert.match(ipcs, / 9007199254740993 /);
    assert.match(ipcs, / 4611686018427387905 /);
    assert.match(table, /\s0\s+root\s+600\s+9007199254740993\s/);
    assert.match(table, /\s1\s+root\s+600\s+4611686018427387905\s/);
    // Past 2^53 a decimal string, a number up to it (as ls -p has sizes).
    const rows = (JSON.parse(ls) as { segments: SegmentRow[] }).segments;
    assert.deepEqual(
      rows.map((s) => s.bytes),
      ['9007199254740993', '4611686018427387905', 100],
    );
    assert.equal((JSON.parse(stat) as { shm_segsz: unknown }).shm_segsz, '9007199254740993');
    assert.match(statHuman, /^bytes +4611686018427387905$/m);
    assert.deepEqual(
      (JSON.parse(dry) as { segments: SegmentRow[] }).segments.map((s) => s.bytes),
      ['9007199254740993'],
    );
    assert.match(orphans, /shmid 1 \(key 0x00000000, 4611686018427387905 bytes\)/);
    // More than an address space holds: it said "ENOMEM out of memory".
    assert.equal(
      dump,
      "shmkit dump: 0: ENOMEM no room in this process's address space to attach the 9007199254740993-byte segment, so no part of it can be read\nstatus 1\n",
    );
  });
});

describe('rm as root without CAP_SYS_ADMIN', { skip: isRoot ? false : 'needs root for unshare --ipc' }, () => {
  it("is refused another user's segment by id, in --dry-run as for real: the kernel asks for the capability, not for uid 0", async () => {
    // setpriv (util-linux, as unshare) drops the capability from the bounding set: root runs without it. nobody's
    // segment is made as shmkit create --private --size 10 makes one, by the C program helpers/shm.ts's C_SHM_PEER;
    // the dry run and rm run as steps in one process without the capability (helpers/shmkit-steps.ts), their
    // stderr and exit codes printed in turn.
    const script = `
      T=$(mktemp -d) || exit 8
      trap 'rm -rf "$T"' EXIT
      id=$(setpriv --reuid=${NOBODY.uid} --regid=${NOBODY.gid} --clear-groups "$PEER" 0 10) || exit 9
      printf 'dry rm -n %s\\nreal rm %s\\n' "$id" "$id" | setpriv --bounding-set=-sys_admin "$NODE" "$STEPS" "$T" || exit 9
      for step in dry real; do cat "$T/$step.err" >&2; echo "$step $(cat "$T/$step.rc")"; done
      "$NODE" "$BIN" ls --json`;
    const r = await run('unshare', ['--ipc', 'sh', '-c', script], {
      env: { ...process.env, NODE: process.execPath, BIN, STEPS: SHMKIT_STEPS, PEER: await compileC('shm-peer', C_SHM_PEER) },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stderr);
    // The dry run listed it as going, and the real one met the kernel's EPERM ("... this process is euid 0").
    assert.equal(r.stderr, 'shmkit rm: 0: EPERM segment owned by nobody, not by you\n'.repeat(2));
    assert.equal(r.stdout.slice(0, r.stdout.indexOf('{')), 'dry 1\nreal 1\n');
    const left = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { segments: SegmentRow[] };
    assert.deepEqual(
      left.segments.map((s) => [s.id, s.owner]),
      [[0, 'nobody']],
    );
  });
});

describe('tables narrower than every column that must stay', () => {
  const columns: Column<{ key: string; id: number; nattch: number }>[] = [
    { header: 'key', cell: (r) => r.key },
    { header: 'shmid', cell: (r) => String(r.id), align: 'right' },
    { header: 'bytes', cell: () => '100', align: 'right' },
    { header: 'nattch', cell: (r) => String(r.nattch), align: 'right' },
  ];
  const rows = [{ key: '0x00000000', id: 7, nattch: 0 }];

  it('cut a right-aligned value from its padding, not from the value, and mark the columns that no longer fit', () => {
    // At 30, nattch's 0 fitted but was shown as '…' (its padding kept, the value cut).
    assert.deepEqual(renderTable(columns, rows, { width: 32 }), ['key         shmid  bytes  nattch', '0x00000000      7    100       0']);
    const at30 = renderTable(columns, rows, { width: 30 });
    assert.deepEqual(at30, ['key         shmid  bytes  nat…', '0x00000000      7    100  0 …']);
    // At 12 (and 10), shmid, bytes and nattch went without a mark.
    assert.deepEqual(renderTable(columns, rows, { width: 12 }), ['key …', '0x00000000 …']);
    assert.deepEqual(renderTable(columns, rows, { width: 10 }), ['key …', '0x0000000…']);
  });

  it('measure cells in terminal columns: wide (CJK) characters take two, combining marks none', () => {
    const named: Column<{ name: string }>[] = [
      { header: 'name', cell: (r) => r.name },
      { header: 'bytes', cell: () => '3', align: 'right' },
    ];
    const names = [{ name: '/共享内存' }, { name: '/plain' }, { name: '/cafe\u0301' }];
    // '/共享内存' is 9 columns wide (5 UTF-16 units): the bytes column starts at the same column in every row.
    assert.deepEqual(renderTable(named, names), ['name       bytes', '/共享内存      3', '/plain         3', '/cafe\u0301          3']);
    // Cut at a column, never through a wide character.
    assert.deepEqual(renderTable(named, [{ name: '/共享内存' }], { width: 6 }), ['name …', '/共享…']);
  });
});
