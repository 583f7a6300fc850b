// The documentation runs as written. Every fenced block in README.md and
// docs/*.md names its language; ```js and ```ts blocks are programs and run
// here, one after another in this file's private IPC namespace, as a reader
// would paste them: js as a plain .mjs file, ts compiled as the build
// compiles (TypeScript 7, the repository's own tsconfig; type errors fail),
// both importing 'shmkit' as an installed package. The same compiler run
// checks that js blocks hold no TypeScript-only syntax. Each must exit 0 within its
// time limit and leave no segment, semaphore set, message queue or POSIX
// shared-memory object (a name in /dev/shm) behind; a ```text block right
// after one (only blank lines between) is what it prints, where "..." stands
// for any text within a line. A block that cannot run says why on the line before it:
// <!-- norun: REASON -->. Other languages (text, sh, json, c, yaml) are not run.
// Every example's "Run:" line runs as written too.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { usedMessageQueues, usedSegments, usedSemaphoreSets } from './helpers/ipc.js';
import { runFileInPrivateIpc } from './helpers/namespaces.js';
import { ROOT, run, type RunResult } from './helpers/processes.js';

await runFileInPrivateIpc();

const RUNNABLE = new Set(['js', 'ts']);
const TIME_LIMIT_MS = 30_000;
/**
 * The compiler the build uses (TypeScript 7): its native executable, found as
 * its bin/tsc finds it. That script, on Node 20, waits in a Node process of
 * its own while the executable runs (~0.06 s of CPU for nothing).
 */
const { default: getExePath } = (await import(pathToFileURL(join(ROOT, 'node_modules', 'typescript-7', 'lib', 'getExePath.js')).href)) as {
  default: () => string;
};
const TSC = getExePath();

interface Block {
  file: string;
  line: number;
  lang: string;
  code: string;
  /** The reason given by <!-- norun: REASON --> on the line before, if any. */
  norun: string | undefined;
  /** The ```text block right after it, if any. */
  output: string | undefined;
  /** Index among all fences of its file. */
  index: number;
}

/** The fenced blocks of one Markdown file, with the convention's annotations. */
function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  const ends: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j]!); j++) body.push(lines[j]!.slice(indent.length));
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const norun = /^<!--\s*norun:?\s*(.*?)\s*-->$/.exec(lines[k]?.trim() ?? '')?.[1];
    blocks.push({
      file,
      line: i + 1,
      lang: info.trim().split(/\s+/)[0] ?? '',
      code: `${body.join('\n')}\n`,
      norun,
      output: undefined,
      index: blocks.length,
    });
    // The text block right after a runnable one is its output.
    const previous = blocks[blocks.length - 2];
    if (previous && RUNNABLE.has(previous.lang) && blocks[blocks.length - 1]!.lang === 'text') {
      const between = lines.slice(ends[ends.length - 1]! + 1, i);
      if (between.every((l) => l.trim() === '')) previous.output = body.join('\n');
    }
    ends.push(j);
    i = j;
  }
  return blocks;
}

const FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
const ALL = FILES.flatMap(blocksOf);
const RUN = ALL.filter((b) => RUNNABLE.has(b.lang) && b.norun === undefined);
const where = (b: Block) => `${b.file}:${b.line}`;

/** Whether `got` is `want`, where "..." in `want` matches any text within a line. */
function matchesOutput(got: string, want: string): boolean {
  const trim = (text: string) =>
    text
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .trim();
  const pattern = trim(want)
    .split('...')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^\\n]*');
  return new RegExp(`^${pattern}$`).test(trim(got));
}

let dir = '';
/** The file of each block: a js block as written, a ts block as compiled. */
const files = new Map<Block, string>();
/** TypeScript's complaints about each block. */
const complaints = new Map<Block, string[]>();

before(async () => {
  // A project that installed shmkit: node_modules/shmkit is this package, and
  // "type": "module" makes the compiled .js files ES modules as .mjs are.
  dir = mkdtempSync(join(tmpdir(), 'shmkit-docs-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'shmkit'), 'dir');
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const name = (b: Block) => `block-${RUN.indexOf(b)}.${b.lang === 'ts' ? 'ts' : 'mjs'}`;
  for (const b of RUN) writeFileSync(join(dir, name(b)), b.code);
  // The repository's compiler options, as its build uses them (TypeScript 7);
  // a snippet may leave a value unused. The js blocks are in the program too,
  // unchecked (checkJs off): TypeScript reports TypeScript-only syntax in a
  // JavaScript file as it parses it, as transpileModule would. Its copies of
  // them go to out/ with the compiled ts blocks, since a copy may not
  // overwrite its source; the js blocks run as written.
  const config = {
    extends: join(ROOT, 'tsconfig.json'),
    compilerOptions: {
      rootDir: '.',
      outDir: 'out',
      allowJs: true,
      checkJs: false,
      declaration: false,
      sourceMap: false,
      incremental: false,
      noUnusedLocals: false,
      typeRoots: [join(ROOT, 'node_modules', '@types')],
    },
    include: [],
    files: RUN.map(name),
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
  // Single-threaded: some 56 small files, where its threads cost more CPU (~0.05 s) than they save time.
  const tsc = await run(TSC, ['-p', '.', '--pretty', 'false', '--singleThreaded'], { cwd: dir, timeoutMs: TIME_LIMIT_MS });
  // Each complaint starts with its file's name: block-N.ts(LINE,COLUMN): error TS...
  const output = `${tsc.stdout}${tsc.stderr}`;
  for (const b of RUN) {
    const errors = [...output.matchAll(new RegExp(`^${name(b).replace('.', '\\.')}\\((\\d+),\\d+\\): (.*)$`, 'gm'))].map(
      ([, line, message]) => `${b.file}:${b.line + Number(line)}: ${message}`,
    );
    complaints.set(b, errors);
    files.set(b, join(dir, b.lang === 'ts' ? join('out', name(b).replace(/\.ts$/, '.js')) : name(b)));
  }
  // Any other complaint (the configuration, a crash), or a tsc that did not
  // finish, fails every block: a js block is only checked if tsc got through.
  const lines = output.split('\n').filter((line) => line.trim() !== '' && !/^\s/.test(line));
  const other = lines.filter((line) => !/^block-\d+\.(ts|mjs)\(/.test(line));
  if (tsc.signal !== null) other.push(`tsc was killed by ${tsc.signal} (time limit ${TIME_LIMIT_MS} ms?)`);
  else if (tsc.code !== 0 && lines.length === 0) other.push(`tsc exited with ${tsc.code}, saying nothing`);
  if (tsc.code !== 0 && other.length > 0) for (const b of RUN) complaints.get(b)!.push(...other);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const SHM_DIR = '/dev/shm';

/**
 * The names in /dev/shm, which belongs to the mount namespace, not the IPC
 * one. The test runner gives each file a /dev/shm of its own; run another
 * way, other test files may create names there too, always /shmkit-test-...
 * (test/helpers/posix.ts), so those are not counted.
 */
function posixNames(): Set<string> {
  try {
    return new Set(readdirSync(SHM_DIR).filter((name) => !name.startsWith('shmkit-test-')));
  } catch {
    return new Set();
  }
}

/**
 * Runs `command` (a program and its arguments) and reports what it left: IPC
 * objects and names in /dev/shm, which are then removed, so the next run starts clean.
 */
async function runLeavingNothing(
  command: readonly [string, ...string[]],
  options: { cwd: string; timeoutMs: number },
): Promise<{ result: RunResult; leftovers: string | undefined }> {
  const before = posixNames();
  const result = await run(command[0], command.slice(1), options);
  let leftovers: string | undefined;
  if (usedSegments() !== 0 || usedSemaphoreSets() !== 0 || usedMessageQueues() !== 0) {
    leftovers = (await run('ipcs', ['-m', '-s', '-q'])).stdout;
    await run('ipcrm', ['--all']);
  }
  const created = [...posixNames()].filter((name) => !before.has(name));
  if (created.length > 0) {
    leftovers = `${leftovers ?? ''}in ${SHM_DIR}: ${created.join(' ')}\n`;
    for (const name of created) rmSync(join(SHM_DIR, name), { force: true });
  }
  return { result, leftovers };
}

/** Runs a file with Node in the docs project. */
function runBlock(file: string): ReturnType<typeof runLeavingNothing> {
  return runLeavingNothing([process.execPath, file], { cwd: dir, timeoutMs: TIME_LIMIT_MS });
}

/**
 * Each block's run, once: the README's quick start is also the first of its
 * runnable blocks, and its two tests check the same run.
 */
const runs = new Map<Block, ReturnType<typeof runBlock>>();
function runOnce(b: Block, file: string): ReturnType<typeof runBlock> {
  let ran = runs.get(b);
  if (ran === undefined) runs.set(b, (ran = runBlock(file)));
  return ran;
}

function assertRan(b: Block, { result, leftovers }: { result: RunResult; leftovers: string | undefined }): void {
  const output = `--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
  assert.ok(result.signal === null, `${where(b)} was killed by ${result.signal} (time limit ${TIME_LIMIT_MS} ms?)\n${output}`);
  assert.equal(result.code, 0, `${where(b)} exited with ${result.code}\n${output}`);
  assert.equal(leftovers, undefined, `${where(b)} left IPC objects behind:\n${leftovers}`);
  if (b.output !== undefined) {
    assert.ok(
      matchesOutput(result.stdout, b.output),
      `${where(b)} printed\n${result.stdout}\nbut the docs show\n${b.output}\n--- its stderr\n${result.stderr}`,
    );
  }
}

describe('the documentation follows its conventions', () => {
  it('every fenced block names its language, and runnable code is js or ts', () => {
    const unnamed = ALL.filter((b) => b.lang === '').map(where);
    assert.deepEqual(unnamed, [], 'blocks without a language (```text for output and listings)');
    const aliases = ALL.filter((b) => ['javascript', 'typescript', 'mjs', 'cjs', 'tsx', 'jsx'].includes(b.lang)).map(where);
    assert.deepEqual(aliases, [], 'write ```js or ```ts');
  });

  it('a block that does not run says why', () => {
    for (const b of ALL.filter((b) => b.norun !== undefined)) {
      assert.ok(RUNNABLE.has(b.lang), `${where(b)}: norun on a block that would not run anyway`);
      assert.ok(b.norun!.length > 10, `${where(b)}: <!-- norun: REASON --> needs its reason`);
    }
  });

  it('no two blocks use the same key, so that running them one after another never collides', () => {
    const seen = new Map<string, string>();
    for (const b of RUN) {
      for (const [, key] of b.code.matchAll(/\bkey:\s*(0x[0-9a-f]+|\d+)/gi)) {
        const value = String(Number(key));
        assert.ok(!seen.has(value) || seen.get(value) === where(b), `key ${key} in ${where(b)} and in ${seen.get(value)}`);
        seen.set(value, where(b));
      }
    }
  });

  it('a ts block that uses `using` has the plain-JavaScript way (try/finally) beside it in a js block', () => {
    for (const b of RUN.filter((b) => b.lang === 'ts' && /^\s*(await\s+)?using\s+\w+\s*=/m.test(b.code))) {
      const at = (index: number) => ALL.find((n) => n.file === b.file && n.index === index);
      // Beside it: the block before or after, past a block that is only an output.
      const before = at(b.index - 1)?.lang === 'text' && at(b.index - 2)?.output !== undefined ? at(b.index - 2) : at(b.index - 1);
      const after = b.output !== undefined ? at(b.index + 2) : at(b.index + 1);
      const neighbours = [before, after];
      assert.ok(
        neighbours.some((n) => n?.lang === 'js'),
        `${where(b)} uses \`using\` (not in Node 20's JavaScript); put the js version beside it`,
      );
    }
  });

  it('js blocks hold no TypeScript-only syntax: they run as .mjs', () => {
    for (const b of RUN.filter((b) => b.lang === 'js')) {
      assert.doesNotMatch(b.code, /^\s*(await\s+)?using\s+\w+\s*=/m, `${where(b)} uses \`using\``);
      assert.deepEqual(complaints.get(b), [], where(b));
    }
  });
});

describe('README quick start', () => {
  it('is a js block that runs as a plain .mjs file on this Node, printing what it shows', async () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
    const heading = lines.indexOf('## Quick start') + 1;
    const first = ALL.find((b) => b.file === 'README.md' && b.line > heading)!;
    assert.equal(first.lang, 'js', 'the first block of the quick start is plain JavaScript');
    const file = join(dir, 'quick-start.mjs');
    writeFileSync(file, first.code);
    assertRan(first, await runOnce(first, file));
    assert.ok(first.output !== undefined, 'the quick start shows what it prints');
  });
});

describe('every runnable block of README.md and docs/*.md', { timeout: RUN.length * TIME_LIMIT_MS }, () => {
  for (const b of RUN) {
    it(`${where(b)} (${b.lang}) runs${b.output === undefined ? '' : ' and prints what the docs show'}, leaving nothing behind`, async () => {
      if (b.lang === 'ts') assert.deepEqual(complaints.get(b), [], 'TypeScript accepts it');
      assertRan(b, await runOnce(b, files.get(b)!));
    });
  }
});

/** Runs an example's command, as a shell runs it. */
function runCommand(command: string): ReturnType<typeof runLeavingNothing> {
  return runLeavingNothing(['sh', '-c', command], { cwd: ROOT, timeoutMs: TIME_LIMIT_MS * 2 });
}

describe('every example runs with the one command its "Run:" line gives', () => {
  // Each command once: examples that work together (a writer and its reader) give the same one.
  const commandRuns = new Map<string, ReturnType<typeof runCommand>>();
  const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts'));
  for (const name of examples) {
    const source = readFileSync(join(ROOT, 'examples', name), 'utf8');
    const command = /^\/\/ Run: (.+)$/m.exec(source)?.[1];
    // A module other examples import is not a program.
    const imported = examples.some((other) =>
      readFileSync(join(ROOT, 'examples', other), 'utf8').includes(`./${name.replace(/\.ts$/, '.js')}'`),
    );
    if (imported) continue;
    it(`examples/${name}: ${command ?? '(no Run: line)'}`, async () => {
      assert.ok(command, `examples/${name} has a "// Run: COMMAND" line`);
      let ran = commandRuns.get(command);
      if (ran === undefined) commandRuns.set(command, (ran = runCommand(command)));
      const { result, leftovers } = await ran;
      assert.equal(result.code, 0, `${command}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
      assert.equal(leftovers, undefined, `${command} left IPC objects behind:\n${leftovers}`);
    });
  }
});
