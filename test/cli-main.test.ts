// The shmkit command as a whole: help for every command, --version, one-line
// errors naming the command, the argument and the code, exit codes 0/1/2,
// and nothing on stdout when a command fails. What main() prints and returns
// is checked in this process; the launcher (bin/shmkit.js) in real ones.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { shmkitHere } from './helpers/cli.js';
import { ROOT, run, shmkit } from './helpers/processes.js';

const COMMANDS = ['ls', 'stat', 'limits', 'usage', 'rm', 'create', 'dump', 'cat', 'write', 'watch', 'demo', 'bench'];

/** shmkit with its arguments spread, in this process. */
const cli = (...args: string[]) => shmkitHere(args);

describe('shmkit', () => {
  it('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await cli(flag);
      assert.equal(result.code, 0);
      assert.equal(result.stdout, `${version}\n`);
    }
  });

  it('help lists every command with a summary', async () => {
    const result = await cli('help');
    assert.equal(result.code, 0);
    for (const name of COMMANDS) assert.match(result.stdout, new RegExp(`^  ${name}\\s+\\S`, 'm'), name);
    assert.equal((await cli('--help')).stdout, result.stdout);
  });

  it('every command has help, the same from "help NAME", "NAME --help" and "NAME -h"', async () => {
    for (const name of COMMANDS) {
      const [a, b, c] = await Promise.all([cli('help', name), cli(name, '--help'), cli(name, '-h')]);
      assert.equal(a.code, 0, `${name}: ${a.stderr}`);
      assert.match(a.stdout, new RegExp(`^Usage: shmkit ${name}\\b`), name);
      assert.equal(b.stdout, a.stdout, name);
      assert.equal(c.stdout, a.stdout, name);
    }
  });

  it('no command is a usage error: help on stderr, exit 2', async () => {
    const result = await cli();
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^Usage: shmkit COMMAND/);
  });

  it('an unknown command or option is one line naming it, exit 2, nothing on stdout', async () => {
    const cases: [string[], string][] = [
      [['frobnicate'], 'shmkit: frobnicate: ERR_UNKNOWN_COMMAND no such command (see shmkit help)\n'],
      [['help', 'frobnicate'], 'shmkit: frobnicate: ERR_UNKNOWN_COMMAND no such command (see shmkit help)\n'],
      [['ls', '--frob'], 'shmkit ls: --frob: ERR_UNKNOWN_OPTION unknown option (see shmkit help ls)\n'],
      [['ls', 'extra'], 'shmkit ls: extra: ERR_UNEXPECTED_ARGUMENT this command takes no such argument (see shmkit help ls)\n'],
      [['dump', '12', '--offset'], 'shmkit dump: --offset: ERR_INVALID_OPTION_VALUE needs a value (see shmkit help dump)\n'],
      [['dump', 'twelve'], "shmkit dump: twelve: ERR_INVALID_ARG_VALUE 'twelve' is not an integer (see shmkit help dump)\n"],
      [['rm'], 'shmkit rm: ERR_MISSING_ARGS give ids, --key, --orphans or --all (one kind) (see shmkit help rm)\n'],
      [
        ['rm', '--all', '--orphans'],
        'shmkit rm: --all: ERR_INCOMPATIBLE_OPTION_PAIR both --orphans and --all were given: give ids, --key, --orphans or --all (one kind) (see shmkit help rm)\n',
      ],
      [
        ['rm', '-s', '--orphans'],
        'shmkit rm: --orphans: ERR_INVALID_ARG_VALUE applies to segments only (a semaphore set has no attachments) (see shmkit help rm)\n',
      ],
      [['stat', '--key', 'zz'], "shmkit stat: --key: ERR_INVALID_ARG_VALUE 'zz' is not an integer (see shmkit help stat)\n"],
      [
        ['watch', '--interval', '0'],
        "shmkit watch: --interval: ERR_INVALID_ARG_VALUE '0' is not a positive number of seconds (see shmkit help watch)\n",
      ],
      [
        // Past setTimeout's limit, which would fire at once and redraw without pause.
        ['watch', '--interval', '3000000'],
        "shmkit watch: --interval: ERR_OUT_OF_RANGE '3000000' is out of range: from 0.1 to 2147483.647 seconds (see shmkit help watch)\n",
      ],
      [
        // Below watch(1)'s floor each redraw followed the last at once: a busy loop.
        ['watch', '--interval', '0.000001'],
        "shmkit watch: --interval: ERR_OUT_OF_RANGE '0.000001' is out of range: from 0.1 to 2147483.647 seconds (see shmkit help watch)\n",
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await cli(...args);
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stdout, '', args.join(' '));
      assert.equal(result.stderr, stderr);
    }
  });

  it('key 0 is IPC_PRIVATE: one usage error for every command that takes --key, saying to give the id or --private', async () => {
    // It was exit 2 for create, EINVAL for stat and "ENOENT no segment has this key" for rm (false while private segments exist).
    const said = (command: string, text: string) =>
      `shmkit ${command}: --key: ERR_INVALID_ARG_VALUE '${text}' is IPC_PRIVATE, the key of no object: private objects are known by id (give the id; to create one, --private) (see shmkit help ${command})\n`;
    const cases: [string[], string][] = [
      [['create', '--key', '0', '--size', '1'], said('create', '0')],
      [['create', '-s', '--key', '0x0', '--count', '1'], said('create', '0x0')],
      [['stat', '--key', '0'], said('stat', '0')],
      [['stat', '-s', '--key', '-0'], said('stat', '-0')],
      [['stat', '-q', '--key', '0'], said('stat', '0')],
      [['rm', '--key', '0'], said('rm', '0')],
      [['rm', '-q', '-n', '--key', '0x00000000'], said('rm', '0x00000000')],
    ];
    for (const [args, stderr] of cases) {
      const result = await cli(...args);
      assert.deepEqual([result.code, result.stdout, result.stderr], [2, '', stderr], args.join(' '));
    }
  });

  it('a switch given twice is refused as a valued option given twice is; conflicting options are named both', async () => {
    const twice = (command: string, option: string) =>
      `shmkit ${command}: ${option}: ERR_INVALID_ARG_VALUE is given more than once; give it once (see shmkit help ${command})\n`;
    const cases: [string[], string][] = [
      [['ls', '--json', '--json'], twice('ls', '--json')],
      [['ls', '-m', '--shm'], twice('ls', '--shm')],
      [['create', '--private', '--private', '--size', '1'], twice('create', '--private')],
      [['rm', '-n', '--dry-run', '5'], twice('rm', '--dry-run')],
      [
        ['create', '--key', '1', '--private', '--size', '1'],
        'shmkit create: --private: ERR_INCOMPATIBLE_OPTION_PAIR both --key and --private were given: give one of them (see shmkit help create)\n',
      ],
      [
        ['rm', '--orphans', '--all'],
        'shmkit rm: --all: ERR_INCOMPATIBLE_OPTION_PAIR both --orphans and --all were given: give ids, --key, --orphans or --all (one kind) (see shmkit help rm)\n',
      ],
      [
        ['rm', '--all', '5'],
        'shmkit rm: --all: ERR_INCOMPATIBLE_OPTION_PAIR both the id 5 and --all were given: give ids, --key, --orphans or --all (one kind) (see shmkit help rm)\n',
      ],
      [
        ['rm', '--key', '7', '--orphans'],
        'shmkit rm: --orphans: ERR_INCOMPATIBLE_OPTION_PAIR both --key and --orphans were given: give ids, --key, --orphans or --all (one kind) (see shmkit help rm)\n',
      ],
      [
        ['stat', '-s', '-q', '0'],
        'shmkit stat: -q: ERR_INCOMPATIBLE_OPTION_PAIR both -s and -q were given: give one of them (see shmkit help stat)\n',
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await cli(...args);
      assert.deepEqual([result.code, result.stdout, result.stderr], [2, '', stderr], args.join(' '));
    }
  });

  it('blames the argument at fault: -n3 as a whole, -0 for its sign (not as negative)', async () => {
    const cases: [string[], string][] = [
      [
        ['rm', '-n3'],
        'shmkit rm: -n3: ERR_INVALID_OPTION_VALUE -n (--dry-run) takes no value; for 3 as an argument, write -n 3 (see shmkit help rm)\n',
      ],
      [
        ['rm', '-sn3'],
        'shmkit rm: -sn3: ERR_INVALID_OPTION_VALUE -n (--dry-run) takes no value; for 3 as an argument, write -sn 3 (see shmkit help rm)\n',
      ],
      [['rm', '-0'], 'shmkit rm: -0: ERR_INVALID_ARG_VALUE has a minus sign; ids are written without one (see shmkit help rm)\n'],
      [['rm', '-5'], 'shmkit rm: -5: ERR_OUT_OF_RANGE is negative; ids and counts are 0 or more (see shmkit help rm)\n'],
      [
        ['dump', '1', '--length', '-0'],
        "shmkit dump: --length: ERR_INVALID_ARG_VALUE '-0' has a minus sign; a byte count or offset is written without one (see shmkit help dump)\n",
      ],
      [['ls', '-0'], 'shmkit ls: -0: ERR_UNEXPECTED_ARGUMENT this command takes no such argument (see shmkit help ls)\n'],
    ];
    for (const [args, stderr] of cases) {
      const result = await cli(...args);
      assert.deepEqual([result.code, result.stdout, result.stderr], [2, '', stderr], args.join(' '));
    }
    // No memory for the size is said of --size: it blamed --private. (With vm.overcommit_memory 1 the kernel would make it.)
    if (readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim() !== '1') {
      const big = await cli('create', '--private', '--size', '0x1fffffffffffff');
      assert.equal(big.code, 1, big.stderr);
      assert.match(big.stderr, /^shmkit create: --size: ENOMEM no memory for a segment of this size; /);
    }
    // A short option that takes a value still takes digits joined to it.
    const joined = await cli('watch', '-i0.01');
    assert.match(joined.stderr, /^shmkit watch: --interval: ERR_OUT_OF_RANGE '0\.01' /);
  });

  it('repeats arguments escaped and clipped: no forged line, no terminal escape, not 100,000 characters back', async () => {
    const forged = await cli('stat', '1\nshmkit stat: 0: fake');
    assert.equal(
      forged.stderr,
      "shmkit stat: 1\\nshmkit stat: 0: fake: ERR_INVALID_ARG_VALUE '1\\nshmkit stat: 0: fake' is not an integer (see shmkit help stat)\n",
    );
    const terminalEscape = await cli('\x1b[31mX');
    assert.equal(terminalEscape.stderr, 'shmkit: \\x1b[31mX: ERR_UNKNOWN_COMMAND no such command (see shmkit help)\n');
    const long = await cli('stat', '1'.repeat(100_000));
    assert.equal(long.code, 2);
    assert.ok(long.stderr.length < 400, `${long.stderr.length} characters`);
    assert.equal(
      long.stderr,
      `shmkit stat: ${'1'.repeat(64)}… (100000 characters): ERR_OUT_OF_RANGE '${'1'.repeat(64)}… (100000 characters)' is out of range: an id is an integer from 0 to 2147483647 (see shmkit help stat)\n`,
    );
  });

  it('the real command exits with what main returns: 0, 1 or 2, output on stdout, errors on stderr', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const [ok, failed, usage] = await Promise.all([shmkit(['--version']), shmkit(['stat', '2147483000']), shmkit(['frobnicate'])]);
    assert.deepEqual([ok.code, ok.signal, ok.stdout, ok.stderr], [0, null, `${version}\n`, '']);
    assert.deepEqual([failed.code, failed.signal, failed.stdout], [1, null, '']);
    assert.match(failed.stderr, /^shmkit stat: 2147483000: EINVAL /);
    assert.deepEqual([usage.code, usage.signal, usage.stdout], [2, null, '']);
    assert.equal(usage.stderr, 'shmkit: frobnicate: ERR_UNKNOWN_COMMAND no such command (see shmkit help)\n');
  });

  it('bench passes its arguments to the suite and returns its exit code', async () => {
    // The suite is a child process whose output is the command's own: the real command.
    const cli = (...args: string[]) => shmkit(args);
    const help = await cli('bench', '--', '--help');
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: node dist\/bench\/main\.js \[--quick \| --smoke\]/);
    const bad = await cli('bench', '--', '--no-such-flag');
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^bench: Unknown option '--no-such-flag'/);
  });
});

describe('shmkit without a usable addon', () => {
  it('says so in one line, with what to do, and exits 1; the library says the same in its error', async () => {
    // The package as installed, less its addon: no build/, no prebuilds/ (node_modules linked for node-gyp-build).
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-no-addon-'));
    try {
      cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
      cpSync(join(ROOT, 'dist', 'src', 'bundle'), join(dir, 'dist', 'src', 'bundle'), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const cli = await run(process.execPath, [join(dir, 'bin', 'shmkit.js'), 'ls']);
      assert.equal(cli.code, 1);
      assert.equal(cli.stdout, '');
      assert.equal(cli.stderr.split('\n').length, 2, cli.stderr);
      assert.match(
        cli.stderr,
        /^shmkit: no usable native addon \(No native build was found for platform=linux[^\n)]*\)\. .*`npm rebuild shmkit`.*`npm install-scripts approve shmkit`/,
      );
      // The library in this process: a copy at another path is a module of its own, which looks for its addon in its own package.
      const { message, cause } = await import(pathToFileURL(join(dir, 'dist', 'src', 'bundle', 'index.js')).href).then(
        () => assert.fail('the copy without an addon loaded'),
        (e: Error) => ({ message: e.message, cause: (e.cause as Error | undefined)?.message ?? '' }),
      );
      assert.doesNotMatch(message, /\n/);
      assert.match(cause, /loaded from:/, "the whole of node-gyp-build's message stays in the cause");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
