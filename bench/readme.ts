// Rewrites README.md's benchmark section (between its two bench markers)
// from bench/results/latest.json: `npm run bench:readme` after a full
// `npm run bench`, so the README shows the numbers of a real run, never
// numbers typed in by hand.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { num, ratioText } from './format.js';
import type { BenchReport } from './report.js';

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';
const MIB = 1048576;

/** README rows: what the row shows, and which measurement fills each column. */
const ROWS: Array<[label: string, rtt?: string, rate?: string, bandwidth?: string]> = [
  ['shmkit channel, `trySend`/`tryRecvInto` in a spin loop', 'channel-spin'],
  [
    'shmkit channel (adaptive, the default; `await send`/`await recvInto`, `recv()` for throughput)',
    'channel-adaptive',
    'channel-adaptive',
    'channel-adaptive',
  ],
  ['shmkit channel (adaptive, `recvInto` a reused buffer)', undefined, 'channel-adaptive-into', 'channel-adaptive-into'],
  ['shmkit channel (adaptive, zero-copy `recvView`)', undefined, 'channel-adaptive-view', 'channel-adaptive-view'],
  ['shmkit channel (sleep)', 'channel-sleep', 'channel-sleep', 'channel-sleep'],
  ['`shm-typed-array` + hand-written spin protocol', 'shm-typed-array', 'shm-typed-array', 'shm-typed-array'],
  ['pipe (FIFO)', 'pipe', 'pipe', 'pipe'],
  ['Unix domain socket', 'unix-socket', 'unix-socket', 'unix-socket'],
  ['TCP 127.0.0.1', 'tcp', 'tcp', 'tcp'],
  ['`process.send`', 'process-send', 'process-send', 'process-send'],
  ['worker `postMessage` (in-process)', 'worker-postmessage', 'worker-postmessage', 'worker-postmessage'],
];

export function readmeSection(r: BenchReport): string {
  const u = r.unpinned;
  const rtt = (id?: string) => (id && u.roundTrip[id] ? `${num(u.roundTrip[id]!.median_us)} µs` : '–');
  const rate = (id?: string) => (id ? num(u.throughput[id]?.[64]?.messages_per_s) : '–');
  const gbps = (id?: string) => (id ? num(u.throughput[id]?.[MIB]?.gb_per_s) : '–');
  const m = r.machine;
  const rounds = r.rounds.unpinned.length;
  const met = r.targets.filter((t) => t.met);
  const lines = [
    `Measured on ${r.date.slice(0, 10)} (\`npm run bench\`, scale \`${r.scale}\`) on ${m.cpuModel}, ${m.cores} cores, Linux ${m.kernel}, Node ${m.node}: medians of ${rounds} round${rounds === 1 ? '' : 's'}. The full tables with ranges, pinned runs and the CPU cost of a message are in [bench/results/latest.md](bench/results/latest.md).`,
    '',
    '![shmkit channel vs other Node IPC](bench/results/latest.svg)',
    '',
    '| transport | 64 B round trip, median | 64 B one-way, msg/s | 1 MiB one-way, GB/s |',
    '| --- | ---: | ---: | ---: |',
    ...ROWS.map(([label, a, b, c]) => `| ${label} | ${rtt(a)} | ${rate(b)} | ${gbps(c)} |`),
    `| *C reference (shm ping-pong; memcpy)* | *${num(u.c.pingPong?.median_us)} µs* | *${num(u.c.memcpy[64]?.messages_per_s)}* | *${num(u.c.memcpy[MIB]?.gb_per_s)}* |`,
    '',
    `In this run ${met.length} of our ${r.targets.length} targets were met:`,
    '',
    ...r.targets.map(
      (t) =>
        `- ${t.met ? 'met' : '**missed**'}: ${t.description}: ${t.ratio === null ? 'not measured' : `${ratioText(t.ratio, t.requirement, t.met)}×`} (need ${t.requirement}).${t.met || !t.note ? '' : ` ${t.note}`}`,
    ),
  ];
  return lines.join('\n');
}

/** README.md with its bench section replaced; throws if the markers are missing. */
export function updateReadme(readme: string, r: BenchReport): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} ... ${END} section`);
  return `${readme.slice(0, start + START.length)}\n${readmeSection(r)}\n${readme.slice(end)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = new URL('../../', import.meta.url);
  const report = JSON.parse(readFileSync(new URL('bench/results/latest.json', root), 'utf8')) as BenchReport;
  if (report.scale !== 'full') {
    process.stderr.write(`bench:readme: bench/results/latest.json is a ${report.scale} run; README shows full runs only\n`);
    process.exit(1);
  }
  const path = new URL('README.md', root);
  writeFileSync(path, updateReadme(readFileSync(path, 'utf8'), report));
  process.stderr.write('bench:readme: README.md updated from bench/results/latest.json\n');
}
