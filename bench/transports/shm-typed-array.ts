// The strongest alternative a Node user has today: the npm package
// shm-typed-array (a SysV segment as a Buffer) driven by the short spin
// protocol a user would write by hand. Round trip: one slot each way, a
// sequence word published last. Stream: a ring of fixed-size slots with a
// producer and a consumer counter, one copy in and one copy out per message.
// Its spins are bounded (bench/transports/spin.ts), or a pinned run would
// spend a scheduler slice on every hand-off.
import { createRequire } from 'node:module';
import { spinUntil } from './spin.js';
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

type ShmTypedArray = typeof import('shm-typed-array');
// Loaded when first used: the addon is built for the Node that installed it, and
// the suite's other parts (its --help among them) run on any Node.
let loaded: ShmTypedArray | undefined;
const shm = (): ShmTypedArray => (loaded ??= createRequire(import.meta.url)('shm-typed-array') as ShmTypedArray);

interface PeerParams {
  role: 'echo' | 'send';
  key: number;
  size: number;
  count: number;
  slots: number;
  /** Stamp each sent message with its index (a verified run). */
  verify?: boolean;
}

/** Control words, each on its own cache line; data starts at DATA. */
const PING = 0; // round trip: request sequence | stream: messages produced
const PONG = 16; // round trip: reply sequence   | stream: messages consumed
const DATA = 128;

function open(key: number): [Buffer, Int32Array] {
  const buffer = shm().get(key, 'Buffer');
  if (!buffer) throw new Error(`shm-typed-array: no segment with key ${key}`);
  return [buffer, new Int32Array(buffer.buffer, buffer.byteOffset, DATA >> 2)];
}

function create(bytes: number): [number, Buffer, Int32Array] {
  for (;;) {
    const key = 0x5e000000 + Math.floor(Math.random() * 0xffffff);
    const buffer = shm().create(bytes, 'Buffer', key, '600');
    if (buffer) return [key, buffer, new Int32Array(buffer.buffer, buffer.byteOffset, DATA >> 2)];
  }
}

/**
 * `size` bytes at `at` as a plain Uint8Array, the view the channel's receive
 * copies from: Buffer#subarray would build a Buffer, about 25 ns more per
 * message on Node 20, a cost of Node's Buffer class and not of the protocol.
 */
function bytesAt(buffer: Buffer, at: number, size: number): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset + at, size);
}

function slotBytes(size: number): number {
  return (size + 63) & ~63;
}

/**
 * The hand-written protocol. `ringBytes` > 0 makes its round trip move
 * through a ring of slots of that size (as the channel's records move through
 * its ring) instead of reusing one slot: a diagnostic row, round trip only,
 * that shows what a hand-off costs when each message lands on cache lines
 * last touched a lap earlier.
 */
export function shmTypedArrayTransport(ringBytes = 0): Transport & { roundTripOnly?: boolean } {
  return {
    id: ringBytes ? 'shm-typed-array-ring' : 'shm-typed-array',
    label: ringBytes
      ? `shm-typed-array + spin protocol through a ${ringBytes >> 10} KiB ring (diagnostic)`
      : 'shm-typed-array + hand-written spin protocol',
    roundTripOnly: ringBytes > 0,
    roundTrip: (size, count) => roundTrip(size, count, ringBytes ? Math.max(1, Math.floor(ringBytes / slotBytes(size))) : 1),
    throughput,
  };
}

async function roundTrip(size: number, count: number, slots: number): Promise<number[]> {
  const slot = slotBytes(size);
  const [key, buffer, ctrl] = create(DATA + 2 * slots * slot);
  const replies = DATA + slots * slot;
  const warmup = warmupOf(count);
  const peer = spawnPeer('shm-typed-array', { role: 'echo', key, size, count: warmup + count, slots } satisfies PeerParams);
  try {
    const message = payload(size);
    const reply = new Uint8Array(size);
    const samples: number[] = [];
    for (let i = 1; i <= warmup + count; i++) {
      const start = performance.now();
      const at = (i % slots) * slot;
      buffer.set(message, DATA + at);
      Atomics.store(ctrl, PING, i);
      spinUntil(() => Atomics.load(ctrl, PONG) === i);
      reply.set(bytesAt(buffer, replies + at, size));
      if (i > warmup) samples.push((performance.now() - start) * 1000);
      // The peer starts late: the first request waits for it, outside the clock.
    }
    await peerDone(peer);
    return samples;
  } finally {
    peer.kill();
    shm().destroy(key);
  }
}

async function throughput(size: number, count: number, verify = false): Promise<ThroughputSample> {
  // The same ring size as the channel's run, in whole slots.
  const slot = slotBytes(size);
  const slots = Math.max(3, Math.floor(Math.max(1 << 20, 3 * (size + 16)) / slot));
  const [key, buffer, ctrl] = create(DATA + slots * slot);
  const peer = spawnPeer('shm-typed-array', { role: 'send', key, size, count, slots, verify } satisfies PeerParams);
  const warmup = throughputWarmup(count);
  try {
    const out = new Uint8Array(size);
    let head = 0;
    let tail = 0;
    let start = 0;
    for (let i = 0; i < count; i++) {
      if (head === tail) spinUntil(() => (tail = Atomics.load(ctrl, PING)) !== head);
      const at = DATA + (head % slots) * slot;
      out.set(bytesAt(buffer, at, size));
      if (verify) checkMessage(out, i, size);
      Atomics.store(ctrl, PONG, ++head);
      if (i === warmup) start = performance.now();
    }
    const seconds = (performance.now() - start) / 1000;
    await peerDone(peer);
    return { size, count: count - 1 - warmup, seconds };
  } finally {
    peer.kill();
    shm().destroy(key);
  }
}

export async function peer(params: PeerParams): Promise<void> {
  const [buffer, ctrl] = open(params.key);
  const size = params.size;
  const slot = slotBytes(size);
  if (params.role === 'echo') {
    const request = new Uint8Array(size);
    const replies = DATA + params.slots * slot;
    for (let i = 1; i <= params.count; i++) {
      const at = (i % params.slots) * slot;
      spinUntil(() => Atomics.load(ctrl, PING) === i);
      request.set(bytesAt(buffer, DATA + at, size));
      buffer.set(request, replies + at);
      Atomics.store(ctrl, PONG, i);
    }
  } else {
    const message = payload(size);
    const slots = params.slots;
    let head = 0;
    let tail = 0;
    for (let i = 0; i < params.count; i++) {
      if (tail - head >= slots) spinUntil(() => tail - (head = Atomics.load(ctrl, PONG)) < slots);
      if (params.verify) stamp(message, i);
      buffer.set(message, DATA + (tail % slots) * slot);
      Atomics.store(ctrl, PING, ++tail);
    }
  }
  shm().detach(params.key);
}

/**
 * ns per message of the hand-written protocol's two halves in one process
 * (bench/costs.ts): copy into a slot, publish, copy out, through `ringBytes`.
 */
export function handWrittenCost(count: number, size = 64, ringBytes = 1 << 20): number {
  const slot = slotBytes(size);
  const slots = Math.max(1, Math.floor(ringBytes / slot));
  const [key, buffer, ctrl] = create(DATA + slots * slot);
  try {
    const message = payload(size);
    const out = new Uint8Array(size);
    let tail = 0;
    let head = 0;
    let start = 0;
    // One untimed lap first: a new segment's pages fault in on first touch.
    for (let i = -slots; i < count; i++) {
      if (i === 0) start = performance.now();
      buffer.set(message, DATA + (tail % slots) * slot);
      Atomics.store(ctrl, PING, ++tail);
      if (Atomics.load(ctrl, PING) !== head) {
        const at = DATA + (head % slots) * slot;
        out.set(bytesAt(buffer, at, size));
        Atomics.store(ctrl, PONG, ++head);
      }
    }
    return ((performance.now() - start) * 1e6) / count;
  } finally {
    shm().destroy(key);
  }
}
