// What every transport of the benchmark provides, and the helpers they share.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** One-way throughput: `count` messages of `size` bytes took `seconds` at the receiver. */
export interface ThroughputSample {
  size: number;
  count: number;
  seconds: number;
  /** What the receiving process spent besides the copies, over the same messages (where measured). */
  receiver?: ReceiverCost;
}

/** Per message received: minor page faults, and milliseconds of garbage collection pauses. */
export interface ReceiverCost {
  faults: number;
  gcMs: number;
}

/**
 * Counts this process's minor page faults and garbage-collection pauses from
 * `start()` to `stop()`, per message: the counters behind a receive that
 * allocates (fresh memory faults in, dead buffers are collected).
 */
export function receiverCounters(): { start(): void; stop(messages: number): Promise<ReceiverCost> } {
  let faults = 0;
  let until = Number.POSITIVE_INFINITY;
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (entry.startTime <= until) gcMs += entry.duration;
  });
  return {
    start() {
      observer.observe({ entryTypes: ['gc'] });
      faults = process.resourceUsage().minorPageFault;
    },
    async stop(messages) {
      until = performance.now();
      const faulted = process.resourceUsage().minorPageFault - faults;
      await nextTurn(); // the observer hears of the last collections on a later turn
      observer.disconnect();
      return { faults: faulted / messages, gcMs: gcMs / messages };
    },
  };
}

export interface Transport {
  /** Stable id used in the JSON ('channel-adaptive', 'unix-socket', ...). */
  readonly id: string;
  /** What a person reads in the table. */
  readonly label: string;
  /** Round trips of `size`-byte messages; returns each round trip in µs (after warm-up). */
  roundTrip(size: number, count: number): Promise<number[]>;
  /**
   * The peer sends `count` messages of `size` bytes; measured at the receiver, from the first to the last.
   * With `verify` (smoke runs), message i carries i (stamp()) and the receiver checks every byte of every message.
   */
  throughput(size: number, count: number, verify?: boolean): Promise<ThroughputSample>;
}

/** The peer entry point (dist/bench/transports/peer.js). */
export const PEER = fileURLToPath(new URL('./peer.js', import.meta.url));

/** Starts `node peer.js <transport> <params>`; its stderr goes to ours. */
export function spawnPeer(transport: string, params: unknown, options: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [PEER, transport, JSON.stringify(params)], { stdio: ['ignore', 'ignore', 'inherit'], ...options });
}

/** Waits for a peer to end; rejects if it failed. Kills it after `timeoutMs`. */
export async function peerDone(child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    if (child.exitCode !== 0) throw new Error(`peer failed: ${child.exitCode ?? child.signalCode}`);
    return;
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    if (code !== 0) throw new Error(`peer failed: ${code ?? signal}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Warm-up messages not counted (JIT, page faults, first wake-ups): the clock starts after them. */
export function warmupOf(count: number): number {
  return Math.min(2000, Math.max(20, Math.floor(count / 10)));
}

/** Throughput warm-up: the first tenth of the messages. */
export function throughputWarmup(count: number): number {
  return Math.floor(count / 10);
}

export function payload(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = i & 0xff;
  return bytes;
}

/** Message `i` of a verified run: payload() with `i` in its first four bytes (little-endian) where it has room. */
export function stamp(message: Uint8Array, i: number): Uint8Array {
  if (message.length >= 4) new DataView(message.buffer, message.byteOffset, 4).setUint32(0, i, true);
  return message;
}

/**
 * Throws unless `bytes` is message `i` of `size` bytes as stamp() made it: a
 * rate is worth something only if every message arrived whole and in order.
 */
export function checkMessage(bytes: Uint8Array, i: number, size: number): void {
  if (bytes.length !== size) throw new Error(`message ${i}: ${bytes.length} bytes, expected ${size}`);
  const expected = stamp(payload(size), i);
  for (let at = 0; at < size; at++) {
    if (bytes[at] !== expected[at]) throw new Error(`message ${i}: byte ${at} is ${bytes[at]}, expected ${expected[at]}`);
  }
}
