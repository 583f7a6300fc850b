// The benchmark suite: `npm run bench` (or `node dist/bench/main.js [--quick|--smoke]
// [--out DIR] [--no-pin]`). Runs the transport suite as is and with both
// processes pinned to one CPU, the C reference, and the struct, semaphore, JSON-patterns,
// pub/sub, service, bridge and message-queue benchmarks if present; writes latest.json,
// latest.md and latest.svg. With --render it measures nothing: it judges the targets of
// the latest.json there again and rewrites the three.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { Scale, SuiteResult } from './channel.js';
import { ratioText } from './format.js';
import { combineRounds } from './rounds.js';
import { renderMarkdown, renderSvg, type BenchReport, type OtherBench } from './report.js';
import { evaluateTargets, ratios } from './targets.js';

const USAGE = `Usage: node dist/bench/main.js [--quick | --smoke] [--rounds N] [--out DIR] [--no-pin]
       node dist/bench/main.js --render [--out DIR]

  --quick     fewer iterations, one round: about a minute on two cores
  --smoke     a handful of messages per measurement (checks the output only)
  --rounds N  rounds of every measurement; the report gives medians and ranges (default 5, 1 with --quick or --smoke)
  --out DIR   where latest.json, latest.md and latest.svg go (default bench/results)
  --no-pin    skip the runs with both processes pinned to one CPU
  --render    measure nothing: judge the targets of DIR/latest.json again (after a change to
              their wording) and rewrite latest.json, latest.md and latest.svg from its numbers
`;

function parseOptions() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean' },
        smoke: { type: 'boolean' },
        out: { type: 'string' },
        rounds: { type: 'string' },
        'no-pin': { type: 'boolean' },
        render: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const options = parseOptions();
if (options.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const scale: Scale = options.smoke ? 'smoke' : options.quick ? 'quick' : 'full';
const roundCount = options.rounds === undefined ? (scale === 'full' ? 5 : 1) : Number(options.rounds);
if (!Number.isInteger(roundCount) || roundCount < 1 || roundCount > 100) {
  process.stderr.write(`bench: --rounds must be an integer from 1 to 100, got ${options.rounds}\n${USAGE}`);
  process.exit(2);
}
const outDir = options.out ?? fileURLToPath(new URL('../../bench/results/', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Judges the targets of `report` and writes latest.json, latest.md and latest.svg. */
function writeReport(report: BenchReport): void {
  report.targets = evaluateTargets(report.unpinned, report.pinned);
  report.ratios = { unpinned: ratios(report.unpinned), pinned: report.pinned ? ratios(report.pinned) : {} };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'latest.md'), renderMarkdown(report));
  writeFileSync(join(outDir, 'latest.svg'), renderSvg(report));
}

if (options.render) {
  writeReport(JSON.parse(readFileSync(join(outDir, 'latest.json'), 'utf8')) as BenchReport);
  log(`rewrote ${join(outDir, 'latest.{json,md,svg}')} from the numbers in latest.json`);
  process.exit(0);
}

// The suite and the library it loads (about 60 ms of CPU) once the options are good and
// there is something to measure: \`shmkit bench -- --help\` and usage errors go without.
const { runSuite, SIZES } = await import('./channel.js');

async function hasTaskset(): Promise<boolean> {
  try {
    await promisify(execFile)('taskset', ['-p', String(process.pid)]);
    return true;
  } catch {
    return false;
  }
}

/** The suite again in a child pinned (with its peers) to one CPU. */
async function runPinned(reverse: boolean): Promise<SuiteResult> {
  const suite = fileURLToPath(new URL('./channel.js', import.meta.url));
  const flags = ['--json', '--pinned'];
  if (reverse) flags.push('--reverse');
  if (scale !== 'full') flags.push(`--${scale}`);
  // The quick run measures the smallest and largest messages only, to stay under a minute.
  if (scale === 'quick') flags.push('--sizes', `${SIZES[0]},${SIZES[SIZES.length - 1]}`);
  const child = spawn('taskset', ['-c', '0', process.execPath, suite, ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`pinned suite exited with ${code}`);
  return JSON.parse(stdout.trim().split('\n').pop()!) as SuiteResult;
}

/** The benchmarks beside the transport suite (struct, semaphore, ...): run if their modules exist. */
async function runOther(name: string, module: string, fn: string): Promise<OtherBench> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(module)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND') return { name, module, status: 'absent', note: `${module} is not built; skipped` };
    return { name, module, status: 'failed', note: `import failed: ${(error as Error).message}` };
  }
  const run = mod[fn];
  if (typeof run !== 'function') return { name, module, status: 'absent', note: `${module} has no ${fn}(); skipped` };
  try {
    const result: unknown = await (run as (options: { quick: boolean; smoke: boolean }) => unknown)({
      quick: scale !== 'full',
      smoke: scale === 'smoke',
    });
    // A benchmark whose tool is missing (nats-server for the bridge) says so in its result.
    const absent = (result as { status?: unknown; note?: unknown } | null)?.status === 'absent';
    if (absent) return { name, module, status: 'absent', note: String((result as { note?: unknown }).note ?? '') };
    return { name, module, status: 'ok', result };
  } catch (error) {
    return { name, module, status: 'failed', note: `${fn}() failed: ${(error as Error).message}` };
  }
}

const begin = performance.now();
log(`shmkit benchmark (${scale})`);
const unpinnedRounds: SuiteResult[] = [];
const pinnedRounds: SuiteResult[] = [];
let pinnedNote: string | undefined;
const pinning = options['no-pin'] ? 'skipped (--no-pin)' : (await hasTaskset()) ? undefined : 'skipped: taskset is not installed';
for (let round = 1; round <= roundCount; round++) {
  // Rounds alternate unpinned and pinned, so that a slow spell of the machine touches both.
  log(`round ${round} of ${roundCount}, unpinned:`);
  const reverse = round % 2 === 0;
  unpinnedRounds.push(await runSuite({ scale, pinned: false, reverse, log }));
  if (pinning) continue;
  log(`round ${round} of ${roundCount}, pinned to CPU 0 (taskset -c 0):`);
  try {
    pinnedRounds.push(await runPinned(reverse));
  } catch (error) {
    pinnedNote = `failed: ${(error as Error).message}`;
  }
}
if (pinning) pinnedNote = pinning;
else if (scale === 'quick' && pinnedRounds.length > 0) pinnedNote = 'quick run: 64 B and 1 MiB only';
const unpinned = combineRounds(unpinnedRounds);
const pinned = pinnedRounds.length > 0 ? combineRounds(pinnedRounds) : null;
const other = [
  await runOther('struct', './struct.js', 'runStructBench'),
  await runOther('semaphore', './sem.js', 'runSemBench'),
  await runOther('patterns-json', './patterns-json.js', 'runJsonBench'),
  await runOther('pubsub', './pubsub.js', 'runPubSubBench'),
  await runOther('service', './service.js', 'runServiceBench'),
  await runOther('bridge', './bridge.js', 'runBridgeBench'),
  await runOther('message-queue', './msg.js', 'runMsgBench'),
];
for (const o of other) log(`${o.name}: ${o.status}${o.note ? ` (${o.note})` : ''}`);

const cpu = cpus();
const report: BenchReport = {
  schema: 'shmkit-bench/2',
  date: new Date().toISOString(),
  scale,
  machine: {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    availableParallelism: availableParallelism(),
    kernel: release(),
    node: process.version,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  },
  sizes: SIZES,
  unpinned,
  pinned,
  pinnedNote,
  rounds: { unpinned: unpinnedRounds, pinned: pinnedRounds },
  targets: [],
  ratios: { unpinned: {}, pinned: {} },
  other,
  seconds: 0,
};
report.seconds = (performance.now() - begin) / 1000;

writeReport(report);
// A --quick or --smoke run is too short for its ratios to say anything about a target.
if (scale !== 'full') log(`targets are judged only in full runs (npm run bench); this --${scale} run shows the ratios, not judged:`);
for (const target of report.targets) {
  const verdict = scale !== 'full' ? '' : target.met ? 'MET    ' : 'MISSED ';
  log(
    `target ${verdict}${target.description}: ${target.ratio === null ? 'n/a' : ratioText(target.ratio, target.requirement, target.met)} (need ${target.requirement})`,
  );
}
log(`wrote ${join(outDir, 'latest.{json,md,svg}')} in ${report.seconds.toFixed(1)} s`);
