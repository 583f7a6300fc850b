// A channel shared by processes in different PID namespaces of one IPC
// namespace, as containers of one pod are: pids mean nothing across them, so
// the receiver's place, "every sender died", a dead writer's record and the
// claim lock are judged by presence (docs/presence.md). The file runs in its
// own IPC namespace; peers run as pid 1 of new PID namespaces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Channel, ChannelError } from 'shmkit';
import * as F from '../src/channel/format.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { runFileInPrivateIpc, startNode, startNodeInNewPidNamespace } from './helpers/namespaces.js';
import { assertExitedCleanly } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

const skip = await runFileInPrivateIpc();
assertNoLeaks();

const isCode = (code: string) => (error: unknown) => error instanceof ChannelError && error.code === code;

// Tries to become the receiver of channel argv[1] until told to stop: prints
// "busy" while another holds it, then "receiver", then every message as a line.
const RECEIVER = `
  import { Channel } from 'SHMKIT';
  const channel = Channel.open({ id: Number(process.argv[1]) });
  let receiver;
  for (let said = false; !receiver; ) {
    try { receiver = channel.receiver(); } catch (error) {
      if (error.code !== 'ERR_CHANNEL_BUSY') throw error;
      if (!said) { console.log('busy'); said = true; }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  console.log('receiver');
  for await (const message of receiver) console.log(new TextDecoder().decode(message));
`;

// Sends argv[2] messages "tag seq" on channel argv[1] with tag argv[3]; with
// argv[4] = 'half', then claims one more record, never publishes it, and waits.
// The sender is kept on globalThis: in the modes that stay ('half', 'stay') the
// module ends while the process lives on, and a sender the collector frees
// gives its entry back (and its presence with it), so the live sender would
// no longer count and the half-written record would be skipped early.
const SENDER = `
  import { Channel } from 'SHMKIT';
  const [id, count, tag, mode] = process.argv.slice(1);
  const sender = (globalThis.sender = Channel.open({ id: Number(id) }).sender());
  for (let seq = 0; seq < Number(count); seq++) await sender.send(tag + ' ' + seq, { timeoutMs: 30000 });
  if (mode === 'half') {
    sender.tryReserve(16).set([1, 2, 3]);
    console.log('half-written');
    setInterval(() => {}, 1000);
  } else {
    console.log('sent');
    if (mode === 'stay') setInterval(() => {}, 1000);
    else sender.close();
  }
`;

describe('Channel across PID namespaces', { skip, timeout: 120_000 }, () => {
  it('a receiver in another PID namespace keeps its place while it lives; a second one gets ERR_CHANNEL_BUSY, and takes over once the first is killed', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const first = startNodeInNewPidNamespace(RECEIVER, [String(channel.id)]);
    try {
      assert.equal(await first.line(), 'receiver');
      assert.throws(() => channel.receiver(), isCode('ERR_CHANNEL_BUSY'), 'not here either');
      const second = startNodeInNewPidNamespace(RECEIVER, [String(channel.id)]);
      try {
        assert.equal(await second.line(), 'busy');
        const sender = channel.sender();
        sender.trySend('one');
        assert.equal(await first.line(), 'one', 'the live receiver gets it');
        await first.kill();
        assert.equal(await second.line(), 'receiver', 'the place is free once its holder died');
        sender.trySend('two');
        assert.equal(await second.line(), 'two', 'delivered once, to the new receiver');
        channel.close();
        assertExitedCleanly(await second.exited, 'second receiver');
      } finally {
        await second.kill();
      }
    } finally {
      await first.kill();
    }
  });

  it('a live sender in another PID namespace is never reported dead; a killed one is, and its half-written record is skipped', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    // The live sender's messages go in first: nothing passes the victim's unpublished record while it lives.
    const live = startNodeInNewPidNamespace(SENDER, [String(channel.id), '3', 'live', 'stay']);
    assert.equal(await live.line(), 'sent');
    const victim = startNodeInNewPidNamespace(SENDER, [String(channel.id), '2', 'victim', 'half']);
    try {
      assert.equal(await victim.line(), 'half-written');
      const got: string[] = [];
      for (let i = 0; i < 5; i++) got.push(new TextDecoder().decode(await receiver.recv({ timeoutMs: 10_000 })));
      assert.deepEqual(got, ['live 0', 'live 1', 'live 2', 'victim 0', 'victim 1']);
      // A live sender that sends nothing: waiting goes on (a timeout), it is not "dead".
      await assert.rejects(receiver.recv({ timeoutMs: 300 }), isCode('ETIMEDOUT'));
      await victim.kill();
      // The half-written record is skipped; a message after it arrives.
      const sender = channel.sender();
      sender.trySend('after');
      assert.equal(new TextDecoder().decode(await receiver.recv({ timeoutMs: 10_000 })), 'after');
      sender.close();
      await live.kill();
      await assert.rejects(receiver.recv({ timeoutMs: 10_000 }), isCode('ERR_CHANNEL_PEER_DEAD'), 'every sender died');
    } finally {
      await live.kill();
      await victim.kill();
    }
  });

  it('a claim lock held by a process killed in another PID namespace is taken over; one held by a live one is not', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    // The holder registers a sender and writes its writer id into the claim lock, as a process
    // stopped inside the critical section would leave it.
    const holder = startNodeInNewPidNamespace(
      `import { Channel, SharedMemory } from 'SHMKIT';
       const id = Number(process.argv[1]);
       // Kept: a sender the collector frees gives its entry back, and its claim lock with it.
       globalThis.sender = Channel.open({ id }).sender();
       const words = new Int32Array(SharedMemory.open({ id }).buffer);
       let mine = 0;
       for (let slot = 0; slot < ${F.MAX_SENDERS}; slot++) {
         const at = (${F.OFF_SENDERS} + ${F.SENDER_ENTRY} * slot) >> 2;
         if ((words[at] & 1) && words[at + 1] === process.pid) mine = slot | ((words[at] & 0xffffff) << 8);
       }
       Atomics.store(words, ${F.OFF_CLAIM_LOCK} >> 2, mine);
       console.log(mine);
       setInterval(() => {}, 1000);`,
      [String(channel.id)],
    );
    try {
      assert.notEqual(Number(await holder.line()), 0);
      assert.equal(sender.trySend('x'), false, 'a live holder keeps the lock (its pid, 1, names another process here)');
      await assert.rejects(sender.send('y', { timeoutMs: 200 }), isCode('ETIMEDOUT'));
      await holder.kill();
      await sender.send('z', { timeoutMs: 10_000 });
      assert.equal(new TextDecoder().decode(await receiver.recv({ timeoutMs: 5000 })), 'z');
    } finally {
      await holder.kill();
    }
  });

  // No defect is behind the count: 1,000 messages a sender keep the four contending for the ring throughout.
  const messages = budget(4_000, 10_000);
  it(`loses and duplicates nothing over ${messages.toLocaleString('en-US')} messages from senders in two PID namespaces and this one`, async () => {
    using channel = Channel.create({ capacity: 8192, autoRemove: true });
    const receiver = channel.receiver();
    const perSender = messages / 4;
    const senders = [
      startNodeInNewPidNamespace(SENDER, [String(channel.id), String(perSender), 'a']),
      startNodeInNewPidNamespace(SENDER, [String(channel.id), String(perSender), 'b']),
      startNode(SENDER, [String(channel.id), String(perSender), 'c']),
    ];
    const local = channel.sender();
    const sending = (async () => {
      for (let seq = 0; seq < perSender; seq++) await local.send(`d ${seq}`, { timeoutMs: 30_000 });
    })();
    const next = new Map<string, number>();
    for (let i = 0; i < 4 * perSender; i++) {
      const [tag, seq] = new TextDecoder().decode(await receiver.recv({ timeoutMs: 30_000 })).split(' ');
      assert.equal(Number(seq), next.get(tag!) ?? 0, `${tag}: in order, none lost, none twice`);
      next.set(tag!, Number(seq) + 1);
    }
    await sending;
    for (const sender of senders) assertExitedCleanly(await sender.exited, 'sender');
    assert.deepEqual([...next.entries()].sort(), [
      ['a', perSender],
      ['b', perSender],
      ['c', perSender],
      ['d', perSender],
    ]);
    assert.equal(receiver.tryRecv(), null, 'nothing more');
  });
});
