// Rough edges of the shmkit command a new user meets first: help on help,
// help that names a documentation file that exists wherever the user stands,
// and usage errors that say what was given. (\`shmkit bench --smoke\` is checked
// by the benchmark's own smoke step, bench/smoke.test.ts, apart from npm test.)
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { shmkitHere } from './helpers/cli.js';
import { ROOT, type RunResult } from './helpers/processes.js';
import { shmkitSteps } from './helpers/shmkit-steps.js';

assertNoLeaks();

/** A directory without docs/ in it, as an installed user's project is. */
const elsewhere = mkdtempSync(join(tmpdir(), 'shmkit-cli-usage-'));
after(() => rmSync(elsewhere, { recursive: true, force: true }));

// The help commands of both tests run one after another in one process
// (helpers/shmkit-steps.ts) standing in `elsewhere`: what they print and
// return is what the tests check, not the processes.
const HELP_ON_HELP = [
  ['help', 'help'],
  ['help', '--help'],
  ['help', '-h'],
];
const TOPICS = ['ls', 'stat', 'limits', 'usage', 'rm', 'create', 'dump', 'cat', 'write', 'watch', 'demo', 'bench'];
let helpRun: Promise<RunResult[]> | undefined;
function helpResults(): Promise<RunResult[]> {
  const commands = [...HELP_ON_HELP, ['help'], ['help', 'help'], ...TOPICS.map((name) => ['help', name])];
  return (helpRun ??= shmkitSteps(commands, { cwd: elsewhere }));
}

describe('shmkit help', () => {
  it('"help help" (and "help --help") explains help itself, exit 0', async () => {
    const results = await helpResults();
    for (const [i, args] of HELP_ON_HELP.entries()) {
      const result = results[i]!;
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr, '');
      assert.match(result.stdout, /^Usage: shmkit help \[COMMAND\]\n/);
    }
  });

  it('every path to documentation in the help texts names a file that exists, from any working directory', async () => {
    // help, help help and help on each topic, from `elsewhere`.
    const texts = (await helpResults()).slice(HELP_ON_HELP.length).map((result) => result.stdout);
    const paths = texts.flatMap((text) => [...text.matchAll(/(\S+\.md)\b/g)].map((m) => m[1]!));
    assert.ok(paths.length >= 3, `the overview, help help, ls and stat point at the docs: ${paths.join(', ')}`);
    for (const path of paths) {
      assert.ok(isAbsolute(path), `${path} is a full path`);
      assert.ok(existsSync(resolve(elsewhere, path)), `${path} exists`);
      assert.equal(path, join(ROOT, 'docs', 'cli.md'), "the package's own docs/cli.md, which npm installs with it");
    }
  });
});

describe('usage errors say what was given', () => {
  it('stat with both an id and --key says both were given; with neither, asks for one', async () => {
    const both = await shmkitHere(['stat', '0', '--key', '0x10']);
    assert.equal(both.code, 2);
    assert.equal(both.stdout, '');
    assert.equal(
      both.stderr,
      'shmkit stat: 0: ERR_INCOMPATIBLE_OPTION_PAIR both an id and --key 0x10 were given: give one of them (see shmkit help stat)\n',
    );
    const neither = await shmkitHere(['stat']);
    assert.equal(neither.code, 2);
    assert.equal(neither.stderr, 'shmkit stat: ERR_MISSING_ARGS give an id or --key KEY (see shmkit help stat)\n');
  });

  it("a negative size or count after its option is that option's value, refused as out of range", async () => {
    const cases: [string[], string][] = [
      [
        ['create', '--private', '--size', '-5'],
        "shmkit create: --size: ERR_OUT_OF_RANGE '-5' is negative; a byte count or offset is 0 or more (see shmkit help create)\n",
      ],
      [
        ['create', '--size', '-5', '--private'],
        "shmkit create: --size: ERR_OUT_OF_RANGE '-5' is negative; a byte count or offset is 0 or more (see shmkit help create)\n",
      ],
      [['create', '-s', '--private', '--count', '-3'], "shmkit create: --count: ERR_OUT_OF_RANGE '-3' is out of range: from 1 to "],
      [['create', '-s', '--private', '--count=-3'], "shmkit create: --count: ERR_OUT_OF_RANGE '-3' is out of range: from 1 to "],
    ];
    for (const [args, stderr] of cases) {
      const result = await shmkitHere(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stdout, '', args.join(' '));
      assert.ok(result.stderr.startsWith(stderr), `${args.join(' ')}: ${result.stderr}`);
    }
  });
});
