// An endpoint that ends while it registers, between taking its table entry
// and writing its presence token (a worker terminated, a process killed
// there), is judged dead once its presence is gone: its entry is freed, the
// peers see it dead, and a PubSub subscriber entry it took over from a dead
// subscriber stops holding publishers back. Each case stops a real thread,
// with its real presence, right after the take, as a termination there would.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Channel, ChannelError, PubSub } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { SHMKIT, SHMKIT_MODULES } from './helpers/processes.js';

assertNoLeaks();

/**
 * Runs a worker that opens segment `id`, holds its thread's presence and
 * takes the table entry whose registration word is at int32 index `at` (pid
 * word at `at + pidOffset`) from its current value to the next odd one, then
 * reports and waits to be terminated: it never writes its token or pid.
 */
async function takeAndEnd(id: number, at: number, pidOffset: number): Promise<void> {
  const module = (path: string) => JSON.stringify(new URL(path, SHMKIT_MODULES).href);
  const worker = new Worker(
    `(async () => {
      const { parentPort, workerData } = require('node:worker_threads');
      // The modules it needs, not the whole library (index.js, some 30 ms more per worker).
      const { SharedMemory } = await import(${module('./shm/shared-memory.js')});
      const { threadLiveness } = await import(${module('./channel/liveness.js')});
      const { takeEntry } = await import(${module('./channel/entry.js')});
      const { id, at, pidOffset } = workerData;
      const shm = SharedMemory.open({ id });
      globalThis.keep = shm;
      const i32 = new Int32Array(shm.buffer);
      const i64 = new BigInt64Array(shm.buffer, 0, shm.buffer.byteLength >> 3);
      const token = threadLiveness.hold();
      const registration = Atomics.load(i32, at);
      const next = ((registration & 1) === 0 ? registration + 1 : registration + 2) | 0;
      if (!takeEntry(i32, i64, at, at + pidOffset, registration, next, token)) throw new Error('the entry was taken by another');
      parentPort.postMessage('taken');
      setInterval(() => {}, 1000);
    })();`,
    { eval: true, workerData: { id, at, pidOffset } },
  );
  const [message] = (await Promise.race([once(worker, 'message'), once(worker, 'error')])) as [unknown];
  assert.equal(message, 'taken', `the worker took the entry (${String(message)})`);
  await worker.terminate();
}

describe('an endpoint that ends while it registers', () => {
  it('a channel sender: its entry is freed, and a receiver whose senders all died is told so', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    // Sender entry 0: the registration word at byte 4096, the pid word after it.
    await takeAndEnd(channel.id, 4096 >> 2, 1);
    await assert.rejects(receiver.recv({ timeoutMs: 5000 }), (error: unknown) => {
      assert.ok(error instanceof ChannelError, String(error));
      assert.equal((error as ChannelError).code, 'ERR_CHANNEL_PEER_DEAD');
      assert.match((error as ChannelError).message, /pid unknown, one died while registering\)/);
      return true;
    });
    // All 256 entries can be taken again.
    const senders = Array.from({ length: 256 }, () => channel.sender());
    for (const sender of senders) sender.close();
  });

  it('a PubSub subscriber that took over a dead subscriber’s entry: publishers are not held back, and its place is free', async () => {
    using pubsub = PubSub.create({ capacity: 4096, autoRemove: true });
    // A subscriber whose thread ends while it is a ring behind (never reading)...
    const behind = new Worker(
      `(async () => {
        const { parentPort, workerData } = require('node:worker_threads');
        const { PubSub } = await import(workerData.url);
        globalThis.keep = PubSub.open({ id: workerData.id }).subscriber();
        parentPort.postMessage('subscribed');
        setInterval(() => {}, 1000);
      })();`,
      { eval: true, workerData: { id: pubsub.id, url: SHMKIT } },
    );
    await once(behind, 'message');
    await behind.terminate();
    // ...and a registrant that takes its entry (subscriber entry 0: 64 bytes at byte 4096, pid in word 3) and ends.
    await takeAndEnd(pubsub.id, 4096 >> 2, 3);
    const publisher = pubsub.publisher();
    for (let i = 0; i < 200; i++) await publisher.send(new Uint8Array(48), { timeoutMs: 5000 });
    assert.equal(pubsub.subscribers, 0);
    const subscribers = Array.from({ length: 128 }, () => pubsub.subscriber());
    for (const subscriber of subscribers) subscriber.close();
    publisher.close();
  });
});
