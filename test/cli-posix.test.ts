// shmkit ls -p: the POSIX shared-memory objects of /dev/shm. The scenario runs
// in a private IPC and mount namespace with a fresh tmpfs on /dev/shm, so the
// listing is exactly what the scenario made (and nothing else on the machine
// is seen or touched); the namespace and its objects go when it ends. The
// four parts of the scenario, one for each describe, run in one process, one
// after another, each emptying /dev/shm for the next.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { assertExitedCleanly, lastJson, SHMKIT } from './helpers/processes.js';
import type { PosixRow } from '../src/cli/posix.js';
import { PAGE_SIZE } from 'shmkit';
import { noPrivateIpc, runNodeOnPrivateShm } from './helpers/shm.js';
import { SHMKIT_STEPS } from './helpers/shmkit-steps.js';

/**
 * A scenario's `cli(...args)`: the shmkit command's main() from the bundle
 * bin/shmkit.js loads, run in the scenario's own process (what ls prints
 * does not depend on which process runs it, and a process for each costs
 * about 40 ms of CPU); resolves with its stdout, and throws unless it returns
 * 0, as execFileSync of the binary did. Its stdout is not a terminal, as the
 * pipe was not, so COLUMNS and NO_COLOR change nothing; they are set as they
 * were for the binary.
 */
const CLI_IN_SCENARIO = `
import { main } from ${JSON.stringify(new URL('../src/bundle/main.js', import.meta.url).href)};
import { Readable, Writable } from 'node:stream';
process.env.COLUMNS = '120';
const cli = async (...args) => {
  const out = [];
  const err = [];
  const sink = (kept) => new Writable({ write(chunk, _encoding, done) { kept.push(chunk); done(); } });
  const code = await main(args, { stdin: Readable.from([]), stdout: sink(out), stderr: sink(err) });
  if (code !== 0) throw new Error('shmkit ' + args.join(' ') + ': exit ' + code + ': ' + Buffer.concat(err));
  return Buffer.concat(out).toString('utf8');
};
`;

/** tmpfs holds whole pages: what shmkit reserves for `bytes`. */
const held = (bytes: number) => Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;

// Names any user may make in /dev/shm: a newline followed by what looks like a row, an ESC sequence, a backslash.
const NAMES = ['x\nfake  root  600  1  0', '\x1b[31mred', 'back\\slash'];

const SCENARIO = `
import { PosixSharedMemory } from ${JSON.stringify(SHMKIT)};
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
${CLI_IN_SCENARIO}
// By bytes: one name is not UTF-8.
const empty = () => { for (const name of readdirSync('/dev/shm', { encoding: 'buffer' })) rmSync(Buffer.concat([Buffer.from('/dev/shm/'), name])); };
const result = {};

// ls -p: three objects (one of them touched, one a named semaphore's file that ls leaves out).
process.env.NO_COLOR = '1';
const a = PosixSharedMemory.create({ name: '/alpha', size: 10000, mode: 0o644 });
a.write(0, 'x');
const b = PosixSharedMemory.create({ name: '/beta', size: 100 });
writeFileSync('/dev/shm/sem.gamma', Buffer.alloc(32));
result.basic = { table: await cli('ls', '-p'), json: JSON.parse(await cli('ls', '-p', '--json')), all: JSON.parse(await cli('ls', '-a', '-p', '--json')), queues: JSON.parse(await cli('ls', '-q', '-p', '--json')), plain: JSON.parse(await cli('ls', '--json')) };
a.detach(); b.detach();
delete process.env.NO_COLOR;
empty();

// Control characters and backslashes in names.
for (const name of ${JSON.stringify(NAMES)}) writeFileSync('/dev/shm/' + name, '');
result.escapes = { table: await cli('ls', '-p'), json: JSON.parse(await cli('ls', '-p', '--json')) };
empty();

// Bidirectional controls, a name that is not UTF-8, a size past 2^53.
writeFileSync('/dev/shm/x\u202Efdp.exe', '');
execFileSync('truncate', ['-s', '9007199254740993', '/dev/shm/y-huge']);
writeFileSync(Buffer.from('/dev/shm/bad\\xffname', 'latin1'), 'abc');
result.bidi = { table: await cli('ls', '-p'), json: JSON.parse(await cli('ls', '-p', '--json')) };
empty();

// /dev/shm that nobody can read.
chmodSync('/dev/shm', 0o700);
// Both commands as nobody, one after the other in one process (helpers/shmkit-steps.ts), as helpers/as-nobody.ts ran each.
const dir = mkdtempSync('/tmp/shmkit-cli-posix-');
const steps = spawnSync(process.execPath, [${JSON.stringify(SHMKIT_STEPS)}, '--as-nobody', dir], { input: 'p ls -p\\nap ls -a -p --json\\n', encoding: 'utf8' });
if (steps.status !== 0) throw new Error('steps: ' + steps.status + ' ' + steps.stderr);
const read = (name, ext) => readFileSync(dir + '/' + name + '.' + ext, 'utf8');
result.unreadable = ['p', 'ap'].map((name) => ({ status: Number(read(name, 'rc')), stdout: read(name, 'out'), stderr: read(name, 'err') }));
rmSync(dir, { recursive: true });
console.log(JSON.stringify(result));
`;

interface Listing {
  table: string;
  json: { posix: PosixRow[] };
}

interface Scenario {
  basic: Listing & {
    all: Record<string, unknown[]>;
    queues: Record<string, unknown[]>;
    plain: Record<string, unknown[]>;
  };
  escapes: Listing;
  bidi: Listing;
  unreadable: { status: number; stdout: string; stderr: string }[];
}

let ran: Promise<Scenario> | undefined;
/** The scenario, run once when a describe first asks. */
function scenario(): Promise<Scenario> {
  return (ran ??= runNodeOnPrivateShm(SCENARIO, { tmpfs: 'size=16m,mode=1777' }).then((result) => {
    assertExitedCleanly(result, 'scenario');
    return lastJson<Scenario>(result);
  }));
}

describe('shmkit ls -p', { skip: noPrivateIpc }, () => {
  let out: Scenario['basic'];
  before(async () => {
    out = (await scenario()).basic;
  });

  it('--json lists every object by name with owner, perms, bytes and the memory it holds; named semaphores are left out', () => {
    const rows = out.json.posix.map(({ mtime, ...row }) => {
      assert.ok(Number.isInteger(mtime) && mtime > 1.6e9, `mtime ${mtime}`);
      return row;
    });
    assert.deepEqual(rows, [
      { name: '/alpha', owner: 'root', uid: 0, gid: 0, perms: 0o644, bytes: 10000, residentBytes: held(10000) },
      { name: '/beta', owner: 'root', uid: 0, gid: 0, perms: 0o600, bytes: 100, residentBytes: held(100) },
    ]);
  });

  it('the table has a row per object with the same values', () => {
    const lines = out.table.trimEnd().split('\n');
    assert.match(lines[0]!, /^name\s+owner\s+perms\s+bytes\s+resident$/);
    assert.match(lines[1]!, new RegExp(`^/alpha\\s+root\\s+644\\s+10000\\s+${held(10000)}$`));
    assert.match(lines[2]!, new RegExp(`^/beta\\s+root\\s+600\\s+100\\s+${held(100)}$`));
    assert.equal(lines.length, 3);
  });

  it('-p adds the posix kind to the others asked for, and plain ls does not list it', () => {
    assert.deepEqual(Object.keys(out.all), ['segments', 'semaphores', 'queues', 'posix']);
    assert.equal(out.all.posix!.length, 2);
    assert.deepEqual(Object.keys(out.queues), ['queues', 'posix']);
    assert.equal(out.queues.posix!.length, 2);
    assert.deepEqual(Object.keys(out.plain), ['segments']);
  });
});

describe('shmkit ls -p and names that anyone may give', { skip: noPrivateIpc }, () => {
  it('the table escapes control characters and backslashes in names (no fake row, no terminal escape); --json keeps them', async () => {
    const names = NAMES;
    const out = (await scenario()).escapes;
    assert.deepEqual(
      out.table
        .trimEnd()
        .split('\n')
        .map((line) => line.split('  ')[0]),
      ['name', '/\\x1b[31mred', '/back\\\\slash', '/x\\nfake'],
    );
    assert.deepEqual(
      out.json.posix.map((row) => row.name),
      names.map((name) => `/${name}`).sort(),
    );
  });

  it('the table escapes bidirectional controls (no name shown reversed), a name that is not UTF-8 is listed, not skipped, and a size past 2^53 is exact', async () => {
    // U+202E shows 'x\u202Efdp.exe' as "xexe.pdf"; a byte 0xff made the name unreadable as a string, and the object unlisted.
    const out = (await scenario()).bidi;
    const names = out.table
      .trimEnd()
      .split('\n')
      .map((line) => line.split('  ')[0]);
    assert.deepEqual(names, ['name', '/bad\ufffdname', '/x\\u202efdp.exe', '/y-huge']);
    // A size past 2^53, exact: a decimal string in JSON (a number would say ...992), and in the table.
    assert.match(out.table, /\/y-huge .* 9007199254740993 /);
    assert.deepEqual(
      out.json.posix.map((row) => [row.name, row.bytes]),
      [
        ['/bad\ufffdname', 3],
        ['/x\u202efdp.exe', 0],
        ['/y-huge', '9007199254740993'],
      ],
    );
  });
});

describe('shmkit ls -p where /dev/shm cannot be read', { skip: noPrivateIpc }, () => {
  it('is an error naming /dev/shm (exit 1), not an empty list', async () => {
    for (const r of (await scenario()).unreadable) {
      assert.deepEqual(r, { status: 1, stdout: '', stderr: 'shmkit ls: /dev/shm: EACCES cannot be read: permission denied\n' });
    }
  });
});
