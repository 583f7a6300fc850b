// The two engines of a channel's futex sleep (src/sysv/futex.ts): io_uring
// (the wait queued on the thread's own ring, its completion polled by libuv)
// and the addon's waiter threads, chosen where io_uring is missing or with
// SHMKIT_IO_URING=0. Each must give the same results for the same waits,
// wake for the other engine's processes, keep a process alive only while a
// wait is pending, and end with workers and processes without a crash.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Channel } from 'shmkit';
import { type FutexEngineCase, futexEngines } from './helpers/futex-engines.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { startNode } from './helpers/namespaces.js';
import { type Peer, peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';

/**
 * Each engine's other process: the children that need no process of their
 * own run in it in turn, with its environment (13 processes -> 2). Each
 * has a copy of the bundle of its own; those that import dist/src's modules
 * (the futex module, the library's modules beside the bundle) share the
 * peer's one copy of them, in which only futexEngine() has run when the
 * wait test counts its threads.
 * The process a pending wait keeps alive (watched line by line), and the
 * one that exits with workers, keep processes of their own.
 */
const others = new Map<string, Peer>(futexEngines.map((engine) => [engine.name, peer()]));
after(() => Promise.all([...others.values()].map((other) => other.end())));

assertNoLeaks();

/** Runs `code` in `engine`'s peer, with its environment. */
function inOther(engine: FutexEngineCase, code: string, args: readonly string[] = [], timeoutMs?: number) {
  return (others.get(engine.name) as Peer).run(code, args, { env: engine.env, timeoutMs });
}

/** dist/src/sysv/futex.js: the same copy of the library as SHMKIT_MODULES. */
const FUTEX = JSON.stringify(new URL('../src/sysv/futex.js', import.meta.url).href);

describe('futex engines', { timeout: 120_000 }, () => {
  it('io_uring where the kernel has it; SHMKIT_IO_URING=0 asks for the waiter threads, and says so', async () => {
    for (const engine of futexEngines) {
      if (engine.skip) continue;
      const result = await inOther(engine, `import { futexEngine } from ${FUTEX}; console.log(JSON.stringify(futexEngine()));`);
      assertExitedCleanly(result);
      const expected = engine.name === 'io_uring' ? { kind: 'io_uring' } : { kind: 'thread', reason: 'SHMKIT_IO_URING=0' };
      assert.deepEqual(lastJson(result), expected);
    }
  });

  for (const engine of futexEngines) {
    describe(engine.name, { skip: engine.skip }, () => {
      it('a wait ends with 0 when woken, EAGAIN when the word had changed, ETIMEDOUT at its limit, ECANCELED on abort or close; a bad word is EINVAL; the thread count tells the engine', async () => {
        const result = await inOther(
          engine,
          `
          import { FutexWaiter, futexWake } from ${FUTEX};
          import { constants } from 'node:os';
          import { readdirSync } from 'node:fs';
          const { EAGAIN, ETIMEDOUT, ECANCELED } = constants.errno;
          const threads = () => readdirSync('/proc/self/task').length;
          const buffer = new ArrayBuffer(64);
          const words = new Int32Array(buffer);
          const waiter = new FutexWaiter();
          const before = threads();
          const out = {};
          // Woken, the word unchanged, until the wait returns: a wake-up that
          // came before a busy machine let the wait start would otherwise be
          // a change of the word (EAGAIN), not a wake-up.
          const wakeUntilDone = (index) => setInterval(() => futexWake(buffer, index * 4, 1), 10);
          let waking = wakeUntilDone(0);
          out.woken = await waiter.wait(buffer, 0, 0, 5000) === 0;
          clearInterval(waking);
          Atomics.store(words, 0, 1);
          out.changed = await waiter.wait(buffer, 0, 0, 5000) === -EAGAIN;
          let start = performance.now();
          out.timedOut = await waiter.wait(buffer, 1, 0, 40) === -ETIMEDOUT;
          out.waitedMs = performance.now() - start;
          const controller = new AbortController();
          setTimeout(() => controller.abort(), 20);
          start = performance.now();
          out.aborted = await waiter.wait(buffer, 1, 0, 5000, controller.signal) === -ECANCELED;
          out.abortMs = performance.now() - start;
          // The abandoned wait is finished before the next one starts; that one works.
          waking = wakeUntilDone(1);
          out.afterAbort = await waiter.wait(buffer, 1, 0, 5000);
          clearInterval(waking);
          out.extraThreads = threads() - before;
          for (const [offset, what] of [[64, 'past the end'], [2, 'unaligned']]) {
            try { await waiter.wait(buffer, offset / 4, 0, 10); out[what] = 'no error'; }
            catch (error) { out[what] = error.code + ' ' + error.syscall; }
          }
          const pending = waiter.wait(buffer, 2, 0, -1);
          setTimeout(() => waiter.close(), 20);
          out.closed = await pending === -ECANCELED;
          // Nobody is left to wake: the process ends by itself.
          futexWake(buffer, 8, 1);
          console.log(JSON.stringify(out));
          `,
        );
        assertExitedCleanly(result);
        const out = lastJson<Record<string, unknown>>(result);
        assert.equal(out.woken, true, 'woken');
        assert.equal(out.changed, true, 'EAGAIN');
        assert.equal(out.timedOut, true, 'ETIMEDOUT');
        assert.ok((out.waitedMs as number) >= 35, `waited ${out.waitedMs} ms of 40`);
        assert.equal(out.aborted, true, 'ECANCELED on abort');
        assert.ok((out.abortMs as number) < 1000, `the abort took ${out.abortMs} ms`);
        assert.equal(out.afterAbort, 0, 'the wait after an abort is woken');
        assert.equal(out['past the end'], 'EINVAL futex');
        assert.equal(out.unaligned, 'EINVAL futex');
        assert.equal(out.closed, true, 'close ends a pending wait');
        if (engine.name === 'thread') assert.equal(out.extraThreads, 1, 'one waiter thread');
        else assert.equal(out.extraThreads, 0, 'no thread');
      });

      it("wakes and is woken by a process on the other engine: 300 messages each way in 'sleep' mode", async () => {
        using requests = Channel.create({ capacity: 4096, wait: 'sleep', autoRemove: true });
        using replies = Channel.create({ capacity: 4096, wait: 'sleep', autoRemove: true });
        const sender = requests.sender();
        const receiver = replies.receiver();
        // The first request waits in the ring until the echo has opened the channels.
        const echo = inOther(
          engine,
          `
          import { Channel } from 'SHMKIT';
          const [requestsId, repliesId] = process.argv.slice(1).map(Number);
          const receiver = Channel.open({ id: requestsId, wait: 'sleep' }).receiver();
          const sender = Channel.open({ id: repliesId, wait: 'sleep' }).sender();
          for (let i = 0; i < 300; i++) {
            const message = await receiver.recv({ timeoutMs: 10_000 });
            await sender.send(message.reverse(), { timeoutMs: 10_000 });
          }
          `,
          [String(requests.id), String(replies.id)],
        );
        for (let i = 0; i < 300; i++) {
          // Let the echo fall asleep now and then, so that both sides are woken from a sleep.
          if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
          const message = new Uint8Array(1 + (i % 200)).map((_, j) => (i + j) & 0xff);
          await sender.send(message, { timeoutMs: 10_000 });
          const reply = await receiver.recv({ timeoutMs: 10_000 });
          assert.deepEqual(reply, message.reverse(), `message ${i}`);
        }
        assertExitedCleanly(await echo);
      });

      it('two copies of the library in one thread (the bundle and its modules) each get their own wake-ups and time limits', async () => {
        const result = await inOther(
          engine,
          `
          import * as bundle from 'SHMKIT';
          // The deep import: the module of dist/src's it uses, not all (some 50 ms of CPU more).
          const modules = await import(new URL('./channel/channel.js', 'SHMKIT_MODULES').href);
          const copies = { bundle, modules };
          const out = {};
          await Promise.all(Object.entries(copies).map(async ([name, { Channel }]) => {
            const channel = Channel.create({ capacity: 4096, wait: 'sleep', autoRemove: true });
            const receiver = channel.receiver();
            const sender = channel.sender();
            const start = performance.now();
            await receiver.recv({ timeoutMs: 60 }).catch((error) => (out[name + ' limit'] = error.code));
            out[name + ' limit ms'] = Math.round(performance.now() - start);
            setTimeout(() => sender.trySend(name), 30);
            out[name] = new TextDecoder().decode(await receiver.recv({ timeoutMs: 5000 }));
            channel.detach();
          }));
          console.log(JSON.stringify(out));
          `,
        );
        assertExitedCleanly(result);
        const out = lastJson<Record<string, string | number>>(result);
        for (const name of ['bundle', 'modules']) {
          assert.equal(out[name], name, `${name}: woken by its message`);
          assert.equal(out[`${name} limit`], 'ETIMEDOUT', `${name}: its time limit`);
          assert.ok((out[`${name} limit ms`] as number) < 2000, `${name}: the limit took ${out[`${name} limit ms`]} ms`);
        }
      });

      if (engine.name === 'io_uring')
        it('completions the kernel dropped (it had no memory to keep them) end every pending wait as woken, and later waits work', async () => {
          // The kernel's side cannot be provoked here: this sends what the addon
          // sends when the ring's dropped-completion counter moves.
          const result = await inOther(
            engine,
            `
          import { FutexWaiter, futexWake } from ${FUTEX};
          const buffer = new ArrayBuffer(16);
          const waiters = [new FutexWaiter(), new FutexWaiter()];
          const pending = waiters.map((waiter) => waiter.wait(buffer, 0, 0, -1));
          await new Promise((resolve) => setTimeout(resolve, 20));
          FutexWaiter.dispatch(2 ** 40, 0);
          const results = await Promise.all(pending);
          // The waits are still in the kernel: wake them, and the process can end.
          futexWake(buffer, 0, 2);
          setTimeout(() => { Atomics.store(new Int32Array(buffer), 1, 1); futexWake(buffer, 4, 1); }, 20);
          const later = await waiters[0].wait(buffer, 1, 0, 5000);
          console.log(JSON.stringify({ results, later }));
          `,
            [],
            10_000,
          );
          assertExitedCleanly(result);
          assert.deepEqual(lastJson(result), { results: [0, 0], later: 0 });
        });

      it('more sleepers than the ring holds completions: 5,000 waits on one word all end on one FUTEX_WAKE', async () => {
        const sleepers = engine.name === 'thread' ? 200 : 5000;
        const result = await inOther(
          engine,
          `
          import { FutexWaiter, futexWake } from ${FUTEX};
          const buffer = new ArrayBuffer(8);
          const waiters = Array.from({ length: ${sleepers} }, () => new FutexWaiter());
          const results = waiters.map((waiter) => waiter.wait(buffer, 0, 0, 20_000));
          await new Promise((resolve) => setTimeout(resolve, 300));
          Atomics.store(new Int32Array(buffer), 0, 1);
          const woke = futexWake(buffer, 0, 0x7fffffff);
          const counts = {};
          for (const result of await Promise.all(results)) counts[result] = (counts[result] ?? 0) + 1;
          for (const waiter of waiters) waiter.close();
          console.log(JSON.stringify({ woke, counts }));
          `,
        );
        assertExitedCleanly(result);
        const { woke, counts } = lastJson<{ woke: number; counts: Record<string, number> }>(result);
        // A sleeper not yet in the kernel at the wake sees the changed word (EAGAIN): also an end.
        assert.equal((counts['0'] ?? 0) + (counts['-11'] ?? 0), sleepers, `results ${JSON.stringify(counts)}`);
        assert.equal(woke, counts['0'] ?? 0, 'as many woke as the kernel said');
      });

      it('a pending wait keeps the process alive until another process wakes it; an idle channel does not', async () => {
        using channel = Channel.create({ capacity: 4096, wait: 'sleep', autoRemove: true });
        const sender = channel.sender();
        const child = startNode(
          `
          import { Channel } from 'SHMKIT';
          const receiver = Channel.open({ id: Number(process.argv[1]), wait: 'sleep' }).receiver();
          // A wait that ends by its time limit leaves nothing pending behind.
          await receiver.recv({ timeoutMs: 20 }).catch((error) => console.log(error.code));
          console.log('asleep');
          console.log(new TextDecoder().decode(await receiver.recv()));
          `,
          [String(channel.id)],
          { env: engine.env },
        );
        try {
          await child.line('ETIMEDOUT');
          await child.line('asleep');
          await new Promise((resolve) => setTimeout(resolve, 300));
          assert.equal(child.process.exitCode, null, 'the sleeping child still runs');
          sender.trySend('wake up');
          await child.line('wake up');
          assertExitedCleanly(await child.exited);
        } finally {
          await child.kill();
        }
        const idle = await inOther(
          engine,
          `
          import { Channel } from 'SHMKIT';
          const channel = Channel.create({ capacity: 4096, wait: 'sleep', autoRemove: true });
          await channel.receiver().recv({ timeoutMs: 20 }).catch(() => {});
          console.log('done');
          `,
          [],
          10_000,
        );
        assertExitedCleanly(idle, 'a process whose waits all ended');
      });

      it('workers: one sleeping in recv is terminated, one is woken by the main thread, and the process exits while a third still sleeps', async () => {
        const result = await runNode(
          `
          import { Channel } from 'SHMKIT';
          import { Worker } from 'node:worker_threads';
          // Eval'd workers are CommonJS: the library comes by import().
          const body = (id) => \`(async () => {
            const { Channel } = await import('SHMKIT');
            const { parentPort } = await import('node:worker_threads');
            const receiver = Channel.open({ id: \${id}, wait: 'sleep' }).receiver();
            parentPort.postMessage('asleep');
            parentPort.postMessage(new TextDecoder().decode(await receiver.recv()));
          })()\`;
          const start = (channel) => {
            const worker = new Worker(body(channel.id), { eval: true });
            const next = () => new Promise((resolve) => worker.once('message', resolve));
            return { worker, next };
          };
          const channels = [0, 1, 2].map(() => Channel.create({ capacity: 4096, wait: 'sleep', autoRemove: true }));
          const [a, b, c] = channels.map(start);
          await Promise.all([a.next(), b.next(), c.next()]);
          await new Promise((resolve) => setTimeout(resolve, 100));
          await a.worker.terminate();
          const reply = b.next();
          channels[1].sender().trySend('hello worker');
          console.log(await reply);
          await b.worker.terminate();
          console.log('exiting');
          process.exit(0);
          `,
          [],
          { env: engine.env },
        );
        assertExitedCleanly(result);
        assert.deepEqual(result.stdout.trim().split('\n'), ['hello worker', 'exiting']);
      });
    });
  }
});
