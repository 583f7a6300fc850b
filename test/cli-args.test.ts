// The shmkit command's argument parsing: a negative number after an option
// that takes a value is that option's value (parseArgs alone takes it for
// an option), so `--key -1` is key 0xffffffff and `--length -5` is refused
// as out of range, before any segment is touched; `--opt=-5` means the
// same. The commands run in IPC namespaces of their own (they list segments
// by key): where they check what the command prints and returns, one after
// another in one process (helpers/shmkit-steps.ts), those of several tests
// together; as the real binary where the process matters (stdin a directory,
// stdout a full device or a closed pipe).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compileC } from './helpers/c.js';
import { BIN, type RunResult, run } from './helpers/processes.js';
import { C_SHM_PEER, noPrivateIpc } from './helpers/shm.js';
import { SHMKIT_STEPS, shmkitStepsInPrivateIpc } from './helpers/shmkit-steps.js';

/**
 * Commands added while the file loads (describe bodies run then), run all
 * once, in the order added, in one process in an IPC namespace of its own,
 * when a test first asks for a result.
 */
class Steps {
  readonly #commands: (readonly string[])[] = [];
  #ran: Promise<RunResult[]> | undefined;

  /** Adds a command; the function returned gives its result. */
  add(args: readonly string[]): () => Promise<RunResult> {
    const i = this.#commands.push(args) - 1;
    return async () => (await (this.#ran ??= shmkitStepsInPrivateIpc(this.#commands)))[i]!;
  }
}

// The next three describes' commands: only the last ('ids are decimal') makes
// segments, the first in the namespace (shmids 0, 1 and 2).
const steps = new Steps();

describe('negative numbers as option values', { skip: noPrivateIpc }, () => {
  const cases = [
    ['dump', '0', '--length', '-5'],
    ['cat', '0', '--offset', '-0x10'],
    ['dump', '0', '--length=-5'],
    ['write', '0', '--offset', '-1K'],
  ];
  const results = cases.map((args) => steps.add(args));
  it('--length -5 and --offset -0x10 (and =-5) are out of range, named, before the segment is looked up', async () => {
    for (const [i, args] of cases.entries()) {
      const r = await results[i]!();
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /--(length|offset): ERR_OUT_OF_RANGE '-[0-9a-fxK]+' is negative; a byte count or offset is 0 or more/,
        args.join(' '),
      );
      assert.doesNotMatch(r.stderr, /takes no value|EINVAL/);
    }
  });

  const statKey = steps.add(['stat', '--key', '-1']);
  it('--key -1 is the key 0xffffffff', async () => {
    const r = await statKey();
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--key -1: ENOENT no segment has key 0xffffffff/);
  });

  const negativeId = steps.add(['dump', '-5']);
  const dashValue = steps.add(['dump', '0', '--length', '-x']);
  it('a negative id is out of range; an option without its value says how to give one that starts with a dash', async () => {
    const [negative, missing] = [await negativeId(), await dashValue()];
    assert.equal(negative.code, 2);
    assert.match(negative.stderr, /-5: ERR_OUT_OF_RANGE is negative/);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /--length: ERR_INVALID_OPTION_VALUE needs a value \(for one that starts with a dash, write --length=-\.\.\.\)/,
    );
  });
});

describe('options given wrong', { skip: noPrivateIpc }, () => {
  const createTwice = steps.add(['create', '--key', '0x2', '--key', '0x3', '--size', '10']);
  const ls = steps.add(['ls', '--json']);
  const extras = [
    ['--version', 'extra'],
    ['--help', 'extra'],
    ['help', 'ls', 'extra'],
  ];
  const extraResults = extras.map((args) => steps.add(args));
  it('an option given twice is refused, named, before anything is made; --version and help take no extra words', async () => {
    const [twice, listed] = [await createTwice(), await ls()];
    assert.equal(twice.code, 2, twice.stderr);
    assert.match(twice.stderr, /--key: ERR_INVALID_ARG_VALUE is given more than once; give it once/);
    assert.deepEqual(JSON.parse(listed.stdout).segments, [], 'nothing was created');
    for (const [i, args] of extras.entries()) {
      const r = await extraResults[i]!();
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /extra: ERR_UNEXPECTED_ARGUMENT/, args.join(' '));
    }
  });

  const missing = [
    ['watch', '--interval'],
    ['watch', '-i'],
  ];
  const missingResults = missing.map((args) => steps.add(args));
  const shortHint = steps.add(['watch', '-i', '-q']);
  const hinted = steps.add(['watch', '-i-5']);
  it('an option with a short alias is named by its long form when its value is missing, and the hint for a short one works as written', async () => {
    const [short, asHinted] = [await shortHint(), await hinted()];
    for (const [i, args] of missing.entries()) {
      const r = await missingResults[i]!();
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^shmkit watch: --interval: ERR_INVALID_OPTION_VALUE needs a value/, args.join(' '));
    }
    assert.match(short.stderr, /write -i-\.\.\.\)/);
    // What the hint says: -i-5 is the value -5 (refused as not positive), where -i=-5 would have been '=-5'.
    assert.equal(asHinted.code, 2);
    assert.match(asHinted.stderr, /'-5'/);
  });
});

describe('ids are decimal', { skip: noPrivateIpc }, () => {
  // Three segments, the first in the namespace: shmid 1 has key 0x00000002, shmid 2 has none.
  const commands = ['rm 0x00000002', 'rm -s 0x0', 'rm -q 0x0', 'stat 0x2', 'dump 0x2', 'cat 0x2', 'write 0x2'];
  const added = [
    ['create', '--private', '--size', '100'],
    ['create', '--key', '0x2', '--size', '200'],
    ['create', '--private', '--size', '300'],
    ...commands.map((command) => command.split(' ')),
    ['ls', '--json'],
  ].map((args) => steps.add(args));
  it('an id written in 0x, as keys are, is refused before anything is touched: rm 0x00000002 leaves shmid 2 alone', async () => {
    const results: RunResult[] = [];
    for (const result of added) results.push(await result());
    const made = results.slice(0, 3);
    const refused = results.slice(3, 3 + commands.length);
    assert.deepEqual(
      made.map((m) => m.code),
      [0, 0, 0],
      made.map((m) => m.stderr).join(''),
    );
    const stderr = results.map((step) => step.stderr).join('');
    const [statuses, json] = [refused.map((step) => `status ${step.code}\n`).join(''), results.at(-1)!.stdout];
    assert.equal(statuses, 'status 2\n'.repeat(7));
    assert.deepEqual(
      stderr.trimEnd().split('\n'),
      [
        ['rm', '0x00000002'],
        ['rm', '0x0'],
        ['rm', '0x0'],
        ['stat', '0x2'],
        ['dump', '0x2'],
        ['cat', '0x2'],
        ['write', '0x2'],
      ].map(
        ([command, id]) =>
          `shmkit ${command}: ${id}: ERR_INVALID_ARG_VALUE '${id}' is not a decimal id (keys, as ls prints them, go with --key) (see shmkit help ${command})`,
      ),
    );
    const { segments } = JSON.parse(json) as { segments: { id: number; key: number }[] };
    assert.deepEqual(
      segments.map((s) => [s.id, s.key]),
      [
        [0, 0],
        [1, 2],
        [2, 0],
      ],
    );
  });
});

describe('bridge arguments, before any connection', { skip: noPrivateIpc }, () => {
  it('a channel that is not there is named by its option; --ack-wait is checked in seconds', async () => {
    const common = ['--nats', 'nats://127.0.0.1:1', '--subject', 'x', '--out'];
    // The segment is made only once the others have run without it.
    const [missing, byId, ackWait, made, plain] = (await shmkitStepsInPrivateIpc([
      ['bridge', '--key', '0x5348', ...common],
      ['bridge', '--channel', '5', ...common],
      ['bridge', '--key', '0x5348', ...common, '--jetstream', '--ack-wait', '0.05'],
      ['create', '--key', '0x5348', '--size', '100'],
      ['bridge', '--key', '0x5348', ...common],
    ])) as [RunResult, RunResult, RunResult, RunResult, RunResult];
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'shmkit bridge: --key 0x00005348: ENOENT no segment has this key\n');
    assert.equal(byId.stderr, 'shmkit bridge: --channel 5: EINVAL no such segment\n');
    // A segment that is no channel, named by its option too (the line named neither).
    assert.equal(made.code, 0, made.stderr);
    assert.equal(plain.code, 1);
    assert.equal(
      plain.stderr,
      'shmkit bridge: --key 0x00005348: ERR_CHANNEL_FORMAT segment 0 is not a shmkit channel (100 bytes, smaller than a channel header)\n',
    );
    assert.equal(ackWait.code, 2);
    assert.match(ackWait.stderr, /--ack-wait: ERR_OUT_OF_RANGE '0\.05' is out of range: from 0\.1 to 3600 seconds/);
  });
});

describe('rm --dry-run and write', { skip: noPrivateIpc }, () => {
  it('rm --dry-run with a bad id among good ones lists the good ones and reports the bad one, as the real run removes and reports; write refuses a directory on stdin', async () => {
    // The segment is made as shmkit create --private --size 10 makes one, by the C program helpers/shm.ts's
    // C_SHM_PEER (about 1 ms of CPU, a Node process 40); write, whose stdin must be a directory, runs as the
    // real binary; the others as steps (helpers/shmkit-steps.ts), the dry run after it (neither changes anything).
    const script = `
      id=$("$PEER" 0 10) || exit 9
      "$NODE" "$BIN" write "$id" < / 2> write.err; write=$?
      printf 'dry rm -n --json %s 999999\\nreal rm %s 999999\\nafter ls --json\\n' "$id" "$id" | "$NODE" "$STEPS" . || exit 9
      echo "dry $(cat dry.rc)"; echo "write $write"; echo "real $(cat real.rc)"
      cat dry.out; echo; cat dry.err write.err real.err; cat after.out
    `;
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-cli-rm-'));
    try {
      const r = await run('unshare', ['--ipc', 'sh', '-c', script], {
        cwd: dir,
        env: { ...process.env, NODE: process.execPath, BIN, STEPS: SHMKIT_STEPS, PEER: await compileC('shm-peer', C_SHM_PEER) },
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^dry 1\nwrite 1\nreal 1\n/);
      assert.match(r.stdout, /"segments": \[\n\s+\{\n\s+"key": 0,\n\s+"id": \d+/, 'the dry run lists the good id');
      assert.match(r.stdout, /shmkit rm: 999999: EINVAL no such segment\n/);
      assert.match(r.stdout, /shmkit write: stdin: EISDIR is a directory; nothing written/);
      assert.match(r.stdout, /\{\n\s+"segments": \[\]\n\}\s*$/, 'the real run removed the good id');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('create whose id cannot be printed', { skip: noPrivateIpc }, () => {
  it('removes what it made (nobody could know its id) and fails: a segment and a semaphore set, with stdout a full device or a closed pipe', async () => {
    const shmkit = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`;
    // The pipe's reader is gone before create writes; it exited 0 there, having removed what it made.
    const script = `
      exec 3>&1
      ${shmkit} create --private --size 10 > /dev/full; echo "segment $?"
      ${shmkit} create -s --private --count 2 > /dev/full; echo "set $?"
      (sleep 0.5; ${shmkit} create --private --size 10; echo "segment into a closed pipe $?" >&3) | true
      (sleep 0.5; ${shmkit} create -s --private --count 2; echo "set into a closed pipe $?" >&3) | true
      ${shmkit} ls -a --json
    `;
    const r = await run('unshare', ['--ipc', 'bash', '-c', script], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^segment 1\nset 1\nsegment into a closed pipe 1\nset into a closed pipe 1\n/);
    assert.match(r.stderr, /shmkit create: stdout: ENOSPC/);
    assert.match(r.stderr, /shmkit create: stdout: EPIPE cannot write: broken pipe \(the reader went away\)\n/);
    const listed = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    assert.deepEqual([listed.segments, listed.semaphores], [[], []]);
  });
});
