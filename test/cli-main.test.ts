// The shmkit command as a whole: help for every command, --version, one-line
// errors naming the command, the argument and the code, exit codes 0/1/2,
// and nothing on stdout when a command fails. What main() prints and returns
// is checked in this process; the launcher (bin/shmkit.js) in real ones.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
      [['rm', '--all', '--orphans'], 'shmkit rm: ERR_MISSING_ARGS give ids, --key, --orphans or --all (one kind) (see shmkit help rm)\n'],
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
        "shmkit watch: --interval: ERR_OUT_OF_RANGE '3000000' is out of range: at most 2147483.647 seconds (see shmkit help watch)\n",
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await cli(...args);
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stdout, '', args.join(' '));
      assert.equal(result.stderr, stderr);
    }
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
      const library = await run(process.execPath, [
        '--input-type=module',
        '-e',
        `import(${JSON.stringify(join(dir, 'dist', 'src', 'bundle', 'index.js'))}).catch((e) => console.log(JSON.stringify({ message: e.message, cause: e.cause?.message })))`,
      ]);
      const { message, cause } = JSON.parse(library.stdout) as { message: string; cause: string };
      assert.doesNotMatch(message, /\n/);
      assert.match(cause, /loaded from:/, "the whole of node-gyp-build's message stays in the cause");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
