// PubSub peers in other PID namespaces of one IPC namespace (containers of
// one pod): pids mean nothing across them (the peers here are pid 1 of their
// own namespace, and pid 1 is alive here too), so a dead subscriber and a dead
// publisher's half-written record are judged by presence (docs/presence.md).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PubSub } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { runFileInPrivateIpc, startNodeInNewPidNamespace } from './helpers/namespaces.js';

const skip = await runFileInPrivateIpc();
assertNoLeaks();

describe('PubSub across PID namespaces', { skip, timeout: 120_000 }, () => {
  it('a subscriber in another PID namespace, killed while a ring behind, stops holding the publisher back', async () => {
    using pubsub = PubSub.create({ capacity: 1024, codec: 'json', autoRemove: true });
    const stuck = startNodeInNewPidNamespace(
      `
      import { PubSub } from 'SHMKIT';
      // Kept: once this module ends, a subscriber the collector frees leaves, and holds nobody back.
      const subscriber = (globalThis.subscriber = PubSub.open({ id: Number(process.argv[1]) }).subscriber());
      console.log('subscribed ' + process.pid);
      setInterval(() => {}, 1000); // never reads
      `,
      [String(pubsub.id)],
    );
    try {
      assert.equal(await stuck.line(), 'subscribed 1');
      const publisher = pubsub.publisher();
      let sent = 0;
      // Bounded (the ring holds far fewer): without a subscriber trySend never refuses, and an endless
      // loop here would hang the file; the send below then fails the test instead.
      while (sent < 1024 && publisher.trySend(sent)) sent++;
      await assert.rejects(publisher.send(sent, { timeoutMs: 300 }), { code: 'ETIMEDOUT' }, 'held back while it lives');
      const pending = publisher.send(sent);
      await stuck.kill();
      await pending;
      assert.equal(pubsub.subscribers, 0);
    } finally {
      await stuck.kill();
    }
  });

  it('a publisher in another PID namespace killed with a claimed, unpublished record: subscribers skip it', async () => {
    using pubsub = PubSub.create({ capacity: 4096, codec: 'text', autoRemove: true });
    const subscriber = pubsub.subscriber();
    const publisher = pubsub.publisher();
    publisher.trySend('before');
    // The public API writes a message whole in one synchronous step; the ring's own calls can stop half way.
    const half = startNodeInNewPidNamespace(
      `
      import { SharedMemory } from 'SHMKIT_MODULES';
      const { BroadcastRing } = await import(new URL('./channel/pubsub/broadcast-ring.js', 'SHMKIT_MODULES').href);
      const { threadLiveness } = await import(new URL('./channel/liveness.js', 'SHMKIT_MODULES').href);
      const shm = SharedMemory.open({ id: Number(process.argv[1]) });
      const ring = new BroadcastRing(shm.buffer, 4096, false, threadLiveness, process.pid);
      const writer = ring.registerPublisher();
      const position = ring.claim(100, writer);
      ring.u8.fill(0xee, ring.payloadOffset(position), ring.payloadOffset(position) + 50);
      console.log('half-written ' + process.pid);
      setInterval(() => {}, 1000);
      `,
      [String(pubsub.id)],
    );
    try {
      assert.equal(await half.line(), 'half-written 1');
      await publisher.send('after');
      assert.equal(await subscriber.recv(), 'before');
      await assert.rejects(subscriber.recv({ timeoutMs: 300 }), { code: 'ETIMEDOUT' }, 'its writer lives: the record is awaited');
      await half.kill();
      assert.equal(await subscriber.recv({ timeoutMs: 10_000 }), 'after');
      assert.equal(subscriber.tryRecv(), undefined);
    } finally {
      await half.kill();
    }
  });
});
