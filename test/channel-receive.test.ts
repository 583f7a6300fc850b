// Receiving without allocating (tryRecvInto/recvInto), many messages per
// wake-up (recvBatch, drain), large copies, and senders that hand over data
// that is not what it claims to be.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Channel, ChannelError, type Receiver } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson } from './helpers/processes.js';

// The other processes only open a channel and send: programs of one peer process.
// (Registered before assertNoLeaks(), so the child ends before the count.)
const tasks = peer();
after(() => tasks.end());
assertNoLeaks();

const bytes = (...values: number[]) => new Uint8Array(values);

describe('Channel receives into a buffer of the caller', { timeout: 60_000 }, () => {
  it('tryRecvInto copies the next message to the start of the target and returns its length, null when empty', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    const target = new Uint8Array(8).fill(0xee);
    assert.equal(receiver.tryRecvInto(target), null);
    sender.trySend(bytes(1, 2, 3));
    sender.trySend('');
    assert.equal(receiver.tryRecvInto(target), 3);
    assert.deepEqual([...target], [1, 2, 3, 0xee, 0xee, 0xee, 0xee, 0xee], 'only the message’s bytes are written');
    assert.equal(receiver.tryRecvInto(target), 0, 'an empty message has length 0');
    assert.equal(receiver.tryRecvInto(target), null);
  });

  it('a message larger than the target is a RangeError naming both sizes, and stays in the channel', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    sender.trySend(new Uint8Array(100).fill(5));
    const small = new Uint8Array(10);
    assert.throws(
      () => receiver.tryRecvInto(small),
      (error: unknown) =>
        error instanceof RangeError &&
        (error as { code?: string }).code === 'ERR_OUT_OF_RANGE' &&
        /100 bytes .* 10 bytes/.test(error.message),
    );
    await assert.rejects(receiver.recvInto(small), RangeError);
    const large = new Uint8Array(128);
    assert.equal(receiver.tryRecvInto(large), 100, 'the message was left for a larger target');
    assert.ok(large.subarray(0, 100).every((b) => b === 5));
    assert.equal(receiver.tryRecv(), null);
  });

  it('rejects a target that is not a Uint8Array before taking anything', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    channel.sender().trySend(bytes(1));
    for (const target of [null, undefined, [1, 2], new Uint16Array(4), 'abc']) {
      assert.throws(() => receiver.tryRecvInto(target as unknown as Uint8Array), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    assert.deepEqual([...receiver.tryRecv()!], [1]);
  });

  it('a detached target is an ERR_INVALID_ARG_VALUE, even for an empty message, which stays in the channel', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const detached = () => {
      const buffer = new ArrayBuffer(8);
      const view = new Uint8Array(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      return view;
    };
    channel.sender().trySend('');
    const refusal = {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The argument 'target' is invalid: its ArrayBuffer is detached/,
    };
    assert.throws(() => receiver.tryRecvInto(detached()), refusal);
    await assert.rejects(receiver.recvInto(detached(), { timeoutMs: 1000 }), refusal);
    // Transferred while recvInto waits: refused when the message comes.
    assert.equal(receiver.tryRecvInto(new Uint8Array(8)), 0, 'the empty message was still there');
    const target = new Uint8Array(8);
    const waiting = receiver.recvInto(target, { timeoutMs: 5000 });
    structuredClone(target.buffer, { transfer: [target.buffer] });
    channel.sender().trySend('');
    await assert.rejects(waiting, refusal);
    assert.equal(receiver.tryRecv()?.length, 0, 'and this one stays too');
  });

  it('recvInto waits for a message from another process, honours timeoutMs, and allocates nothing per message', async () => {
    using channel = Channel.create({ capacity: 1 << 16, autoRemove: true });
    const receiver = channel.receiver();
    const target = new Uint8Array(64);
    await assert.rejects(receiver.recvInto(target, { timeoutMs: 20 }), { code: 'ETIMEDOUT' });
    const count = 2000;
    const child = tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const sender = Channel.open({ id: Number(process.argv[1]) }).sender();
      for (let i = 0; i < ${count}; i++) await sender.send(new Uint32Array([i, i * 7]), { timeoutMs: 20000 });
      sender.close();
      `,
      [String(channel.id)],
    );
    const words = new Uint32Array(target.buffer);
    for (let i = 0; i < count; i++) {
      const length = receiver.tryRecvInto(target) ?? (await receiver.recvInto(target, { timeoutMs: 20_000 }));
      assert.equal(length, 8);
      assert.deepEqual([words[0], words[1]], [i, i * 7]);
    }
    assertExitedCleanly(await child);
  });

  it('recvBatch waits for the first message, then takes what is there, up to max', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    const later = receiver.recvBatch({ max: 3, timeoutMs: 5000 });
    setTimeout(() => {
      for (let i = 0; i < 5; i++) sender.trySend(bytes(i));
    }, 10);
    const first = await later;
    assert.ok(first.length >= 1 && first.length <= 3);
    const rest = await receiver.recvBatch({ max: 10 });
    assert.deepEqual(
      [...first, ...rest].map((m) => m[0]),
      [0, 1, 2, 3, 4],
    );
    await assert.rejects(receiver.recvBatch({ timeoutMs: 10 }), { code: 'ETIMEDOUT' });
    await assert.rejects(receiver.recvBatch({ max: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('drain hands each message over in place and releases it after the call; a throwing handler stops it', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    for (let i = 0; i < 6; i++) sender.trySend(bytes(i, i));
    const seen: number[] = [];
    assert.equal(
      receiver.drain((data) => {
        assert.ok(data.buffer.byteLength > 4096, 'a view of the segment');
        seen.push(data[0]!);
      }, 2),
      2,
    );
    assert.throws(
      () =>
        receiver.drain(() => {
          throw new Error('handler failed');
        }),
      /handler failed/,
    );
    assert.equal(
      receiver.drain((data) => seen.push(data[0]!)),
      3,
    );
    assert.deepEqual(seen, [0, 1, 3, 4, 5], 'message 2 was received by the handler that threw');
    assert.equal(
      receiver.drain(() => assert.fail('empty')),
      0,
    );
  });

  it('a drain handler that disposes of its receiver ends the drain there, like PubSub, and its message is not received again', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const sender = channel.sender();
    for (let i = 0; i < 3; i++) sender.trySend(bytes(i, i));
    const receiver = channel.receiver();
    const seen: number[] = [];
    assert.equal(
      receiver.drain((data) => {
        seen.push(data[0]!);
        receiver[Symbol.dispose]();
      }),
      1,
    );
    assert.deepEqual(seen, [0]);
    assert.throws(() => receiver.drain(() => {}), { code: 'ERR_CHANNEL_CLOSED', message: /drain: the receiver is detached/ });
    // The handler had message 0: the next receiver starts after it (it was given message 0 again).
    const next = channel.receiver();
    assert.deepEqual([next.tryRecv()?.[0], next.tryRecv()?.[0], next.tryRecv()], [1, 2, null]);
  });

  it('a drain handler that detaches its channel has received its message: a receiver elsewhere gets the next one', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    using other = Channel.open({ id: channel.id });
    const sender = other.sender();
    for (let i = 0; i < 3; i++) sender.trySend(bytes(i));
    const seen: number[] = [];
    assert.equal(
      channel.receiver().drain((data) => {
        seen.push(data[0]!);
        channel.detach();
      }),
      1,
    );
    const next = other.receiver();
    assert.deepEqual([seen[0], next.tryRecv()?.[0], next.tryRecv()?.[0], next.tryRecv()], [0, 1, 2, null]);
  });

  it('a view still held when its receiver is disposed of counts as received; its release() is then a no-op', async () => {
    for (const viewOf of [(r: Receiver) => r.tryRecvView()!, (r: Receiver) => r.recvView()]) {
      using channel = Channel.create({ capacity: 4096, autoRemove: true });
      const sender = channel.sender();
      for (let i = 0; i < 3; i++) sender.trySend(bytes(i));
      const receiver = channel.receiver();
      const view = await viewOf(receiver);
      assert.equal(view.data[0], 0);
      receiver[Symbol.dispose]();
      // The next receiver was given message 0 again.
      const next = channel.receiver();
      assert.equal(next.tryRecv()?.[0], 1);
      view.release();
      assert.deepEqual([next.tryRecv()?.[0], next.tryRecv()], [2, null], 'a late release() takes nothing from the next receiver');
    }
  });

  it('recvBatch() and messages().next() take their message when called: a detach right after, or a receive in between, cannot meet it half taken', async () => {
    const takers = [
      async (r: Receiver) => (await r.recvBatch({ max: 1 }))[0]!,
      async (r: Receiver) => (await r.messages().next()).value as Uint8Array,
    ];
    for (const take of takers) {
      // A detach of the channel one microtask after the call: it was V8's
      // TypeError ERR_INVALID_ARG_TYPE, the position read from the emptied segment.
      {
        using channel = Channel.create({ capacity: 4096, autoRemove: true });
        using other = Channel.open({ id: channel.id });
        const sender = other.sender();
        for (let i = 0; i < 2; i++) sender.trySend(bytes(i));
        const taken = take(channel.receiver());
        channel.detach();
        assert.equal((await taken)[0], 0);
        const next = other.receiver();
        assert.deepEqual([next.tryRecv()?.[0], next.tryRecv()], [1, null], 'message 0 arrived once');
      }
      // A receive in between: it got the same message, and the late take's
      // release() then skipped the next one.
      {
        using channel = Channel.create({ capacity: 4096, autoRemove: true });
        const sender = channel.sender();
        for (let i = 0; i < 3; i++) sender.trySend(bytes(i));
        const receiver = channel.receiver();
        const taken = take(receiver);
        const between = receiver.tryRecv()?.[0];
        assert.deepEqual([(await taken)[0], between, receiver.tryRecv()?.[0], receiver.tryRecv()], [0, 1, 2, null]);
      }
    }
  });

  it('a receive from inside a drain handler is ERR_CHANNEL_BUSY: the message in hand is never taken twice', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    for (let i = 0; i < 3; i++) sender.trySend(bytes(i, i));
    const seen: number[] = [];
    const refused: string[] = [];
    receiver.drain((data) => {
      seen.push(data[0]!);
      for (const attempt of [() => receiver.tryRecv(), () => receiver.tryRecvView(), () => receiver.drain(() => {})]) {
        assert.throws(attempt, (error: Error & { code?: string }) => {
          refused.push(error.message);
          return error.code === 'ERR_CHANNEL_BUSY' && /drain\(\) is handing a message to its handler/.test(error.message);
        });
      }
    }, 1);
    assert.equal(refused.length, 3);
    assert.deepEqual(
      [seen[0], receiver.tryRecv()?.[0], receiver.tryRecv()?.[0], receiver.tryRecv()],
      [0, 1, 2, null],
      'every message once, in order',
    );
  });

  it('recv copies large messages out intact into a plain Uint8Array of their own', async () => {
    using channel = Channel.create({ capacity: 1 << 22, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    for (const size of [0, 1, 65535, 65536, 1 << 20]) {
      const message = Uint8Array.from({ length: size }, (_, i) => (i * 13 + size) & 0xff);
      await sender.send(message);
      const got = await receiver.recv();
      assert.equal(Object.getPrototypeOf(got), Uint8Array.prototype);
      assert.equal(got.byteOffset, 0);
      assert.equal(got.buffer.byteLength, size, 'its own buffer, exactly the message');
      assert.deepEqual(got, message);
    }
  });
});

describe('Channel calls made wrongly get coded errors', { timeout: 60_000 }, () => {
  it('receiving with options that are not an object, and closing after detach, are coded errors', async () => {
    const channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    for (const options of [null, 5, 'x']) {
      await assert.rejects(receiver.recvView(options as never), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(receiver.recv(options as never), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    channel.detach();
    assert.throws(
      () => receiver.close(),
      (error: unknown) => error instanceof ChannelError && error.code === 'ERR_CHANNEL_CLOSED',
    );
    assert.throws(
      () => receiver.tryRecv(),
      (error: unknown) => error instanceof ChannelError && error.code === 'ERR_CHANNEL_CLOSED',
    );
  });
});

describe('Channel.closed after detach', { timeout: 60_000 }, () => {
  it('reads true on the channel and its endpoints once it is detached, although the channel stays open for others', () => {
    // It read false on the channel, and receiver.closed was V8's uncoded TypeError (an Atomics.load on the detached segment).
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    using other = Channel.open({ id: channel.id });
    const receiver = channel.receiver();
    const sender = channel.sender();
    assert.deepEqual([channel.closed, receiver.closed, sender.closed], [false, false, false]);
    channel.detach();
    assert.deepEqual([channel.closed, receiver.closed, sender.closed], [true, true, true]);
    assert.throws(() => channel.sender(), { name: 'ChannelError', code: 'ERR_CHANNEL_CLOSED', message: /detached/ });
    // Detached here only: the channel itself is open, and another object of it says so.
    assert.equal(other.closed, false);
    const next = other.receiver();
    assert.equal(next.closed, false);
    // A receiver disposed of reads closed like a closed sender, its channel still attached.
    next[Symbol.dispose]();
    assert.equal(next.closed, true);
    assert.equal(other.closed, false);
    other.close();
    assert.equal(other.closed, true);
  });
});

describe('Channel waits check their options first, even when they would not wait', { timeout: 60_000 }, () => {
  it('an already aborted signal rejects at once with AbortError: nothing is sent, reserved or taken although there is room and a message', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const sender = channel.sender();
    const receiver = channel.receiver();
    sender.trySend(bytes(1));
    const signal = AbortSignal.abort(new Error('shutting down'));
    const isAbort = (error: unknown) =>
      error instanceof DOMException && error.name === 'AbortError' && (error.cause as Error).message === 'shutting down';
    await assert.rejects(sender.send(bytes(2), { signal }), isAbort);
    await assert.rejects(sender.reserve(8, { signal }), isAbort);
    await assert.rejects(receiver.recv({ signal }), isAbort);
    await assert.rejects(receiver.recvInto(new Uint8Array(8), { signal }), isAbort);
    await assert.rejects(receiver.recvView({ signal }), isAbort);
    await assert.rejects(receiver.recvBatch({ signal }), isAbort);
    // No reservation was left behind, and the one message is still the only one.
    assert.ok(sender.tryReserve(8));
    sender.discard();
    assert.deepEqual([...(receiver.tryRecv() ?? [])], [1]);
    assert.equal(receiver.tryRecv(), null);
  });

  it('a timeoutMs or signal that is not valid is a coded error although there is room and a message', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const sender = channel.sender();
    const receiver = channel.receiver();
    sender.trySend(bytes(1));
    for (const [options, code] of [
      [{ timeoutMs: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ timeoutMs: '5' }, 'ERR_INVALID_ARG_TYPE'],
      [{ signal: {} }, 'ERR_INVALID_ARG_TYPE'],
      [null, 'ERR_INVALID_ARG_TYPE'],
    ] as const) {
      await assert.rejects(sender.send(bytes(2), options as never), { code }, `send ${JSON.stringify(options)}`);
      await assert.rejects(receiver.recv(options as never), { code }, `recv ${JSON.stringify(options)}`);
    }
    assert.deepEqual([...(receiver.tryRecv() ?? [])], [1]);
    assert.equal(receiver.tryRecv(), null);
  });
});

describe('Channel options that are an array', { timeout: 60_000 }, () => {
  it('are an ERR_INVALID_ARG_TYPE in every send and receive, as Node refuses them, and nothing is sent or taken', async () => {
    // send, reserve, recv, recvInto and recvView took [] for {}.
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const sender = channel.sender();
    const receiver = channel.receiver();
    sender.trySend(bytes(1));
    const refused = {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: /^The "options" argument must be of type object\. Received an array of length 0$/,
    };
    const array = [] as never;
    await assert.rejects(sender.send(bytes(2), array), refused, 'send');
    await assert.rejects(sender.reserve(8, array), refused, 'reserve');
    await assert.rejects(receiver.recv(array), refused, 'recv');
    await assert.rejects(receiver.recvInto(new Uint8Array(8), array), refused, 'recvInto');
    await assert.rejects(receiver.recvView(array), refused, 'recvView');
    await assert.rejects(receiver.recvBatch(array), refused, 'recvBatch');
    assert.throws(() => receiver.messages(array), refused, 'messages');
    assert.throws(() => receiver.readable(array), refused, 'readable');
    assert.throws(() => receiver.events(array), refused, 'events');
    assert.throws(() => sender.writable(array), refused, 'writable');
    assert.ok(sender.tryReserve(8), 'no reservation was left behind');
    sender.discard();
    assert.deepEqual([...(receiver.tryRecv() ?? [])], [1]);
    assert.equal(receiver.tryRecv(), null);
  });
});

describe('Channel senders refuse data that is not what it claims, and never wedge the ring', { timeout: 60_000 }, () => {
  it('a detached buffer is a TypeError before anything is claimed; the channel goes on', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    const buffer = new ArrayBuffer(16);
    const views = [new Uint8Array(buffer), new Float64Array(buffer), new DataView(buffer)];
    structuredClone(buffer, { transfer: [buffer] });
    assert.throws(() => sender.trySend(buffer), { code: 'ERR_INVALID_ARG_TYPE' });
    for (const view of views) assert.throws(() => sender.trySend(view), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(sender.send(views[2]!), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.ok(sender.trySend(bytes(7)));
    assert.deepEqual([...receiver.tryRecv()!], [7]);
  });

  it('a SharedArrayBuffer, or a view of one, is sent as its bytes (it was V8’s TypeError without a code)', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    const shared = new SharedArrayBuffer(6);
    new Uint8Array(shared).set([1, 2, 3, 4, 5, 6]);
    assert.ok(sender.trySend(shared));
    await sender.send(new Uint8Array(shared, 2, 3));
    assert.deepEqual([...receiver.tryRecv()!], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...receiver.tryRecv()!], [3, 4, 5]);
  });

  it('a byteLength that lies is ignored: the message is the view’s real bytes, and nothing past its record is written', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    const liar = new Uint8Array(32).fill(9);
    Object.defineProperty(liar, 'byteLength', { value: 4 });
    Object.defineProperty(liar, 'length', { value: 4 });
    assert.ok(sender.trySend(liar));
    assert.ok(sender.trySend(bytes(1, 2)));
    assert.equal(receiver.tryRecv()!.byteLength, 32);
    assert.deepEqual([...receiver.tryRecv()!], [1, 2]);
  });

  it('data whose buffer is detached while send() waits for room abandons nothing and rejects', async () => {
    using channel = Channel.create({ capacity: 256, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    while (sender.trySend(new Uint8Array(100)));
    const buffer = new ArrayBuffer(100);
    const pending = sender.send(new Uint8Array(buffer), { timeoutMs: 5000 });
    structuredClone(buffer, { transfer: [buffer] });
    for (let m: Uint8Array | null; (m = receiver.tryRecv()); ) assert.equal(m.byteLength, 100);
    await assert.rejects(pending, { code: 'ERR_INVALID_ARG_TYPE' });
    assert.ok(sender.trySend(bytes(3)), 'the ring is not wedged');
    assert.deepEqual([...receiver.tryRecv()!], [3]);
  });

  it('a sender process that throws mid-send does not stop another sender’s messages', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const child = tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const sender = Channel.open({ id: Number(process.argv[1]) }).sender();
      const buffer = new ArrayBuffer(8);
      const view = new Float64Array(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      let code;
      try { sender.trySend(view); } catch (error) { code = error.code; }
      sender.trySend('after');
      console.log(JSON.stringify({ code }));
      // Stays alive, holding its sender, while the parent receives.
      await new Promise((resolve) => setTimeout(resolve, 300));
      `,
      [String(channel.id)],
    );
    const message = await receiver.recv({ timeoutMs: 10_000 });
    assert.equal(new TextDecoder().decode(message), 'after');
    const result = await child;
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.ok(!(message instanceof ChannelError));
  });
});

describe('Channel with a sender that gives up reservations as fast as room comes', { timeout: 60_000 }, () => {
  it('never takes the ring for corrupt: every message comes, in order', async () => {
    // Each record skipped frees room that the sender fills with another
    // abandoned one at once: a receiver that bounded its skipping by the
    // ring's size called a valid ring corrupt (ERR_CHANNEL_FORMAT). In spin
    // mode the receiver skips records as soon as they are given up, and the
    // sender finds room as soon as it is freed: the race, without a futex
    // wake-up per message (adaptive mode sent some 3,500 messages for the
    // 20,000 records given up, spin about 100).
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json', wait: 'spin' });
    const receiver = channel.receiver();
    const sending = tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const channel = Channel.open({ id: Number(process.argv[1]), codec: 'json' });
      const sender = channel.sender();
      // Until it gave up enough (a fixed time gave fewer on a busy machine), within a generous cap.
      const end = Date.now() + 20_000;
      let seq = 0, discarded = 0;
      for (let k = 0; discarded < 20_000 && Date.now() < end; ) {
        for (let i = 0; i < 1000; i++) {
          if (sender.tryReserve(((k++ * 2654435761) >>> 0) % 2500)) {
            sender.discard();
            discarded++;
          }
        }
        await sender.send(seq++);
      }
      channel.close();
      channel.detach();
      console.log(JSON.stringify({ sent: seq, discarded }));
      `,
      [String(channel.id)],
    );
    const got: unknown[] = [];
    for await (const value of receiver.messages()) got.push(value);
    const result = await sending;
    assertExitedCleanly(result);
    const { sent, discarded } = lastJson<{ sent: number; discarded: number }>(result);
    assert.ok(discarded >= 20_000, `the sender gave up ${discarded} reservations`);
    assert.deepEqual(
      got,
      Array.from({ length: sent }, (_, i) => i),
    );
  });
});
