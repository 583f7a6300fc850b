// PubSub when processes die: a subscriber killed with SIGKILL frees its place
// and stops holding publishers back; publishers killed mid-message never show
// half a message, and lose or repeat nothing they committed.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { PubSub, SharedMemory } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { verifyTagged } from './helpers/tagged-messages.js';
import { withShmkit } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A Node child; its stdout is collected. `SHMKIT` in code is the package. */
function spawnNode(code: string, args: readonly (string | number)[]): { process: ChildProcess; stdout: () => string } {
  const source = withShmkit(code);
  const proc = spawn(process.execPath, ['--input-type=module', '-e', source, '--', ...args.map(String)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout!.on('data', (chunk) => (out += chunk));
  return { process: proc, stdout: () => out };
}

async function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }
}

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const giveUp = Date.now() + ms;
  while (!condition()) {
    assert.ok(Date.now() < giveUp, what);
    await sleep(5);
  }
}

/**
 * A publisher child. Each message: tag u32, seq u32, pseudo-random bytes,
 * then the FNV-1a hash of everything before it. After each send resolves
 * (the message is committed) it records seq in the status segment.
 */
const PUBLISHER = `
  import { PubSub, SharedMemory } from 'SHMKIT';
  const [id, statusId, tag] = process.argv.slice(1).map(Number);
  const publisher = PubSub.open({ id }).publisher();
  const status = new Int32Array(SharedMemory.open({ id: statusId }).buffer);
  let seed = tag * 7919 + 17;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 1);
  for (let seq = 0; ; seq++) {
    const message = new Uint8Array(12 + (rand() % 1500));
    const view = new DataView(message.buffer);
    view.setUint32(0, tag, true);
    view.setUint32(4, seq, true);
    let hash = 0x811c9dc5;
    for (let i = 0; i < message.length - 4; i++) {
      if (i >= 8) message[i] = rand() & 0xff;
      hash = Math.imul(hash ^ message[i], 16777619) >>> 0;
    }
    view.setUint32(message.length - 4, hash, true);
    await publisher.send(message);
    Atomics.store(status, tag, seq);
  }
`;

describe('PubSub when processes are killed', { timeout: 180_000 }, () => {
  it('a subscriber killed with SIGKILL while a ring behind stops holding the publisher back', async () => {
    using pubsub = PubSub.create({ capacity: 2048, codec: 'json', autoRemove: true });
    const healthy = pubsub.subscriber();
    const stuck = spawnNode(
      `
      import { PubSub } from 'SHMKIT';
      // Kept: once this module ends, a subscriber the collector frees leaves, and holds nobody back.
      const subscriber = (globalThis.subscriber = PubSub.open({ id: Number(process.argv[1]) }).subscriber());
      for (let i = 0; i < 10; i++) await subscriber.recv();
      console.log('read 10');
      setInterval(() => {}, 1000); // and never reads again
      `,
      [pubsub.id],
    );
    try {
      await until(() => pubsub.subscribers === 2, 'the child subscribed');
      const publisher = pubsub.publisher();
      const received: number[] = [];
      const reading = (async () => {
        for await (const value of healthy as AsyncIterable<number>) received.push(value);
      })();
      let sent = 0;
      const sending = (async () => {
        for (; sent < 2000; sent++) await publisher.send(sent);
      })();
      await until(() => stuck.stdout().includes('read 10'), 'the child read its 10');
      await sleep(200);
      const blockedAt = sent;
      assert.ok(blockedAt < 2000, 'the stuck subscriber holds the publisher back');
      await kill(stuck.process);
      await sending; // within a liveness slice or so
      assert.equal(pubsub.subscribers, 1, 'its place was freed');
      pubsub.close();
      await reading;
      assert.deepEqual(
        received,
        Array.from({ length: 2000 }, (_, i) => i),
      );
    } finally {
      await kill(stuck.process);
    }
  });

  it('a killed subscriber is not counted in subscribers, even before a publisher frees its entry', async () => {
    using pubsub = PubSub.create({ capacity: 2048, autoRemove: true });
    using _own = pubsub.subscriber();
    const child = spawnNode(
      `
      import { PubSub } from 'SHMKIT';
      globalThis.subscriber = PubSub.open({ id: Number(process.argv[1]) }).subscriber();
      setInterval(() => {}, 1000);
      `,
      [pubsub.id],
    );
    try {
      await until(() => pubsub.subscribers === 2, 'the child subscribed');
      await kill(child.process);
      // No publisher has waited since: the entry and its flag are still there.
      assert.equal(pubsub.subscribers, 1);
    } finally {
      await kill(child.process);
    }
  });

  it('subscribers killed mid-stream at random never wedge the publisher or the others', async () => {
    using pubsub = PubSub.create({ capacity: 4096, codec: 'json', autoRemove: true });
    const healthy = pubsub.subscriber();
    const READER = `
      import { PubSub } from 'SHMKIT';
      const subscriber = PubSub.open({ id: Number(process.argv[1]) }).subscriber();
      for await (const value of subscriber) if (value % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    `;
    const children = [spawnNode(READER, [pubsub.id]), spawnNode(READER, [pubsub.id])];
    try {
      await until(() => pubsub.subscribers === 3, 'children subscribed');
      const publisher = pubsub.publisher();
      const received: number[] = [];
      const reading = (async () => {
        for await (const value of healthy as AsyncIterable<number>) received.push(value);
      })();
      // The kills come while the first few thousand flow (each holds the
      // publisher back until its place is freed); the rest only follows them.
      const N = budget(10_000, 30_000);
      const sending = (async () => {
        for (let i = 0; i < N; i++) await publisher.send(i);
      })();
      for (let kills = 0; kills < 6; kills++) {
        await sleep(20 + Math.random() * 60);
        const victim = children.shift()!;
        await kill(victim.process);
        children.push(spawnNode(READER, [pubsub.id]));
      }
      await sending;
      pubsub.close();
      await reading;
      assert.equal(received.length, N);
      assert.ok(
        received.every((value, i) => value === i),
        'the healthy subscriber got everything in order',
      );
    } finally {
      for (const { process } of children) await kill(process);
    }
  });

  for (const lag of ['block', 'drop-oldest'] as const) {
    it(`publishers killed mid-message (${lag}): no half message, nothing committed lost or repeated`, async (t) => {
      const TAGS = 24;
      // Written with these tests (a6354da), for no particular defect: npm test kills 4.
      const KILLS = budget(4, 14);
      using pubsub = PubSub.create({ capacity: 16384, lag, autoRemove: true });
      using status = SharedMemory.create({ size: TAGS * 4, autoRemove: true });
      const committed = new Int32Array(status.buffer).fill(-1);
      const subscribers = [pubsub.subscriber(), pubsub.subscriber()];
      const next = subscribers.map(() => new Array<number>(TAGS).fill(0));
      const counts = [0, 0];
      const receiving = subscribers.map(async (subscriber, s) => {
        for await (const message of subscriber) {
          const { tag, seq } = verifyTagged(message, 'publisher');
          assert.ok(tag < TAGS, `unknown publisher ${tag}`);
          if (lag === 'block')
            assert.equal(seq, next[s]![tag], `subscriber ${s}, publisher ${tag}: message ${seq} arrived when ${next[s]![tag]} was due`);
          else assert.ok(seq >= next[s]![tag]!, `subscriber ${s}, publisher ${tag}: message ${seq} repeated or out of order`);
          next[s]![tag] = seq + 1;
          // A turn of the event loop now and then: with 'drop-oldest' nothing
          // holds the publishers back, the ring is never empty and these loops
          // alone would run, the kill loop's timers waiting (its 14 kills took
          // 2.5 s of flat-out publishing instead of 0.75).
          if (++counts[s]! % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      });
      const children = new Map<number, ChildProcess>();
      let nextTag = 0;
      const start = () => {
        const tag = nextTag++;
        children.set(tag, spawnNode(PUBLISHER, [pubsub.id, status.id, tag]).process);
      };
      try {
        for (let i = 0; i < 3; i++) start();
        for (let kill_ = 0; kill_ < KILLS; kill_++) {
          // The victim: any publisher at work (it committed something). One
          // chosen before it started would be waited for while the others
          // publish flat out on the test's CPUs, which slowed its start-up
          // several times over.
          const working = () => [...children.keys()].filter((tag) => Atomics.load(committed, tag) >= 0);
          await until(() => working().length > 0, 'a publisher committed something');
          const tags = working();
          const tag = tags[Math.floor(Math.random() * tags.length)]!;
          await sleep(Math.random() * 30);
          await kill(children.get(tag)!);
          children.delete(tag);
          start();
        }
        // The 100 messages asserted below, however busy the machine (a failed subscriber's error first).
        await Promise.race([until(() => counts.every((count) => count > 100), 'messages flowed'), ...receiving]);
        for (const child of children.values()) await kill(child);
        pubsub.close();
        await Promise.all(receiving);
      } finally {
        for (const child of children.values()) await kill(child);
      }
      for (let s = 0; s < subscribers.length; s++) {
        assert.ok(counts[s]! > 100, `messages flowed (${counts[s]})`);
        if (lag !== 'block') continue;
        for (let tag = 0; tag < nextTag; tag++) {
          const last = Atomics.load(committed, tag);
          const got = next[s]![tag]! - 1;
          assert.ok(got >= last, `subscriber ${s}, publisher ${tag}: committed up to ${last} but only ${got} arrived`);
          assert.ok(
            got <= last + 1,
            `subscriber ${s}, publisher ${tag}: ${got} arrived but only up to ${last} (+1 in flight) were committed`,
          );
        }
      }
      t.diagnostic(
        `${counts.join(' and ')} messages from ${nextTag} publishers, ${KILLS} killed; missed: ${subscribers.map((s) => s.missed).join(', ')}`,
      );
    });
  }
});
