// child_process IPC: process.send() with 'advanced' serialization, so a
// Uint8Array travels as bytes (the default JSON turns it into a number array).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import {
  checkMessage,
  payload,
  peerDone,
  PEER,
  stamp,
  throughputWarmup,
  warmupOf,
  type ThroughputSample,
  type Transport,
} from './types.js';

interface PeerParams {
  role: 'echo' | 'send';
  size: number;
  count: number;
  /** Stamp each sent message with its index (a verified run). */
  verify?: boolean;
}

function start(params: PeerParams) {
  return fork(PEER, ['ipc', JSON.stringify(params)], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

export const ipcTransport: Transport = {
  id: 'process-send',
  label: 'child_process IPC (process.send)',
  async roundTrip(size, count) {
    const warmup = warmupOf(count);
    const child = start({ role: 'echo', size, count: warmup + count });
    try {
      // Messages that arrive before the child listens are lost: it says when it is ready.
      await once(child, 'message');
      const message = payload(size);
      const samples: number[] = [];
      let wake: (() => void) | undefined;
      child.on('message', () => wake?.());
      for (let i = 0; i < warmup + count; i++) {
        const start = performance.now();
        const reply = new Promise<void>((resolve) => (wake = resolve));
        child.send(message);
        await reply;
        if (i >= warmup) samples.push((performance.now() - start) * 1000);
      }
      child.disconnect();
      await peerDone(child);
      return samples;
    } finally {
      child.kill();
    }
  },
  async throughput(size, count, verify = false): Promise<ThroughputSample> {
    const child = start({ role: 'send', size, count, verify });
    try {
      let received = 0;
      let start = 0;
      let end = 0;
      const warmup = throughputWarmup(count);
      await new Promise<void>((resolve, reject) => {
        child.on('message', (message: Uint8Array) => {
          if (verify) {
            try {
              checkMessage(message, received, size);
            } catch (error) {
              reject(error as Error);
            }
          }
          if (received++ === warmup) start = performance.now();
          if (received === count) {
            end = performance.now();
            resolve();
          }
        });
      });
      child.disconnect();
      await peerDone(child);
      return { size, count: count - 1 - warmup, seconds: (end - start) / 1000 };
    } finally {
      child.kill();
    }
  },
};

export async function peer(params: PeerParams): Promise<void> {
  const send = process.send!.bind(process);
  if (params.role === 'echo') {
    let left = params.count;
    process.on('message', (message) => {
      send(message as never);
      if (--left === 0) process.disconnect();
    });
    send('ready' as never);
    await once(process, 'disconnect');
    return;
  }
  const message = payload(params.size);
  const flushed = (next: Uint8Array) => new Promise((resolve) => send(next as never, undefined, {}, resolve));
  for (let i = 0; i < params.count; i++) {
    // Backpressure: process.send has no 'drain'; every 64th message (and the
    // last) waits until it is written, which bounds the backlog.
    // A verified run sends a stamped copy each time.
    const next = params.verify ? stamp(message.slice(), i) : message;
    if (i % 64 === 63 || i === params.count - 1) await flushed(next);
    else send(next as never);
  }
  await once(process, 'disconnect');
}
