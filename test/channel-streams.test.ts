// Channel endpoints as Node streams and events, across real processes:
// stream.pipeline() of a file through a channel from one process into
// another, object-mode streams with backpressure (a slow consumer keeps
// every buffer bounded), a dead sender destroying the Readable, and events.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { Channel, ChannelError, SharedMemory } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { settledWithin } from './helpers/settled.js';
import { budget } from './helpers/soak.js';

// Other processes that only open a channel and report are programs of one peer process;
// those whose own death or exit is the point are children of their own.
const tasks = peer();
after(() => tasks.end());
// (Registered first, so it ends before assertNoLeaks() counts what is left.)
assertNoLeaks();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('Channel streams across processes', { timeout: 90_000 }, () => {
  it('pipes a file from one process through the channel into another, bytes identical', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-streams-'));
    try {
      const input = join(dir, 'in.bin');
      const output = join(dir, 'out.bin');
      // Not a multiple of anything: the last message is short. 1 MiB is 17
      // chunks, each nearly a ring's worth: the sender waits for room at each.
      writeFileSync(input, randomBytes(1024 * 1024 + 12_345));
      using channel = Channel.create({ capacity: 1 << 16, autoRemove: true });
      const receiving = tasks.run(
        `
        import { createWriteStream } from 'node:fs';
        import { pipeline } from 'node:stream/promises';
        import { Channel } from 'SHMKIT';
        const [id, output] = process.argv.slice(1);
        const channel = Channel.open({ id: Number(id) });
        await pipeline(channel.receiver().readable(), createWriteStream(output));
        channel.detach();
        `,
        [String(channel.id), output],
      );
      const sending = runNode(
        `
        import { createReadStream } from 'node:fs';
        import { pipeline } from 'node:stream/promises';
        import { Channel } from 'SHMKIT';
        const [id, input] = process.argv.slice(1);
        const channel = Channel.open({ id: Number(id) });
        // 64 KiB chunks, longer than the largest message: each goes as two.
        await pipeline(createReadStream(input), channel.sender().writable());
        console.log(JSON.stringify({ closed: channel.closed }));
        channel.detach();
        `,
        [String(channel.id), input],
      );
      const [received, sent] = await Promise.all([receiving, sending]);
      assertExitedCleanly(sent, 'sender');
      assertExitedCleanly(received, 'receiver');
      assert.deepEqual(lastJson(sent), { closed: true }, 'finishing the Writable closes the channel');
      assert.equal(sha256(readFileSync(output)), sha256(readFileSync(input)));
      assert.equal(channel.closed, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('object-mode streams keep order and bound every buffer when the consumer is slow', async () => {
    // No defect is behind the count: 200 messages of ~1 KiB are over six
    // times what the ring and both buffers hold, so the bounds are met throughout.
    const COUNT = budget(200, 600);
    const HIGH_WATER = 8;
    using channel = Channel.create({ capacity: 1 << 14, autoRemove: true, codec: 'json' });
    using status = SharedMemory.create({ size: 8 });
    status.remove();
    const counter = new Int32Array(status.buffer);
    const sending = tasks.run(
      `
      import { once } from 'node:events';
      import { finished } from 'node:stream/promises';
      import { Channel, SharedMemory } from 'SHMKIT';
      const [id, statusId, count, highWater] = process.argv.slice(1).map(Number);
      const channel = Channel.open({ id, codec: 'json' });
      const status = new Int32Array(SharedMemory.open({ id: statusId }).buffer);
      const writable = channel.sender().writable({ highWaterMark: highWater });
      let most = 0;
      for (let seq = 0; seq < count; seq++) {
        // The callback runs once the message is in the ring.
        const more = writable.write({ seq, body: 'b'.repeat(1000) }, () => Atomics.store(status, 0, seq + 1));
        most = Math.max(most, writable.writableLength);
        if (!more) await once(writable, 'drain');
      }
      writable.end();
      await finished(writable);
      console.log(JSON.stringify({ most }));
      `,
      [String(channel.id), String(status.id), String(COUNT), String(HIGH_WATER)],
    );
    const readable = channel.receiver().readable({ highWaterMark: HIGH_WATER });
    assert.equal(readable.readableObjectMode, true);
    // Messages of ~1 KiB: the ring holds at most this many.
    const inRing = Math.floor(channel.capacity / 1024);
    let next = 0;
    let mostAhead = 0;
    for await (const value of readable) {
      assert.deepEqual(value, { seq: next, body: 'b'.repeat(1000) });
      next++;
      assert.ok(readable.readableLength <= HIGH_WATER, `the Readable buffers ${readable.readableLength}`);
      const ahead = Atomics.load(counter, 0) - next;
      mostAhead = Math.max(mostAhead, ahead);
      // Committed but not consumed: in the ring, in the Readable's buffer, or being taken.
      assert.ok(ahead <= inRing + HIGH_WATER + 1, `the sender is ${ahead} messages ahead of a slow consumer`);
      if (next % 4 === 0) await sleep(2);
    }
    assert.equal(next, COUNT, 'the Readable ended once the channel was closed and drained');
    const sent = await sending;
    assertExitedCleanly(sent);
    assert.ok(lastJson<{ most: number }>(sent).most <= HIGH_WATER, 'the Writable buffered at most its high-water mark');
    // The sender really was held back (else the bound above proved nothing).
    assert.ok(mostAhead >= inRing / 2, `the sender got at most ${mostAhead} ahead`);
  });

  it('a sender that dies destroys the Readable with ERR_CHANNEL_PEER_DEAD after its messages', async () => {
    using channel = Channel.create({ capacity: 1 << 14, autoRemove: true, codec: 'text' });
    const readable = channel.receiver().readable();
    const result = await runNode(
      `
      import { Channel } from 'SHMKIT';
      const sender = Channel.open({ id: Number(process.argv[1]) }).sender();
      for (let i = 0; i < 10; i++) await sender.send('message ' + i);
      process.kill(process.pid, 'SIGKILL');
      `,
      [String(channel.id)],
    );
    assert.equal(result.signal, 'SIGKILL');
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const text of readable) got.push(text as string);
      })(),
      (error: unknown) => error instanceof ChannelError && error.code === 'ERR_CHANNEL_PEER_DEAD',
    );
    assert.deepEqual(
      got,
      Array.from({ length: 10 }, (_, i) => `message ${i}`),
    );
    assert.equal(readable.destroyed, true);
  });

  it('emits messages as events, then end and close', async () => {
    using channel = Channel.create({ capacity: 1 << 14, autoRemove: true, codec: 'v8' });
    const events = channel.receiver().events();
    const got: unknown[] = [];
    const order: string[] = [];
    events.on('message', (value) => got.push(value));
    events.on('end', () => order.push('end'));
    const closed = once(events, 'close').then(() => order.push('close'));
    const result = await tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const channel = Channel.open({ id: Number(process.argv[1]) });
      const sender = channel.sender();
      for (let i = 0; i < 50; i++) await sender.send({ i, at: new Date(i) });
      channel.close();
      channel.detach();
      `,
      [String(channel.id)],
    );
    assertExitedCleanly(result);
    await closed;
    assert.deepEqual(
      got,
      Array.from({ length: 50 }, (_, i) => ({ i, at: new Date(i) })),
    );
    assert.deepEqual(order, ['end', 'close']);
  });
});

describe('Channel streams within a process', { timeout: 30_000 }, () => {
  it('takes nothing before a message listener, and an aborted signal stops the events and leaves the rest', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    const sender = channel.sender();
    const receiver = channel.receiver();
    const stop = new AbortController();
    const events = receiver.events({ signal: stop.signal });
    for (let i = 0; i < 5; i++) sender.trySend(i);
    await sleep(20);
    const got: unknown[] = [];
    let ended = false;
    events.on('end', () => (ended = true));
    const closed = once(events, 'close');
    events.on('message', (value) => {
      got.push(value);
      if (got.length === 2) stop.abort();
    });
    await closed;
    assert.deepEqual(got, [0, 1]);
    assert.equal(ended, false);
    assert.equal(receiver.tryRecv(), 2, 'messages not taken stay in the ring');
  });

  it('events() takes messages only while a message listener is there: once() and off() leave the rest in the ring', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    const sender = channel.sender();
    const receiver = channel.receiver();
    for (let i = 0; i < 6; i++) sender.trySend(i);
    const stop = new AbortController();
    const events = receiver.events({ signal: stop.signal });
    // once() adds a listener and removes it after one message: the others are not taken for nobody.
    const [first] = await once(events, 'message');
    assert.equal(first, 0);
    await sleep(20);
    const got: unknown[] = [];
    const listener = (value: unknown) => {
      got.push(value);
      if (got.length === 2) events.off('message', listener);
    };
    // A listener added later takes up where the last one stopped.
    events.on('message', listener);
    await sleep(20);
    assert.deepEqual(got, [1, 2]);
    assert.equal(receiver.tryRecv(), 3, 'messages after the last listener went stay in the ring');
    // Removed while waiting for a message: the wait gives up, and a message sent after stays.
    const later: unknown[] = [];
    const late = (value: unknown) => void later.push(value);
    events.on('message', late);
    await sleep(20);
    assert.deepEqual(later, [4, 5]);
    events.off('message', late);
    await sleep(10);
    sender.trySend('kept');
    await sleep(20);
    assert.equal(later.length, 2);
    assert.equal(receiver.tryRecv(), 'kept');
    // Aborted while there is no listener: it emits 'close' and nothing more.
    const closed = new Promise<void>((resolve) => events.on('close', () => resolve()));
    stop.abort();
    assert.equal(await settledWithin(closed, 2000), 'resolved');
  });

  it('an events() emitter whose message listener was removed lets its process exit', { timeout: 20_000 }, async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    const result = await runNode(
      `
      import { Channel } from 'SHMKIT';
      const channel = Channel.open({ id: Number(process.argv[1]), codec: 'json' });
      const events = channel.receiver().events();
      const listener = () => {};
      events.on('message', listener);
      // Off while it waits for a message: the wait ends, and nothing holds the event loop.
      setTimeout(() => events.off('message', listener), 50);
      `,
      [String(channel.id)],
      { timeoutMs: 5000 },
    );
    assertExitedCleanly(result);
  });

  it('a Readable or events() whose receiver is detached closes without ending: the rest stays in the open channel', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    using other = Channel.open({ id: channel.id, codec: 'json' });
    const sender = other.sender();
    for (let i = 0; i < 20; i++) sender.trySend(i);
    const got: unknown[] = [];
    const piped = pipeline(
      channel.receiver().readable({ highWaterMark: 1 }),
      new Writable({
        objectMode: true,
        highWaterMark: 1,
        write(value, _encoding, callback) {
          got.push(value);
          setTimeout(callback, 5);
        },
      }),
    );
    await sleep(30);
    channel.detach();
    // Not the end (the channel is open, messages are left): a pipeline must not succeed.
    await assert.rejects(piped, { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    assert.ok(got.length < 20, `the Writable got ${got.length}`);
    assert.equal(other.closed, false);
    const receiver = other.receiver();
    const rest = receiver.tryRecv();
    assert.ok(typeof rest === 'number' && rest > (got.at(-1) as number), 'the rest is still in the ring');

    // The same for events(): 'close' without 'end'.
    const events = receiver.events();
    const order: string[] = [];
    events.on('end', () => order.push('end'));
    events.on('error', (error) => order.push(`error ${(error as Error).message}`));
    const closed = new Promise<void>((resolve) => events.on('close', () => resolve()));
    events.on('message', () => {
      if (order.push('message') === 2) other.detach();
    });
    await closed;
    assert.deepEqual(order, ['message', 'message']);
  });

  it('a byte-mode Readable ends at close; a Writable with closeChannel false leaves the channel open and closes its sender', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const sender = channel.sender();
    const readable = channel.receiver().readable();
    assert.equal(readable.readableObjectMode, false);
    await pipeline(Readable.from(['ab', 'cd', new Uint8Array([0x65])]), sender.writable({ closeChannel: false }));
    assert.equal(channel.closed, false);
    assert.equal(sender.closed, true, 'a finished Writable frees its sender slot');
    channel.sender().trySend('f');
    channel.close();
    const chunks: Buffer[] = [];
    for await (const chunk of readable) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'abcdef');
  });

  it('a message that decodes to null destroys a Readable with ChannelError ERR_CHANNEL_DECODE, which streams cannot carry', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    channel.sender().trySend(null);
    const readable = channel.receiver().readable();
    readable.resume();
    const [error] = (await once(readable, 'error')) as [Error];
    assert.ok(error instanceof ChannelError && error.code === 'ERR_CHANNEL_DECODE', String(error));
  });

  it('a Readable destroyed while waiting leaves the next message in the ring', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'text' });
    const receiver = channel.receiver();
    const readable = receiver.readable();
    readable.resume();
    await sleep(10);
    readable.destroy();
    await once(readable, 'close');
    channel.sender().trySend('kept');
    assert.equal(await receiver.recv({ timeoutMs: 1000 }), 'kept');
  });

  it('events() keeps working after removeAllListeners(), with or without a name: it stops taking, and a new listener starts it again', async () => {
    for (const name of [undefined, 'message', 'newListener', 'removeListener'] as const) {
      const what = `removeAllListeners(${name ?? ''})`;
      using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
      const sender = channel.sender();
      const events = channel.receiver().events();
      const got: string[] = [];
      const first = (value: unknown) => void got.push(`first ${value}`);
      events.on('message', first);
      sender.trySend(1);
      await once(events, 'message');
      if (name === undefined) events.removeAllListeners();
      else events.removeAllListeners(name);
      // What removeAllListeners('newListener' or 'removeListener') left: the last message listener goes.
      events.off('message', first);
      sender.trySend(2);
      // Time for an emitter that still takes to lose the message (to nobody); one that stopped leaves it in the ring.
      await sleep(20);
      events.on('message', (value) => void got.push(`second ${value}`));
      sender.trySend(3);
      channel.close();
      assert.equal(await settledWithin(once(events, 'end'), 5000), 'resolved', `${what}: a new listener gets the messages`);
      assert.deepEqual(got, ['first 1', 'second 2', 'second 3'], what);
    }
  });

  it('events(): a message that came just as the last listener went goes to the next listener, not to nobody', async () => {
    // The listener goes 0 to 7 microtasks after it came: before the message is taken, between the take and its emit, or after.
    for (let hops = 0; hops < 8; hops++) {
      using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
      const sender = channel.sender();
      const events = channel.receiver().events();
      sender.trySend('a');
      const got: string[] = [];
      const first = (value: unknown) => void got.push(`first ${value}`);
      events.on('message', first);
      for (let i = 0; i < hops; i++) await null;
      events.off('message', first);
      // Every microtask runs: the message is emitted, or still in the ring, by now.
      await new Promise(setImmediate);
      sender.trySend('b');
      channel.close();
      events.on('message', (value) => void got.push(`second ${value}`));
      await once(events, 'end');
      assert.deepEqual(
        got.map((entry) => entry.split(' ')[1]),
        ['a', 'b'],
        `off() after ${hops} microtasks: ${got.join(', ')}`,
      );
    }
  });

  it('events(): a message that came just as the last listener went stays in the channel when the signal aborts or the receiver is disposed of', async () => {
    // As above, then no new listener: the emitter stops. The message was emitted, or is still there to receive.
    for (const how of ['abort', 'dispose'] as const) {
      for (let hops = 0; hops < 8; hops++) {
        using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
        const sender = channel.sender();
        const controller = new AbortController();
        const receiver = channel.receiver();
        const events = receiver.events({ signal: controller.signal });
        sender.trySend('a');
        const got: unknown[] = [];
        const first = (value: unknown) => void got.push(value);
        events.on('message', first);
        for (let i = 0; i < hops; i++) await null;
        events.off('message', first);
        await new Promise(setImmediate);
        if (how === 'abort') {
          const closed = once(events, 'close');
          controller.abort();
          await closed;
        } else {
          // (An emitter that waits for a listener sees the disposal only when one comes.)
          receiver[Symbol.dispose]();
        }
        const next = how === 'abort' ? receiver : channel.receiver();
        const left = next.tryRecv();
        assert.deepEqual([...got, ...(left === null ? [] : [left])], ['a'], `${how} after off() ${hops} microtasks after on()`);
      }
    }
  });

  it('a destroyed Writable closes its sender, freeing its slot, and leaves the channel open', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    const receiver = channel.receiver();

    // destroy() while a write waits for room: that message is not sent, the sender is closed.
    const sender = channel.sender();
    const writable = sender.writable();
    let sent = 0;
    while (sender.trySend({ sent, body: 'x'.repeat(100) })) sent++;
    // Longer than the one that did not fit: it waits.
    writable.write({ waiting: true, body: 'x'.repeat(200) });
    writable.destroy();
    await once(writable, 'close');
    assert.equal(sender.closed, true);
    assert.equal(channel.closed, false, 'destroying is not the end of the channel');

    // Destroyed by pipeline() when its source fails.
    const other = channel.sender();
    const failing = Readable.from(
      (async function* () {
        yield { piped: 1 };
        throw new Error('source failed');
      })(),
    );
    await assert.rejects(pipeline(failing, other.writable()), /source failed/);
    assert.equal(other.closed, true);
    assert.equal(channel.closed, false);

    const received: unknown[] = [];
    for (let value: unknown; (value = receiver.tryRecv()) !== null; ) received.push(value);
    assert.equal(received.length, sent + 1, 'the waiting write was dropped, the piped one arrived');
    assert.deepEqual(received.at(-1), { piped: 1 });

    // More destroyed Writables than the segment's sender table has slots (256): each freed its own.
    for (let i = 0; i < 300; i++) {
      const each = channel.sender().writable();
      each.destroy();
      await once(each, 'close');
    }
    const last = channel.sender();
    last.trySend('still open');
    channel.close();
    assert.equal(await receiver.recv(), 'still open');
  });
});
