// The install path a user takes: `npm pack`, then `npm install` of the tarball
// into a fresh project on a machine without a compiler (cc, c++, g++, gcc,
// make and python3 are not on PATH). The install must print nothing from
// node-gyp and load the prebuilt Node-API addon; a program using SharedMemory,
// struct, Mutex and Channel must run from ESM and from CommonJS; the package
// must hold what a user needs and nothing else. Where no prebuild matches, the
// install script must say in one line what compiling needs.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, ROOT, run, type RunResult } from './helpers/processes.js';
import { scratchDir } from './helpers/scratch.js';

assertNoLeaks();

/** What a user runs a compiler with; none of these may be found during the install. */
const COMPILERS = /^(cc|c\+\+|g\+\+|gcc|cpp|clang|clang\+\+|make|gmake|python[0-9.]*|([a-z0-9_]+-)+(gcc|g\+\+|c\+\+|cc|cpp))(-[0-9.]+)?$/;

/**
 * A directory in `scratch` of symlinks to every program on PATH except the
 * compilers and build tools (the first of a name, as PATH finds it). On the
 * file's own tmpfs (helpers/scratch.ts) its 1,400-odd symlinks take ~10 ms;
 * on a disk they took 0.05 to 1.1 s of CPU (in the kernel, more the busier
 * the machine), which a run without the runner's tmpfs pays each time.
 */
function pathWithoutCompilers(scratch: string): string {
  const dir = join(scratch, 'path-without-compilers');
  mkdirSync(dir);
  const linked = new Set<string>();
  for (const source of (process.env.PATH ?? '').split(delimiter)) {
    if (!source || !existsSync(source) || !statSync(source).isDirectory()) continue;
    for (const name of readdirSync(source)) {
      if (COMPILERS.test(name) || linked.has(name)) continue;
      linked.add(name);
      symlinkSync(join(source, name), join(dir, name));
    }
  }
  return dir;
}

/**
 * A copy of the checkout to pack, with its node_modules linked: `prepare`
 * rebuilds dist/ and removes dist/src for a moment, and the other test files,
 * which run at the same time, load the checkout's dist/. Tests, benchmarks
 * and examples stay out: the package holds none of them, and `prepare` need
 * not compile them. Timestamps are kept, so prebuilds newer than the native
 * sources are reused.
 */
async function copyOfCheckout(dir: string): Promise<string> {
  const skip = new Set(['node_modules', 'build', 'dist', '.git', 'test', 'bench', 'examples']);
  mkdirSync(dir);
  // cp -a: fs.cpSync gives directories the time of the copy, which makes every prebuild look stale.
  const copy = await run('cp', [
    '-a',
    ...readdirSync(ROOT)
      .filter((name) => !skip.has(name))
      .map((name) => join(ROOT, name)),
    dir,
  ]);
  assertExitedCleanly(copy, 'cp');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/**
 * Whether node-gyp finds Node's headers here (npm_config_nodedir, or
 * /usr/include/node as .ci/run uses it) and so downloads nothing.
 */
const LOCAL_HEADERS = process.env.npm_config_nodedir !== undefined || existsSync('/usr/include/node');

/**
 * The certificates npm needs for the registry (through a proxy they trust).
 * scripts/run-tests.mjs gives them to this file alone, as
 * SHMKIT_TEST_NODE_EXTRA_CA_CERTS: Node reads every certificate
 * NODE_EXTRA_CA_CERTS names as it starts, some 30 ms of CPU in each Node
 * process, this one included, and only the npm steps may reach the network.
 */
const CA_CERTS = process.env.SHMKIT_TEST_NODE_EXTRA_CA_CERTS ?? process.env.NODE_EXTRA_CA_CERTS;

/** `env` without NODE_EXTRA_CA_CERTS, for the steps that reach no network. */
function offline(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _, SHMKIT_TEST_NODE_EXTRA_CA_CERTS: __, ...rest } = env;
  return rest;
}

/** `env` with NODE_EXTRA_CA_CERTS, if this file was given any, for the npm steps that may reach the registry. */
function online(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return CA_CERTS === undefined ? offline(env) : { ...offline(env), NODE_EXTRA_CA_CERTS: CA_CERTS };
}

const ESM_PROGRAM = `
import { SharedMemory, struct, int32, char, Mutex, Channel } from 'shmkit';
const Point = struct({ x: int32, y: int32, label: char(12) });
const shm = SharedMemory.create({ size: 4096 });
const p = Point.view(shm);
p.x = 3; p.y = -4; p.label = 'esm';
const mutex = Mutex.create();
const locked = await mutex.withLock(async () => Point.read(shm));
mutex.remove();
const channel = Channel.create({ capacity: 4096, autoRemove: true });
const receiver = channel.receiver();
const sender = channel.sender();
await sender.send(JSON.stringify(locked));
const message = JSON.parse(new TextDecoder().decode(await receiver.recv({ timeoutMs: 5000 })));
sender.close();
channel.close();
channel.detach();
shm.remove();
shm.detach();
console.log(JSON.stringify(message));
`;

const CJS_PROGRAM = `
const { SharedMemory, struct, int32, char, Mutex, Channel } = require('shmkit');
(async () => {
  const Point = struct({ x: int32, y: int32, label: char(12) });
  const shm = SharedMemory.create({ size: 4096 });
  const p = Point.view(shm);
  p.x = 5; p.y = 12; p.label = 'cjs';
  const mutex = Mutex.create();
  const locked = await mutex.withLock(async () => Point.read(shm));
  mutex.remove();
  const channel = Channel.create({ capacity: 4096, autoRemove: true });
  const receiver = channel.receiver();
  const sender = channel.sender();
  await sender.send(JSON.stringify(locked));
  const message = JSON.parse(new TextDecoder().decode(await receiver.recv({ timeoutMs: 5000 })));
  sender.close();
  channel.close();
  channel.detach();
  shm.remove();
  shm.detach();
  console.log(JSON.stringify(message));
})();
`;

describe('the packed package installed where there is no compiler', { timeout: 600_000 }, () => {
  let tmp = '';
  let env: NodeJS.ProcessEnv = {};
  /** `env` for the programs run from the installed package. */
  let local: NodeJS.ProcessEnv = {};
  let files: string[] = [];
  let install: RunResult;
  let consumer = '';
  let installed = '';

  before(async () => {
    tmp = scratchDir('shmkit-install-test-');
    // npm pack builds the prebuilds (prepack) and the library (prepare) as a
    // release would; only a prebuild's headers may come from the network.
    const checkout = await copyOfCheckout(join(tmp, 'checkout'));
    const packEnv = { ...process.env, JOBS: 'max' };
    const pack = await run('npm', ['pack', '--json', '--pack-destination', tmp], {
      cwd: checkout,
      env: LOCAL_HEADERS ? offline(packEnv) : online(packEnv),
      timeoutMs: 400_000,
    });
    assertExitedCleanly(pack, 'npm pack');
    // Keep the prebuilds for the next run, as packing in the checkout itself
    // would; only a cache, so a checkout this user cannot write keeps none.
    await run('cp', ['-a', join(checkout, 'prebuilds'), ROOT]);
    const [report] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[\n'))) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    files = report!.files.map((f) => f.path).sort();
    const tarball = join(tmp, report!.filename);

    env = online({ ...process.env, PATH: pathWithoutCompilers(tmp) });
    // What npm run gave this test about node-gyp must not help the install.
    for (const name of Object.keys(env)) if (/^npm_(config_node_gyp|config_python|package_|lifecycle_)/i.test(name)) delete env[name];
    local = offline(env);
    consumer = join(tmp, 'consumer');
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], {
      cwd: consumer,
      env,
      timeoutMs: 180_000,
    });
    installed = join(consumer, 'node_modules', 'shmkit');
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the test machine really has no compiler, make or python3 on the PATH it installs with', async () => {
    for (const tool of ['cc', 'c++', 'g++', 'gcc', 'make', 'python3']) {
      const found = await run('sh', ['-c', `command -v ${tool}`], { env });
      assert.notEqual(found.code, 0, `${tool} is on the PATH: ${found.stdout}`);
    }
  });

  it('the tarball holds the library, the prebuilt addons, the native sources, docs, README, LICENSE and CHANGELOG, and nothing else', () => {
    const allowed = [
      /^package\.json$/,
      /^(README|CHANGELOG)\.md$/,
      /^LICENSE$/,
      /^bin\/shmkit\.js$/,
      /^dist\/src\/.+\.(js|d\.ts)$/,
      /^prebuilds\/linux-(x64|arm64)\/shmkit\.glibc\.node$/,
      /^native\/([a-z_]+\.(cc|h)|README\.md)$/,
      /^binding\.gyp$/,
      /^scripts\/install\.js$/,
      /^docs\/[a-z-]+\.md$/,
    ];
    for (const file of files)
      assert.ok(
        allowed.some((re) => re.test(file)),
        `unexpected file in the package: ${file}`,
      );
    for (const needed of [
      'LICENSE',
      'README.md',
      'CHANGELOG.md',
      'binding.gyp',
      'scripts/install.js',
      'dist/src/index.d.ts',
      'dist/src/bundle/index.js',
      'dist/src/bundle/main.js',
      'dist/src/bundle/reader.js',
      'prebuilds/linux-x64/shmkit.glibc.node',
      'prebuilds/linux-arm64/shmkit.glibc.node',
      'native/mapping.cc',
      'docs/api.md',
    ]) {
      assert.ok(files.includes(needed), `${needed} is missing from the package`);
    }
    assert.ok(
      !files.some((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.endsWith('.map')),
      'no tests, benchmarks or source maps',
    );
    assert.deepEqual(
      files.filter((f) => f.startsWith('dist/src/') && f.endsWith('.js') && !f.startsWith('dist/src/bundle/')),
      [],
      'the library ships once, as the bundle',
    );
  });

  it('installs with exit code 0 and prints nothing from node-gyp, using the prebuild instead of compiling', () => {
    assertExitedCleanly(install, 'npm install');
    const output = install.stdout + install.stderr;
    assert.doesNotMatch(output, /gyp/i, `install output:\n${output}`);
    assert.ok(!existsSync(join(installed, 'build')), 'nothing was compiled');
    for (const file of ['dist/src/bundle/index.js', 'dist/src/bundle/main.js', 'dist/src/bundle/reader.js'])
      assert.doesNotMatch(readFileSync(join(installed, file), 'utf8'), /sourceMappingURL/, `no source-map comment in ${file}`);
  });

  it('the prebuilt addons are for x86-64 and arm64, under 1 MiB, and link to Node-API alone, not to V8', async () => {
    const machines = { x64: 'x86-64', arm64: 'ARM aarch64' };
    for (const [arch, machine] of Object.entries(machines)) {
      const binary = join(installed, 'prebuilds', `linux-${arch}`, 'shmkit.glibc.node');
      // The guard's page table is zeros at start (.bss): as an initialized
      // array it made each addon 5.4 MB instead of about 200 KB.
      assert.ok(statSync(binary).size < 1 << 20, `${arch}: ${statSync(binary).size} bytes`);
      const kind = await run('file', ['-b', binary]);
      assert.match(kind.stdout, new RegExp(`^ELF 64-bit LSB shared object, ${machine}`), `${arch}: ${kind.stdout}`);
      const symbols = await run('objdump', ['-T', binary]);
      assertExitedCleanly(symbols, 'objdump');
      const undefinedSymbols = symbols.stdout.split('\n').filter((l) => l.includes('*UND*'));
      assert.ok(
        undefinedSymbols.some((l) => /\bnapi_create_external_arraybuffer\b/.test(l)),
        `${arch} uses Node-API`,
      );
      assert.deepEqual(
        undefinedSymbols.filter((l) => /v8|node::/i.test(l)),
        [],
        `${arch} needs no V8 or Node internals`,
      );
    }
  });

  it('a program using SharedMemory, struct, Mutex and Channel runs from ESM', async () => {
    writeFileSync(join(consumer, 'program.mjs'), ESM_PROGRAM);
    const result = await run(process.execPath, ['program.mjs'], { cwd: consumer, env: local });
    assertExitedCleanly(result, 'ESM program');
    assert.deepEqual(JSON.parse(result.stdout), { x: 3, y: -4, label: 'esm' });
  });

  it('the same program runs from CommonJS (require of the ESM package)', async () => {
    writeFileSync(join(consumer, 'program.cjs'), CJS_PROGRAM);
    const result = await run(process.execPath, ['program.cjs'], { cwd: consumer, env: local });
    assertExitedCleanly(result, 'CommonJS program');
    assert.deepEqual(JSON.parse(result.stdout), { x: 5, y: 12, label: 'cjs' });
  });

  it('the shmkit command runs from the installed package, its demo included, and does not offer the benchmark it lacks', async () => {
    const shmkit = join(consumer, 'node_modules', '.bin', 'shmkit');
    const limits = await run(shmkit, ['limits', '--json'], { cwd: consumer, env: local });
    assertExitedCleanly(limits, 'shmkit limits');
    assert.ok(JSON.parse(limits.stdout), 'limits prints JSON');
    const help = await run(shmkit, ['--help'], { cwd: consumer, env: local });
    assertExitedCleanly(help, 'shmkit --help');
    assert.match(help.stdout, /^ {2}demo /m);
    // The README's first command: its second process is the bundle's reader.js.
    const demo = await run(shmkit, ['demo'], { cwd: consumer, env: local });
    assertExitedCleanly(demo, 'shmkit demo');
    assert.match(demo.stdout, /^ {2}reader\[\d+\]: /m, 'the reader process ran');
    assert.doesNotMatch(help.stdout, /^ {2}bench /m);
    const bench = await run(shmkit, ['bench'], { cwd: consumer, env: local });
    assert.equal(bench.code, 1);
    assert.match(
      bench.stderr,
      /^shmkit bench: ENOENT the benchmark suite is not part of the installed package; run it from shmkit's source repository/,
    );
  });

  it('where no prebuild matches, the install script fails with one line naming what compiling needs', async () => {
    rmSync(join(installed, 'prebuilds'), { recursive: true });
    const result = await run(process.execPath, [join(installed, 'scripts', 'install.js')], { cwd: installed, env: local });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(
      lines[0]!,
      new RegExp(
        `^shmkit: no prebuilt addon for linux-${process.arch} \\(glibc, Node-API\\); compiling it needs python3, make and a C\\+\\+ compiler, and python3, make, a C\\+\\+ compiler \\(g\\+\\+\\) are missing`,
      ),
    );
  });

  it('where no prebuild matches but a compiler is there, npm rebuild compiles the addon without a word from node-gyp', async () => {
    assert.ok(!existsSync(join(installed, 'prebuilds')));
    // Node's headers from the machine when it has them, as .ci/run does: node-gyp downloads nothing.
    const headers = existsSync('/usr/include/node') && !process.env.npm_config_nodedir ? { npm_config_nodedir: '/usr' } : {};
    // CXXFLAGS, which node-gyp puts after its own -O3: this is about the
    // install path, not the optimiser's code, and -O0 halves the compile (the
    // step the test waits on longest: the sources are one unit).
    const rebuildEnv = { ...process.env, ...headers, CXXFLAGS: '-O0' };
    const result = await run('npm', ['rebuild', 'shmkit', '--foreground-scripts'], {
      cwd: consumer,
      env: LOCAL_HEADERS ? offline(rebuildEnv) : online(rebuildEnv),
      timeoutMs: 300_000,
    });
    assertExitedCleanly(result, 'npm rebuild');
    assert.doesNotMatch(result.stdout + result.stderr, /gyp/i);
    assert.ok(existsSync(join(installed, 'build', 'Release', 'shmkit.node')), 'the addon was compiled');
    const program = await run(process.execPath, ['program.mjs'], { cwd: consumer, env: local });
    assertExitedCleanly(program, 'ESM program with the compiled addon');
    assert.deepEqual(JSON.parse(program.stdout), { x: 3, y: -4, label: 'esm' });
  });
});
