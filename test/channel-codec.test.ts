// Channel codecs across real processes: each built-in codec and a user codec
// round-trip, the codec recorded in the header (refused when it differs,
// found when the opener names none), decode failures that consume their
// message, text longer than a reservation can hold, and a sender killed
// mid-stream that loses no committed value and duplicates none.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { Channel, ChannelError, PubSub, Service, SharedMemory, type Codec } from 'shmkit';
import { assertNoLeaks, removeSegment } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, withShmkit } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

// The tests' other processes, which only open a channel and report, are programs of one peer process.
const tasks = peer();
after(() => tasks.end());
// (Registered first, so it ends before assertNoLeaks() counts what is left.)
assertNoLeaks();

function isCode(code: string, pattern?: RegExp) {
  return (error: unknown) => error instanceof ChannelError && error.code === code && (pattern === undefined || pattern.test(error.message));
}

/** A struct layout as a user codec: { x: int32, y: float64 }, 12 bytes little-endian. */
const POINT_CODEC_SOURCE = `{
  name: 'point',
  encode(value, into) {
    const out = into !== undefined && into.length >= 12 ? into.subarray(0, 12) : new Uint8Array(12);
    const view = new DataView(out.buffer, out.byteOffset, 12);
    view.setInt32(0, value.x, true);
    view.setFloat64(4, value.y, true);
    return out;
  },
  decode(bytes) {
    if (bytes.length !== 12) throw new RangeError('a point is 12 bytes, not ' + bytes.length);
    const view = new DataView(bytes.buffer, bytes.byteOffset, 12);
    return { x: view.getInt32(0, true), y: view.getFloat64(4, true) };
  },
}`;
const pointCodec = new Function(`return ${POINT_CODEC_SOURCE}`)() as Codec<{ x: number; y: number }>;

describe('Channel codecs across processes', { timeout: 60_000 }, () => {
  it('v8 carries Maps, Dates, BigInts, typed arrays and nested objects from a child that names no codec', async () => {
    using channel = Channel.create({ capacity: 1 << 16, autoRemove: true, codec: 'v8' });
    const receiver = channel.receiver();
    const child = tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const channel = Channel.open({ id: Number(process.argv[1]) });
      const sender = channel.sender();
      await sender.send(new Map([['when', new Date(86_400_000)], ['big', 2n ** 70n]]));
      await sender.send({ f64: new Float64Array([1.5, -0]), u8: new Uint8Array([1, 2, 3]), set: new Set(['a']), nested: [null, undefined, { re: /x/g }] });
      // Enough messages after them to wrap the ring: earlier values must not change.
      for (let i = 0; i < 200; i++) await sender.send(new Uint8Array(1000).fill(i));
      console.log(JSON.stringify({ codec: channel.codec }));
      channel.detach();
      `,
      [String(channel.id)],
    );
    const map = (await receiver.recv()) as Map<string, unknown>;
    const object = (await receiver.recv()) as Record<string, unknown>;
    const rest: unknown[] = [];
    for (let i = 0; i < 200; i++) rest.push(await receiver.recv());
    const result = await child;
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { codec: 'v8' });
    assert.deepEqual(
      map,
      new Map<string, unknown>([
        ['when', new Date(86_400_000)],
        ['big', 2n ** 70n],
      ]),
    );
    // Compared after the ring wrapped: typed arrays own their memory, they are no views of reused ring space.
    assert.deepEqual(object, {
      f64: new Float64Array([1.5, -0]),
      u8: new Uint8Array([1, 2, 3]),
      set: new Set(['a']),
      nested: [null, undefined, { re: /x/g }],
    });
    for (const [i, value] of rest.entries()) assert.deepEqual(value, new Uint8Array(1000).fill(i));
  });

  it('text carries any Unicode, astral characters included, both ways', async () => {
    using channel = Channel.create({ capacity: 1 << 14, autoRemove: true, codec: 'text' });
    const receiver = channel.receiver();
    const texts = [
      '',
      'plain ascii',
      'héllo wörld',
      '日本語のテキスト',
      '𝄞 music 😀👍🏽 family 👨‍👩‍👧',
      '\u0000nul\u0000',
      'x'.repeat(3000),
    ];
    const result = await tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const channel = Channel.open({ id: Number(process.argv[1]), codec: 'text' });
      const sender = channel.sender();
      for (const text of JSON.parse(process.argv[2])) await sender.send(text);
      channel.detach();
      `,
      [String(channel.id), JSON.stringify(texts)],
    );
    assertExitedCleanly(result);
    for (const text of texts) assert.equal(await receiver.recv(), text);
    assert.equal(receiver.tryRecv(), null);
  });

  it('json carries objects, arrays and scalars, and refuses values without a JSON form', async () => {
    using channel = Channel.create({ capacity: 1 << 14, autoRemove: true, codec: 'json' });
    const receiver = channel.receiver();
    const values = [
      { id: 7, name: 'ünïcode 😀', tags: ['a', 'b'], nested: { ok: true, n: null } },
      [1, 2.5, 'three'],
      'a string',
      42,
      true,
    ];
    const result = await tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const channel = Channel.open({ id: Number(process.argv[1]) });
      const sender = channel.sender();
      for (const value of JSON.parse(process.argv[2])) sender.trySend(value);
      let refused = '';
      try { sender.trySend(undefined); } catch (error) { refused = error.code; }
      console.log(JSON.stringify({ refused }));
      channel.detach();
      `,
      [String(channel.id), JSON.stringify(values)],
    );
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { refused: 'ERR_INVALID_ARG_VALUE' });
    assert.deepEqual(await receiver.recvBatch(), values);
  });

  it('a user codec (a struct layout) works across processes; its name is recorded, and an opener must bring the codec', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: pointCodec });
    assert.equal(channel.codec, 'point');
    const receiver = channel.receiver();
    const result = await tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const id = Number(process.argv[1]);
      let without = '';
      try { Channel.open({ id }); } catch (error) { without = error.code + ': ' + error.message; }
      const channel = Channel.open({ id, codec: ${POINT_CODEC_SOURCE} });
      const sender = channel.sender();
      for (let i = 0; i < 100; i++) await sender.send({ x: i - 50, y: i / 3 });
      console.log(JSON.stringify({ without }));
      channel.detach();
      `,
      [String(channel.id)],
    );
    assertExitedCleanly(result);
    const { without } = lastJson<{ without: string }>(result);
    assert.match(without, /^ERR_CHANNEL_FORMAT: .*user codec 'point'.*pass that codec as options\.codec/);
    for (let i = 0; i < 100; i++) assert.deepEqual(await receiver.recv(), { x: i - 50, y: i / 3 });
  });

  it('refuses an opener whose codec differs, naming both, and records a nameless user codec as custom', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    const result = await tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const id = Number(process.argv[1]);
      const codes = [];
      for (const codec of ['text', 'bytes', 'v8']) {
        try { Channel.open({ id, codec }); codes.push('opened'); } catch (error) { codes.push(error.code + ': ' + error.message); }
      }
      console.log(JSON.stringify(codes));
      `,
      [String(channel.id)],
    );
    assertExitedCleanly(result);
    const codes = lastJson<string[]>(result);
    for (const [i, asked] of ['text', 'bytes', 'v8'].entries()) {
      assert.match(codes[i]!, new RegExp(`^ERR_CHANNEL_FORMAT: .*'json' codec, but options\\.codec is '${asked}'`));
    }
    const custom = { encode: (value: Uint8Array) => value, decode: (bytes: Uint8Array) => bytes.slice() };
    using nameless = Channel.create({ capacity: 4096, autoRemove: true, codec: custom });
    assert.equal(nameless.codec, 'custom');
    assert.throws(() => Channel.open({ id: nameless.id }), isCode('ERR_CHANNEL_FORMAT', /user codec 'custom'/));
    using bytes = Channel.create({ capacity: 4096, autoRemove: true });
    assert.throws(
      () => Channel.open({ id: bytes.id, codec: 'json' }),
      isCode('ERR_CHANNEL_FORMAT', /'bytes' codec, but options\.codec is 'json'/),
    );
    assert.throws(() => Channel.create({ capacity: 4096, codec: 'yaml' as 'json' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => Channel.create({ capacity: 4096, codec: { ...custom, name: 'n'.repeat(65) } }), {
      code: 'ERR_OUT_OF_RANGE',
      message: /options\.codec\.name/,
    });
  });
});

describe('A user codec named after a built-in one', () => {
  it('is refused by Channel, PubSub and Service create and open, naming the argument; no segment is made', () => {
    // It was recorded under the built-in's name, and an opener without a codec decoded its messages with the built-in.
    for (const name of ['bytes', 'text', 'json', 'v8']) {
      const impostor = { name, encode: (value: unknown) => new TextEncoder().encode(String(value)), decode: (bytes: Uint8Array) => bytes };
      const refused = {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_VALUE',
        message: new RegExp(
          `^The argument 'options\\.codec\\.name' is invalid: it is the name of the built-in '${name}' codec, and a segment records`,
        ),
      };
      assert.throws(() => Channel.create({ capacity: 4096, autoRemove: true, codec: impostor }), refused, `Channel ${name}`);
      assert.throws(() => PubSub.create({ capacity: 4096, autoRemove: true, codec: impostor }), refused, `PubSub ${name}`);
      assert.throws(() => Service.create({ capacity: 4096, codec: impostor }), refused, `Service ${name}`);
      // An opener's codec is taken for the recorded one by name too.
      using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: name as 'json' });
      using pubsub = PubSub.create({ capacity: 4096, autoRemove: true, codec: name as 'json' });
      using service = Service.create({ capacity: 4096, codec: name as 'json' });
      try {
        assert.throws(() => Channel.open({ id: channel.id, codec: impostor }), refused, `Channel.open ${name}`);
        assert.throws(() => PubSub.open({ id: pubsub.id }, { codec: impostor }), refused, `PubSub.open ${name}`);
        assert.throws(() => Service.open({ id: service.id }, { codec: impostor }), refused, `Service.open ${name}`);
      } finally {
        service.remove();
      }
    }
    // Another name is a user codec's as before, and a built-in by name is the built-in.
    const own = {
      name: 'json5',
      encode: (value: string) => new TextEncoder().encode(value),
      decode: (bytes: Uint8Array) => new TextDecoder().decode(bytes),
    };
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: own });
    assert.equal(channel.codec, 'json5');
    using json = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    using opened = Channel.open({ id: json.id });
    opened.sender().trySend({ a: 1 });
    assert.deepEqual(json.receiver().tryRecv(), { a: 1 });
  });
});

describe('Channel.open({ raw: true })', () => {
  it('opens at the byte level whatever the codec: the encoded bytes, both ways; not with a codec', () => {
    const custom = {
      name: 'upper',
      encode: (v: string) => Buffer.from(v.toUpperCase()),
      decode: (b: Uint8Array) => Buffer.from(b).toString(),
    };
    using json = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    using rawJson = Channel.open({ id: json.id, raw: true });
    assert.equal(rawJson.codec, 'json', 'the recorded codec, for people to read');
    json.sender().trySend({ a: [1, 'é'] });
    const bytes = rawJson.receiver().tryRecv() as Uint8Array;
    assert.equal(Buffer.from(bytes).toString(), '{"a":[1,"é"]}');
    using user = Channel.create({ capacity: 4096, autoRemove: true, codec: custom });
    using rawUser = Channel.open({ id: user.id, raw: true });
    rawUser.sender().trySend(Buffer.from('LOUD'));
    assert.equal(user.receiver().tryRecv(), 'LOUD', 'raw bytes in, decoded by the codec on the other side');
    assert.throws(() => Channel.open({ id: json.id, raw: true, codec: 'json' }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.raw/,
    });
    assert.throws(() => Channel.open({ id: json.id, raw: 1 as unknown as boolean }), {
      code: 'ERR_INVALID_ARG_TYPE',
      message: /options\.raw/,
    });
  });
});

describe('Channel codecs: edge cases', { timeout: 60_000 }, () => {
  it('keeps the bytes default exactly: strings and buffers in, copies out, recorded as nothing', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'bytes' });
    assert.equal(channel.codec, 'bytes');
    {
      using shm = SharedMemory.open({ id: channel.id });
      assert.equal(new Int32Array(shm.buffer, 512, 1)[0], 0, 'the bytes codec leaves the header field zero, as channels before codecs');
    }
    {
      using json = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
      using shm = SharedMemory.open({ id: json.id });
      assert.equal(new Int32Array(shm.buffer, 512, 1)[0], 4);
      assert.equal(Buffer.from(shm.buffer, 516, 4).toString(), 'json');
    }
    const sender = channel.sender();
    const receiver = channel.receiver();
    sender.trySend('héllo');
    sender.trySend(new Uint16Array([0x0102]));
    assert.deepEqual([...receiver.tryRecv()!], [...Buffer.from('héllo')]);
    assert.deepEqual([...receiver.tryRecv()!], [2, 1]);
    using opened = Channel.open({ id: channel.id });
    assert.equal(opened.codec, 'bytes');
  });

  it('a message the codec cannot decode is consumed and thrown with its cause; the channel goes on', async () => {
    const strict: Codec<number> = {
      name: 'strict',
      encode: (value) => new Uint8Array([value]),
      decode(bytes) {
        if (bytes[0] === 13) throw new RangeError('unlucky 13');
        return bytes[0]!;
      },
    };
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: strict });
    const sender = channel.sender();
    const receiver = channel.receiver();
    for (const n of [1, 13, 2, 13, 3, 4, 13, 5]) sender.trySend(n);
    assert.equal(receiver.tryRecv(), 1);
    const error = (() => {
      try {
        receiver.tryRecv();
      } catch (thrown) {
        return thrown as ChannelError;
      }
      assert.fail('tryRecv decoded a message the codec refuses');
    })();
    assert.ok(
      isCode('ERR_CHANNEL_DECODE', /tryRecv: the 'strict' codec could not decode a 1-byte message \(it was consumed\): unlucky 13/)(error),
    );
    assert.ok(error.cause instanceof RangeError);
    assert.equal(await receiver.recv(), 2);
    await assert.rejects(receiver.recv(), isCode('ERR_CHANNEL_DECODE'));
    // A batch stops before a bad message; the next receive reports it.
    assert.deepEqual(await receiver.recvBatch(), [3, 4]);
    await assert.rejects(receiver.recvBatch(), isCode('ERR_CHANNEL_DECODE', /recvBatch/));
    assert.deepEqual(await receiver.recvBatch(), [5]);

    // Bytes written at the byte level that are not JSON, and not UTF-8.
    using json = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    const jsonSender = json.sender();
    const jsonReceiver = json.receiver();
    for (const bad of [
      [0x7b, 0x7b],
      [0xff, 0xfe],
    ]) {
      jsonSender.tryReserve(bad.length)!.set(bad);
      jsonSender.commit();
    }
    jsonSender.trySend({ after: true });
    await assert.rejects(jsonReceiver.recv(), (e: unknown) => isCode('ERR_CHANNEL_DECODE')(e) && (e as Error).cause instanceof SyntaxError);
    await assert.rejects(jsonReceiver.recv(), (e: unknown) => isCode('ERR_CHANNEL_DECODE')(e) && (e as Error).cause instanceof TypeError);
    assert.deepEqual(await jsonReceiver.recv(), { after: true });
  });

  it('json refuses a BigInt, a cycle or a throwing toJSON() with ERR_INVALID_ARG_VALUE, its cause kept, and sends nothing', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'json' });
    const sender = channel.sender();
    const receiver = channel.receiver();
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const failure = new Error('no JSON here');
    const cases: [unknown, RegExp][] = [
      [{ big: 1n }, /no JSON form \(Do not know how to serialize a BigInt\)/],
      [cycle, /no JSON form \(Converting circular structure to JSON\)/],
      [
        {
          toJSON: () => {
            throw failure;
          },
        },
        /no JSON form \(no JSON here\)/,
      ],
    ];
    for (const [value, message] of cases) {
      const refused = (error: unknown) =>
        error instanceof TypeError &&
        (error as { code?: string }).code === 'ERR_INVALID_ARG_VALUE' &&
        message.test(error.message) &&
        error.cause instanceof Error;
      assert.throws(() => sender.trySend(value), refused);
      await assert.rejects(sender.send(value), refused);
    }
    assert.throws(
      () =>
        sender.trySend({
          toJSON: () => {
            throw failure;
          },
        }),
      (error: unknown) => (error as Error).cause === failure,
    );
    assert.equal(receiver.tryRecv(), null);
    assert.equal(sender.trySend({ after: 1 }), true);
    assert.deepEqual(receiver.tryRecv(), { after: 1 });
  });

  it("v8 refuses a value it cannot serialize with ERR_INVALID_ARG_VALUE naming value, V8's error as the cause, and sends nothing", async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'v8' });
    const sender = channel.sender();
    const receiver = channel.receiver();
    for (const value of [{ f() {} }, Symbol('s'), new WeakMap(), () => 1]) {
      const refused = (error: unknown) =>
        error instanceof TypeError &&
        (error as { code?: string }).code === 'ERR_INVALID_ARG_VALUE' &&
        /"value"|'value'/.test(error.message) &&
        /the v8 codec cannot serialize it \(.*could not be cloned/.test(error.message) &&
        error.cause instanceof Error;
      assert.throws(() => sender.trySend(value), refused);
      await assert.rejects(sender.send(value), refused);
    }
    assert.equal(receiver.tryRecv(), null);
  });

  it('a user codec that reuses the buffer it returns: sends that wait for room keep the messages they were given (Channel and PubSub)', async () => {
    // As fast serializers do: every encode writes one scratch buffer.
    const scratch = new Uint8Array(16);
    const u32: Codec<number> = {
      name: 'u32-scratch',
      encode(value) {
        new DataView(scratch.buffer).setUint32(0, value, true);
        return scratch.subarray(0, 4);
      },
      decode: (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true),
    };
    /** Fills the ring, queues three sends that must wait, and returns what comes after the fill. */
    const waitingSends = async (
      out: { trySend(value: number): boolean; send(value: number): Promise<void> },
      into: { recv(options: { timeoutMs: number }): Promise<number> },
    ): Promise<number[]> => {
      let fill = 0;
      while (out.trySend(1000 + fill)) fill++;
      const sends = [out.send(1), out.send(2), out.send(3)];
      const got: number[] = [];
      for (let i = 0; i < fill + 3; i++) got.push(await into.recv({ timeoutMs: 10_000 }));
      await Promise.all(sends);
      return got.slice(fill);
    };
    using channel = Channel.create({ capacity: 256, autoRemove: true, codec: u32 });
    assert.deepEqual(await waitingSends(channel.sender(), channel.receiver()), [1, 2, 3], 'Channel');
    using pubsub = PubSub.create({ capacity: 256, autoRemove: true, codec: u32 });
    assert.deepEqual(await waitingSends(pubsub.publisher(), pubsub.subscriber()), [1, 2, 3], 'PubSub');
  });

  it('a codec whose encode throws, or returns no bytes, sends nothing', async () => {
    const broken: Codec<number> = {
      name: 'broken',
      encode(value) {
        if (value < 0) throw new RangeError('negative');
        return value === 0 ? ('zero' as unknown as Uint8Array) : new Uint8Array([value]);
      },
      decode: (bytes) => bytes[0]!,
    };
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: broken });
    const sender = channel.sender();
    const receiver = channel.receiver();
    assert.throws(() => sender.trySend(-1), { name: 'RangeError', message: 'negative' });
    await assert.rejects(sender.send(-1), { name: 'RangeError', message: 'negative' });
    assert.throws(() => sender.trySend(0), { code: 'ERR_INVALID_ARG_TYPE', message: /'broken' codec's encode\(\) returned/ });
    assert.equal(sender.trySend(5), true);
    assert.equal(receiver.tryRecv(), 5);
    assert.equal(receiver.tryRecv(), null);
  });

  it('text too long for an upper-bound reservation falls back to encode and copy, up to the largest message', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true, codec: 'text' });
    const sender = channel.sender();
    const receiver = channel.receiver();
    const max = sender.maxMessageSize;
    assert.equal(max, 4064);
    // Each is exactly the largest message in UTF-8, far above its 3-bytes-a-unit bound.
    const ascii = 'a'.repeat(max);
    const accented = 'é'.repeat(max / 2);
    const astral = '😀'.repeat(max / 4);
    const mixed = `${'ab😀é'.repeat(507)}zzzzzzz`; // 8 bytes a unit: 4056 + 7
    for (const text of [ascii, accented, astral, mixed]) {
      assert.equal(Buffer.byteLength(text), text === mixed ? max - 1 : max);
      // (A largest message fits only where the ring starts: it may wait for the receiver to skip padding.)
      const sent = sender.send(text);
      assert.equal(await receiver.recv(), text);
      await sent;
    }
    assert.throws(() => sender.trySend(`${ascii}b`), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => sender.trySend('😀'.repeat(max / 4 + 1)), { code: 'ERR_OUT_OF_RANGE' });
    // Room for the exact length but not for the bound: sent by the fallback, in order.
    assert.equal(sender.trySend('c'.repeat(1000)), true); // bound 3000: a 3024-byte record
    assert.equal(sender.trySend('d'.repeat(500)), true); // bound 1500 has no room; 500 bytes do
    assert.equal(sender.trySend('e'.repeat(600)), false); // full now
    const late = sender.send('f'.repeat(600));
    assert.equal(receiver.tryRecv(), 'c'.repeat(1000));
    await late;
    assert.equal(receiver.tryRecv(), 'd'.repeat(500));
    assert.equal(receiver.tryRecv(), 'f'.repeat(600));
    assert.equal(receiver.tryRecv(), null);
    assert.throws(() => sender.trySend(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('long strings from another process arrive whole', async () => {
    using channel = Channel.create({ capacity: 1 << 16, autoRemove: true, codec: 'text' });
    const receiver = channel.receiver();
    const max = channel.sender().maxMessageSize;
    const child = tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const [id, max] = process.argv.slice(1).map(Number);
      const channel = Channel.open({ id });
      const sender = channel.sender();
      for (let i = 0; i < 20; i++) await sender.send(String.fromCodePoint(0x1f600 + i).repeat(max / 4 - i));
      channel.detach();
      `,
      [String(channel.id), String(max)],
    );
    for (let i = 0; i < 20; i++) assert.equal(await receiver.recv(), String.fromCodePoint(0x1f600 + i).repeat(max / 4 - i));
    assertExitedCleanly(await child);
  });
});

describe('Channel codecs when a sender is killed', { timeout: 60_000 }, () => {
  it('delivers every committed JSON message exactly once, in order, and nothing else', async () => {
    const status = SharedMemory.create({ size: 8, mode: 0o600 });
    const channel = Channel.create({ capacity: 1 << 14, codec: 'json' });
    let child: ChildProcess | undefined;
    try {
      const receiver = channel.receiver();
      // Sends as fast as it can, alternately trySend and send, text straight into the ring; counts what was committed.
      const source = withShmkit(`
        import { Channel, SharedMemory } from 'SHMKIT';
        const [id, statusId] = process.argv.slice(1).map(Number);
        const sender = Channel.open({ id }).sender();
        const status = new Int32Array(SharedMemory.open({ id: statusId }).buffer);
        for (let seq = 0; ; seq++) {
          const value = { seq, text: 'é😀'.repeat(seq % 300), pad: 'x'.repeat((seq * 7) % 500) };
          if (seq % 2 === 0 && sender.trySend(value)) {} else await sender.send(value);
          Atomics.store(status, 0, seq + 1); // after the send: this one is in the ring
        }
      `);
      child = spawn(process.execPath, ['--input-type=module', '-e', source, '--', String(channel.id), String(status.id)], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const counter = new Int32Array(status.buffer);
      let next = 0;
      // Receive a while, then kill the sender mid-stream (no defect is behind
      // the count: the kill lands wherever the sender is, after any number).
      const before = budget(1_000, 3_000);
      while (next < before) {
        const value = (await receiver.recv({ timeoutMs: 20_000 })) as { seq: number; text: string; pad: string };
        assert.equal(value.seq, next, 'in order, none lost or repeated');
        next++;
      }
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      const committed = Atomics.load(counter, 0);
      for (;;) {
        let value: { seq: number; text: string; pad: string };
        try {
          value = (await receiver.recv({ timeoutMs: 20_000 })) as typeof value;
        } catch (error) {
          assert.ok(isCode('ERR_CHANNEL_PEER_DEAD')(error), String(error));
          break;
        }
        assert.equal(value.seq, next, 'in order, none lost or repeated');
        assert.equal(value.text, 'é😀'.repeat(next % 300));
        assert.equal(value.pad, 'x'.repeat((next * 7) % 500));
        next++;
      }
      // Everything the sender saw committed arrived (one more may have been published before its counter moved).
      assert.ok(next >= committed && next <= committed + 1, `received ${next}, committed ${committed}`);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      removeSegment(channel.id);
      channel.detach();
      status.remove();
      status.detach();
    }
  });
});
