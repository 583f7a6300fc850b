// PubSub across real processes: fan-out with exact in-order delivery, late
// subscribers, backpressure, the drop-oldest policy's exact missed count,
// codecs recorded in the segment, and argument checks.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, describe, it } from 'node:test';
import { Channel, ChannelError, IpcError, PubSub, SharedMemory } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { type Peer, peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson } from './helpers/processes.js';
import { picky } from './helpers/picky-codec.js';
import { settledWithin } from './helpers/settled.js';
import { budget } from './helpers/soak.js';
import { assertWrapWakesReader } from './helpers/wrap.js';

/**
 * The processes of the tests' child programs, where each program had one of
 * its own (13 -> 5): at most five run at once (two subscribers and three
 * publishers), so five peers, each running the programs given to it in turn.
 * A peer's programs share its copy of the library: each opens the test's
 * PubSub by id. The peers end, detaching what the programs left attached,
 * before the leak check.
 */
const peers = Array.from({ length: 5 }, () => peer({ sharedLibrary: true }));
after(() => Promise.all(peers.map((p) => p.end())));

assertNoLeaks();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A child program, run by `on`, that prints its result as JSON on its last
 * line; `SHMKIT` in code is the package. A test's programs that run at once
 * go to different peers. Each ends once the test's PubSub is closed (a test
 * that fails closes it): nothing else waits for it.
 */
// biome-ignore lint/suspicious/noExplicitAny: a child's JSON, which each test checks field by field
function child(code: string, args: readonly (string | number)[], on: Peer = peers[0]!): { result: Promise<any> } {
  const result = on.run(code, args.map(String), { timeoutMs: 120_000 }).then((run) => {
    assertExitedCleanly(run);
    return lastJson(run);
  });
  result.catch(() => {});
  return { result };
}

/** Waits until `pubsub` has `count` subscribers (children subscribe at their own pace). */
async function subscribers(pubsub: { readonly subscribers: number }, count: number): Promise<void> {
  const giveUp = Date.now() + 20_000;
  while (pubsub.subscribers < count) {
    assert.ok(Date.now() < giveUp, `${count} subscribers came`);
    await sleep(5);
  }
}

/** A subscriber child: reads { from, seq } messages until the PubSub closes; checks order per publisher. */
const SUBSCRIBER = `
  import { PubSub } from 'SHMKIT';
  const pubsub = PubSub.open({ id: Number(process.argv[1]) });
  const subscriber = pubsub.subscriber();
  const next = {};
  let count = 0;
  let error = null;
  for await (const { from, seq } of subscriber) {
    const due = next[from] ?? 0;
    if (seq !== due && error === null) error = 'publisher ' + from + ': message ' + seq + ' arrived when ' + due + ' was due';
    next[from] = seq + 1;
    count++;
  }
  console.log(JSON.stringify({ count, next, error, missed: subscriber.missed }));
`;

describe('PubSub across processes', { timeout: 120_000 }, () => {
  it('fans every message out to every subscriber process, in order, through a ring much smaller than the stream', async () => {
    using pubsub = PubSub.create({ capacity: 4096, codec: 'json', autoRemove: true });
    const children = [0, 1, 2, 3].map((i) => child(SUBSCRIBER, [pubsub.id], peers[i]));
    try {
      await subscribers(pubsub, 4);
      const publisher = pubsub.publisher();
      // npm test's 5,000 records of 48 bytes are still some 60 rings' worth.
      const N = budget(5000, 20_000);
      for (let seq = 0; seq < N; seq++) await publisher.send({ from: 'p', seq });
      pubsub.close();
      for (const { result } of children) {
        const got = await result;
        assert.equal(got.error, null);
        assert.deepEqual([got.count, got.next.p, got.missed], [N, N, 0]);
      }
    } finally {
      pubsub.close(); // ends the children, had the test failed
    }
  });

  it('keeps each publisher’s order with several publisher processes, and every subscriber gets all of them', async () => {
    using pubsub = PubSub.create({ capacity: 2048, codec: 'json', autoRemove: true });
    const subs = [0, 1].map((i) => child(SUBSCRIBER, [pubsub.id], peers[i]));
    const PUBLISHER = `
      import { PubSub } from 'SHMKIT';
      const [id, name, n] = process.argv.slice(1);
      const publisher = PubSub.open({ id: Number(id) }).publisher();
      for (let seq = 0; seq < Number(n); seq++) await publisher.send({ from: name, seq });
      console.log(JSON.stringify({ sent: Number(n) }));
    `;
    // npm test's 3 x 1,250 records of 48 bytes are still some 90 rings' worth.
    const N = budget(1250, 5000);
    try {
      await subscribers(pubsub, 2);
      const pubs = ['a', 'b', 'c'].map((name, i) => child(PUBLISHER, [pubsub.id, name, N], peers[2 + i]));
      for (const { result } of pubs) assert.deepEqual(await result, { sent: N });
      pubsub.close();
      for (const { result } of subs) {
        const got = await result;
        assert.equal(got.error, null);
        assert.deepEqual(got.next, { a: N, b: N, c: N });
        assert.equal(got.count, 3 * N);
      }
    } finally {
      pubsub.close();
    }
  });

  it('gives a late subscriber only the messages published after it subscribed', async () => {
    using pubsub = PubSub.create({ capacity: 4096, codec: 'json', autoRemove: true });
    const early = pubsub.subscriber();
    const publisher = pubsub.publisher();
    for (let seq = 0; seq < 10; seq++) await publisher.send({ from: 'p', seq: seq });
    const late = child(
      `
      import { PubSub } from 'SHMKIT';
      const subscriber = PubSub.open({ id: Number(process.argv[1]) }).subscriber();
      const got = [];
      for await (const { seq } of subscriber) got.push(seq);
      console.log(JSON.stringify(got));
      `,
      [pubsub.id],
    );
    try {
      await subscribers(pubsub, 2);
      for (let seq = 10; seq < 20; seq++) await publisher.send({ from: 'p', seq });
      pubsub.close();
      assert.deepEqual(await late.result, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
      const all: number[] = [];
      for await (const { seq } of early as AsyncIterable<{ seq: number }>) all.push(seq);
      assert.equal(all.length, 20);
    } finally {
      pubsub.close();
    }
  });

  it('holds publishers back while a subscriber process is a ring behind (lossless), and lets them go as it reads', async () => {
    using pubsub = PubSub.create({ capacity: 1024, autoRemove: true });
    using gate = SharedMemory.create({ size: 4, autoRemove: true });
    const go = new Int32Array(gate.buffer);
    const slow = child(
      `
      import { PubSub, SharedMemory } from 'SHMKIT';
      const [id, gateId] = process.argv.slice(1).map(Number);
      const subscriber = PubSub.open({ id }).subscriber();
      const go = new Int32Array(SharedMemory.open({ id: gateId }).buffer);
      while (Atomics.load(go, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const got = [];
      for await (const message of subscriber) got.push(message[0]);
      console.log(JSON.stringify(got));
      `,
      [pubsub.id, gate.id],
    );
    try {
      await subscribers(pubsub, 1);
      const publisher = pubsub.publisher();
      let sent = 0;
      // Bounded: a ring without subscribers never refuses, and the loop would spin for ever.
      while (sent < 64 && publisher.trySend(new Uint8Array([sent, 1, 2, 3]))) sent++;
      assert.ok(sent > 10 && sent < 64, `the ring filled (${sent} messages)`);
      await assert.rejects(publisher.send(new Uint8Array([sent]), { timeoutMs: 150 }), { code: 'ETIMEDOUT' });
      const pending = publisher.send(new Uint8Array([sent]));
      Atomics.store(go, 0, 1);
      await pending;
      sent++;
      pubsub.close();
      assert.deepEqual(
        await slow.result,
        Array.from({ length: sent }, (_, i) => i),
      );
    } finally {
      Atomics.store(go, 0, 2); // lets the child on, had the test failed
      pubsub.close();
    }
  });

  it('with drop-oldest, never waits for a subscriber process, which skips to the oldest message and counts exactly what it missed', async () => {
    using pubsub = PubSub.create({ capacity: 1024, codec: 'json', lag: 'drop-oldest', autoRemove: true });
    using gate = SharedMemory.create({ size: 4, autoRemove: true });
    const go = new Int32Array(gate.buffer);
    const slow = child(
      `
      import { PubSub, SharedMemory } from 'SHMKIT';
      const [id, gateId] = process.argv.slice(1).map(Number);
      const subscriber = PubSub.open({ id }).subscriber();
      const go = new Int32Array(SharedMemory.open({ id: gateId }).buffer);
      const got = [];
      // Reads a few, then falls behind until the publisher is done.
      for (let i = 0; i < 5; i++) got.push(await subscriber.recv());
      Atomics.store(go, 0, 1);
      while (Atomics.load(go, 0) !== 2) await new Promise((resolve) => setTimeout(resolve, 5));
      for await (const value of subscriber) got.push(value);
      console.log(JSON.stringify({ got, missed: subscriber.missed }));
      `,
      [pubsub.id, gate.id],
    );
    try {
      await subscribers(pubsub, 1);
      const publisher = pubsub.publisher();
      const N = 1000;
      for (let i = 0; i < 5; i++) await publisher.send(i);
      while (Atomics.load(go, 0) !== 1) await sleep(5);
      for (let i = 5; i < N; i++) assert.ok(publisher.trySend(i), 'drop-oldest never refuses');
      pubsub.close();
      Atomics.store(go, 0, 2);
      const { got, missed } = await slow.result;
      assert.deepEqual(got.slice(0, 5), [0, 1, 2, 3, 4]);
      const rest: number[] = got.slice(5);
      assert.ok(rest.length > 10 && rest.length < 200, `what fits in the ring is left (${rest.length})`);
      assert.deepEqual(
        rest,
        Array.from({ length: rest.length }, (_, i) => N - rest.length + i),
        'the newest ones, in order',
      );
      assert.equal(missed, N - got.length, 'missed: exactly the messages it did not get');
    } finally {
      Atomics.store(go, 0, 2);
      pubsub.close();
    }
  });

  it('records the codec: an opener with another codec is refused, one without a codec gets the recorded built-in', async () => {
    using pubsub = PubSub.create({ capacity: 4096, codec: 'json', autoRemove: true });
    assert.equal(pubsub.codec, 'json');
    assert.throws(
      () => PubSub.open({ id: pubsub.id }, { codec: 'text' }),
      (error: unknown) => {
        assert.ok(error instanceof ChannelError);
        assert.equal(error.code, 'ERR_CHANNEL_FORMAT');
        assert.match(error.message, /created with codec 'json', not 'text'/);
        return true;
      },
    );
    const result = await child(
      `
      import { PubSub } from 'SHMKIT';
      const id = Number(process.argv[1]);
      let refused = null;
      try { PubSub.open({ id }, { codec: 'v8' }); } catch (error) { refused = error.code; }
      const opened = PubSub.open({ id });
      console.log(JSON.stringify({ refused, codec: opened.codec }));
      `,
      [pubsub.id],
    ).result;
    assert.deepEqual(result, { refused: 'ERR_CHANNEL_FORMAT', codec: 'json' });

    const upper = {
      name: 'upper',
      encode: (s: string) => new TextEncoder().encode(s.toUpperCase()),
      decode: (b: Uint8Array) => new TextDecoder().decode(b),
    };
    using custom = PubSub.create({ capacity: 4096, codec: upper, autoRemove: true });
    assert.throws(() => PubSub.open({ id: custom.id }), /created with codec 'upper'; pass that codec/);
    using same = PubSub.open({ id: custom.id }, { codec: upper });
    const subscriber = same.subscriber();
    await custom.publisher().send('hello');
    assert.equal(await subscriber.recv(), 'HELLO');
  });

  it('opens raw: the encoded bytes of any codec, both ways, and a raw opener takes no codec', async () => {
    const upper = {
      name: 'upper',
      encode: (s: string) => new TextEncoder().encode(s.toUpperCase()),
      decode: (b: Uint8Array) => new TextDecoder().decode(b),
    };
    using custom = PubSub.create({ capacity: 4096, codec: upper, autoRemove: true });
    using raw = PubSub.open({ id: custom.id }, { raw: true });
    assert.equal(raw.codec, 'upper');
    const rawSubscriber = raw.subscriber();
    const subscriber = custom.subscriber();
    await custom.publisher().send('hello');
    assert.deepEqual(await rawSubscriber.recv(), new TextEncoder().encode('HELLO'));
    // Raw bytes published reach a decoding subscriber as they are.
    await raw.publisher().send(new TextEncoder().encode('RAW'));
    assert.equal(await subscriber.recv(), 'HELLO');
    assert.equal(await subscriber.recv(), 'RAW');
    using json = PubSub.create({ capacity: 4096, codec: 'json', autoRemove: true });
    using rawJson = PubSub.open({ id: json.id }, { raw: true });
    const jsonBytes = rawJson.subscriber();
    await json.publisher().send({ a: [1, 2] });
    assert.equal(new TextDecoder().decode(await jsonBytes.recv()), '{"a":[1,2]}');
    assert.throws(() => PubSub.open({ id: json.id }, { raw: true, codec: 'json' }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.raw/,
    });
    assert.throws(() => PubSub.open({ id: json.id }, { raw: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.raw/ });
  });

  it('refuses a segment that is not a PubSub, and bad arguments by name', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    assert.throws(() => PubSub.open({ id: channel.id }), { code: 'ERR_CHANNEL_FORMAT' });
    assert.throws(() => PubSub.create({ capacity: 0 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /options\.capacity/ });
    assert.throws(() => PubSub.create({ capacity: 1024, lag: 'sometimes' as never }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.lag/,
    });
    assert.throws(() => PubSub.create({ capacity: 1024, codec: 'xml' as never }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.codec/,
    });
    assert.throws(() => PubSub.create(null as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(
      () => PubSub.open({ id: -5 }),
      (error: unknown) => error instanceof RangeError || error instanceof IpcError,
    );
  });

  it("lossless, one thread: a message that must go over the ring's end waits for nobody when every subscriber has read everything", async () => {
    // The record needs the subscribers past the padding at the ring's end; one that had read
    // everything stood before it until its next poll, so send(big) then recv() waited for good.
    using pubsub = PubSub.create({ capacity: 4096, autoRemove: true });
    const subscriber = pubsub.subscriber();
    const publisher = pubsub.publisher();
    for (const size of [3000, publisher.maxMessageSize, 2500]) {
      assert.equal(publisher.trySend(new Uint8Array(100)), true);
      assert.equal(subscriber.tryRecv()!.byteLength, 100);
      await publisher.send(new Uint8Array(size).fill(7), { timeoutMs: 5_000 });
      const got = await subscriber.recv({ timeoutMs: 5_000 });
      assert.equal(got.byteLength, size);
      assert.equal(got[size - 1], 7);
    }
    // Still lossless: with the big one unread, another waits (trySend says no).
    assert.equal(publisher.trySend(new Uint8Array(3000)), true);
    assert.equal(publisher.trySend(new Uint8Array(3000)), false);
    assert.equal(subscriber.tryRecv()!.byteLength, 3000);
  });

  it('drains what is there in place (bytes: views of the ring), or as checked copies with drop-oldest', async () => {
    using pubsub = PubSub.create({ capacity: 4096, autoRemove: true });
    const subscriber = pubsub.subscriber();
    const publisher = pubsub.publisher();
    for (let i = 0; i < 5; i++) publisher.trySend(new Uint8Array([i, i]));
    const seen: number[] = [];
    assert.equal(
      subscriber.drain((view) => {
        assert.equal(view.buffer.byteLength > 4096, true, 'a view of the segment, not a copy');
        seen.push(view[0]!);
      }, 3),
      3,
    );
    assert.equal(
      subscriber.drain((view) => seen.push(view[0]!)),
      2,
    );
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    assert.equal(
      subscriber.drain(() => assert.fail('nothing is left')),
      0,
    );
    assert.throws(() => subscriber.drain('no' as never), { code: 'ERR_INVALID_ARG_TYPE', message: /"handler"/ });
    // Refused, not taken for 0: drain(fn, -1) and drain(fn, 'x') returned 0 silently.
    assert.throws(() => subscriber.drain(() => {}, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE', message: /"max"/ });
    assert.throws(() => subscriber.drain(() => {}, -1), { code: 'ERR_OUT_OF_RANGE', message: /"max"/ });
    assert.throws(() => subscriber.drain(() => {}, 1.5), { code: 'ERR_OUT_OF_RANGE', message: /"max"/ });
    publisher.trySend(new Uint8Array([5]));
    publisher.trySend(new Uint8Array([6]));
    assert.throws(() => subscriber.drain(() => subscriber.tryRecv()), { code: 'ERR_CHANNEL_BUSY' }, 'no message is taken twice');
    assert.deepEqual(subscriber.tryRecv(), new Uint8Array([6]), 'the handler’s message counts as received');

    using lossy = PubSub.create({ capacity: 1024, codec: 'json', lag: true, autoRemove: true });
    const behind = lossy.subscriber();
    const sender = lossy.publisher();
    for (let i = 0; i < 100; i++) sender.trySend(i);
    const got: number[] = [];
    behind.drain((value) => got.push(value as number));
    assert.equal(got.at(-1), 99);
    assert.equal(behind.missed + got.length, 100);
  });

  it('drain() keeps a record from publishers while its handler runs, gives room back every quarter ring, and stops when the handler closes the subscriber', () => {
    using pubsub = PubSub.create({ capacity: 4096, autoRemove: true });
    const subscriber = pubsub.subscriber();
    const publisher = pubsub.publisher();
    const message = new Uint8Array(48);
    let published = 0;
    while (publisher.trySend(message.fill(published & 0xff))) published++;
    assert.ok(published > 8, `the ring holds ${published} messages`);
    // Room seen from inside the handler, message by message.
    const room: boolean[] = [];
    const seen: number[] = [];
    let extra = 0;
    const count = subscriber.drain((view) => {
      seen.push(view[0]!);
      if (seen.length > published) return;
      const sent = publisher.trySend(message.fill(0xee));
      room.push(sent);
      if (sent) extra++;
      assert.ok(seen.length > 1 || view[1] === 0, 'the record being handled is never overwritten');
    });
    assert.equal(room[0], false, 'no room while the first record is in the handler');
    const firstRoom = room.indexOf(true);
    assert.ok(firstRoom > 0 && firstRoom < published / 2, `room came back during the drain, after message ${firstRoom} of ${published}`);
    assert.equal(count, published + extra, 'the drain also took what the handler published');
    assert.deepEqual(
      seen.slice(0, published),
      Array.from({ length: published }, (_, i) => i & 0xff),
    );
    assert.equal(publisher.trySend(message), true, 'room once the drain is over');

    // A handler that closes its subscriber ends the drain there: the message is not handed out again.
    publisher.trySend(message);
    const calls: number[] = [];
    assert.equal(
      subscriber.drain((view) => {
        calls.push(view[0]!);
        subscriber.close();
      }),
      1,
    );
    assert.equal(calls.length, 1);
    assert.equal(pubsub.subscribers, 0);
  });

  for (const lag of ['block', 'drop-oldest'] as const) {
    it(`a message its codec cannot decode is ERR_CHANNEL_DECODE, consumed, in tryRecv, recv and drain (${lag})`, async () => {
      using pubsub = PubSub.create({ capacity: 4096, codec: picky, lag, autoRemove: true });
      const subscriber = pubsub.subscriber();
      const publisher = pubsub.publisher();
      for (const value of [0xff, 1, 0xff, 2, 0xff, 3]) assert.ok(publisher.trySend(value));
      const decodeError = {
        code: 'ERR_CHANNEL_DECODE',
        message: /^subscriber: the 'picky' codec could not decode a 1-byte message \(it was consumed\): 0xff is not a value$/,
      };
      assert.throws(() => subscriber.tryRecv(), decodeError);
      assert.equal(subscriber.tryRecv(), 1);
      await assert.rejects(subscriber.recv(), decodeError);
      assert.equal(await subscriber.recv(), 2);
      const drained: number[] = [];
      assert.throws(() => subscriber.drain((value) => drained.push(value)), {
        code: 'ERR_CHANNEL_DECODE',
        message: lag === 'block' ? /^drain: the 'picky' codec/ : /^subscriber: the 'picky' codec/,
      });
      assert.equal(
        subscriber.drain((value) => drained.push(value)),
        1,
      );
      assert.deepEqual(drained, [3]);
    });
  }

  it('makes segments 0600 by default, rejects messages larger than the ring, and refuses endpoints once closed', async () => {
    using pubsub = PubSub.create({ capacity: 256, autoRemove: true });
    using attached = SharedMemory.open({ id: pubsub.id });
    assert.equal(attached.stat().shm_perm.mode & 0o777, 0o600);
    const publisher = pubsub.publisher();
    assert.equal(publisher.maxMessageSize, 256 - 32);
    assert.throws(() => publisher.trySend(new Uint8Array(257)), { name: 'RangeError', message: /"value"/ });
    assert.throws(() => publisher.trySend('text' as never), { code: 'ERR_INVALID_ARG_TYPE' });
    const subscriber = pubsub.subscriber();
    assert.equal(subscriber.tryRecv(), undefined);
    await assert.rejects(subscriber.recv({ timeoutMs: 20 }), { code: 'ETIMEDOUT' });
    const controller = new AbortController();
    const waiting = subscriber.recv({ signal: controller.signal });
    controller.abort();
    await assert.rejects(waiting, { name: 'AbortError' });
    pubsub.close();
    assert.throws(() => pubsub.publisher(), { code: 'ERR_CHANNEL_CLOSED' });
    assert.throws(() => publisher.trySend(new Uint8Array(1)), { code: 'ERR_CHANNEL_CLOSED' });
    await assert.rejects(subscriber.recv(), { code: 'ERR_CHANNEL_CLOSED' });
  });

  // A send that waits copied what its buffer held when room came, measured
  // again: a resizable buffer grown meanwhile was written past its record,
  // into the next message (the subscriber then read a corrupt ring), and a
  // transferred one was published as stale ring bytes.
  for (const [what, change] of [
    ['grows', (buffer: ArrayBuffer) => (buffer as unknown as { resize(length: number): void }).resize(200)],
    ['is transferred', (buffer: ArrayBuffer) => structuredClone(buffer, { transfer: [buffer] })],
  ] as const) {
    it(`a waiting send whose buffer ${what} meanwhile is refused, and its record skipped: nothing else is touched`, async () => {
      using pubsub = PubSub.create({ capacity: 256, autoRemove: true });
      const publisher = pubsub.publisher();
      const subscriber = pubsub.subscriber();
      const full = new Uint8Array(40).fill(7);
      let sent = 0;
      while (publisher.trySend(full)) sent++;
      // ES2024's resizable ArrayBuffer, which the ES2022 lib this project compiles against does not declare.
      const buffer = new (ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer)(40, {
        maxByteLength: 200,
      });
      const view = new Uint8Array(buffer).fill(9);
      const waiting = publisher.send(view);
      change(buffer);
      const received: number[][] = [];
      for (let i = 0; i < sent; i++) received.push([...(await subscriber.recv({ timeoutMs: 5000 }))]);
      await assert.rejects(waiting, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /keeps its size|detached/ });
      await publisher.send(new Uint8Array([1, 2, 3]));
      assert.deepEqual([...(await subscriber.recv({ timeoutMs: 5000 }))], [1, 2, 3], 'the next message, whole');
      assert.ok(received.every((message) => message.length === 40 && message.every((byte) => byte === 7)));
      assert.equal(subscriber.tryRecv(), undefined);
    });
  }

  it('closed reads true once the PubSub is detached, on it and its endpoints, although it stays open for others', () => {
    // It read false, as a Channel's did.
    using pubsub = PubSub.create({ capacity: 256, autoRemove: true });
    using other = PubSub.open({ id: pubsub.id });
    const publisher = pubsub.publisher();
    const subscriber = pubsub.subscriber();
    assert.deepEqual([pubsub.closed, publisher.closed, subscriber.closed], [false, false, false]);
    pubsub.detach();
    assert.deepEqual([pubsub.closed, publisher.closed, subscriber.closed], [true, true, true]);
    assert.throws(() => pubsub.publisher(), { code: 'ERR_CHANNEL_CLOSED', message: /detached/ });
    assert.equal(other.closed, false);
    other.close();
    assert.equal(other.closed, true);
  });

  it('an already aborted signal, or a timeoutMs that is not valid, rejects at once: nothing is published or taken although there is room and a message', async () => {
    using pubsub = PubSub.create({ capacity: 256, autoRemove: true });
    const publisher = pubsub.publisher();
    const subscriber = pubsub.subscriber();
    publisher.trySend(new Uint8Array([1]));
    const signal = AbortSignal.abort(new Error('shutting down'));
    const isAbort = (error: unknown) =>
      error instanceof DOMException && error.name === 'AbortError' && (error.cause as Error).message === 'shutting down';
    await assert.rejects(publisher.send(new Uint8Array([2]), { signal }), isAbort);
    await assert.rejects(subscriber.recv({ signal }), isAbort);
    await assert.rejects(publisher.send(new Uint8Array([2]), { timeoutMs: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    await assert.rejects(subscriber.recv({ signal: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    // An array is no options object, as Node's validateObject says (send and recv took [] for {}).
    const refused = {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: /^The "options" argument must be of type object\. Received an array/,
    };
    await assert.rejects(publisher.send(new Uint8Array([2]), [] as never), refused);
    await assert.rejects(subscriber.recv([] as never), refused);
    assert.throws(() => subscriber.messages([] as never), refused);
    assert.deepEqual([...(subscriber.tryRecv() as Uint8Array)], [1]);
    assert.equal(subscriber.tryRecv(), undefined);
  });

  it("a timeoutMs shorter than the wait mode's spin skips the spin: with 'spin', recv and send with timeoutMs 0 reject at once, not after 2 ms", async () => {
    // They spun first whatever their limit (2 ms each with 'spin', 50 µs with 'adaptive'), as a semaphore's wait does not.
    using pubsub = PubSub.create({ capacity: 256, wait: 'spin', autoRemove: true });
    const subscriber = pubsub.subscriber();
    const publisher = pubsub.publisher();
    /** The quickest of 20 waits, in ms: a busy machine may stall some of them, not all. */
    const quickest = async (wait: () => Promise<unknown>): Promise<number> => {
      let best = Infinity;
      for (let i = 0; i < 20; i++) {
        const start = performance.now();
        await assert.rejects(wait(), { code: 'ETIMEDOUT' });
        best = Math.min(best, performance.now() - start);
      }
      return best;
    };
    const recv = await quickest(() => subscriber.recv({ timeoutMs: 0 }));
    while (publisher.trySend(new Uint8Array(32)));
    const send = await quickest(() => publisher.send(new Uint8Array(32), { timeoutMs: 0 }));
    assert.ok(recv < 1 && send < 1, `the quickest recv took ${recv.toFixed(2)} ms, send ${send.toFixed(2)} ms`);
  });

  for (const wait of ['sleep', 'adaptive'] as const) {
    it(`a message that wraps and finds no room behind its padding reaches a sleeping subscriber (${wait})`, async () => {
      // As for a channel: the largest message fits only from position 0, and
      // only the subscriber, by passing the padding, frees its room.
      using pubsub = PubSub.create({ capacity: 1024, wait, autoRemove: true });
      const publisher = pubsub.publisher();
      const subscriber = pubsub.subscriber();
      await assertWrapWakesReader({
        maxMessageSize: publisher.maxMessageSize,
        send: (data, options) => publisher.send(data, options),
        recv: (options) => subscriber.recv(options),
      });
    });
  }

  it('a send queued behind a waiting send rejects at its own deadline or abort, and is then skipped', async () => {
    using pubsub = PubSub.create({ capacity: 256, autoRemove: true });
    const subscriber = pubsub.subscriber();
    const publisher = pubsub.publisher();
    let filled = 0;
    while (publisher.trySend(new Uint8Array(32))) filled++;
    let aheadSettled = false;
    const ahead = publisher.send(new Uint8Array([1])).finally(() => (aheadSettled = true));
    const controller = new AbortController();
    const aborted = publisher.send(new Uint8Array([2, 2]), { signal: controller.signal });
    const timedOut = publisher.send(new Uint8Array([3, 3, 3]), { timeoutMs: 20 });
    const kept = new AbortController();
    const last = publisher.send(new Uint8Array([4, 4, 4, 4]), { timeoutMs: 600_000, signal: kept.signal });
    controller.abort();
    const [abortedOutcome, timedOutOutcome] = await Promise.all([settledWithin(aborted, 10_000), settledWithin(timedOut, 10_000)]);
    assert.equal(aheadSettled, false, 'the send ahead still waits: the subscriber did not read');
    assert.ok(abortedOutcome instanceof DOMException && abortedOutcome.name === 'AbortError', `aborted send: ${abortedOutcome}`);
    assert.ok(
      timedOutOutcome instanceof IpcError &&
        timedOutOutcome.code === 'ETIMEDOUT' &&
        timedOutOutcome.message.includes(': send: not done within 20 ms (nothing was sent'),
      `timed-out send: ${timedOutOutcome}`,
    );
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    // Room comes: the send ahead and the last go, in order; the ones that gave up are skipped.
    const lengths: number[] = [];
    while (lengths.length < filled + 2) lengths.push((await subscriber.recv({ timeoutMs: 10_000 })).length);
    await ahead;
    await last;
    assert.deepEqual(lengths.slice(filled), [1, 4]);
    assert.equal(subscriber.tryRecv(), undefined, 'nothing else was sent');
    assert.equal(getEventListeners(kept.signal, 'abort').length, 0, 'no abort listener left behind');
  });

  it('a close() or detach() just as a queued send claims its record: either it was in the ring by then, or it rejects ERR_CHANNEL_CLOSED', async () => {
    // The queued send claims as soon as the one ahead is in (the subscriber
    // made room for both): the close or detach comes `depth` microtasks after
    // that, which walks it across the claim and the steps after it.
    for (const how of ['close', 'detach'] as const) {
      for (let depth = 0; depth < 8; depth++) {
        const label = `${how} ${depth} microtasks later`;
        using pubsub = PubSub.create({ capacity: 256, autoRemove: true });
        const subscriber = pubsub.subscriber();
        const publisher = pubsub.publisher();
        while (publisher.trySend(new Uint8Array(32)));
        const ahead = publisher.send(new Uint8Array([1]));
        const inRing: number[] = [];
        const ending = ahead.then(async () => {
          for (let i = 0; i < depth; i++) await null;
          subscriber.drain((data) => inRing.push(data.length));
          if (how === 'close') publisher.close();
          else pubsub.detach();
        });
        const queued = publisher.send(new Uint8Array([2, 2]));
        subscriber.drain(() => {});
        const outcome = await settledWithin(queued, 10_000);
        await ending;
        if (outcome !== 'resolved')
          assert.ok(outcome instanceof ChannelError && outcome.code === 'ERR_CHANNEL_CLOSED', `${label}: ${outcome}`);
        else assert.ok(inRing.includes(2), `${label}: resolved, but was not in the ring at the ${how}`);
        if (how === 'close') {
          // Nothing claimed and left unpublished holds the subscriber up.
          assert.equal(pubsub.publisher().trySend(new Uint8Array(3)), true);
          let last: number | undefined;
          subscriber.drain((data) => (last = data.length));
          assert.equal(last, 3, label);
        }
      }
    }
  });
});

describe('PubSub with a publisher that abandons records as fast as room comes', { timeout: 60_000 }, () => {
  // How long the publisher abandons, in ms. Before the fix (5124fa4) the
  // subscriber threw in most runs, mostly in the first 200 ms: on a loaded
  // machine this file failed there in 31 of 35 runs with 300 ms (block 25,
  // drop-oldest 26), in 25 of 25 with 2000 (block 23, drop-oldest 23).
  const ABANDON_MS = budget(300, 2000);
  for (const lag of ['block', 'drop-oldest'] as const) {
    it(`never takes the ring for corrupt: every message comes in order (${lag}; drop-oldest: the last one at least)`, async () => {
      // A publisher abandons a record when its copy fails; one that does so as
      // fast as the subscriber's skipping makes room (or, with drop-oldest,
      // as fast as it skips) keeps a poll skipping: a subscriber that bounded
      // its skipping by the ring's size called a valid ring corrupt
      // (ERR_CHANNEL_FORMAT). The public API abandons only after a failed
      // copy, which costs an exception: the ring's own calls do it at speed.
      using pubsub = PubSub.create({ capacity: 4096, lag, autoRemove: true, codec: 'json' });
      const subscriber = pubsub.subscriber();
      // In a peer: both cases' publishers share its process and its one load of the library's modules.
      const publishing = peers[0]!.run(
        `
        import { PubSub, SharedMemory } from 'SHMKIT_MODULES';
        const { BroadcastRing } = await import(new URL('./channel/pubsub/broadcast-ring.js', 'SHMKIT_MODULES').href);
        const { threadLiveness } = await import(new URL('./channel/liveness.js', 'SHMKIT_MODULES').href);
        const F = await import(new URL('./channel/pubsub/format.js', 'SHMKIT_MODULES').href);
        const id = Number(process.argv[1]);
        const pubsub = PubSub.open({ id }, { codec: 'json' });
        const publisher = pubsub.publisher();
        const shm = SharedMemory.open({ id });
        const ring = new BroadcastRing(shm.buffer, pubsub.capacity, pubsub.lag === 'drop-oldest', threadLiveness, process.pid);
        const writer = ring.registerPublisher();
        const end = Date.now() + Number(process.argv[2]);
        let seq = 0, abandoned = 0;
        // At least the 1,000 abandoned records asserted below, however busy the machine.
        for (let k = 0; Date.now() < end || abandoned <= 1000; ) {
          for (let i = 0; i < 1000; i++) {
            const position = ring.claim(((k++ * 2654435761) >>> 0) % 2000, writer, 256);
            if (position >= 0) {
              ring.publish(position, F.STATE_ABANDONED);
              abandoned++;
            }
          }
          await publisher.send(seq++);
        }
        ring.unregisterPublisher(writer);
        pubsub.close();
        pubsub.detach();
        shm.detach();
        console.log(JSON.stringify({ sent: seq, abandoned }));
        `,
        [String(pubsub.id), String(ABANDON_MS)],
      );
      const got: unknown[] = [];
      try {
        for await (const value of subscriber) got.push(value);
      } finally {
        // Failed: the publisher must not wait for this subscriber until its time limit.
        subscriber.close();
        pubsub.close();
      }
      const result = await publishing;
      assertExitedCleanly(result);
      const { sent, abandoned } = lastJson<{ sent: number; abandoned: number }>(result);
      // About 1 KiB each: 1,000 are some 250 rings' worth.
      assert.ok(abandoned > 1000, `the publisher abandoned ${abandoned} records`);
      if (lag === 'block') {
        assert.deepEqual(
          got,
          Array.from({ length: sent }, (_, i) => i),
        );
      } else {
        assert.ok(
          got.every((value, i) => i === 0 || (value as number) > (got[i - 1] as number)),
          'in order, none twice',
        );
        assert.equal(got.at(-1), sent - 1);
      }
    });
  }
});
