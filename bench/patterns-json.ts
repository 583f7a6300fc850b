// JSON messages between two processes: a channel with codec 'json' against
// process.send (serialization 'json') and a Unix socket carrying
// newline-delimited JSON, all in one run. One-way rate (msg/s) and round trip
// (µs) for each, the channel with pre-encoded bytes beside them (the
// transport alone), and the cost of JSON itself measured in-process, which
// says where the time goes. Run: node dist/bench/patterns-json.js [--quick|--smoke] [--json]
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Channel } from '../src/index.js';

export interface JsonBenchOptions {
  quick?: boolean;
  smoke?: boolean;
}

/** One transport's numbers: medians over the rounds. */
export interface JsonBenchRow {
  id: string;
  description: string;
  /** One-way messages a second, receiver's JSON.parse included. */
  messagesPerSecond: number;
  /** Round trip, median µs: send, the peer decodes and sends it back, decode. */
  roundTripMedianUs: number;
  roundTripP99Us: number;
}

export interface JsonBenchTarget {
  description: string;
  /** The measured ratio, in the direction of `required`. */
  ratio: number;
  /** The bound: ">= 5" or "<= 0.1". */
  required: string;
  met: boolean;
  note: string;
}

export interface JsonBenchResult {
  what: string;
  message: { bytes: number; json: string };
  /** The machine's load average (1, 5, 15 min) when the measurement ended: other work on the CPUs shows here. */
  loadAverage: number[];
  scale: 'full' | 'quick' | 'smoke';
  oneWayMessages: number;
  roundTrips: number;
  rounds: number;
  rows: JsonBenchRow[];
  /** In-process cost of JSON alone for this message, µs: what every JSON transport pays at least. */
  jsonCostUs: { stringify: number; parse: number };
  targets: JsonBenchTarget[];
}

const SELF = fileURLToPath(import.meta.url);

/** A realistic ~180-byte event: ids, a name, a timestamp, a few numbers and tags. */
function message(seq: number): Record<string, unknown> {
  return {
    seq,
    type: 'order.updated',
    orderId: 'ord_8f3a2c91',
    customer: { id: 48213, name: 'Zoë Müller' },
    total: 129.95,
    currency: 'EUR',
    tags: ['priority', 'gift'],
    at: '2026-12-03T02:35:00Z',
  };
}

// ---- the peer (a child process) ----------------------------------------------

interface PeerParams {
  id?: number;
  back?: number;
  path?: string;
  /** Messages in all (one-way: the warm-up's included). */
  count: number;
  /** One-way: the peer also says done after this many (the warm-up), so that timing starts warm. */
  warmup?: number;
  mode: 'oneway' | 'echo';
}

async function peer(kind: string, params: PeerParams) {
  const ready = () => process.send!('ready');
  const marks = new Set([params.warmup ?? 0, params.count]);
  if (kind === 'channel' || kind === 'channel-bytes') {
    const codec = kind === 'channel' ? 'json' : 'bytes';
    const inbound = Channel.open({ id: params.id!, codec });
    const outbound = Channel.open({ id: params.back!, codec });
    const receiver = inbound.receiver();
    const sender = outbound.sender();
    ready();
    if (params.mode === 'oneway') {
      let seen = 0;
      while (seen < params.count) {
        // The sender waits for each mark: a batch never runs past one.
        seen += (await receiver.recvBatch({ max: 256 })).length;
        if (marks.has(seen)) await sender.send(codec === 'json' ? { done: seen } : new Uint8Array(1));
      }
    } else {
      for (let i = 0; i < params.count; i++) await sender.send(await receiver.recv());
    }
    inbound.detach();
    outbound.detach();
  } else if (kind === 'process-send') {
    let seen = 0;
    process.on('message', (value) => {
      if (value === 'stop') process.disconnect();
      else if (params.mode === 'echo') process.send!(value);
      else if (marks.has(++seen)) process.send!({ done: seen });
    });
    ready();
  } else if (kind === 'socket') {
    const socket = createConnection(params.path!);
    await once(socket, 'connect');
    ready();
    let seen = 0;
    for await (const line of createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY })) {
      const value = JSON.parse(line);
      if (params.mode === 'echo') socket.write(`${JSON.stringify(value)}\n`);
      else if (marks.has(++seen)) socket.write(`${JSON.stringify({ done: seen })}\n`);
    }
  }
}

// ---- the measuring side --------------------------------------------------------

interface Link {
  send(value: Record<string, unknown>): Promise<void> | void;
  /** The next reply (round trips) or the peer's done (one-way). */
  next(): Promise<unknown>;
  close(): Promise<void>;
}

function startPeer(kind: string, params: object): ChildProcess {
  return fork(SELF, ['--peer', kind, JSON.stringify(params)], { serialization: 'json', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

async function waitReady(child: ChildProcess): Promise<void> {
  const [value] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => ['exited'])])) as [unknown];
  if (value !== 'ready') throw new Error(`the peer did not start (${String(value)})`);
}

/** A queue of what arrives, read in order by next(). */
function inbox(): { push(value: unknown): void; next(): Promise<unknown> } {
  const values: unknown[] = [];
  let wake: ((value: unknown) => void) | undefined;
  return {
    push(value) {
      if (wake) {
        const w = wake;
        wake = undefined;
        w(value);
      } else values.push(value);
    },
    next: () => (values.length > 0 ? Promise.resolve(values.shift()) : new Promise((resolve) => (wake = resolve))),
  };
}

async function link(kind: string, mode: 'oneway' | 'echo', count: number, warmup = 0): Promise<Link> {
  if (kind === 'channel' || kind === 'channel-bytes') {
    const json = kind === 'channel';
    const codec = json ? 'json' : 'bytes';
    const out = Channel.create({ capacity: 1 << 20, autoRemove: true, codec });
    const back = Channel.create({ capacity: 1 << 20, autoRemove: true, codec });
    const child = startPeer(kind, { id: out.id, back: back.id, count, warmup, mode });
    await waitReady(child);
    const sender = out.sender();
    const receiver = back.receiver();
    // The bytes row sends the same message pre-encoded: the transport without JSON.
    const encoded = new TextEncoder().encode(JSON.stringify(message(0)));
    return {
      send: json
        ? (value) => (sender.trySend(value) ? undefined : sender.send(value))
        : () => (sender.trySend(encoded) ? undefined : sender.send(encoded)),
      next: () => receiver.recv(),
      async close() {
        const exited = child.exitCode === null ? once(child, 'exit') : Promise.resolve();
        await exited;
        out.detach();
        back.detach();
      },
    };
  }
  if (kind === 'process-send') {
    const child = startPeer(kind, { count, warmup, mode });
    await waitReady(child);
    const box = inbox();
    child.on('message', (value) => box.push(value));
    let sent = 0;
    return {
      // Every 256th send waits until it is written: the same backpressure a caller needs.
      send: (value) => (++sent % 256 === 0 ? new Promise<void>((resolve) => child.send(value, () => resolve())) : void child.send(value)),
      next: box.next,
      async close() {
        const exited = once(child, 'exit');
        child.send('stop');
        await exited;
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-json-bench-'));
  const path = join(dir, 'socket');
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const child = startPeer(kind, { path, count, warmup, mode });
  const [socket] = (await once(server, 'connection')) as [Socket];
  await waitReady(child);
  socket.setNoDelay(true);
  const box = inbox();
  (async () => {
    for await (const line of createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY })) box.push(JSON.parse(line));
  })().catch(() => {});
  return {
    send(value) {
      if (!socket.write(`${JSON.stringify(value)}\n`)) return once(socket, 'drain').then(() => {});
    },
    next: box.next,
    async close() {
      const exited = once(child, 'exit');
      socket.end();
      await exited;
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function oneWay(kind: string, count: number): Promise<number> {
  const warmup = Math.ceil(count / 5);
  const l = await link(kind, 'oneway', warmup + count, warmup);
  const pump = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const pending = l.send(message(i));
      if (pending) await pending;
    }
    await l.next(); // the peer has them all
  };
  try {
    await pump(0, warmup);
    const start = performance.now();
    await pump(warmup, warmup + count);
    return count / ((performance.now() - start) / 1000);
  } finally {
    await l.close();
  }
}

async function roundTrip(kind: string, count: number): Promise<number[]> {
  const warmup = Math.min(500, Math.ceil(count / 10));
  const l = await link(kind, 'echo', warmup + count);
  try {
    const samples: number[] = [];
    for (let i = 0; i < warmup + count; i++) {
      const start = performance.now();
      await l.send(message(i));
      await l.next();
      if (i >= warmup) samples.push((performance.now() - start) * 1000);
    }
    return samples;
  } finally {
    await l.close();
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
};
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
};

/** µs a call of `fn`, the best of 5 rounds of `n`. */
function timeUs(fn: (i: number) => unknown, n: number): number {
  let best = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) if (fn(i) === undefined) sink++;
    best = Math.min(best, ((performance.now() - start) * 1000) / n);
  }
  if (sink === -1) console.log(sink);
  return best;
}

const TRANSPORTS: Array<[string, string]> = [
  ['channel', "shmkit Channel, codec 'json' (send/recv a value)"],
  ['channel-bytes', "shmkit Channel, codec 'bytes', the same message pre-encoded (the transport without JSON)"],
  ['process-send', "child_process IPC, process.send with serialization 'json'"],
  ['socket', 'Unix domain socket, newline-delimited JSON (JSON.stringify + readline + JSON.parse)'],
];

/** Measures every transport (rounds alternate between them) and judges the two targets. */
export async function runJsonBench(options: JsonBenchOptions = {}): Promise<JsonBenchResult> {
  const scale = options.smoke ? 'smoke' : options.quick ? 'quick' : 'full';
  const oneWayMessages = { smoke: 200, quick: 50_000, full: 200_000 }[scale];
  const roundTrips = { smoke: 50, quick: 2_000, full: 10_000 }[scale];
  const rounds = scale === 'full' ? 3 : 1;
  const rates = new Map<string, number[]>();
  const rtts = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const [id] of TRANSPORTS) {
      rates.set(id, [...(rates.get(id) ?? []), await oneWay(id, oneWayMessages)]);
      rtts.set(id, [...(rtts.get(id) ?? []), ...(await roundTrip(id, roundTrips))]);
    }
  }
  const rows: JsonBenchRow[] = TRANSPORTS.map(([id, description]) => ({
    id,
    description,
    messagesPerSecond: Math.round(median(rates.get(id)!)),
    roundTripMedianUs: Math.round(median(rtts.get(id)!) * 100) / 100,
    roundTripP99Us: Math.round(percentile(rtts.get(id)!, 0.99) * 100) / 100,
  }));
  const text = JSON.stringify(message(1));
  const jsonCostUs = {
    stringify: Math.round(timeUs((i) => JSON.stringify(message(i)), 50_000) * 1000) / 1000,
    parse: Math.round(timeUs(() => JSON.parse(text), 50_000) * 1000) / 1000,
  };
  const row = (id: string) => rows.find((r) => r.id === id)!;
  const [channel, bytes, ipc] = [row('channel'), row('channel-bytes'), row('process-send')];
  const perMessageUs = 1e6 / channel.messagesPerSecond;
  // Sender and receiver run in parallel: JSON alone caps the rate at the slower side's cost.
  const jsonCap = Math.round(1e6 / Math.max(jsonCostUs.stringify, jsonCostUs.parse));
  const load = loadavg().map((x) => Math.round(x * 100) / 100);
  const rateRatio = channel.messagesPerSecond / ipc.messagesPerSecond;
  const rttRatio = channel.roundTripMedianUs / ipc.roundTripMedianUs;
  const targets: JsonBenchTarget[] = [
    {
      description: "Channel JSON one-way rate >= 5x process.send's (serialization 'json')",
      ratio: Math.round(rateRatio * 100) / 100,
      required: '>= 5',
      met: rateRatio >= 5,
      note:
        rateRatio >= 5
          ? `${channel.messagesPerSecond} vs ${ipc.messagesPerSecond} msg/s`
          : `missed by ${(5 / rateRatio).toFixed(2)}x (${rateRatio.toFixed(2)}x where 5x is required): 5x process.send's ${ipc.messagesPerSecond} msg/s ` +
            `is ${5 * ipc.messagesPerSecond}; the channel moved ${channel.messagesPerSecond} JSON msg/s (${perMessageUs.toFixed(2)} µs each). ` +
            `JSON itself, measured in-process: stringify ${jsonCostUs.stringify} µs, parse ${jsonCostUs.parse} µs a message, a cap of ${jsonCap} msg/s ` +
            `with sender and receiver in parallel; the same message pre-encoded (no JSON) went at ${bytes.messagesPerSecond} msg/s. ` +
            `Load average ${load.join(', ')} on ${availableParallelism()} CPUs.`,
    },
    {
      description: "Channel JSON round trip <= 1/10 of process.send's",
      ratio: Math.round(rttRatio * 1000) / 1000,
      required: '<= 0.1',
      met: rttRatio <= 0.1,
      note:
        rttRatio <= 0.1
          ? `${channel.roundTripMedianUs} vs ${ipc.roundTripMedianUs} µs (median)`
          : `missed by ${(rttRatio / 0.1).toFixed(2)}x: ${channel.roundTripMedianUs} µs vs process.send's ${ipc.roundTripMedianUs} µs (medians). ` +
            `JSON costs ${(2 * (jsonCostUs.stringify + jsonCostUs.parse)).toFixed(2)} µs of a round trip (two stringify and two parse, in-process); ` +
            `the same round trip with pre-encoded bytes took ${bytes.roundTripMedianUs} µs, so the rest is the wait and wake-up of each side. ` +
            `Load average ${load.join(', ')} on ${availableParallelism()} CPUs (the channel's adaptive wait spins only while a CPU is free).`,
    },
  ];
  return {
    what: 'JSON messages between two processes: one-way rate and round trip, shmkit Channel vs process.send vs a Unix socket (NDJSON)',
    message: { bytes: Buffer.byteLength(text), json: text },
    loadAverage: load,
    scale,
    oneWayMessages,
    roundTrips,
    rounds,
    rows,
    jsonCostUs,
    targets,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--peer');
  if (at >= 0) {
    const kind = process.argv[at + 1]!;
    await peer(kind, JSON.parse(process.argv[at + 2]!));
    // The IPC channel would keep this process alive; process.send's peer lets go when told to stop.
    if (kind !== 'process-send') process.disconnect();
  } else {
    const result = await runJsonBench({ quick: process.argv.includes('--quick'), smoke: process.argv.includes('--smoke') });
    console.log(JSON.stringify(result, null, process.argv.includes('--json') ? undefined : 2));
  }
}
