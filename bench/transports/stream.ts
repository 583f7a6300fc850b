// Byte-stream transports: a pipe (two FIFOs: a real pipe(7), not the socket
// pair Node uses for child stdio), a Unix domain socket, and TCP on
// 127.0.0.1. Messages have a fixed size, so no framing is needed; each
// message is its own write(), as an application would do.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import {
  checkMessage,
  payload,
  peerDone,
  spawnPeer,
  stamp,
  throughputWarmup,
  warmupOf,
  type ThroughputSample,
  type Transport,
} from './types.js';

export type StreamKind = 'pipe' | 'unix' | 'tcp';

interface PeerParams {
  kind: StreamKind;
  role: 'echo' | 'send';
  size: number;
  count: number;
  /** FIFO paths (to the peer, from the peer), socket path, or TCP port. */
  address: string | number | [string, string];
  /** Stamp each sent message with its index (a verified run). */
  verify?: boolean;
}

interface Link {
  input: Readable;
  output: Writable;
  close(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a FIFO's write end once its reader exists (ENXIO until then). */
async function openWriter(path: string): Promise<number> {
  for (let i = 0; ; i++) {
    try {
      return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || i > 3000) throw error;
      await sleep(5);
    }
  }
}

function fifoLink(readPath: string, _writePath: string, writeFd: number): Link {
  const input = new net.Socket({ fd: openSync(readPath, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
  const output = new net.Socket({ fd: writeFd, readable: false, writable: true });
  return { input, output, close: () => (input.destroy(), output.destroy()) };
}

/** Starts the peer and connects to it. */
async function open(
  kind: StreamKind,
  role: PeerParams['role'],
  size: number,
  count: number,
  verify = false,
): Promise<[Link, ReturnType<typeof spawnPeer>, () => void]> {
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-bench-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    if (kind === 'pipe') {
      const toPeer = join(dir, 'to-peer');
      const fromPeer = join(dir, 'from-peer');
      execFileSync('mkfifo', [toPeer, fromPeer]);
      // Our read end first, so the peer's writer can open; then theirs.
      const input = new net.Socket({ fd: openSync(fromPeer, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
      const child = spawnPeer('stream', { kind, role, size, count, address: [toPeer, fromPeer], verify } satisfies PeerParams);
      const output = new net.Socket({ fd: await openWriter(toPeer), readable: false, writable: true });
      return [{ input, output, close: () => (input.destroy(), output.destroy()) }, child, cleanup];
    }
    const server = net.createServer();
    const address: string | number = kind === 'unix' ? join(dir, 'socket') : 0;
    if (kind === 'unix') server.listen(address);
    else server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = kind === 'tcp' ? (server.address() as net.AddressInfo).port : address;
    const child = spawnPeer('stream', { kind, role, size, count, address: port, verify } satisfies PeerParams);
    const [socket] = (await once(server, 'connection')) as [net.Socket];
    server.close();
    if (kind === 'tcp') socket.setNoDelay(true);
    return [{ input: socket, output: socket, close: () => socket.destroy() }, child, cleanup];
  } catch (error) {
    cleanup();
    throw error;
  }
}

/** Reads a stream as fixed-size messages; `next()` resolves after each whole one. */
class MessageReader {
  #buffered = 0;
  #wake: (() => void) | undefined;
  constructor(
    input: Readable,
    readonly size: number,
  ) {
    input.on('data', (chunk: Buffer) => {
      this.#buffered += chunk.length;
      if (this.#buffered >= this.size) this.#wake?.();
    });
  }
  async next(): Promise<void> {
    while (this.#buffered < this.size) await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = undefined;
    this.#buffered -= this.size;
  }
}

export function streamTransport(kind: StreamKind): Transport {
  const labels: Record<StreamKind, string> = { pipe: 'pipe (FIFO)', unix: 'Unix domain socket', tcp: 'TCP 127.0.0.1' };
  return {
    id: kind === 'unix' ? 'unix-socket' : kind,
    label: labels[kind],
    async roundTrip(size, count) {
      const warmup = warmupOf(count);
      const [link, child, cleanup] = await open(kind, 'echo', size, warmup + count);
      try {
        const reader = new MessageReader(link.input, size);
        const message = payload(size);
        const samples: number[] = [];
        for (let i = 0; i < warmup + count; i++) {
          const start = performance.now();
          link.output.write(message);
          await reader.next();
          if (i >= warmup) samples.push((performance.now() - start) * 1000);
        }
        link.close();
        await peerDone(child);
        return samples;
      } finally {
        child.kill();
        cleanup();
      }
    },
    async throughput(size, count, verify = false): Promise<ThroughputSample> {
      const [link, child, cleanup] = await open(kind, 'send', size, count, verify);
      const opened = performance.now();
      try {
        const total = size * count;
        const warmupBytes = throughputWarmup(count) * size;
        let received = 0;
        let first = 0;
        let start = 0;
        let end = 0;
        const chunks: Buffer[] = [];
        await new Promise<void>((resolve, reject) => {
          link.input.on('error', reject);
          link.input.on('data', (chunk: Buffer) => {
            if (verify) chunks.push(chunk);
            received += chunk.length;
            if (start === 0 && received >= warmupBytes) {
              start = performance.now();
              first = received;
            }
            if (received >= total) {
              end = performance.now();
              resolve();
            }
          });
        });
        link.close();
        await peerDone(child);
        if (verify) {
          // A byte stream has no messages: cut what arrived into them, after the clock.
          const bytes = Buffer.concat(chunks);
          if (bytes.length !== total) throw new Error(`${bytes.length} bytes arrived, expected ${total}`);
          for (let i = 0; i < count; i++) checkMessage(bytes.subarray(i * size, (i + 1) * size), i, size);
        }
        if (end > start && total > first) return { size, count: (total - first) / size, seconds: (end - start) / 1000 };
        // Everything after the warm-up came in one chunk (few messages, a busy
        // machine): no window to time, so time the whole transfer instead.
        return { size, count, seconds: (end - opened) / 1000 };
      } finally {
        child.kill();
        cleanup();
      }
    },
  };
}

export async function peer(params: PeerParams): Promise<void> {
  let input: Readable;
  let output: Writable;
  if (params.kind === 'pipe') {
    const [toPeer, fromPeer] = params.address as [string, string];
    const link = fifoLink(toPeer, fromPeer, openSync(fromPeer, constants.O_WRONLY | constants.O_NONBLOCK));
    input = link.input;
    output = link.output;
  } else {
    const socket = params.kind === 'unix' ? net.connect(params.address as string) : net.connect(params.address as number, '127.0.0.1');
    await once(socket, 'connect');
    if (params.kind === 'tcp') socket.setNoDelay(true);
    input = output = socket;
  }
  const message = payload(params.size);
  if (params.role === 'echo') {
    const reader = new MessageReader(input, params.size);
    for (let i = 0; i < params.count; i++) {
      await reader.next();
      output.write(message);
    }
  } else {
    for (let i = 0; i < params.count; i++) {
      // A verified run writes a stamped copy: a stream may hold a written buffer until it is flushed.
      if (!output.write(params.verify ? stamp(message.slice(), i) : message)) await once(output, 'drain');
    }
  }
  output.end();
  await once(output, 'finish');
  input.destroy();
  output.destroy();
}
