// worker_threads postMessage between the main thread and a worker (in one
// process: shown for comparison, it is not inter-process). Messages are
// copied (structured clone), not transferred, like every other transport.
import { once } from 'node:events';
import { parentPort, Worker } from 'node:worker_threads';
import { checkMessage, payload, PEER, stamp, throughputWarmup, warmupOf, type ThroughputSample, type Transport } from './types.js';

interface PeerParams {
  role: 'echo' | 'send';
  size: number;
  count: number;
  /** Stamp each sent message with its index (a verified run). */
  verify?: boolean;
}

function start(params: PeerParams): Worker {
  return new Worker(PEER, { workerData: { transport: 'worker', params } });
}

export const workerTransport: Transport = {
  id: 'worker-postmessage',
  label: 'worker_threads postMessage (in-process)',
  async roundTrip(size, count) {
    const warmup = warmupOf(count);
    const worker = start({ role: 'echo', size, count: warmup + count });
    try {
      // Messages posted before the worker listens can be lost (its module
      // loads asynchronously): it says when it is ready.
      await once(worker, 'message');
      // Listen for the exit now: Node may deliver the last echo and the exit
      // in one callback, before the loop below gets to wait for it.
      const exited = once(worker, 'exit');
      exited.catch(() => {}); // an 'error' is reported through `fail`; awaited below
      const message = payload(size);
      const samples: number[] = [];
      let wake: (() => void) | undefined;
      let fail: ((error: Error) => void) | undefined;
      worker.on('message', () => wake?.());
      // A worker that dies or ends early must fail the measurement, not leave it waiting.
      worker.on('error', (error) => fail?.(error));
      worker.on('exit', (code) => fail?.(new Error(`worker exited (${code}) early`)));
      for (let i = 0; i < warmup + count; i++) {
        const start = performance.now();
        const reply = new Promise<void>((resolve, reject) => ((wake = resolve), (fail = reject)));
        worker.postMessage(message);
        await reply;
        if (i >= warmup) samples.push((performance.now() - start) * 1000);
      }
      fail = undefined;
      await exited;
      return samples;
    } finally {
      await worker.terminate();
    }
  },
  async throughput(size, count, verify = false): Promise<ThroughputSample> {
    const worker = start({ role: 'send', size, count, verify });
    try {
      let received = 0;
      let start = 0;
      let end = 0;
      const warmup = throughputWarmup(count);
      await new Promise<void>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('exit', (code) => reject(new Error(`worker exited (${code}) after ${received} of ${count} messages`)));
        worker.on('message', (message: Uint8Array) => {
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
      return { size, count: count - 1 - warmup, seconds: (end - start) / 1000 };
    } finally {
      await worker.terminate();
    }
  },
};

export async function peer(params: PeerParams): Promise<void> {
  const port = parentPort!;
  if (params.role === 'echo') {
    let left = params.count;
    await new Promise<void>((resolve) => {
      port.on('message', (message: Uint8Array) => {
        port.postMessage(message);
        if (--left === 0) resolve();
      });
      port.postMessage('ready');
    });
    port.close();
    return;
  }
  const message = payload(params.size);
  // postMessage never pushes back; yield now and then so the queue does not
  // grow without bound (the receiver drains it meanwhile).
  for (let i = 0; i < params.count; i++) {
    port.postMessage(params.verify ? stamp(message.slice(), i) : message);
    if (i % Math.max(1, Math.floor(262144 / params.size)) === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}
