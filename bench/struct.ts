// Field access through a struct view against the same access through a raw
// DataView, on a real segment, and the cost of view() against new DataView().
// Run: node dist/bench/struct.js [--json] [--iterations=N]
import { pathToFileURL } from 'node:url';
// The public API only, as a user's import: the bundle, one module where
// dist/src/index.js is a hundred (its test loads it in-process and as a child).
import { float32, float64, int16, int32, int64, SharedMemory, struct } from 'shmkit';

const Sample = struct({ flags: int32, count: int32, total: int64, mean: float64, ratio: float32, level: int16 });
/** How long to measure. */
export interface StructBenchOptions {
  /** Operations per round (default 5,000,000). */
  iterations?: number;
  /** Rounds per case; the best counts (default 5). */
  rounds?: number;
}

/** One measured pair: the view's rate, DataView's rate, and their ratio. */
export interface StructBenchCase {
  name: string;
  viewOpsPerSec: number;
  dataViewOpsPerSec: number;
  /** viewOpsPerSec / dataViewOpsPerSec (the goal is >= 0.5). */
  ratio: number;
}

export interface StructBenchResult {
  iterations: number;
  rounds: number;
  cases: StructBenchCase[];
}

// The best of several rounds: the least disturbed by the machine.
function rate(loop: (n: number) => number, iterations: number, rounds: number): number {
  let best = 0;
  let sink = 0;
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    sink += loop(iterations);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    best = Math.max(best, iterations / seconds);
  }
  if (sink === -1) console.log(sink); // keeps the loops' results alive
  return best;
}

type SampleView = ReturnType<typeof Sample.view>;
type Loop<T> = (target: T, n: number, shm: SharedMemory) => number;

// The fields measured: the case's name, the field of Sample, its DataView
// type and offset, and what a set stores (an expression of i).
const FIELDS: ReadonlyArray<readonly [name: string, field: string, dataView: string, offset: number, stored: string]> = [
  ['int32', 'count', 'Int32', 4, 'i'],
  ['float64', 'mean', 'Float64', 16, 'i * 0.5'],
  ['int64', 'total', 'BigInt64', 8, '7n'],
  ['float32', 'ratio', 'Float32', 24, 'i * 0.5'],
  ['int16', 'level', 'Int16', 28, 'i & 0x7fff'],
];

// The loops take the view or DataView as an argument, as code that uses a
// view does: a constant captured by the loop would let V8 fold the DataView's
// checks away, which real programs rarely get. Each is a function of its own
// (new Function), as written out by hand, so that V8 optimizes it for its
// one field alone.
function loop<T>(body: string): Loop<T> {
  return new Function('target', 'n', `'use strict'; ${body}`) as Loop<T>;
}

function fieldLoops([name, field, dataView, offset, stored]: (typeof FIELDS)[number]): Array<[string, Loop<SampleView>, Loop<DataView>]> {
  const big = dataView.startsWith('Big');
  // A bigint does not add to a number: a get counts the reads of 1n instead.
  const use = (read: string): string => (big ? `if (${read} === 1n) s++;` : `s += ${read};`);
  const back = (read: string): string => (big ? `Number(${read})` : read);
  const viewRead = `target.${field}`;
  const dataViewRead = `target.get${dataView}(${offset}, true)`;
  const get = (read: string): string => `let s = 0; for (let i = 0; i < n; i++) ${use(read)} return s;`;
  return [
    [`${name} get`, loop(get(viewRead)), loop(get(dataViewRead))],
    [
      `${name} set`,
      loop(`for (let i = 0; i < n; i++) ${viewRead} = ${stored}; return ${back(viewRead)};`),
      loop(`for (let i = 0; i < n; i++) target.set${dataView}(${offset}, ${stored}, true); return ${back(dataViewRead)};`),
    ],
  ];
}

// Each case: its name, the view's loop, the DataView's, and the share of the
// iterations it runs (view() is a hundred times slower than a get).
const LOOPS: Array<[string, Loop<SampleView>, Loop<DataView>, number?]> = [
  ...FIELDS.flatMap(fieldLoops),
  [
    // A view made and one field read, against a DataView made and read.
    'view()',
    (_view, n, shm) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += Sample.view(shm).count;
      return s;
    },
    (dv, n) => {
      const buffer = dv.buffer;
      let s = 0;
      for (let i = 0; i < n; i++) s += new DataView(buffer, 0, Sample.size).getInt32(4, true);
      return s;
    },
    1 / 25,
  ],
];

/**
 * Measures int32, int64, float64, float32 and int16 get and set, view against
 * DataView, and view() against new DataView(). Resolves to the numbers.
 */
export async function runStructBench(options: StructBenchOptions = {}): Promise<StructBenchResult> {
  const { iterations = 5_000_000, rounds = 5 } = options;
  const shm = SharedMemory.create({ size: Sample.size });
  try {
    const view = Sample.view(shm);
    const dv = new DataView(shm.buffer, 0, Sample.size);
    const cases: StructBenchCase[] = [];
    for (const [name, viewLoop, dataViewLoop, share = 1] of LOOPS) {
      // Warm both up first so neither pays for compilation inside its rounds
      // (100,000 operations, or a round's if fewer: a test's short run).
      const warmUp = Math.round(Math.min(100_000, iterations) * share);
      viewLoop(view, warmUp, shm);
      dataViewLoop(dv, warmUp, shm);
      const n = Math.max(1, Math.round(iterations * share));
      const viewOpsPerSec = rate((k) => viewLoop(view, k, shm), n, rounds);
      const dataViewOpsPerSec = rate((k) => dataViewLoop(dv, k, shm), n, rounds);
      cases.push({ name, viewOpsPerSec, dataViewOpsPerSec, ratio: viewOpsPerSec / dataViewOpsPerSec });
    }
    return { iterations, rounds, cases };
  } finally {
    shm.detach();
  }
}
function format(result: StructBenchResult): string {
  const millions = (x: number): string => `${(x / 1e6).toFixed(1).padStart(7)} M/s`;
  const lines = [`${'case'.padEnd(12)} ${'view'.padStart(11)} ${'DataView'.padStart(11)}  ratio`];
  for (const c of result.cases) {
    lines.push(`${c.name.padEnd(12)} ${millions(c.viewOpsPerSec)} ${millions(c.dataViewOpsPerSec)}  ${c.ratio.toFixed(2)}`);
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const iterations = process.argv.find((arg) => arg.startsWith('--iterations='));
  const result = await runStructBench(iterations ? { iterations: Number(iterations.slice('--iterations='.length)) } : {});
  console.log(process.argv.includes('--json') ? JSON.stringify(result) : format(result));
}
