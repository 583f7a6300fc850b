// A channel survives peers that misbehave without crashing: a claim lock held
// by a live process that makes no progress, a receiver in a worker thread
// that ends, and channels dropped without detach().
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Channel, ChannelError } from 'shmkit';
import * as F from '../src/channel/format.js';
import { futexEngines } from './helpers/futex-engines.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, SHMKIT } from './helpers/processes.js';
import { noPrivateIpc, runNodeInPrivateIpc } from './helpers/shm.js';

assertNoLeaks();

const isCode = (code: string) => (error: unknown) => error instanceof ChannelError && error.code === code;

describe('Channel with peers that misbehave', { timeout: 60_000 }, () => {
  it('a claim lock held by a live process that makes no progress: trySend gives up at once, send backs off on a timer until its time limit, and the lock is taken over once that process dies', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    // A live process registers a sender and then holds the claim lock "forever"
    // (as one stopped inside the critical section would).
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { Channel, SharedMemory } from ${JSON.stringify(SHMKIT)};
         const channel = Channel.open({ id: ${channel.id} });
         // Kept: a sender the collector frees gives its entry back, and its claim lock with it.
         globalThis.sender = channel.sender();
         const words = new Int32Array(SharedMemory.open({ id: ${channel.id} }).buffer);
         // The writer id of the entry it took: the first held one other than the parent's.
         for (let slot = 0; slot < ${F.MAX_SENDERS}; slot++) {
           const r = words[(${F.OFF_SENDERS} + ${F.SENDER_ENTRY} * slot) >> 2];
           if ((r & 1) && words[(${F.OFF_SENDERS} + ${F.SENDER_ENTRY} * slot + 4) >> 2] === process.pid) {
             Atomics.store(words, ${F.OFF_CLAIM_LOCK} >> 2, slot | ((r & 0xffffff) << 8));
             break;
           }
         }
         console.log('holding');
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await once(holder.stdout!, 'data');
      let start = performance.now();
      assert.equal(sender.trySend('x'), false, 'a busy lock: nothing sent');
      assert.ok(performance.now() - start < 1000, 'trySend does not spin for long');
      const cpuBefore = process.cpuUsage();
      start = performance.now();
      await assert.rejects(sender.send('y', { timeoutMs: 400 }), isCode('ETIMEDOUT'));
      const wall = performance.now() - start;
      const cpu = process.cpuUsage(cpuBefore);
      assert.ok(wall >= 390, 'it waited its time');
      assert.ok(
        (cpu.user + cpu.system) / 1000 < wall * 0.5,
        `a timed back-off, not a busy loop (${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU in ${wall.toFixed(0)} ms)`,
      );
      const later = sender.send('z', { timeoutMs: 20_000 });
      holder.kill('SIGKILL');
      await once(holder, 'exit');
      await later;
      assert.equal(new TextDecoder().decode(await receiver.recv({ timeoutMs: 5000 })), 'z');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  for (const end of ['returns', 'is terminated'] as const) {
    it(`the receiver place of a worker thread that ${end} is free again, while the process lives on`, async () => {
      using channel = Channel.create({ capacity: 4096, autoRemove: true });
      const worker = new Worker(
        `import { Channel } from ${JSON.stringify(SHMKIT)};
         import { parentPort } from 'node:worker_threads';
         const channel = Channel.open({ id: ${channel.id} });
         // Kept: a receiver the collector frees gives its place back.
         globalThis.receiver = channel.receiver();
         parentPort.postMessage('receiving');
         // Alive until told (then it simply returns), or forever until terminated.
         ${end === 'is terminated' ? 'setInterval(() => {}, 1000);' : "parentPort.once('message', () => parentPort.close());"}`,
        { eval: true, type: 'module' } as ConstructorParameters<typeof Worker>[1],
      );
      const exited = once(worker, 'exit');
      try {
        await once(worker, 'message');
        assert.throws(() => channel.receiver(), isCode('ERR_CHANNEL_BUSY'), 'the worker is the receiver');
        if (end === 'is terminated') await worker.terminate();
        else worker.postMessage('end');
        await exited;
      } finally {
        await worker.terminate(); // a failed test never leaves the worker keeping the process alive
      }
      const receiver = channel.receiver();
      channel.sender().trySend('mine now');
      assert.equal(new TextDecoder().decode(receiver.tryRecv()!), 'mine now');
    });
  }

  for (const engine of futexEngines) {
    it(`channels dropped without detach() are collected: their places and segments go, and their waiter threads end (${engine.name})`, {
      skip: noPrivateIpc || engine.skip,
    }, async () => {
      const result = await runNodeInPrivateIpc(
        `
      import { Channel, shmctl, SHM_INFO } from 'SHMKIT';
      import { readdirSync } from 'node:fs';
      const threads = () => readdirSync('/proc/self/task').length;
      const segments = () => shmctl(0, SHM_INFO).used_ids;
      const before = { threads: threads(), segments: segments() };
      // Held until the peak is read (newer V8 collects some during the loop
      // otherwise, and the peak would depend on when), then dropped.
      let held = [];
      async function churn() {
        for (let i = 0; i < 200; i++) {
          const channel = Channel.create({ capacity: 4096, autoRemove: true });
          const receiver = channel.receiver();
          held.push(channel, receiver, channel.sender());
          // A wait that sleeps starts the receiver's waiter thread (thread engine).
          await receiver.recv({ timeoutMs: 1 }).catch((error) => { if (error.code !== 'ETIMEDOUT') throw error; });
        }
      }
      await churn();
      const peak = { threads: threads(), segments: segments() };
      held = null;
      for (let i = 0; i < 100 && (threads() > before.threads + 8 || segments() > before.segments); i++) {
        globalThis.gc();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      console.log(JSON.stringify({ before, peak, after: { threads: threads(), segments: segments() } }));
      `,
        [],
        { env: engine.env },
      );
      assertExitedCleanly(result);
      const { before, peak, after } = lastJson<Record<'before' | 'peak' | 'after', { threads: number; segments: number }>>(result);
      if (engine.name === 'thread') {
        assert.ok(peak.threads > before.threads + 50, `the churn made waiter threads (${before.threads} -> ${peak.threads})`);
      } else {
        assert.ok(peak.threads <= before.threads + 8, `io_uring sleeps need no thread (${before.threads} -> ${peak.threads})`);
      }
      assert.ok(after.threads <= before.threads + 8, `threads went back (${before.threads} -> ${peak.threads} -> ${after.threads})`);
      assert.equal(after.segments, before.segments, 'every dropped channel’s segment went');
    });
  }

  it('a channel dropped without detach() gives its receiver place and sender entries back once collected', {
    skip: noPrivateIpc,
  }, async () => {
    const result = await runNodeInPrivateIpc(
      `
      import { Channel } from 'SHMKIT';
      const keep = Channel.create({ capacity: 4096, autoRemove: true });
      (() => {
        const dropped = Channel.open({ id: keep.id });
        dropped.receiver();
        dropped.sender();
      })();
      let busy = 0;
      for (let i = 0; i < 50; i++) {
        try { keep.receiver(); break; } catch (error) { if (error.code !== 'ERR_CHANNEL_BUSY') throw error; busy++; }
        globalThis.gc();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      console.log(JSON.stringify({ busy }));
      `,
    );
    assertExitedCleanly(result);
    const { busy } = lastJson<{ busy: number }>(result);
    assert.ok(busy >= 1, 'the dropped channel held the receiver place at first');
    assert.ok(busy < 50, 'and gave it back once collected');
  });
});
