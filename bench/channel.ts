// The transport suite: round-trip latency and one-way throughput of shmkit's
// channel against the other ways Node processes talk, plus the C reference,
// all in one run on one machine. bench/main.ts runs it twice: as is, and
// under `taskset -c 0` (through this file's command line, --json).
import { realpathSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { messageCosts } from './costs.js';
import { channelTransport } from './transports/channel.js';
import { memcpyBandwidth, pingPong } from './transports/c.js';
import { ipcTransport } from './transports/ipc.js';
import { streamTransport } from './transports/stream.js';
import { shmTypedArrayTransport } from './transports/shm-typed-array.js';
import type { ReceiverCost, Transport } from './transports/types.js';
import { workerTransport } from './transports/worker.js';

export type Scale = 'full' | 'quick' | 'smoke';

export const SIZES = [64, 4096, 65536, 1048576] as const;
export const RTT_SIZE = 64;

/** Messages per measurement. */
const COUNTS: Record<Scale, { rtt: number; throughput: Record<number, number>; memcpySeconds: number }> = {
  full: { rtt: 20_000, throughput: { 64: 1_000_000, 4096: 100_000, 65536: 10_000, 1048576: 1_000 }, memcpySeconds: 0.5 },
  // 64 B needs many messages: a shorter run ends before the JIT has optimised the loops.
  quick: { rtt: 2_000, throughput: { 64: 300_000, 4096: 20_000, 65536: 2_000, 1048576: 200 }, memcpySeconds: 0.1 },
  smoke: { rtt: 100, throughput: { 64: 1_000, 4096: 300, 65536: 50, 1048576: 10 }, memcpySeconds: 0.02 },
};

export interface RoundTripResult {
  size: number;
  count: number;
  median_us: number;
  p99_us: number;
  mean_us: number;
}

export interface ThroughputResult {
  size: number;
  count: number;
  seconds: number;
  messages_per_s: number;
  gb_per_s: number;
  /** The receiving process's minor page faults per message (channel rows). */
  faults_per_message?: number;
  /** The receiving process's garbage-collection pauses per message, in µs (channel rows). */
  gc_us_per_message?: number;
}

export interface SuiteResult {
  pinned: boolean;
  /** CPUs this process may run on (1 when pinned). */
  cpus: number;
  scale: Scale;
  transports: Array<{ id: string; label: string }>;
  /** transport id -> 64-byte round trip. */
  roundTrip: Record<string, RoundTripResult>;
  /** transport id -> message size -> throughput. */
  throughput: Record<string, Record<string, ThroughputResult>>;
  c: {
    memcpy: Record<string, ThroughputResult>;
    /** Spinning on a word in shared memory (then sched_yield). */
    pingPong: RoundTripResult | null;
    /** A brief spin, then FUTEX_WAIT / FUTEX_WAKE: what an adaptive wait does. */
    pingPongFutex?: RoundTripResult | null;
  };
  /** In-process CPU cost of one message, ns (bench/costs.ts): explains the cross-process numbers. */
  costs?: Record<string, number>;
  /** "transport/what" -> error message, for measurements that failed. */
  errors: Record<string, string>;
  seconds: number;
}

export interface SuiteOptions {
  scale: Scale;
  pinned: boolean;
  /** Only these throughput sizes (the pinned quick run measures fewer). */
  sizes?: readonly number[];
  /** Only the transports with these ids (for trying one change); default all. */
  only?: readonly string[];
  /** Measure the transports in reverse table order (main.ts flips it every other round). */
  reverse?: boolean;
  log?: (line: string) => void;
}

/** Every transport, in table order. */
export function transports(): Array<Transport & { throughputOnly?: boolean; roundTripOnly?: boolean }> {
  return [
    channelTransport('spin'),
    channelTransport('adaptive'),
    channelTransport('sleep'),
    { ...channelTransport('adaptive', 'into'), throughputOnly: true },
    { ...channelTransport('adaptive', 'view'), throughputOnly: true },
    shmTypedArrayTransport(),
    // The channel's round trip rings are 64 KiB.
    shmTypedArrayTransport(1 << 16),
    streamTransport('pipe'),
    streamTransport('unix'),
    streamTransport('tcp'),
    ipcTransport,
    workerTransport,
  ];
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

export function summarize(samples: number[], size: number): RoundTripResult {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, x) => sum + x, 0) / sorted.length;
  return { size, count: sorted.length, median_us: percentile(sorted, 0.5), p99_us: percentile(sorted, 0.99), mean_us: mean };
}

function rate(size: number, count: number, seconds: number, receiver?: ReceiverCost): ThroughputResult {
  const result: ThroughputResult = { size, count, seconds, messages_per_s: count / seconds, gb_per_s: (count * size) / seconds / 1e9 };
  if (receiver) {
    result.faults_per_message = receiver.faults;
    result.gc_us_per_message = receiver.gcMs * 1000;
  }
  return result;
}

export async function runSuite(options: SuiteOptions): Promise<SuiteResult> {
  const begin = performance.now();
  // The pinned quick run shows the ranking on one CPU with fewer messages (slow transports crawl there).
  const counts =
    options.pinned && options.scale === 'quick'
      ? { ...COUNTS.quick, throughput: { ...COUNTS.quick.throughput, 64: 50_000 } }
      : COUNTS[options.scale];
  const sizes = options.sizes ?? SIZES;
  const log = options.log ?? (() => {});
  const result: SuiteResult = {
    pinned: options.pinned,
    cpus: availableParallelism(),
    scale: options.scale,
    transports: [],
    roundTrip: {},
    throughput: {},
    c: { memcpy: {}, pingPong: null, pingPongFutex: null },
    errors: {},
    seconds: 0,
  };
  const attempt = async (what: string, fn: () => Promise<void>) => {
    // A measurement that hangs is recorded as failed; the suite goes on (and
    // the timer keeps the event loop alive meanwhile).
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no result within 180 s')), 180_000);
    });
    try {
      await Promise.race([fn(), limit]);
    } catch (error) {
      result.errors[what] = (error as Error).message;
      log(`  ${what}: FAILED ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  };

  await attempt('c/pingpong', async () => {
    const r = await pingPong(RTT_SIZE, counts.rtt * 5);
    result.c.pingPong = { size: RTT_SIZE, count: r.count, median_us: r.median_us, p99_us: r.p99_us, mean_us: NaN };
    log(`  C shared-memory ping-pong: median ${r.median_us.toFixed(2)} µs`);
  });
  await attempt('c/pingpong-futex', async () => {
    const r = await pingPong(RTT_SIZE, counts.rtt, 'futex');
    result.c.pingPongFutex = { size: RTT_SIZE, count: r.count, median_us: r.median_us, p99_us: r.p99_us, mean_us: NaN };
    log(`  C futex ping-pong: median ${r.median_us.toFixed(2)} µs`);
  });
  for (const size of SIZES) {
    await attempt(`c/memcpy/${size}`, async () => {
      const r = await memcpyBandwidth(size, counts.memcpySeconds);
      result.c.memcpy[size] = rate(size, r.count, r.seconds);
    });
  }

  await attempt('costs', async () => {
    result.costs = await messageCosts(options.scale === 'smoke' ? 1000 : options.scale === 'quick' ? 100_000 : 1_000_000);
    log(
      `  in-process cost per 64 B message: ${Object.entries(result.costs)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}`,
    );
  });
  const selected = transports().filter((t) => !options.only || options.only.includes(t.id));
  for (const transport of selected) {
    result.transports.push({ id: transport.id, label: transport.label });
    result.throughput[transport.id] = {};
  }
  // Rows compared by a target are measured close together in time, and the
  // order flips every round: a slow spell of a shared machine (or the place
  // in the run) then does not favour one row. Round trips first, then each
  // size across every transport.
  const order = options.reverse ? [...selected].reverse() : selected;
  for (const transport of order.filter((t) => !t.throughputOnly)) {
    await attempt(`${transport.id}/rtt`, async () => {
      const rtt = summarize(await transport.roundTrip(RTT_SIZE, counts.rtt), RTT_SIZE);
      result.roundTrip[transport.id] = rtt;
      log(`  ${transport.id}: round trip median ${rtt.median_us.toFixed(2)} µs, p99 ${rtt.p99_us.toFixed(2)} µs`);
    });
  }
  for (const size of sizes) {
    for (const transport of order.filter((t) => !t.roundTripOnly)) {
      const rows = result.throughput[transport.id]!;
      await attempt(`${transport.id}/throughput/${size}`, async () => {
        // A smoke run checks every message: what the rates count really arrives, whole and in order.
        const sample = await transport.throughput(size, counts.throughput[size]!, options.scale === 'smoke');
        rows[size] = rate(size, sample.count, sample.seconds, sample.receiver);
        log(`  ${transport.id}: ${size} B ${Math.round(rows[size]!.messages_per_s)} msg/s, ${rows[size]!.gb_per_s.toFixed(3)} GB/s`);
      });
    }
  }
  result.seconds = (performance.now() - begin) / 1000;
  return result;
}

// `node dist/bench/channel.js --json [--quick|--smoke] [--pinned] [--reverse] [--sizes 64,1048576] [--only a,b]`:
// runs the suite and prints its result as the last line (main.ts runs it under taskset).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const scale: Scale = args.includes('--smoke') ? 'smoke' : args.includes('--quick') ? 'quick' : 'full';
  const sizesArg = args[args.indexOf('--sizes') + 1];
  const sizes = args.includes('--sizes') && sizesArg ? sizesArg.split(',').map(Number) : undefined;
  const onlyArg = args[args.indexOf('--only') + 1];
  const result = await runSuite({
    scale,
    only: args.includes('--only') && onlyArg ? onlyArg.split(',') : undefined,
    pinned: args.includes('--pinned'),
    reverse: args.includes('--reverse'),
    sizes,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
