// The test runner behind `npm test`. Every test file checks that it leaves as
// many segments and semaphore sets as it found, and some list or remove IPC
// objects machine-wide, so a file must be alone in its IPC namespace. POSIX
// shared memory lives in /dev/shm, which belongs to the mount namespace
// instead, and the files that check it for leftovers must not see another
// file's names. Where `unshare` works (root), each file runs in a private IPC
// namespace and a private mount namespace with a fresh /dev/shm (tmpfs), and
// several run at once; elsewhere the files run one at a time in this
// namespace, and the tests that need root skip themselves. The output says
// which. Plain JavaScript: it needs nothing but Node.
//
//   node scripts/run-tests.mjs [--jobs N] [--shared-ipc] [--soak] [--verbose] [file...]
//
// Files default to the built test/*.test.ts (after `npm run build`). --jobs sets
// how many files run at once (default: three per CPU, as most files spend much
// of their time waiting on child processes, timers or the kernel: on 2 CPUs,
// 4 at once left the CPUs idle a tenth of the run, 6 kept them busy and took
// 36 s where 4 took 40); --shared-ipc runs as without root: one file at a time, in this
// IPC namespace; --soak gives the stress tests their full budgets
// (SHMKIT_TEST_SOAK=1, see test/helpers/soak.ts) and, without files, runs only
// the files that have such budgets. A file's output is printed in full when it fails, with
// --verbose always. The longest files start first, by the durations of the
// last run (kept in dist/test/.durations.json).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TEST_DIR = join(ROOT, 'dist', 'test');
const DURATIONS = join(TEST_DIR, '.durations.json');
/** Read by test/helpers/namespaces.ts: this process already has an IPC namespace of its own. */
const MARK = 'SHMKIT_TEST_PRIVATE_IPC';
/** Names the file's own /dev/shm, a tmpfs it may use as scratch (test/helpers/scratch.ts). */
const TMPFS = 'SHMKIT_TEST_TMPFS';
/** A file that runs longer than this is killed and fails. */
const FILE_TIMEOUT_MS = 5 * 60_000;
/**
 * The files whose children may reach the internet: install.test.js runs npm,
 * which may need the registry (through a proxy that NODE_EXTRA_CA_CERTS
 * trusts); such a file gets the certificates under another name and gives
 * them to those children alone. Every file runs without NODE_EXTRA_CA_CERTS:
 * Node 20 reads every certificate it names when it starts, about 35 ms of CPU
 * for a 220 KB bundle in each of the ~700 Node processes a run starts, a
 * quarter of the run. (The others talk to local servers alone; the TLS test
 * names its own CA.)
 */
const NETWORK_FILES = new Set(['install.test.js']);

const { values: options, positionals } = parseArgs({
  options: {
    jobs: { type: 'string', short: 'j' },
    'shared-ipc': { type: 'boolean', default: false },
    soak: { type: 'boolean', default: false },
    verbose: { type: 'boolean', short: 'v', default: false },
  },
  allowPositionals: true,
});

// The built files of test/*.test.ts: a stale build of a deleted test does not run.
// A soak run without files takes those that import the budgets of helpers/soak.ts.
const files =
  positionals.length > 0
    ? positionals
    : readdirSync(join(ROOT, 'test'))
        .filter((name) => name.endsWith('.test.ts'))
        .filter((name) => !options.soak || readFileSync(join(ROOT, 'test', name), 'utf8').includes('/helpers/soak.js'))
        .sort()
        .map((name) => join(TEST_DIR, name.replace(/\.ts$/, '.js')));
for (const file of files) if (!existsSync(file)) fail(`${relative(process.cwd(), file)}: no such file (run npm run build first)`);
if (files.length === 0) fail(options.soak ? 'no test files use the budgets of test/helpers/soak.ts' : 'no test files');

const why = options['shared-ipc'] ? 'asked for with --shared-ipc' : privateIpcUnavailable();
const isolated = why === null;
const jobs = isolated ? jobCount(options.jobs ?? process.env.SHMKIT_TEST_JOBS) : 1;

// Seconds a file took last time; a fresh checkout knows only that the install
// test (it packs, installs and rebuilds the package) is by far the longest.
const previous = readDurations();
const expected = (file) => previous[name(file)] ?? (name(file) === 'install.test.js' ? 60 : 0);
const queue = [...files].sort((a, b) => expected(b) - expected(a));

console.log(
  isolated
    ? `shmkit tests: ${plural(files.length, 'file')}, ${jobs} at a time, each in a private IPC namespace and /dev/shm of its own (unshare --ipc --mount)`
    : `shmkit tests: ${plural(files.length, 'file')}, one at a time in this IPC namespace: no private IPC namespaces (${why}); ` +
        'tests that need root are skipped, and listed at the end',
);

const running = new Set();
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));

const started = performance.now();
const results = [];
await Promise.all(
  Array.from({ length: Math.min(jobs, files.length) }, async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const result = await runFile(file);
      results.push(result);
      report(result);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;

writeDurations(results);
summarize(results, seconds);

/**
 * The command that runs `argv` in private IPC and mount namespaces with an
 * empty /dev/shm of its own. sh records the IPC namespace's name for the file
 * (see MARK) and names its /dev/shm (TMPFS), then becomes `argv`.
 */
function isolatedCommand(argv) {
  const script = `mount -t tmpfs -o mode=1777,nosuid,nodev shmkit-test /dev/shm && ${MARK}=$(readlink /proc/self/ns/ipc) ${TMPFS}=/dev/shm exec "$@"`;
  return ['unshare', '--ipc', '--mount', 'sh', '-c', script, 'sh', ...argv];
}

/** Why this process cannot give each file its own namespaces, or null if it can. */
function privateIpcUnavailable() {
  const [command, ...args] = isolatedCommand(['true']);
  const probe = spawnSync(command, args, { encoding: 'utf8' });
  if (probe.error) return `unshare: ${probe.error.message}`;
  if (probe.status !== 0) return probe.stderr.trim().split('\n')[0] || `unshare --ipc --mount exited with ${probe.status}`;
  return null;
}

function jobCount(value) {
  if (value === undefined) return availableParallelism() * 3;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) fail(`--jobs: '${value}' is not a whole number of 1 or more`);
  return n;
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function name(file) {
  return basename(file);
}

/**
 * The environment a file runs in: this one, without NODE_EXTRA_CA_CERTS (one
 * of NETWORK_FILES gets it as SHMKIT_TEST_NODE_EXTRA_CA_CERTS, to hand to the
 * children that need it), and with SHMKIT_TEST_SOAK=1 in a soak run.
 */
function environment(file) {
  const soak = options.soak ? { SHMKIT_TEST_SOAK: '1' } : {};
  const { NODE_EXTRA_CA_CERTS: ca, ...env } = process.env;
  const certificates = NETWORK_FILES.has(name(file)) && ca !== undefined ? { SHMKIT_TEST_NODE_EXTRA_CA_CERTS: ca } : {};
  return { ...env, ...certificates, ...soak };
}

/** Runs one test file to its end; resolves with its exit, output and TAP summary. */
function runFile(file) {
  const node = [process.execPath, '--test-reporter=tap', file];
  const [command, ...args] = isolated ? isolatedCommand(node) : node;
  const start = performance.now();
  // A process group of its own, so a timeout or Ctrl-C ends the file's children too.
  const child = spawn(command, args, { cwd: ROOT, env: environment(file), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGKILL');
  }, FILE_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.on('error', (error) => (stderr += `${command}: ${error.message}\n`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const seconds = (performance.now() - start) / 1000;
      const tap = parseTap(stdout);
      const ok =
        code === 0 && signal === null && !timedOut && tap.counts.fail === 0 && tap.counts.cancelled === 0 && tap.counts.tests !== undefined;
      resolve({ file, ok, code, signal, timedOut, seconds, stdout, stderr, ...tap });
    });
  });
}

/** The top-level summary counts, skipped tests with their reasons, and failed tests of a file's TAP output. */
function parseTap(tap) {
  const counts = {};
  const skipped = [];
  const failed = [];
  for (const line of tap.split('\n')) {
    const count = /^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
    if (count) counts[count[1]] = Number(count[2]);
    const skip = /^\s*ok \d+ - (.*?) # SKIP ?(.*)$/.exec(line);
    if (skip) skipped.push({ test: skip[1], reason: skip[2] });
    const notOk = /^\s*not ok \d+ - (.*)$/.exec(line);
    if (notOk) failed.push(notOk[1]);
  }
  return { counts, skipped, failed };
}

function report(result) {
  const status = result.ok ? 'ok  ' : 'FAIL';
  const what = result.timedOut
    ? `timed out after ${FILE_TIMEOUT_MS / 1000} s`
    : `${result.counts.tests ?? '?'} tests${result.skipped.length > 0 ? `, ${result.skipped.length} skipped` : ''}`;
  console.log(`${status} ${result.seconds.toFixed(1).padStart(6)} s  ${name(result.file)} (${what})`);
  if (!result.ok || options.verbose) {
    const indent = (text) => text.trimEnd().replace(/^/gm, '     | ');
    if (result.stdout.trim()) console.log(indent(result.stdout));
    if (result.stderr.trim()) console.log(indent(`--- stderr\n${result.stderr}`));
    if (!result.ok && !result.timedOut) {
      console.log(`     ${result.signal ? `ended by ${result.signal}` : `exit code ${result.code}`}`);
    }
  }
}

function summarize(results, seconds) {
  const total = (key) => results.reduce((sum, r) => sum + (r.counts[key] ?? 0), 0);
  const skipped = results.flatMap((r) => r.skipped.map((s) => `  ${name(r.file)}: ${s.test} (${s.reason || 'skipped'})`));
  const failedFiles = results.filter((r) => !r.ok);
  if (skipped.length > 0) console.log(`\nskipped:\n${skipped.join('\n')}`);
  if (failedFiles.length > 0) {
    console.log('\nfailed:');
    for (const r of failedFiles) {
      const tests = r.failed.length > 0 ? r.failed.join('; ') : r.timedOut ? 'timed out' : 'the file did not finish cleanly';
      console.log(`  ${name(r.file)}: ${tests}`);
    }
  }
  console.log(
    `\n${failedFiles.length === 0 ? 'ok' : 'FAILED'}: ${plural(results.length, 'file')}, ${total('tests')} tests, ` +
      `${total('pass')} passed, ${total('fail')} failed, ${total('cancelled')} cancelled, ${total('skipped')} skipped ` +
      `in ${seconds.toFixed(1)} s (${isolated ? `${plural(jobs, 'file')} at a time, private IPC namespaces` : 'one file at a time, this IPC namespace'})`,
  );
  process.exitCode = failedFiles.length === 0 ? 0 : 1;
}

function readDurations() {
  try {
    return JSON.parse(readFileSync(DURATIONS, 'utf8'));
  } catch {
    return {};
  }
}

function writeDurations(results) {
  const durations = { ...previous };
  for (const r of results) durations[name(r.file)] = Math.round(r.seconds * 10) / 10;
  try {
    writeFileSync(DURATIONS, `${JSON.stringify(durations, null, 2)}\n`);
  } catch {
    // only an ordering hint for the next run
  }
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function stop(signal) {
  for (const child of running) killGroup(child, signal);
  process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
}

function fail(message) {
  console.error(`run-tests: ${message}`);
  process.exit(2);
}
