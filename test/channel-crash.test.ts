// Channel crash consistency: senders killed with SIGKILL at any point never
// make a partial message visible, never lose a committed one, and never
// wedge the channel for the others.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Channel, ChannelError, SharedMemory } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { verifyTagged } from './helpers/tagged-messages.js';
import { runNode, withShmkit } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A long-running Node child (killed by the test); `SHMKIT` in code is the package. */
function spawnNode(code: string, args: readonly string[]): ChildProcess {
  const source = withShmkit(code);
  return spawn(process.execPath, ['--input-type=module', '-e', source, '--', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function killAndReap(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Each message: tag u32, seq u32, then pseudo-random bytes, then the FNV-1a
 * hash of everything before it. Odd messages are written in place (reserve,
 * byte by byte, then commit), which makes a kill mid-message likely.
 */
const SENDER = `
  import { Channel, SharedMemory } from 'SHMKIT';
  const [id, statusId, tag] = process.argv.slice(1).map(Number);
  const sender = Channel.open({ id }).sender();
  const status = new Int32Array(SharedMemory.open({ id: statusId }).buffer);
  let seed = tag * 7919 + 17;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 1);
  function fill(bytes, seq) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    view.setUint32(0, tag, true);
    view.setUint32(4, seq, true);
    let hash = 0x811c9dc5;
    for (let i = 0; i < bytes.byteLength - 4; i++) {
      if (i >= 8) bytes[i] = rand() & 0xff;
      hash = Math.imul(hash ^ bytes[i], 16777619) >>> 0;
    }
    view.setUint32(bytes.byteLength - 4, hash, true);
  }
  for (let seq = 0; ; seq++) {
    const size = 12 + (rand() % 3000);
    if (seq % 2) {
      const view = await sender.reserve(size);
      fill(view, seq);
      sender.commit();
    } else {
      const message = new Uint8Array(size);
      fill(message, seq);
      await sender.send(message);
    }
    Atomics.store(status, tag, seq); // after commit: this one is in the ring
  }
`;

describe('Channel when senders are killed', { timeout: 120_000 }, () => {
  it('delivers every committed message exactly once and nothing else while senders die at random points', async (t) => {
    const TAGS = 40;
    // Written with the channel (6ecfe34), for no particular defect: npm test kills a quarter as many.
    const KILLS = budget(6, 24);
    using channel = Channel.create({ capacity: 16384, autoRemove: true });
    using status = SharedMemory.create({ size: TAGS * 4, autoRemove: true });
    const committed = new Int32Array(status.buffer).fill(-1);
    const receiver = channel.receiver();
    const next = new Array<number>(TAGS).fill(0);
    let received = 0;
    const children = new Map<number, ChildProcess>();
    let nextTag = 0;
    const start = () => {
      const tag = nextTag++;
      children.set(tag, spawnNode(SENDER, [String(channel.id), String(status.id), String(tag)]));
    };

    const giveUp = Date.now() + 100_000;
    const receiving = (async () => {
      for (;;) {
        assert.ok(Date.now() < giveUp, 'the receiver finishes');
        let message: Uint8Array;
        try {
          message = await receiver.recv({ timeoutMs: 200 });
        } catch (error) {
          if (!(error instanceof ChannelError)) throw error;
          if (error.code === 'ERR_CHANNEL_CLOSED') return;
          continue; // ETIMEDOUT, or ERR_CHANNEL_PEER_DEAD while every sender is down
        }
        const { tag, seq } = verifyTagged(message, 'sender');
        assert.ok(tag < TAGS, `unknown sender ${tag}`);
        assert.equal(seq, next[tag], `sender ${tag}: message ${seq} arrived when ${next[tag]} was due`);
        next[tag]!++;
        received++;
      }
    })();

    try {
      for (let i = 0; i < 3; i++) start();
      for (let kill = 0; kill < KILLS; kill++) {
        // Kill one mid-stream: a sender at work (it committed something), after a
        // random while. One chosen before it started would be waited for while
        // the others send flat out on the test's CPUs, slowing its start-up.
        const working = () => [...children.keys()].filter((tag) => Atomics.load(committed, tag) >= 0);
        const deadline = Date.now() + 10_000;
        while (working().length === 0 && Date.now() < deadline) await sleep(5);
        const tags = working().length > 0 ? working() : [...children.keys()];
        const tag = tags[Math.floor(Math.random() * tags.length)]!;
        await sleep(Math.random() * 30);
        await killAndReap(children.get(tag)!);
        children.delete(tag);
        start();
      }
      // The 100 messages asserted below, however busy the machine (a failed receiver's error first).
      const flowed = async () => {
        while (received <= 100) {
          assert.ok(Date.now() < giveUp, `messages flowed (${received})`);
          await sleep(5);
        }
      };
      await Promise.race([flowed(), receiving]);
      for (const child of children.values()) await killAndReap(child);
      // Every sender is dead; what they committed is in the ring. Drain it.
      channel.close();
      await receiving;
    } finally {
      for (const child of children.values()) await killAndReap(child);
      channel.close();
      await receiving.catch(() => {});
    }

    let senders = 0;
    for (let tag = 0; tag < nextTag; tag++) {
      const last = Atomics.load(committed, tag);
      const got = next[tag]! - 1;
      if (last >= 0) senders++;
      // Recorded as committed => received; at most the one committed just before the kill is beyond the record.
      assert.ok(got >= last, `sender ${tag}: committed up to ${last} but only ${got} arrived`);
      assert.ok(got <= last + 1, `sender ${tag}: ${got} arrived but only up to ${last} (+1 in flight) were committed`);
    }
    assert.ok(senders >= KILLS / 2, `most senders got to send (${senders})`);
    assert.ok(received > 100, `messages flowed (${received})`);
    t.diagnostic(`${received} messages from ${senders} senders, ${KILLS} of them killed`);
  });

  it('a sender that dies holding the claim lock, or a reservation, wedges nobody', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    sender.trySend('before');
    const child = await runNode(
      `
      import { Channel, SharedMemory } from 'SHMKIT';
      const id = Number(process.argv[1]);
      const sender = Channel.open({ id }).sender();
      // Claimed, never published (reserve, not tryReserve: the parent's sender may keep the lock a moment).
      const view = await sender.reserve(100, { timeoutMs: 10_000 });
      view.fill(0xee);
      const raw = new Int32Array(SharedMemory.open({ id }).buffer);
      Atomics.store(raw, 64 / 4, process.pid); // and die holding the claim lock
      process.kill(process.pid, 'SIGKILL');
      `,
      [String(channel.id)],
    );
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    await sender.send('after', { timeoutMs: 10_000 });
    const got: string[] = [];
    for (let i = 0; i < 2; i++) got.push(new TextDecoder().decode(await receiver.recv({ timeoutMs: 10_000 })));
    assert.deepEqual(got, ['before', 'after']);
    assert.equal(receiver.tryRecv(), null);
  });

  it('a receiver killed while reading leaves the channel to a new receiver', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const sender = channel.sender();
    for (let i = 0; i < 5; i++) sender.trySend(`m${i}`);
    const child = await runNode(
      `
      import { Channel } from 'SHMKIT';
      const receiver = Channel.open({ id: Number(process.argv[1]) }).receiver();
      receiver.tryRecv();
      receiver.tryRecvView();  // holding a view of m1
      process.kill(process.pid, 'SIGKILL');
      `,
      [String(channel.id)],
    );
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    const receiver = channel.receiver();
    const got: string[] = [];
    for (let message = receiver.tryRecv(); message; message = receiver.tryRecv()) got.push(new TextDecoder().decode(message));
    // m0 was consumed; m1 was being read (not released), so it comes again.
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4']);
  });
});
