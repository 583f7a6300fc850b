// bridge(): its options, its bounded buffering (core NATS drops and counts,
// JetStream holds back), bytes passed unchanged, and how it ends: close()
// (in an outage too), an AbortSignal, await using, a closed channel, a
// missing NATS client, a JetStream stream or consumer deleted that the server
// will not let it make again (one it may make again, it does).
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type Bridge, bridge, Channel, PubSub } from '../src/index.js';
import { ensureConsumer, ensureStream } from '../src/bridge/jetstream.js';
import { rejects } from './helpers/bridge.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { NatsServer, noNatsServer } from './helpers/nats-server.js';
import { assertExitedCleanly, lastJson, ROOT, runNode } from './helpers/processes.js';
import { waitFor } from './helpers/shm.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('bridge: options', () => {
  const url = 'nats://127.0.0.1:1';
  it('rejects bad options with TypeErrors naming the option, before connecting or attaching', async () => {
    await rejects(null, /"options"/, 'ERR_INVALID_ARG_TYPE');
    await rejects({ channel: { id: 1 }, url, direction: 'out' }, /"subject"/, 'ERR_INVALID_ARG_TYPE');
    await rejects({ channel: { id: 1 }, url, subject: 'a.*', direction: 'out' }, /'subject'/, 'ERR_INVALID_ARG_VALUE');
    await rejects({ channel: { id: 1 }, url: [], subject: 's', direction: 'out' }, /"url"/, 'ERR_INVALID_ARG_TYPE');
    await rejects({ channel: { id: 1 }, url, subject: 's' }, /"direction"/, 'ERR_INVALID_ARG_TYPE');
    await rejects({ channel: { id: 1 }, url, subject: 's', direction: 'sideways' }, /"direction"/, 'ERR_INVALID_ARG_TYPE');
    await rejects({ channel: { id: 1 }, url, subject: 's', direction: 'both' }, /'channel'.*two channels/, 'ERR_INVALID_ARG_VALUE');
    await rejects(
      { channel: { out: { id: 1 }, in: { id: 2 } }, url, subject: 's', direction: 'out' },
      /'channel'/,
      'ERR_INVALID_ARG_VALUE',
    );
    await rejects({ channel: { out: { id: 1 }, in: 'x' }, url, subject: 's' }, /"channel.in"/, 'ERR_INVALID_ARG_TYPE');
    await rejects({ channel: { id: -1 }, url, subject: 's', direction: 'in' }, /"channel.id"/, 'ERR_OUT_OF_RANGE');
    await rejects(
      { channel: { id: 1 }, url, subject: 's', direction: 'in', jetstream: true },
      /'jetstream.durable'/,
      'ERR_INVALID_ARG_VALUE',
    );
    await rejects(
      { channel: { id: 1 }, url, subject: 's', direction: 'out', jetstream: { stream: 'a.b' } },
      /'jetstream.stream'/,
      'ERR_INVALID_ARG_VALUE',
    );
    await rejects({ channel: { id: 1 }, url, subject: 's', direction: 'out', maxPendingBytes: 0 }, /"maxPendingBytes"/, 'ERR_OUT_OF_RANGE');
    await rejects({ channel: { id: 1 }, url, subject: 's', direction: 'out', signal: {} }, /"signal"/, 'ERR_INVALID_ARG_TYPE');
  });

  it('a server that does not answer: the error names it without the credentials, and the channel is left as it was', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    await assert.rejects(bridge({ channel, url: 'nats://someone:hunter2@127.0.0.1:1', subject: 's', direction: 'out' }), (error: Error) => {
      assert.match(error.message, /^bridge: cannot connect to nats:\/\/127\.0\.0\.1:1: /);
      assert.doesNotMatch(error.message, /hunter2|someone/);
      return true;
    });
    // The bridge gave the receiver's place back.
    channel.receiver().close();
  });

  it('credentials whose % is not an escape are refused naming url, never showing them', async () => {
    // decodeURIComponent threw a URIError without a code.
    await assert.rejects(
      bridge({ channel: { id: 1 }, url: 'nats://user:50%off@127.0.0.1:1', subject: 's', direction: 'out' }),
      (error: Error) => {
        assert.equal(error.name, 'TypeError');
        assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARG_VALUE');
        assert.match(error.message, /'url'.*percent-encoded \(a % is written %25\)/);
        assert.doesNotMatch(error.message, /50%off|user:/);
        return true;
      },
    );
  });

  it('an abort while it connects ends the wait at once (a server that never answers), and makes nothing', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    // Accepts TCP and says nothing: the client waits out its own 20 s timeout (its attempt goes on
    // meanwhile, and ends with the socket).
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      for (const extra of [{ url: `nats://127.0.0.1:${port}` }]) {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 100);
        const outcome = await Promise.race([
          bridge({ channel, subject: 's', direction: 'out', signal: controller.signal, ...extra }).then(
            async (b) => {
              await b.close();
              return 'resolved';
            },
            (error: Error) => error.name,
          ),
          new Promise((resolve) => setTimeout(() => resolve('still pending after 10 s'), 10_000)),
        ]);
        assert.equal(outcome, 'AbortError', extra.url);
      }
      // The bridge gave the receiver's place back.
      channel.receiver().close();
    } finally {
      // The client's attempt ends with its socket.
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('an abort while the client waits for its first server (waitOnFirstConnect, none there) ends its attempts: the process exits', async () => {
    // The client's connect() takes no signal and tries for good; the process stayed alive.
    const result = await runNode(
      `import { bridge, Channel } from 'SHMKIT';
      const channel = Channel.create({ capacity: 4096, autoRemove: true });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const outcome = await bridge({ channel, url: 'nats://127.0.0.1:1', subject: 's', direction: 'out',
        nats: { waitOnFirstConnect: true, reconnectTimeWait: 50 }, signal: controller.signal })
        .then(async (b) => { await b.close(); return 'resolved'; }, (error) => error.name);
      channel.detach();
      console.log(JSON.stringify({ outcome }));`,
      [],
      { timeoutMs: 10_000 },
    );
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { outcome: 'AbortError' });
  });

  it('without the NATS client installed: ERR_BRIDGE_NATS_MISSING with the install command', async () => {
    // The built package where no node_modules has @nats-io (its own runtime dependency, node-gyp-build, beside it).
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-no-nats-'));
    try {
      const pkg = join(dir, 'node_modules', 'shmkit');
      mkdirSync(pkg, { recursive: true });
      for (const entry of ['package.json', 'dist', 'build']) symlinkSync(join(ROOT, entry), join(pkg, entry));
      cpSync(join(ROOT, 'node_modules', 'node-gyp-build'), join(dir, 'node_modules', 'node-gyp-build'), { recursive: true });
      const result = await runNode(
        `import { bridge } from 'shmkit';
        try { await bridge({ channel: { id: 1 }, url: 'nats://127.0.0.1:1', subject: 's', direction: 'out' }); }
        catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }`,
        [],
        { cwd: dir, nodeFlags: ['--preserve-symlinks'] },
      );
      assert.equal(result.code, 0, result.stderr);
      const { code, message } = JSON.parse(result.stdout) as { code: string; message: string };
      assert.equal(code, 'ERR_BRIDGE_NATS_MISSING');
      assert.match(message, /npm install @nats-io\/transport-node@~3\.3\.1 @nats-io\/jetstream@~3\.3\.1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bridge: two bridges that make the stream or the consumer at the same moment', () => {
  // Two hosts whose bridges start together both find no stream, and both add it: the server
  // takes one add and refuses the other (CI saw "subjects overlap with an existing stream").
  // A stand-in for the server's JetStream API plays the loser's side.
  const apiError = (js: typeof import('@nats-io/jetstream'), errCode: number, description: string) =>
    new js.JetStreamApiError({ code: 400, err_code: errCode, description });
  function racingServer(js: typeof import('@nats-io/jetstream'), madeByTheOther: boolean) {
    let stream = false;
    let consumer = false;
    const calls: string[] = [];
    const jsm = {
      streams: {
        info: async () => {
          calls.push('stream info');
          if (!stream) throw apiError(js, js.JetStreamApiCodes.StreamNotFound, 'stream not found');
          return { created: '2026-12-05T00:00:00Z' };
        },
        add: async () => {
          calls.push('stream add');
          stream = madeByTheOther;
          throw apiError(js, 10065, 'subjects overlap with an existing stream');
        },
        find: async () => 'RACE',
      },
      consumers: {
        info: async () => {
          calls.push('consumer info');
          if (!consumer) throw apiError(js, js.JetStreamApiCodes.ConsumerNotFound, 'consumer not found');
          return { ack_floor: { stream_seq: 7 } };
        },
        add: async () => {
          calls.push('consumer add');
          consumer = madeByTheOther;
          throw apiError(js, 10148, 'consumer already exists');
        },
      },
    };
    return { jsm: jsm as never, calls };
  }
  const settings = { stream: 'RACE', durable: 'd', ackWaitMs: 5000 };

  it('the bridge whose add the server refused, because the other made it meanwhile, uses what the other made', async () => {
    const js = await import('@nats-io/jetstream');
    const { jsm, calls } = racingServer(js, true);
    assert.deepEqual(await ensureStream(js, jsm, 'race', settings), { created: '2026-12-05T00:00:00Z', made: false });
    assert.deepEqual(await ensureConsumer(js, jsm, 'race', settings), { acked: 7, made: false });
    assert.deepEqual(calls, ['stream info', 'stream add', 'stream info', 'consumer info', 'consumer add', 'consumer info']);
  });

  it("an add refused for any other reason (nothing was made) still fails with the server's answer", async () => {
    const js = await import('@nats-io/jetstream');
    const { jsm } = racingServer(js, false);
    await assert.rejects(ensureStream(js, jsm, 'race', settings), { name: 'JetStreamApiError', message: /subjects overlap/ });
    await assert.rejects(ensureConsumer(js, jsm, 'race', settings), { name: 'JetStreamApiError', message: /consumer already exists/ });
  });
});

describe('bridge: the optional dependency', () => {
  it("the package's published types never import the NATS client (a program without it type-checks)", () => {
    const seen = new Set<string>();
    const queue = [join(ROOT, 'dist', 'src', 'index.d.ts')];
    const foreign: string[] = [];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)) {
        if (spec!.startsWith('.')) queue.push(resolve(dirname(file), spec!.replace(/\.js$/, '.d.ts')));
        else if (spec!.startsWith('@nats-io')) foreign.push(`${file}: ${spec}`);
      }
    }
    assert.ok(seen.has(join(ROOT, 'dist', 'src', 'bridge', 'bridge.d.ts')), 'the walk reaches the bridge');
    assert.deepEqual(foreign, []);
  });
});

describe('bridge: against a real nats-server', { skip: noNatsServer }, () => {
  it('close() ends while the server has stopped answering a flush, and done rejects with ERR_BRIDGE_CONNECT when the connection closes for good', async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    using channel = Channel.create({ capacity: 1 << 16, autoRemove: true });
    const sender = channel.sender();
    const b = await bridge({ channel, url: server.url, subject: 'stopped', direction: 'out', maxPendingBytes: 4096 });
    try {
      const feeding = (async () => {
        for (let i = 0; i < 20_000 && !b.closed; i++) await sender.send(new Uint8Array(200)).catch(() => {});
      })();
      while (b.stats.out < 100) await sleep(5);
      server.signal('SIGSTOP');
      await sleep(500);
      // The flush waited for the server's answer for good, and close() with it.
      const closed = await Promise.race([b.close().then(() => 'closed'), sleep(10_000).then(() => 'still closing after 10 s')]);
      assert.equal(closed, 'closed');
      sender.close();
      await feeding;
    } finally {
      server.signal('SIGCONT');
    }
    const lasting = await bridge({ channel, url: server.url, subject: 'gone', direction: 'out', nats: { maxReconnectAttempts: 0 } });
    await server.stop('SIGKILL');
    await assert.rejects(lasting.done, (error: Error) => {
      assert.equal((error as { code?: string }).code, 'ERR_BRIDGE_CONNECT');
      assert.match(error.message, new RegExp(`^bridge: the connection to ${server.url.replaceAll('.', '\\.')} closed for good`));
      return true;
    });
    await lasting.close();
  });

  it('core NATS, a full ring: arrivals beyond the bounded buffer are dropped and counted, the rest arrive in order', async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    using inbox = Channel.create({ capacity: 4096, autoRemove: true });
    const b = await bridge({ channel: inbox, url: server.url, subject: 'full', direction: 'in', maxBufferedMessages: 100 });
    const nc = await connect({ servers: server.url });
    try {
      const N = 2000;
      for (let i = 0; i < N; i++) nc.publish('full', new TextEncoder().encode(`${i}`.padStart(40, '.')));
      await nc.flush();
      // Nobody reads: the ring fills, then the buffer; everything else is dropped, none of it held.
      // (The one the bridge is sending waits outside both.)
      for (let i = 0; i < 500 && b.stats.dropped + 100 + 1 + b.stats.in < N; i++) await sleep(10);
      const receiver = inbox.receiver();
      const got: number[] = [];
      while (got.length + b.stats.dropped < N)
        got.push(Number(new TextDecoder().decode(await receiver.recv({ timeoutMs: 5_000 })).replace(/^\.+/, '')));
      assert.ok(b.stats.dropped > 0, 'some were dropped');
      // The ring holds at most 4096 / 56 messages, the buffer 100: the rest could only be dropped.
      assert.ok(got.length <= 4096 / 56 + 100, `received ${got.length}`);
      assert.equal(got.length + b.stats.dropped, N);
      assert.deepEqual(
        got,
        [...got].sort((x, y) => x - y),
        'in order',
      );
      assert.equal(b.stats.in, got.length);
      receiver.detach();
    } finally {
      await nc.close();
      await b.close();
    }
  });

  it('JetStream, a full ring: the bridge stops pulling and nothing is dropped; bytes of every value 0-255 and empty messages pass unchanged', async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    using outbox = Channel.create({ capacity: 1 << 16, autoRemove: true });
    using inbox = Channel.create({ capacity: 1024, autoRemove: true });
    await using out = await bridge({ channel: outbox, url: server.url, subject: 'held', direction: 'out', jetstream: true });
    await using into = await bridge({ channel: inbox, url: server.url, subject: 'held', direction: 'in', jetstream: { durable: 'held' } });
    // No defect behind the count: 100 still hold every byte value 0-255 and
    // 4.6 KB, far more than the 1 KiB inbox (300: 14 KB; 0.08 CPU-s more).
    const N = budget(100, 300);
    const message = (i: number) => Uint8Array.from({ length: i % 97 }, (_, k) => (i * 31 + k * 7) & 0xff);
    using sender = outbox.sender();
    for (let i = 0; i < N; i++) await sender.send(message(i));
    // Wait until the stream has them all while the inbox (1 KiB) is full.
    for (let i = 0; i < 1000 && out.stats.out < N; i++) await sleep(10);
    assert.equal(out.stats.out, N);
    assert.ok(into.stats.in < N, 'the full ring held the rest back in the stream');
    const receiver = inbox.receiver();
    for (let i = 0; i < N; i++) assert.deepEqual(await receiver.recv({ timeoutMs: 10_000 }), message(i), `message ${i}`);
    assert.deepEqual({ ...into.stats, reconnects: 0 }, { out: 0, in: N, dropped: 0, lost: 0, duplicates: 0, reconnects: 0 });
    receiver.detach();
  });

  it('a message larger than the local ring is dropped as too-large, and those after it arrive: core NATS and JetStream', async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    const small = (i: number) => Uint8Array.of(i, i, i);
    const big = new Uint8Array(5000).fill(7);
    // Core: any publisher on the subject.
    using coreInbox = Channel.create({ capacity: 4096, autoRemove: true });
    await using core = await bridge({ channel: coreInbox, url: server.url, subject: 'big.core', direction: 'in' });
    const coreDrops: unknown[] = [];
    core.on('dropped', (event) => coreDrops.push(event));
    const nc = await connect({ servers: server.url });
    try {
      for (const data of [small(1), big, small(2)]) nc.publish('big.core', data);
      await nc.flush();
    } finally {
      await nc.close();
    }
    const coreReceiver = coreInbox.receiver();
    assert.deepEqual(await coreReceiver.recv({ timeoutMs: 5_000 }), small(1));
    assert.deepEqual(await coreReceiver.recv({ timeoutMs: 5_000 }), small(2), 'the bridge went on');
    assert.deepEqual(coreDrops, [{ count: 1, reason: 'too-large' }]);
    assert.deepEqual([core.stats.in, core.stats.dropped], [2, 1]);
    coreReceiver.detach();
    // JetStream: one message in flight, so one that stayed unacknowledged would hold back every other.
    using outbox = Channel.create({ capacity: 1 << 16, autoRemove: true });
    using inbox = Channel.create({ capacity: 4096, autoRemove: true });
    await using _out = await bridge({ channel: outbox, url: server.url, subject: 'big.js', direction: 'out', jetstream: true });
    await using into = await bridge({ channel: inbox, url: server.url, subject: 'big.js', direction: 'in', jetstream: { durable: 'big' } });
    const jsDrops: unknown[] = [];
    into.on('dropped', (event) => jsDrops.push(event));
    using sender = outbox.sender();
    for (const data of [small(1), big, small(2)]) await sender.send(data);
    const receiver = inbox.receiver();
    assert.deepEqual(await receiver.recv({ timeoutMs: 10_000 }), small(1));
    assert.deepEqual(await receiver.recv({ timeoutMs: 10_000 }), small(2), 'the message after it came');
    assert.deepEqual(jsDrops, [{ count: 1, reason: 'too-large' }]);
    assert.deepEqual([into.stats.in, into.stats.dropped], [2, 1]);
    receiver.detach();
  });

  it('codecs pass through unchanged: json and a user codec, encoded on one side and decoded on the other', async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    // A user codec the bridge cannot know: a point as two little-endian int32s.
    const point = {
      name: 'point',
      encode: ({ x, y }: { x: number; y: number }) => {
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setInt32(0, x, true);
        new DataView(bytes.buffer).setInt32(4, y, true);
        return bytes;
      },
      decode: (bytes: Uint8Array) => {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        return { x: view.getInt32(0, true), y: view.getInt32(4, true) };
      },
    };
    for (const [codec, values] of [
      ['json', [{ a: 1, text: 'héllo 😀' }, [1, 2, 3], null, 'plain']],
      [
        point,
        [
          { x: 1, y: -2 },
          { x: 2 ** 31 - 1, y: -(2 ** 31) },
        ],
      ],
    ] as const) {
      const name = typeof codec === 'string' ? codec : codec.name;
      using outbox = Channel.create({ capacity: 1 << 14, autoRemove: true, codec: codec as never });
      using inbox = Channel.create({ capacity: 1 << 14, autoRemove: true, codec: codec as never });
      await using _out = await bridge({ channel: outbox, url: server.url, subject: `codec.${name}`, direction: 'out' });
      await using _in = await bridge({ channel: inbox, url: server.url, subject: `codec.${name}`, direction: 'in' });
      const receiver = inbox.receiver();
      using sender = outbox.sender();
      for (const value of values) await sender.send(value as never);
      for (const value of values) assert.deepEqual(await receiver.recv({ timeoutMs: 10_000 }), value, `${name}: ${JSON.stringify(value)}`);
      receiver.detach();
    }
  });

  it('JetStream: a stream that exists but does not hold the subject is an error at once, not endless retries', async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    // The first bridge creates stream OTHER for subject 'a'.
    await (await bridge({ channel, url: server.url, subject: 'a', direction: 'out', jetstream: { stream: 'OTHER' } })).close();
    await assert.rejects(bridge({ channel, url: server.url, subject: 'b', direction: 'out', jetstream: { stream: 'OTHER' } }), {
      code: 'ERR_BRIDGE_STREAM',
      message: 'bridge: the JetStream stream OTHER does not hold the subject b',
    });
    channel.receiver().detach(); // the failed bridge gave the receiver's place back
  });

  it('ends on close(), on its AbortSignal and when its channel is closed; the channels stay for the application', async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    using channel = Channel.create({ capacity: 4096, autoRemove: true });

    const closed = await bridge({ channel, url: server.url, subject: 'end', direction: 'out' });
    await closed.close();
    assert.equal(closed.closed, true);
    await closed.done;
    channel.receiver().detach(); // the receiver's place is free again

    const controller = new AbortController();
    const aborted = await bridge({ channel, url: server.url, subject: 'end', direction: 'out', signal: controller.signal });
    controller.abort();
    await aborted.done;
    assert.equal(aborted.closed, true);

    {
      await using scoped = await bridge({ channel, url: server.url, subject: 'end', direction: 'in' });
      assert.equal(scoped.closed, false);
    }

    const ending = await bridge({ channel, url: server.url, subject: 'end', direction: 'out' });
    channel.close();
    await ending.done; // resolves: a closed channel is the end of its work, not a failure
    assert.equal(ending.closed, true);
    assert.equal(channel.closed, true);
  });
});

describe('bridge: every message accounted for, against a real nats-server', { skip: noNatsServer }, () => {
  /** What a receiver of `channel` gets now, without waiting. */
  const leftIn = (channel: Channel): number[] => {
    const receiver = channel.receiver();
    const left: number[] = [];
    for (let data = receiver.tryRecv(); data !== null; data = receiver.tryRecv()) left.push(data[0]!);
    receiver.detach();
    return left;
  };

  it("core 'in', closed while a full ring holds it back: in + dropped is every message, the one it was sending too", async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    using inbox = Channel.create({ capacity: 1024, autoRemove: true });
    const b = await bridge({ channel: inbox, url: server.url, subject: 'closing', direction: 'in', maxBufferedMessages: 10 });
    const nc = await connect({ servers: server.url });
    const N = 100;
    try {
      for (let i = 0; i < N; i++) nc.publish('closing', new Uint8Array(40).fill(i));
      await nc.flush();
      for (let i = 0; i < 500 && b.stats.in + b.stats.dropped + 10 + 1 < N; i++) await sleep(10);
    } finally {
      await nc.close();
      await b.close();
    }
    const left = leftIn(inbox);
    assert.equal(left.length, b.stats.in);
    assert.equal(b.stats.in + b.stats.dropped, N, JSON.stringify(b.stats));
  });

  it("core 'out' takes nothing from the ring while disconnected: closed then, the messages stay in the channel", async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    using outbox = Channel.create({ capacity: 4096, autoRemove: true });
    const b = await bridge({ channel: outbox, url: server.url, subject: 'away', direction: 'out', nats: { reconnectTimeWait: 50 } });
    try {
      const disconnected = new Promise((resolve) => b.once('disconnect', resolve));
      await server.stop();
      await disconnected;
      using sender = outbox.sender();
      for (let i = 0; i < 20; i++) await sender.send(Uint8Array.of(i));
      await sleep(100);
    } finally {
      await b.close();
    }
    assert.deepEqual(leftIn(outbox), [...Array(20).keys()]);
    assert.deepEqual([b.stats.out, b.stats.dropped], [0, 0]);
  });

  it("JetStream 'out', closed before the stream acknowledged: a channel's message stays in it, a PubSub's is counted dropped", async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    using outbox = Channel.create({ capacity: 4096, autoRemove: true });
    using pubsub = PubSub.create({ capacity: 4096, autoRemove: true });
    const options = { url: server.url, subject: 'unacked', direction: 'out', jetstream: true, nats: { reconnectTimeWait: 50 } } as const;
    const fromChannel = await bridge({ channel: outbox, ...options });
    const fromPubSub = await bridge({ pubsub, ...options });
    const drops: unknown[] = [];
    fromPubSub.on('dropped', (event) => drops.push(event));
    try {
      const disconnected = Promise.all([fromChannel, fromPubSub].map((b) => new Promise((resolve) => b.once('disconnect', resolve))));
      await server.stop();
      await disconnected;
      using sender = outbox.sender();
      for (let i = 0; i < 3; i++) await sender.send(Uint8Array.of(i));
      using publisher = pubsub.publisher();
      await publisher.send(Uint8Array.of(9));
      await sleep(100);
    } finally {
      await fromChannel.close();
      await fromPubSub.close();
    }
    assert.deepEqual(leftIn(outbox), [0, 1, 2], 'the message in flight too');
    assert.equal(fromChannel.stats.dropped, 0);
    assert.deepEqual(drops, [{ count: 1, reason: 'closed' }]);
  });

  it("JetStream 'out' whose stream is deleted says so once ('stalled', ERR_BRIDGE_STREAM naming the subject and stream), keeps retrying, and says 'resumed' when a stream takes the message: stored once", async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    using outbox = Channel.create({ capacity: 4096, autoRemove: true });
    await using b = await bridge({ channel: outbox, url: server.url, subject: 'stall', direction: 'out', jetstream: { stream: 'STALL' } });
    const events: string[] = [];
    b.on('stalled', ({ error }: { error: { code?: string; message?: string } }) => {
      events.push(`stalled: ${error.code}`);
      assert.match(String(error.message), /no JetStream stream takes the subject stall \(was the stream STALL deleted\?\)/);
    });
    b.on('resumed', () => events.push('resumed'));
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      using sender = outbox.sender();
      await sender.send(Uint8Array.of(1));
      await waitFor('the first message published', () => b.stats.out === 1);
      assert.deepEqual(events, [], 'no stall while the stream takes every message');

      await jsm.streams.delete('STALL');
      await sender.send(Uint8Array.of(2));
      await waitFor('a stalled event', () => events.length > 0);
      await sleep(300); // retries go on meanwhile (from 50 ms apart), and are not said again
      assert.deepEqual(events, ['stalled: ERR_BRIDGE_STREAM']);
      assert.equal(b.stats.out, 1, 'not published while no stream holds the subject');

      await jsm.streams.add({ name: 'STALL', subjects: ['stall'] });
      await waitFor('the retried message published', () => b.stats.out === 2);
      assert.deepEqual(events, ['stalled: ERR_BRIDGE_STREAM', 'resumed']);
      assert.equal((await jsm.streams.info('STALL')).state.messages, 1, 'the new stream holds it once');
      assert.equal(b.stats.dropped, 0);
    } finally {
      await nc.close();
    }
  });

  it("JetStream 'in', a ring full for longer than ackWaitMs: the stream's redelivery is not put in twice, though a plain client published it", async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    using inbox = Channel.create({ capacity: 1024, autoRemove: true });
    await using b = await bridge({
      channel: inbox,
      url: server.url,
      subject: 'slow',
      direction: 'in',
      jetstream: { durable: 'slow', ackWaitMs: 150 },
    });
    const nc = await connect({ servers: server.url });
    const N = 10;
    try {
      const js = jetstream(nc);
      // No Nats-Msg-Id: 200 bytes each, so that the ring holds four and the fifth waits.
      for (let i = 0; i < N; i++) await js.publish('slow', new Uint8Array(200).fill(i));
    } finally {
      await nc.close();
    }
    await sleep(700); // the fifth stays unacknowledged for several ack waits
    const receiver = inbox.receiver();
    const got: number[] = [];
    // Everything that comes, until nothing has for 300 ms once N are in.
    for (;;) {
      const data = await receiver.recv({ timeoutMs: got.length < N ? 10_000 : 300 }).catch((error: { code?: string }) => {
        if (error.code === 'ETIMEDOUT' && got.length >= N) return null;
        throw error;
      });
      if (data === null) break;
      got.push(data[0]!);
    }
    receiver.detach();
    assert.deepEqual(got, [...Array(N).keys()]);
    assert.equal(b.stats.in, N);
    assert.ok(b.stats.duplicates >= 1, `the redeliveries were counted: ${JSON.stringify(b.stats)}`);
  });

  it("'out' of a message over max_payload or the stream's max_msg_size: dropped as too-large once, not retried for ever, and not lost to the receiver", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-nats-conf-'));
    try {
      writeFileSync(join(dir, 'server.conf'), 'max_payload: 4096\n');
      await using server = Object.assign(await NatsServer.start({ jetstream: true, args: ['-c', join(dir, 'server.conf')] }), {
        [Symbol.asyncDispose]: () => server.dispose(),
      });
      const nc = await connect({ servers: server.url });
      try {
        await (await jetstreamManager(nc)).streams.add({ name: 'SMALL', subjects: ['big.stream'], max_msg_size: 1000 });
      } finally {
        await nc.close();
      }
      for (const [subject, big, js] of [
        ['big.payload', 5000, undefined],
        ['big.stream', 2000, { stream: 'SMALL' }],
      ] as const) {
        using outbox = Channel.create({ capacity: 1 << 14, autoRemove: true });
        using inbox = Channel.create({ capacity: 1 << 14, autoRemove: true });
        await using out = await bridge({ channel: outbox, url: server.url, subject, direction: 'out', jetstream: js });
        await using into = await bridge({
          channel: inbox,
          url: server.url,
          subject,
          direction: 'in',
          jetstream: js && { ...js, durable: 'big' },
        });
        using sender = outbox.sender();
        for (const size of [1, big, 2]) await sender.send(new Uint8Array(size).fill(size & 0xff));
        const receiver = inbox.receiver();
        assert.deepEqual(await receiver.recv({ timeoutMs: 10_000 }), Uint8Array.of(1), subject);
        assert.deepEqual(await receiver.recv({ timeoutMs: 10_000 }), Uint8Array.of(2, 2), `${subject}: the message after it came`);
        receiver.detach();
        // JetStream's publish ack may reach 'out' after the consumer has delivered the message to 'in'.
        await waitFor(`${subject}: both sent`, () => out.stats.out + out.stats.dropped >= 3, { tries: 500 });
        assert.deepEqual([out.stats.out, out.stats.dropped], [2, 1], subject);
        assert.deepEqual([into.stats.in, into.stats.lost], [2, 0], `${subject}: a message never published is no gap`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bridge: JetStream 'in' whose consumer or stream is deleted, and closed in an outage, against a real nats-server", {
  skip: noNatsServer,
}, () => {
  it('a deleted consumer is made again where it was, a deleted stream and its consumer are made again; each said by a recreated event', async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    using inbox = Channel.create({ capacity: 1 << 14, autoRemove: true });
    await using b = await bridge({ channel: inbox, url: server.url, subject: 'gone', direction: 'in', jetstream: { durable: 'gone' } });
    const recreated: unknown[] = [];
    b.on('recreated', (event) => recreated.push(event));
    const nc = await connect({ servers: server.url });
    const receiver = inbox.receiver();
    try {
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      // A plain client's messages (no Nats-Msg-Id): only the consumer's position keeps them from coming twice.
      const publish = async (from: number, to: number) => {
        for (let i = from; i < to; i++) await js.publish('gone', Uint8Array.of(i));
      };
      const receive = async (count: number) => {
        const got: number[] = [];
        for (let i = 0; i < count; i++) got.push((await receiver.recv({ timeoutMs: 10_000 }))[0]!);
        return got;
      };
      await publish(0, 3);
      assert.deepEqual(await receive(3), [0, 1, 2]);

      await jsm.consumers.delete('SHMKIT_gone', 'gone');
      await publish(3, 6);
      assert.deepEqual(await receive(3), [3, 4, 5], 'the new consumer starts after the last message handled');
      assert.deepEqual(recreated, [{ what: 'consumer', name: 'gone' }]);
      assert.equal((await jsm.consumers.info('SHMKIT_gone', 'gone')).config.max_ack_pending, 1, "the bridge's settings");

      recreated.length = 0;
      const remade = new Promise((resolve) => b.on('recreated', () => recreated.length === 2 && resolve(undefined)));
      await jsm.streams.delete('SHMKIT_gone');
      await remade; // (until then nothing takes the subject: a publish would find no stream)
      assert.deepEqual(recreated, [
        { what: 'stream', name: 'SHMKIT_gone' },
        { what: 'consumer', name: 'gone' },
      ]);
      await publish(6, 8);
      assert.deepEqual(await receive(2), [6, 7], "the new stream's messages from its first");
      assert.equal(receiver.tryRecv(), null, 'nothing twice');
      assert.deepEqual({ ...b.stats, reconnects: 0 }, { out: 0, in: 8, dropped: 0, lost: 0, duplicates: 0, reconnects: 0 });
      assert.equal(b.closed, false);
    } finally {
      receiver.detach();
      await nc.close();
    }
  });

  // A bridge that retried for ever would leave done pending: the test's signal, aborted at its
  // time limit, closes it, and done resolving is the failure.
  it('a stream or consumer the server refuses to make again stops the bridge: done rejects with ERR_BRIDGE_STREAM or ERR_BRIDGE_CONSUMER', {
    timeout: 60_000,
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-nats-conf-'));
    try {
      // User 'bridge' may use a consumer but not make one.
      writeFileSync(
        join(dir, 'server.conf'),
        `authorization { users: [
          { user: admin, password: admin }
          { user: bridge, password: bridge, permissions: { publish: { deny: ["$JS.API.CONSUMER.CREATE.>", "$JS.API.CONSUMER.DURABLE.CREATE.>"] } } }
        ] }\n`,
      );
      await using server = Object.assign(await NatsServer.start({ jetstream: true, args: ['-c', join(dir, 'server.conf')] }), {
        [Symbol.asyncDispose]: () => server.dispose(),
      });
      const as = (user: string) => `nats://${user}:${user}@127.0.0.1:${server.port}`;
      using inbox = Channel.create({ capacity: 1 << 14, autoRemove: true });
      const options = { channel: inbox, direction: 'in', signal: t.signal } as const;
      const nc = await connect({ servers: server.url, user: 'admin', pass: 'admin' });
      let moved: Bridge | undefined;
      let denied: Bridge | undefined;
      try {
        const jsm = await jetstreamManager(nc);
        // Its stream no longer holds the subject: as at the start, ERR_BRIDGE_STREAM.
        moved = await bridge({ ...options, url: as('admin'), subject: 'moved', jetstream: { durable: 'moved' } });
        await jsm.streams.update('SHMKIT_moved', { subjects: ['elsewhere'] });
        await jsm.consumers.delete('SHMKIT_moved', 'moved');
        await assert.rejects(moved.done, {
          code: 'ERR_BRIDGE_STREAM',
          message: 'bridge: the JetStream stream SHMKIT_moved does not hold the subject moved',
        });
        assert.equal(moved.closed, true);
        // Not allowed to make the consumer (the admin's bridge made it): ERR_BRIDGE_CONSUMER, the server's words.
        await (await bridge({ ...options, url: as('admin'), subject: 'denied', jetstream: { durable: 'denied' } })).close();
        denied = await bridge({ ...options, url: as('bridge'), subject: 'denied', jetstream: { durable: 'denied' } });
        await jsm.consumers.delete('SHMKIT_denied', 'denied');
        await assert.rejects(denied.done, (error: Error & { code?: string }) => {
          assert.equal(error.code, 'ERR_BRIDGE_CONSUMER');
          assert.match(
            error.message,
            /^bridge: the JetStream consumer denied of stream SHMKIT_denied was deleted, and the server refused to make it again: Permissions Violation/,
          );
          assert.doesNotMatch(error.message, /bridge:bridge@/, 'no credentials');
          return true;
        });
        assert.equal(denied.closed, true);
      } finally {
        await moved?.close();
        await denied?.close();
        await nc.close();
      }
      inbox.receiver().detach(); // the bridges are gone: the channel is the application's
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('closed while the server is down: ends its connection at once (it does not reconnect while closing) and keeps what is in the ring', async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    using inbox = Channel.create({ capacity: 1 << 14, autoRemove: true });
    const b = await bridge({
      channel: inbox,
      url: server.url,
      subject: 'outage',
      direction: 'in',
      jetstream: { durable: 'outage' },
      nats: { reconnectTimeWait: 50 },
    });
    const events: string[] = [];
    for (const name of ['disconnect', 'reconnect']) b.on(name, () => events.push(name));
    const nc = await connect({ servers: server.url });
    try {
      const js = jetstream(nc);
      for (let i = 0; i < 5; i++) await js.publish('outage', Uint8Array.of(i));
    } finally {
      await nc.close();
    }
    for (let i = 0; i < 1000 && b.stats.in < 5; i++) await sleep(10);
    const disconnected = new Promise((resolve) => b.once('disconnect', resolve));
    await server.stop();
    await disconnected;
    // Long enough for the bridge's next round of pulling to begin while the server is away.
    await sleep(500);
    const closing = b.close();
    // The server comes back while close() runs: a bridge still waiting on a request of
    // the broken connection would reconnect to it; one that closed it at once cannot.
    await server.startAgain();
    await closing;
    await b.done;
    assert.equal(b.closed, true);
    assert.deepEqual(events, ['disconnect'], 'no reconnect after close()');
    assert.equal(b.stats.reconnects, 0);
    const receiver = inbox.receiver();
    const left: number[] = [];
    for (let data = receiver.tryRecv(); data !== null; data = receiver.tryRecv()) left.push(data[0]!);
    receiver.detach();
    assert.deepEqual(left, [0, 1, 2, 3, 4], 'what was in the ring stays there');
    assert.equal(b.stats.in, 5);
  });
});
