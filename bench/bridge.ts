// The bridge's own cost: the same traffic through channel -> bridge -> NATS
// -> bridge -> channel and with the NATS client directly, against one
// nats-server started here (127.0.0.1, core NATS), in the same run and the
// same process (two connections each way, as two hosts would have). Then
// JetStream on a second server: the bridged rate one way through a stream,
// beside the client publishing to a stream itself, one publish awaited at a
// time (what the bridge's one message in flight allows) and 64 at a time.
// Run: node dist/bench/bridge.js [--quick|--smoke] [--json]
import { pathToFileURL } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { bridge, Channel } from '../src/index.js';
import { NatsServer, noNatsServer } from '../test/helpers/nats-server.js';

export interface BridgeBenchOptions {
  quick?: boolean;
  smoke?: boolean;
}

interface Side {
  messagesPerSecond: number;
  /** Messages that did not arrive (core NATS, at most once); 0 in a healthy run. */
  missing: number;
}

export interface BridgeBenchResult {
  status: 'ok' | 'absent';
  note?: string;
  messages?: number;
  roundTrips?: number;
  /** One way, messages per second at the receiver, by payload size. */
  throughput?: Array<{ size: number; bridged: number; direct: number; ratio: number; bridgedMissing: number }>;
  /** 64 B echoed by a peer, median µs. */
  roundTrip?: { bridgedMedianUs: number; directMedianUs: number; bridgedOverheadUs: number; bridgedP99Us: number; directP99Us: number };
  /**
   * JetStream, 64 B, messages per second: `bridged` one way (channel -> bridge
   * -> stream -> durable consumer -> bridge -> channel, at the receiver); the
   * client alone publishing to a stream with each publish awaited
   * (`clientOneInFlight`) and with up to 64 awaited together (`clientWindow64`).
   */
  jetstream?: { messages: number; bridged: number; clientOneInFlight: number; clientWindow64: number; bridgedVsOneInFlight: number };
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** Host pairs through bridges: A's outbox reaches B's inbox and B's outbox A's inbox. */
async function bridgedPair(url: string, subject: string) {
  const channels = Array.from({ length: 4 }, () => Channel.create({ capacity: 1 << 22, autoRemove: true }));
  const [aOut, aIn, bOut, bIn] = channels as [Channel, Channel, Channel, Channel];
  const a = await bridge({ channel: { out: aOut, in: aIn }, url, subject });
  const b = await bridge({ channel: { out: bOut, in: bIn }, url, subject });
  return {
    a: { sender: aOut.sender(), receiver: aIn.receiver() },
    b: { sender: bOut.sender(), receiver: bIn.receiver() },
    lost: () => a.stats.lost + a.stats.dropped + b.stats.lost + b.stats.dropped,
    async close() {
      await a.close();
      await b.close();
      for (const c of channels) c.detach();
    },
  };
}

async function bridgedThroughput(url: string, count: number, size: number): Promise<Side> {
  const pair = await bridgedPair(url, `bench.tp.${size}`);
  try {
    const payload = new Uint8Array(size).fill(7);
    const start = performance.now();
    const sending = (async () => {
      for (let i = 0; i < count; i++) if (!pair.a.sender.trySend(payload)) await pair.a.sender.send(payload);
    })();
    let received = 0;
    while (received + pair.lost() < count) {
      try {
        received += (await pair.b.receiver.recvBatch({ max: 256, timeoutMs: 2_000 })).length;
      } catch (error) {
        if ((error as { code?: string }).code !== 'ETIMEDOUT') throw error;
        break; // the rest is lost: reported as missing
      }
    }
    const seconds = (performance.now() - start) / 1000;
    await sending;
    return { messagesPerSecond: received / seconds, missing: count - received };
  } finally {
    await pair.close();
  }
}

async function directThroughput(url: string, count: number, size: number): Promise<Side> {
  const pub = await connect({ servers: url });
  const sub = await connect({ servers: url });
  try {
    const subject = `bench.direct.${size}`;
    let received = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    sub.subscribe(subject, {
      callback: () => {
        if (++received === count) done();
      },
    });
    await sub.flush();
    const payload = new Uint8Array(size).fill(7);
    const start = performance.now();
    // As the bridge does: wait for the server after every MiB, so the client's buffer stays bounded.
    let pending = 0;
    for (let i = 0; i < count; i++) {
      pub.publish(subject, payload);
      pending += size;
      if (pending >= 1 << 20) {
        pending = 0;
        await pub.flush();
      }
    }
    await pub.flush();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    const seconds = (performance.now() - start) / 1000;
    return { messagesPerSecond: received / seconds, missing: count - received };
  } finally {
    await pub.close();
    await sub.close();
  }
}

async function bridgedRoundTrips(url: string, count: number): Promise<number[]> {
  const pair = await bridgedPair(url, 'bench.rtt');
  try {
    const echo = (async () => {
      for (let i = 0; i < count; i++) await pair.b.sender.send(await pair.b.receiver.recv());
    })();
    const payload = new Uint8Array(64);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      await pair.a.sender.send(payload);
      await pair.a.receiver.recv({ timeoutMs: 10_000 });
      times.push((performance.now() - start) * 1000);
    }
    await echo;
    return times;
  } finally {
    await pair.close();
  }
}

async function directRoundTrips(url: string, count: number): Promise<number[]> {
  const a: NatsConnection = await connect({ servers: url });
  const b: NatsConnection = await connect({ servers: url });
  try {
    b.subscribe('bench.direct.ping', { callback: (_e, m) => b.publish('bench.direct.pong', m.data) });
    let wake: () => void = () => {};
    a.subscribe('bench.direct.pong', { callback: () => wake() });
    await a.flush();
    await b.flush();
    const payload = new Uint8Array(64);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      const back = new Promise<void>((resolve) => (wake = resolve));
      a.publish('bench.direct.ping', payload);
      await back;
      times.push((performance.now() - start) * 1000);
    }
    return times;
  } finally {
    await a.close();
    await b.close();
  }
}

const JS_PAYLOAD = new Uint8Array(64).fill(7);

/** JetStream one way through a bridge pair: messages per second at the receiving channel. */
async function jetstreamBridged(url: string, count: number): Promise<number> {
  const outbox = Channel.create({ capacity: 1 << 20, autoRemove: true });
  const inbox = Channel.create({ capacity: 1 << 20, autoRemove: true });
  const subject = 'bench.js.bridged';
  const a = await bridge({ channel: outbox, url, subject, direction: 'out', jetstream: { stream: 'BENCH_BRIDGED' } });
  const b = await bridge({ channel: inbox, url, subject, direction: 'in', jetstream: { stream: 'BENCH_BRIDGED', durable: 'bench' } });
  try {
    const sender = outbox.sender();
    const receiver = inbox.receiver();
    const start = performance.now();
    const sending = (async () => {
      for (let i = 0; i < count; i++) if (!sender.trySend(JS_PAYLOAD)) await sender.send(JS_PAYLOAD);
    })();
    // At least once: every message arrives (a timeout here is a failure, not a loss).
    for (let received = 0; received < count; ) received += (await receiver.recvBatch({ max: 256, timeoutMs: 30_000 })).length;
    const seconds = (performance.now() - start) / 1000;
    await sending;
    return count / seconds;
  } finally {
    await a.close();
    await b.close();
    outbox.detach();
    inbox.detach();
  }
}

/** The client alone publishing `count` messages to a stream, `window` publishes awaited together. */
async function jetstreamClient(url: string, count: number, window: number): Promise<number> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  try {
    const subject = `bench.js.client.${window}`;
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: `BENCH_CLIENT_${window}`, subjects: [subject] });
    const js = jetstream(nc);
    const start = performance.now();
    for (let i = 0; i < count; i += window) {
      const batch: Promise<unknown>[] = [];
      for (let k = i; k < Math.min(count, i + window); k++) batch.push(js.publish(subject, JS_PAYLOAD, { msgID: `bench-${window}-${k}` }));
      await Promise.all(batch);
    }
    return count / ((performance.now() - start) / 1000);
  } finally {
    await nc.close();
  }
}

/** Measures and returns the numbers; starts and stops its own nats-server. */
export async function runBridgeBench(options: BridgeBenchOptions = {}): Promise<BridgeBenchResult> {
  if (noNatsServer && /not installed/.test(noNatsServer)) return { status: 'absent', note: noNatsServer };
  const messages = options.smoke ? 500 : options.quick ? 20_000 : 100_000;
  const roundTrips = options.smoke ? 50 : options.quick ? 1_000 : 5_000;
  const server = await NatsServer.start();
  try {
    const throughput: NonNullable<BridgeBenchResult['throughput']> = [];
    for (const size of [64, 4096]) {
      // Direct first, then bridged, then direct again: the better direct run counts, so the ratio is not flattered.
      const d1 = await directThroughput(server.url, messages, size);
      const b = await bridgedThroughput(server.url, messages, size);
      const d2 = await directThroughput(server.url, messages, size);
      const direct = Math.max(d1.messagesPerSecond, d2.messagesPerSecond);
      throughput.push({
        size,
        bridged: Math.round(b.messagesPerSecond),
        direct: Math.round(direct),
        ratio: b.messagesPerSecond / direct,
        bridgedMissing: b.missing,
      });
    }
    const bridged = (await bridgedRoundTrips(server.url, roundTrips)).sort((x, y) => x - y);
    const direct = (await directRoundTrips(server.url, roundTrips)).sort((x, y) => x - y);
    const bridgedMedianUs = quantile(bridged, 0.5);
    const directMedianUs = quantile(direct, 0.5);
    const js = await runJetStream(messages / 20);
    return {
      status: 'ok',
      messages,
      roundTrips,
      throughput,
      roundTrip: {
        bridgedMedianUs,
        directMedianUs,
        bridgedOverheadUs: bridgedMedianUs - directMedianUs,
        bridgedP99Us: quantile(bridged, 0.99),
        directP99Us: quantile(direct, 0.99),
      },
      jetstream: js,
    };
  } finally {
    await server.dispose();
  }
}

/** The JetStream rows, on a server of their own (with -js; the core rows run without it). */
async function runJetStream(messages: number): Promise<NonNullable<BridgeBenchResult['jetstream']>> {
  const server = await NatsServer.start({ jetstream: true });
  try {
    const oneInFlight = await jetstreamClient(server.url, messages, 1);
    const bridged = await jetstreamBridged(server.url, messages);
    const window64 = await jetstreamClient(server.url, messages, 64);
    return {
      messages,
      bridged: Math.round(bridged),
      clientOneInFlight: Math.round(oneInFlight),
      clientWindow64: Math.round(window64),
      bridgedVsOneInFlight: bridged / oneInFlight,
    };
  } finally {
    await server.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const result = await runBridgeBench({ quick: args.includes('--quick'), smoke: args.includes('--smoke') });
  console.log(args.includes('--json') ? JSON.stringify(result) : JSON.stringify(result, null, 2));
}
