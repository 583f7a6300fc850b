// A sender that dies while it waits for the claim lock leaves its 1 in the
// header's lock_wanted: it never runs the code that takes it back. A count
// that stays raised stops every sender from keeping the lock between its
// claims (the fast path of a lone sender), for the life of the channel. The
// entry's bit in lock_wanted_by says whose 1 it is, and whoever takes the
// dead sender's entry (the receiver that frees it) takes the 1 back. Each case
// kills a real process that is spinning for the lock, with SIGKILL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as F from '../src/channel/format.js';
import { Channel, ChannelError, SharedMemory } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { startNode } from './helpers/namespaces.js';

assertNoLeaks();

const CLAIM_LOCK = F.OFF_CLAIM_LOCK >> 2;
const LOCK_WANTED = F.OFF_LOCK_WANTED >> 2;
const LOCK_WANTED_BY = F.OFF_LOCK_WANTED_BY >> 2;

/**
 * A child that registers a sender on channel `id` (through the ring, as
 * Channel does) and then waits for the claim lock with no end to its
 * patience: it spins until it is killed.
 */
const WAITER = `
  const { SharedMemory } = await import('SHMKIT');
  const modules = 'SHMKIT_MODULES';
  const { Ring } = await import(new URL('./channel/ring.js', modules).href);
  const { threadLiveness } = await import(new URL('./channel/liveness.js', modules).href);
  const [id, capacity] = process.argv.slice(1).map(Number);
  const shm = SharedMemory.open({ id });
  const ring = new Ring(shm.buffer, capacity, threadLiveness, process.pid);
  const writer = ring.registerSender();
  console.log('slot ' + (writer & 0xff));
  ring.lock(writer, 2 ** 31 - 1);
  console.log('locked');
`;

async function until(what: string, done: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('a sender that dies waiting for the claim lock', () => {
  it('leaves its want in the header only until the receiver frees its entry', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    using shm = SharedMemory.open({ id: channel.id });
    const header = new Int32Array(shm.buffer, 0, F.HEADER_SIZE >> 2);
    const receiver = channel.receiver();
    // This thread's sender (entry 0) holds the claim lock, alive, for as long as the test needs.
    const sender = channel.sender();
    const registration = Atomics.load(header, (F.OFF_SENDERS >> 2) + F.SENDER.registration);
    Atomics.store(header, CLAIM_LOCK, F.writerId(0, registration));
    const child = startNode(WAITER, [String(channel.id), String(channel.capacity)]);
    try {
      const slot = Number((await child.line('slot ')).slice('slot '.length));
      const bit = 1 << (slot & 31);
      await until('the child waits for the lock', () => Atomics.load(header, LOCK_WANTED) === 1);
      assert.equal(Atomics.load(header, LOCK_WANTED_BY + (slot >> 5)) & bit, bit, "the want is marked as its entry's");
      await child.kill();
      assert.equal(Atomics.load(header, LOCK_WANTED), 1, 'the killed waiter left its 1');
      Atomics.store(header, CLAIM_LOCK, 0);

      // A receiver that finds the ring quiet frees dead senders' entries.
      await assert.rejects(receiver.recv({ timeoutMs: 1000 }), (error: unknown) => {
        assert.ok(error instanceof ChannelError && error.code === 'ETIMEDOUT', String(error));
        return true;
      });
      assert.equal(Atomics.load(header, LOCK_WANTED), 0, 'lock_wanted once the dead waiter is freed');
      assert.equal(Atomics.load(header, LOCK_WANTED_BY + (slot >> 5)) & bit, 0, 'its bit');
      const entry = (F.OFF_SENDERS >> 2) + slot * (F.SENDER_ENTRY >> 2);
      assert.equal(Atomics.load(header, entry + F.SENDER.registration) & 1, 0, 'its entry is free');

      // And the lone sender left keeps the lock between its claims again.
      sender.trySend(new Uint8Array([1]));
      assert.equal(Atomics.load(header, CLAIM_LOCK), F.writerId(0, registration), 'the sender kept the lock after its claim');
      assert.deepEqual([...(receiver.tryRecv() as Uint8Array)], [1]);
    } finally {
      await child.kill();
    }
  });
});
