// Service (request/reply) within one process: codecs and their record,
// argument errors, handler errors, time limits, abort, closing, and the
// order of replies. test/service-processes.test.ts runs it across processes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Channel, ChannelError, IpcError, IPC_STAT, Service, ServiceRemoteError, SharedMemory, shmctl } from 'shmkit';
import { assertNoLeaks, removeSegment, uniqueKey } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode, SHMKIT } from './helpers/processes.js';
import { picky } from './helpers/picky-codec.js';
import { settledWithin } from './helpers/settled.js';

assertNoLeaks();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isCode(code: string) {
  return (error: unknown) => (error as { code?: unknown }).code === code;
}

/** The segment id of a service's request channel (word 2 of its segment). */
function requestChannelId(service: Service): number {
  using shm = SharedMemory.open({ id: service.id });
  return new DataView(shm.buffer).getInt32(8, true);
}

describe('Service within one process', { timeout: 60_000 }, () => {
  it('answers requests with the json codec, and its segments are 0600', async () => {
    using service = Service.create<{ n: number }, { doubled: number }>({ capacity: 4096, codec: 'json' });
    using server = service.serve((value: { n: number }) => ({ doubled: value.n * 2 }));
    using client = service.client();
    assert.deepEqual(await client.request({ n: 21 }), { doubled: 42 });
    assert.equal(service.codec, 'json');
    assert.equal(service.capacity, 4096);
    assert.equal(shmctl(service.id, IPC_STAT).shm_perm.mode & 0o777, 0o600);
    assert.equal(shmctl(requestChannelId(service), IPC_STAT).shm_perm.mode & 0o777, 0o600);
    assert.equal(server.closed, false);
  });

  it('carries every built-in codec and a user codec', async () => {
    const values: Record<string, unknown> = {
      bytes: new Uint8Array([1, 2, 3]),
      text: 'héllo',
      json: { a: [1, 'two', null] },
      v8: new Map<string, unknown>([
        ['when', new Date(0)],
        ['big', 10n ** 20n],
      ]),
    };
    for (const [codec, value] of Object.entries(values)) {
      using service = Service.create({ capacity: 4096, codec: codec as 'json' });
      using _server = service.serve((v) => v);
      using client = service.client();
      assert.deepEqual(await client.request(value), value, codec);
    }
    const upper = {
      name: 'upper',
      encode: (value: string) => new TextEncoder().encode(value.toUpperCase()),
      decode: (bytes: Uint8Array) => new TextDecoder().decode(bytes),
    };
    using service = Service.create({ capacity: 4096, codec: upper });
    using _server = service.serve((v: string) => `${v}!`);
    using client = service.client();
    assert.equal(await client.request('abc'), 'ABC!');
    assert.equal(service.codec, 'upper');
  });

  it('records the codec: an opener with another codec is refused, one without gets the built-in one', async () => {
    const key = uniqueKey();
    using service = Service.create<number, number>({ key, capacity: 4096, codec: 'json' });
    try {
      assert.throws(
        () => Service.open({ key }, { codec: 'v8' }),
        (error: unknown) =>
          error instanceof ChannelError &&
          error.code === 'ERR_CHANNEL_FORMAT' &&
          error.message.includes("codec is 'json'") &&
          error.message.includes("options.codec is 'v8'"),
      );
      using opened = Service.open({ key });
      assert.equal(opened.codec, 'json');
      using _server = service.serve((v: number) => v + 1);
      using client = opened.client();
      assert.equal(await client.request(1), 2);
    } finally {
      removeSegment(service.id);
    }
    using custom = Service.create({ capacity: 4096, codec: { name: 'mine', encode: (v: Uint8Array) => v, decode: (b) => b.slice() } });
    assert.throws(() => Service.open({ id: custom.id }), isCode('ERR_CHANNEL_FORMAT'));
    assert.throws(() => Service.open({ id: custom.id }, { codec: 'bytes' }), /codec is 'mine'/);
    using other = Service.open({ id: custom.id }, { codec: { name: 'mine', encode: (v: Uint8Array) => v, decode: (b) => b.slice() } });
    assert.equal(other.codec, 'mine');
  });

  it('refuses segments that are not services', () => {
    using plain = SharedMemory.create({ size: 4096 });
    assert.throws(
      () => Service.open({ id: plain.id }),
      (error: unknown) =>
        error instanceof ChannelError && error.code === 'ERR_CHANNEL_FORMAT' && /not a shmkit service/.test(error.message),
    );
    using small = SharedMemory.create({ size: 64 });
    assert.throws(() => Service.open({ id: small.id }), isCode('ERR_CHANNEL_FORMAT'));
    using channel = Channel.create({ capacity: 4096 });
    assert.throws(() => Service.open({ id: channel.id }), isCode('ERR_CHANNEL_FORMAT'));
  });

  it('refuses options.timeout (the time limit is timeoutMs) instead of ignoring it', async () => {
    using service = Service.create({ capacity: 4096, codec: 'json' });
    using _server = service.serve((value: unknown) => value);
    using client = service.client();
    await assert.rejects(client.request(1, { timeout: 100 } as never), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.equal((error as { code?: unknown }).code, 'ERR_INVALID_ARG_VALUE');
      assert.match(error.message, /options\.timeout.*timeoutMs/);
      return true;
    });
    assert.equal(client.pending, 0);
  });

  it('checks its arguments with TypeError and RangeError naming them', async () => {
    assert.throws(
      () => Service.create(null as never),
      (e: unknown) => e instanceof TypeError && /"options"/.test((e as Error).message),
    );
    assert.throws(
      () => Service.create({} as never),
      (e: unknown) => e instanceof TypeError && /"options\.capacity"/.test((e as Error).message),
    );
    assert.throws(() => Service.create({ capacity: 0 }), RangeError);
    assert.throws(() => Service.create({ capacity: 4096, codec: 'yaml' as never }), isCode('ERR_INVALID_ARG_VALUE'));
    assert.throws(
      () => Service.create({ capacity: 4096, mode: 0o1000 }),
      (e: unknown) => e instanceof RangeError && /"options\.mode"/.test((e as Error).message),
    );
    assert.throws(
      () => Service.open(5 as never),
      (e: unknown) => e instanceof TypeError && /"where"/.test((e as Error).message),
    );
    using service = Service.create({ capacity: 1024, codec: 'text' });
    assert.throws(
      () => service.serve('no' as never),
      (e: unknown) => e instanceof TypeError && /"handler"/.test((e as Error).message),
    );
    assert.throws(
      () => service.serve((v) => v, { concurrency: 0 }),
      (e: unknown) => e instanceof RangeError && /"options.concurrency"/.test((e as Error).message),
    );
    assert.throws(
      () => service.serve((v) => v, { signal: {} as never }),
      (e: unknown) => e instanceof TypeError && /"options.signal"/.test((e as Error).message),
    );
    assert.throws(
      () => service.client({ capacity: -1 }),
      (e: unknown) => e instanceof RangeError && /"options.capacity"/.test((e as Error).message),
    );
    using client = service.client();
    await assert.rejects(
      client.request('x', { timeoutMs: -1 }),
      (e: unknown) => e instanceof RangeError && /"options\.timeoutMs"/.test((e as Error).message),
    );
    await assert.rejects(
      client.request('x', { signal: 'stop' as never }),
      (e: unknown) => e instanceof TypeError && /"options.signal"/.test((e as Error).message),
    );
    await assert.rejects(
      client.request('x', null as never),
      (e: unknown) => e instanceof TypeError && /"options"/.test((e as Error).message),
    );
    for (const options of [[], ['x']]) {
      const refused = {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_TYPE',
        message: /^The "options" argument must be of type object\. Received an array/,
      };
      await assert.rejects(client.request('x', options as never), refused);
      assert.throws(() => service.serve((v) => v, options as never), refused);
      assert.throws(() => service.client(options as never), refused);
    }
    await assert.rejects(client.request(42 as never), (e: unknown) => e instanceof TypeError && /"value"/.test((e as Error).message));
    await assert.rejects(client.request('x'.repeat(1024)), (e: unknown) => e instanceof RangeError && /"value"/.test((e as Error).message));
    assert.equal(client.pending, 0);
    // A user codec's faults are coded too: a name too long to record, an encode() that returns no bytes.
    const codec = (name: string, encode: (value: unknown) => unknown) => ({ name, encode, decode: (bytes: Uint8Array) => bytes }) as never;
    assert.throws(() => Service.create<unknown, unknown>({ capacity: 4096, codec: codec('x'.repeat(65), () => new Uint8Array(1)) }), {
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
      message: /^The value of "options\.codec\.name" is out of range\. It must be at most 64 bytes of UTF-8 .*it has 65/,
    });
    using odd = Service.create<unknown, unknown>({ capacity: 4096, codec: codec('odd', () => 'not bytes') });
    using oddClient = odd.client();
    await assert.rejects(oddClient.request(1), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: /^The "encoded" argument must be an instance of Uint8Array \(what the 'odd' codec's encode\(\) returned\)/,
    });
    assert.equal(oddClient.pending, 0);
    // A detached Uint8Array, as the value (bytes codec), as a user codec's encode() result, as a handler's reply.
    const detached = () => {
      const buffer = new ArrayBuffer(8);
      const view = new Uint8Array(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      return view;
    };
    using raw = Service.create({ capacity: 4096 });
    using rawClient = raw.client();
    await assert.rejects(rawClient.request(detached(), { timeoutMs: 5000 }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The argument 'value' is invalid: its ArrayBuffer is detached/,
    });
    assert.equal(rawClient.pending, 0);
    using lost = Service.create<unknown, unknown>({ capacity: 4096, codec: codec('lost', () => detached()) });
    using lostClient = lost.client();
    await assert.rejects(lostClient.request(1), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The argument 'encoded' is invalid: its ArrayBuffer is detached/,
    });
    using _rawServer = raw.serve(() => detached());
    // The handler's reply: the server's error, naming the reply.
    await assert.rejects(rawClient.request(new Uint8Array(1), { timeoutMs: 10_000 }), {
      code: 'ERR_SERVICE_REMOTE',
      remoteCode: 'ERR_INVALID_ARG_VALUE',
      remoteMessage:
        /^reply: the 'bytes' codec could not encode the handler's reply: The argument 'value' is invalid: its ArrayBuffer is detached/,
    });
  });

  it("a handler's result whose then getter throws is that request's error reply; the server serves on", async () => {
    // The getter was read outside the handler's try: its throw ended the whole server.
    using service = Service.create<string, string>({ capacity: 4096, codec: 'json' });
    using server = service.serve((v: string) =>
      v === 'weird'
        ? ({
            // biome-ignore lint/suspicious/noThenProperty: the thenable under test
            get then() {
              throw new Error('then getter throws');
            },
          } as unknown as string)
        : `${v}!`,
    );
    using client = service.client();
    await assert.rejects(client.request('weird', { timeoutMs: 10_000 }), { remoteMessage: 'then getter throws' });
    assert.equal(await client.request('normal', { timeoutMs: 10_000 }), 'normal!');
    assert.equal(server.closed, false);
  });

  it('sends a handler error back: name, message and code cross, for throws and rejections alike', async () => {
    using service = Service.create<string, undefined>({ capacity: 4096, codec: 'json' });
    using _server = service.serve(async (value: string) => {
      if (value === 'sync') throw Object.assign(new RangeError('too far'), { code: 'E_FAR', secret: 'stays' });
      if (value === 'string') throw 'just a string';
      if (value === 'undefined') return undefined; // has no JSON form: the encode error crosses
      await sleep(1);
      throw new Error('later');
    });
    using client = service.client();
    await assert.rejects(client.request('sync'), (error: unknown) => {
      assert.ok(error instanceof ServiceRemoteError);
      assert.equal(error.name, 'ServiceRemoteError');
      assert.equal(error.code, 'ERR_SERVICE_REMOTE');
      assert.equal(error.remote, true);
      assert.equal(error.remoteName, 'RangeError');
      assert.equal(error.remoteMessage, 'too far');
      assert.equal(error.remoteCode, 'E_FAR');
      assert.equal(error.message, `service ${service.id}: remote RangeError (E_FAR): too far`);
      assert.equal((error as { secret?: unknown }).secret, undefined);
      return true;
    });
    await assert.rejects(client.request('string'), { remoteName: 'Error', remoteMessage: 'just a string', remoteCode: undefined });
    // A reply the codec cannot encode names the reply, not the client's value.
    await assert.rejects(client.request('undefined'), (error: unknown) => {
      assert.ok(error instanceof ServiceRemoteError);
      assert.equal(error.remoteName, 'TypeError');
      assert.equal(error.remoteCode, 'ERR_INVALID_ARG_VALUE');
      assert.match(error.remoteMessage, /^reply: the 'json' codec could not encode the handler's reply: /);
      return true;
    });
    await assert.rejects(client.request('async'), { remoteName: 'Error', remoteMessage: 'later' });
  });

  it("a handler's error is never taken for the client's own: its code is ERR_SERVICE_REMOTE whatever the handler's; an oversized name or code is cut, not the error", async () => {
    using service = Service.create<string, string>({ capacity: 4096, codec: 'json' });
    using _server = service.serve((value: string) => {
      if (value === 'dead') throw Object.assign(new Error('pretend'), { code: 'ERR_CHANNEL_PEER_DEAD' });
      const huge = 'N'.repeat(10_000);
      throw Object.assign(new Error('the message'), { name: huge, code: `C${huge}` });
    });
    using client = service.client({ capacity: 256 });
    await assert.rejects(client.request('dead'), (error: unknown) => {
      assert.ok(error instanceof ServiceRemoteError);
      assert.ok(!(error instanceof ChannelError));
      assert.equal(error.code, 'ERR_SERVICE_REMOTE');
      assert.equal(error.remoteCode, 'ERR_CHANNEL_PEER_DEAD');
      return true;
    });
    await assert.rejects(client.request('huge'), (error: unknown) => {
      assert.ok(error instanceof ServiceRemoteError);
      assert.match(error.remoteName, /^N+…$/);
      assert.match(String(error.remoteCode), /^CN+…$/);
      assert.match(error.remoteMessage, /^the m/);
      return true;
    });
  });

  it("sends a coded error reply (ERR_OUT_OF_RANGE) when the reply does not fit the client's reply channel, and serves on", async () => {
    // It crossed as a RangeError without a code.
    using service = Service.create({ capacity: 4096, codec: 'text' });
    using _server = service.serve((n: string) => 'x'.repeat(Number(n)));
    using client = service.client({ capacity: 256 });
    assert.equal((await client.request('208')).length, 208);
    for (const size of ['209', '100000']) {
      // A bound against a hang, not a speed check: the request has no timeoutMs.
      const error = await settledWithin(client.request(size), 30_000);
      assert.ok(error instanceof ServiceRemoteError, `request(${size}) settled: ${String(error)}`);
      assert.equal(error.remoteName, 'RangeError');
      assert.equal(error.remoteCode, 'ERR_OUT_OF_RANGE');
      // Whole, not cut to fit: the smallest reply channel carries it.
      assert.equal(
        error.remoteMessage,
        `The value of "reply" is out of range. It must be at most 208 bytes encoded (client({ capacity }) less 48). Received ${size}`,
      );
      assert.equal(client.pending, 0);
      // The server goes on serving this client and others.
      assert.equal(await client.request('3'), 'xxx');
    }
    using other = service.client();
    assert.equal((await other.request('1000')).length, 1000);
  });

  it('a request or a reply its codec cannot decode is ERR_CHANNEL_DECODE (remote for the request), named for the service', async () => {
    using service = Service.create({ capacity: 4096, codec: picky });
    using _server = service.serve((n: number) => (n === 7 ? 0xff : n + 1));
    using client = service.client();
    const where = `service ${service.id}`;
    // The server's: it crosses as the handler's errors do.
    await assert.rejects(client.request(0xff), {
      code: 'ERR_SERVICE_REMOTE',
      remoteCode: 'ERR_CHANNEL_DECODE',
      remoteMessage: `${where}: request: the 'picky' codec could not decode a 1-byte message (it was consumed): 0xff is not a value`,
    });
    await assert.rejects(client.request(7), {
      code: 'ERR_CHANNEL_DECODE',
      message: `${where}: reply: the 'picky' codec could not decode a 1-byte message (it was consumed): 0xff is not a value`,
    });
    assert.equal(await client.request(1), 2, 'both ends go on');
  });

  it('a server whose request channel another program corrupted stops: done rejects, a process warning says why, the process lives on', async () => {
    // In a child that never looks at done: an unhandled rejection there would end it with exit code 1.
    const child = await runNode(`
      import { Service, SharedMemory } from 'SHMKIT';
      const service = Service.create({ capacity: 4096, codec: 'json' });
      const server = service.serve((n) => n);
      const client = service.client();
      await client.request(1);
      const warned = new Promise((resolve) => process.once('warning', resolve));
      // In the request channel (its id is word 2 of the service segment): garbage where the server
      // reads next, and TAIL moved past it (channel format: TAIL at byte 68, HEAD at 128, ring at 8192).
      const words = new Int32Array(SharedMemory.open({ id: new Int32Array(SharedMemory.open({ id: service.id }).buffer)[2] }).buffer);
      const head = words[128 >> 2];
      words[(8192 + (head & 4095)) >> 2] = 0x78787878;
      words[68 >> 2] = words[68 >> 2] + 64;
      // Nothing answers it (the server stops before it): it ends at its time limit, which only sets how long this test waits.
      const request = client.request(2, { timeoutMs: 300 }).then(() => 'replied', (error) => error.code);
      const warning = await warned;
      console.log(JSON.stringify({ warning: { name: warning.name, code: warning.code, message: warning.message }, request: await request, done: await server.done.then(() => 'resolved', (error) => error.code) }));
      service.detach();
    `);
    assertExitedCleanly(child, 'child');
    const r = lastJson<{ warning: { name: string; code: string; message: string }; request: string; done: string }>(child);
    assert.equal(r.warning.code, 'SHMKIT_SERVER_STOPPED');
    assert.match(r.warning.message, /^service \d+: the server stopped: ERR_CHANNEL_FORMAT: /);
    assert.equal(r.done, 'ERR_CHANNEL_FORMAT');
    assert.ok(['ERR_CHANNEL_PEER_DEAD', 'ETIMEDOUT'].includes(r.request), `the request failed: ${r.request}`);
  });

  it('a client whose reply channel another program corrupted while no request waits lives on; its next request rejects with ERR_CHANNEL_FORMAT', async () => {
    // In a child: an uncaught exception (from the timer that drops late replies) would end it with exit code 1.
    const child = await runNode(`
      import { Service, SharedMemory, shmctl, SHM_INFO, SHM_STAT } from 'SHMKIT';
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const service = Service.create({ capacity: 4096, codec: 'json' });
      const server = service.serve(async (n) => { await sleep(30); return n; });
      const client = service.client();
      // A request that times out: its late reply is dropped by a timer while nothing is pending.
      const timedOut = await client.request(1, { timeoutMs: 5 }).then(() => 'replied', (error) => error.code);
      await sleep(100);
      // The reply channel: the channel (magic 'SKCH') that is not the request channel (word 2 of the service segment).
      const requests = new Int32Array(SharedMemory.open({ id: service.id }).buffer)[2];
      let words;
      for (let i = 0, highest = shmctl(0, SHM_INFO).highest_index; i <= highest; i++) {
        try {
          const { id } = shmctl(i, SHM_STAT);
          const w = new Int32Array(SharedMemory.open({ id }).buffer);
          if (id !== requests && w[0] === 0x48434b53) words = w;
        } catch {}
      }
      // Garbage where the client reads next, and TAIL moved past it (TAIL at byte 68, HEAD at 128, ring at 8192).
      const head = words[128 >> 2];
      words[(8192 + (head & 4095)) >> 2] = 0x78787878;
      words[68 >> 2] = words[68 >> 2] + 64;
      await sleep(300);
      const next = await client.request(2, { timeoutMs: 2000 }).then(() => 'replied', (error) => error.code);
      console.log(JSON.stringify({ timedOut, next }));
      await server.close();
      service.detach();
    `);
    assertExitedCleanly(child, 'child');
    assert.deepEqual(lastJson(child), { timedOut: 'ETIMEDOUT', next: 'ERR_CHANNEL_FORMAT' });
  });

  it('times out with IpcError ETIMEDOUT and drops the late reply instead of giving it to another request', async () => {
    using service = Service.create<{ id: string; delay: number }, string>({ capacity: 4096, codec: 'json' });
    using _server = service.serve(async (value: { id: string; delay: number }) => {
      await sleep(value.delay);
      return value.id;
    });
    using client = service.client();
    await assert.rejects(client.request({ id: 'slow', delay: 150 }, { timeoutMs: 20 }), (error: unknown) => {
      assert.ok(error instanceof IpcError);
      assert.equal(error.code, 'ETIMEDOUT');
      // A timer over the round trip, not a futex: the syscall says what timed out.
      assert.equal(error.syscall, 'request');
      assert.ok(error instanceof ChannelError);
      assert.match(error.message, /^request: ETIMEDOUT \(Connection timed out\): request: not done within 20 ms/);
      return true;
    });
    assert.equal(client.pending, 0);
    // The server is still busy with 'slow' (one at a time); its reply comes first and must be dropped.
    assert.equal(await client.request({ id: 'next', delay: 0 }), 'next');
    assert.equal(await client.request({ id: 'third', delay: 0 }), 'third');
  });

  it('a timeoutMs longer than setTimeout allows (2 ** 31 ms, Infinity) does not time out early', async () => {
    using service = Service.create<{ id: string; delay: number }, string>({ capacity: 4096, codec: 'json' });
    using _server = service.serve(async (value: { id: string; delay: number }) => {
      await sleep(value.delay);
      return value.id;
    });
    using client = service.client();
    // Node fires a timer of more than 2 ** 31 - 1 ms (Infinity too) after 1 ms: each request must wait for its reply.
    assert.equal(await client.request({ id: 'long', delay: 50 }, { timeoutMs: 2 ** 31 }), 'long');
    assert.equal(await client.request({ id: 'longer', delay: 50 }, { timeoutMs: 2 ** 40 }), 'longer');
    assert.equal(await client.request({ id: 'forever', delay: 50 }, { timeoutMs: Infinity }), 'forever');
  });

  it('aborts with an AbortError, before and while waiting', async () => {
    using service = Service.create({ capacity: 4096, codec: 'json' });
    using _server = service.serve(() => new Promise(() => {}), { concurrency: Infinity });
    using client = service.client();
    await assert.rejects(client.request(1, { signal: AbortSignal.abort('no') }), { name: 'AbortError' });
    const controller = new AbortController();
    const pending = client.request(2, { signal: controller.signal });
    await sleep(20);
    assert.equal(client.pending, 1);
    controller.abort('changed my mind');
    await assert.rejects(
      pending,
      (error: unknown) => error instanceof DOMException && error.name === 'AbortError' && error.cause === 'changed my mind',
    );
    assert.equal(client.pending, 0);
  });

  it('matches replies that come out of order to their requests', async () => {
    using service = Service.create<number, number>({ capacity: 1 << 16, codec: 'json' });
    const finished: number[] = [];
    using _server = service.serve(
      async (n: number) => {
        await sleep((n * 7919) % 23);
        finished.push(n);
        return n * n;
      },
      { concurrency: 64 },
    );
    using client = service.client();
    const replies = await Promise.all(Array.from({ length: 200 }, (_, n) => client.request(n)));
    assert.deepEqual(
      replies,
      Array.from({ length: 200 }, (_, n) => n * n),
    );
    assert.notDeepEqual(
      finished,
      [...finished].sort((a, b) => a - b),
      'the handler finished out of order',
    );
  });

  it('runs handlers one at a time by default, and up to `concurrency` at once', async () => {
    for (const concurrency of [undefined, 3]) {
      using service = Service.create<number, number>({ capacity: 1 << 14, codec: 'json' });
      let running = 0;
      let most = 0;
      using _server = service.serve(
        async (n: number) => {
          most = Math.max(most, ++running);
          await sleep(2);
          running--;
          return n;
        },
        { concurrency },
      );
      using client = service.client();
      await Promise.all(Array.from({ length: 20 }, (_, n) => client.request(n)));
      assert.equal(most, concurrency ?? 1);
    }
  });

  it('serves one server at a time; requests wait for the next server after close()', async () => {
    using service = Service.create<number, number>({ capacity: 4096, codec: 'json' });
    const first = service.serve((n: number) => n + 1);
    assert.throws(
      () => service.serve((n: number) => n),
      (error: unknown) => error instanceof ChannelError && error.code === 'ERR_CHANNEL_BUSY',
    );
    using client = service.client();
    assert.equal(await client.request(1), 2);
    await first.close();
    await first.done;
    assert.equal(first.closed, true);
    const waiting = client.request(10);
    await sleep(30);
    assert.equal(client.pending, 1);
    const controller = new AbortController();
    service.serve((n: number) => n + 100, { signal: controller.signal });
    assert.equal(await waiting, 110);
    controller.abort();
    const third = service.serve((n: number) => n + 1000);
    assert.equal(await client.request(1), 1001);
    await third[Symbol.asyncDispose]();
  });

  it('a request whose handler closes its server (or aborts its signal) is handled once: the next server does not get it again', async () => {
    // Both ways a server takes requests: a burst already queued (drain) and one that comes while it waits (recvView).
    for (const queued of [true, false]) {
      for (const how of ['close', 'abort'] as const) {
        using service = Service.create<string, string>({ capacity: 4096, codec: 'json' });
        using client = service.client();
        const calls: string[] = [];
        const controller = new AbortController();
        const first = service.serve(
          (value: string) => {
            calls.push(`first ${value}`);
            if (value === 'shutdown') {
              if (how === 'close') void first.close();
              else controller.abort();
            }
            return value;
          },
          { signal: controller.signal },
        );
        let replies: Promise<string[]>;
        if (queued) replies = Promise.all([client.request('shutdown'), client.request('after')]);
        else {
          await sleep(20); // the server waits for a request
          replies = Promise.all([client.request('shutdown')]);
        }
        await first.done;
        using _second = service.serve((value: string) => {
          calls.push(`second ${value}`);
          return value;
        });
        if (!queued) replies = Promise.all([...(await replies), await client.request('after')]);
        assert.deepEqual(await replies, ['shutdown', 'after']);
        assert.deepEqual(calls, ['first shutdown', 'second after'], `${how}, ${queued ? 'queued' : 'while waiting'}`);
      }
    }
  });

  it('serves from a worker thread, and a terminated worker fails pending requests with ERR_CHANNEL_PEER_DEAD', async () => {
    using service = Service.create({ capacity: 4096, codec: 'json' });
    const worker = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.url).then(({ Service }) => {
        Service.open({ id: workerData.id }).serve((n) => (n < 0 ? new Promise(() => {}) : n * 3));
        parentPort.postMessage('ready');
      });
      `,
      { eval: true, workerData: { url: SHMKIT, id: service.id } },
    );
    try {
      await once(worker, 'message');
      using client = service.client();
      assert.equal(await client.request(5), 15);
      // Handled from the start: the rejection may come while terminate() is still settling.
      const hanging = assert.rejects(
        client.request(-1),
        (error: unknown) => error instanceof ChannelError && error.code === 'ERR_CHANNEL_PEER_DEAD',
      );
      await sleep(20);
      await worker.terminate();
      await hanging;
    } finally {
      await worker.terminate();
    }
  });

  it('closing a client rejects its pending requests with ERR_CHANNEL_CLOSED', async () => {
    using service = Service.create({ capacity: 4096, codec: 'json' });
    using _server = service.serve(() => new Promise(() => {}), { concurrency: Infinity });
    const client = service.client();
    const pending = [client.request(1), client.request(2)];
    await sleep(10);
    client.close();
    for (const request of pending) await assert.rejects(request, isCode('ERR_CHANNEL_CLOSED'));
    await assert.rejects(client.request(3), isCode('ERR_CHANNEL_CLOSED'));
    assert.equal(client.closed, true);
  });

  it('open waits (about 100 ms) for a service header still being written, as Channel.open does', async () => {
    using service = Service.create({ capacity: 4096, codec: 'json' });
    using header = SharedMemory.open({ id: service.id });
    const words = new Int32Array(header.buffer, 0, 1);
    const magic = Atomics.load(words, 0);
    const control = new Int32Array(new SharedArrayBuffer(8));
    // The worker writes the magic back 20 ms after the go, while this thread's open waits.
    const code = `
      const { workerData } = require('node:worker_threads');
      const { control, id, magic } = workerData;
      import(workerData.url).then(({ SharedMemory }) => {
        const words = new Int32Array(SharedMemory.open({ id }).buffer, 0, 1);
        Atomics.store(control, 0, 1);
        Atomics.notify(control, 0);
        while (Atomics.load(control, 1) === 0) Atomics.wait(control, 1, 0, 100);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        Atomics.store(words, 0, magic);
      });
    `;
    const worker = new Worker(code, { eval: true, workerData: { url: SHMKIT, control, id: service.id, magic } });
    try {
      while (Atomics.load(control, 0) === 0) await sleep(1);
      Atomics.store(words, 0, 0);
      Atomics.store(control, 1, 1);
      Atomics.notify(control, 1);
      using opened = Service.open({ id: service.id });
      assert.equal(opened.codec, 'json');
    } finally {
      Atomics.store(words, 0, magic);
      await worker.terminate();
    }
  });

  it('the last of several threads that detach at once removes a keyed service: its key is free again', async () => {
    // Each trial: the main thread creates the service under one key, three
    // workers open it, and all four detach at the same moment. Whoever counts
    // the attachments before its own detach may count one that is going away.
    // The workers sleep until the main thread's store wakes them all: spinning
    // there, three of them on two CPUs kept the main thread from running (up to
    // 14 ms a trial). On the code before the fix, 150 trials with spinning workers
    // caught it in 2 of 8 runs; 400 with sleeping ones, at less CPU, in 8 of 8.
    const threads = 3;
    const trials = 400;
    const key = uniqueKey();
    // [0]: the trial to open, [1]: how many opened it, [2]: the trial to detach, [3]: how many detached it
    const control = new Int32Array(new SharedArrayBuffer(16));
    const code = `
      const { workerData } = require('node:worker_threads');
      const { control, key, trials, threads } = workerData;
      import(workerData.url).then(({ Service }) => {
        for (let trial = 1; trial <= trials; trial++) {
          while (Atomics.load(control, 0) < trial) Atomics.wait(control, 0, trial - 1, 100);
          const service = Service.open({ key });
          // Asleep until all have opened (the last wakes the others and the
          // main thread): spinning here took the CPUs the others opened with.
          if (Atomics.add(control, 1, 1) + 1 === threads) Atomics.notify(control, 1);
          for (let n; (n = Atomics.load(control, 1)) < threads; ) Atomics.wait(control, 1, n, 100);
          while (Atomics.load(control, 2) < trial) Atomics.wait(control, 2, trial - 1, 100);
          service.detach();
          if (Atomics.add(control, 3, 1) + 1 === threads) Atomics.notify(control, 3);
        }
      });
    `;
    const workers = Array.from(
      { length: threads },
      () => new Worker(code, { eval: true, workerData: { url: SHMKIT, control, key, trials, threads } }),
    );
    const errors: unknown[] = [];
    for (const worker of workers) worker.on('error', (error) => errors.push(error));
    // Until all `threads` workers have counted at control[index]: asleep
    // until the last wakes it, or a millisecond, then a turn of the event
    // loop (a worker's error comes by it).
    const until = async (what: string, index: number) => {
      const end = Date.now() + 10_000;
      for (let n: number; (n = Atomics.load(control, index)) !== threads; ) {
        assert.deepEqual(errors, [], 'no worker failed');
        assert.ok(Date.now() < end, what);
        Atomics.wait(control, index, n, 1);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    let id: number | undefined;
    try {
      for (let trial = 1; trial <= trials; trial++) {
        const service = Service.create({ key, capacity: 4096 });
        id = service.id;
        Atomics.store(control, 1, 0);
        Atomics.store(control, 3, 0);
        Atomics.store(control, 0, trial);
        Atomics.notify(control, 0);
        // Asleep on this thread until the last worker has opened, without until()'s turns of
        // the event loop (the workers wait for this thread). until() then reports a worker's
        // error or the time limit.
        for (let n: number, end = Date.now() + 10_000; (n = Atomics.load(control, 1)) !== threads && Date.now() < end; )
          Atomics.wait(control, 1, n, 100);
        await until('every worker opens the service', 1);
        Atomics.store(control, 2, trial);
        Atomics.notify(control, 2);
        service.detach();
        await until('every worker detaches', 3);
        assert.throws(
          () => shmctl(service.id, IPC_STAT),
          (e: unknown) => isCode('EINVAL')(e) || isCode('EIDRM')(e),
          `trial ${trial}: the service segment is left, its key taken`,
        );
      }
    } finally {
      removeSegment(id);
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  });

  it('writes replies only into reply channels of its own clients: a request naming another channel, or its request channel, or without a presence, is dropped', async () => {
    using service = Service.create({ capacity: 4096, codec: 'json' });
    let calls = 0;
    using _server = service.serve((value: unknown) => {
      calls++;
      return value;
    });
    using victim = Channel.create({ capacity: 4096 });
    using receiver = victim.receiver();
    const requests = requestChannelId(service);
    // Before this process's own clients' sender: made by hand, as another program would.
    using channel = Channel.open({ id: requests, raw: true });
    using sender = channel.sender();
    const forged = (replyChannel: number, presence: [number, number]) => {
      const payload = new TextEncoder().encode(JSON.stringify('forged'));
      const message = new Uint8Array(24 + payload.length);
      const view = new DataView(message.buffer);
      view.setUint32(0, replyChannel, true);
      view.setUint32(4, 0xdeadbeef, true);
      view.setUint32(8, 7, true);
      view.setInt32(12, presence[0], true);
      view.setInt32(16, presence[1], true);
      view.setUint32(20, process.pid, true);
      message.set(payload, 24);
      assert.ok(sender.trySend(message));
    };
    forged(victim.id, [1, 1]);
    forged(requests, [1, 1]);
    forged(victim.id, [0, 0]);
    using client = service.client();
    assert.equal(await client.request('after'), 'after');
    assert.equal(calls, 1, 'the handler ran only for the real request');
    assert.equal(receiver.tryRecv(), null, 'nothing was written into the channel that is not a reply channel');
  });

  it('remove() after detach() is ERR_CHANNEL_CLOSED, as every other method', () => {
    const service = Service.create({ capacity: 4096 });
    service.detach();
    assert.throws(() => service.remove(), { name: 'ChannelError', code: 'ERR_CHANNEL_CLOSED', message: 'remove: the service is detached' });
  });

  it('says the server died without replying, not that another took its place, when none did', async () => {
    using service = Service.create({ capacity: 4096, codec: 'json' });
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.url).then(({ Service }) => {
        Service.open({ id: workerData.id }).serve(() => {
          setTimeout(() => process.exit(0), 20);
          return new Promise(() => {});
        });
        parentPort.postMessage('serving');
      });
    `;
    const worker = new Worker(code, { eval: true, workerData: { url: SHMKIT, id: service.id } });
    try {
      await once(worker, 'message');
      using client = service.client();
      await assert.rejects(client.request(1, { timeoutMs: 10_000 }), (error: unknown) => {
        assert.equal((error as ChannelError).code, 'ERR_CHANNEL_PEER_DEAD');
        assert.equal((error as Error).message, `request: the server of service ${service.id} died without replying`);
        return true;
      });
    } finally {
      await worker.terminate();
    }
  });

  it('names the service when its request channel has 256 live senders (one per Service object)', async () => {
    // 'sleep': the server and the clients are all in this thread, so a spin waiting for a request
    // or a reply could never see it come, and only took CPU (257 round trips: 30 ms of 0.18 s).
    using service = Service.create({ capacity: 1 << 16, codec: 'json', wait: 'sleep' });
    using _server = service.serve((value: unknown) => value, { concurrency: Infinity });
    const opened: Service[] = [];
    try {
      for (let i = 0; i < 256; i++) {
        const one = Service.open({ id: service.id });
        opened.push(one);
        assert.equal(await one.client().request(i), i);
      }
      const last = Service.open({ id: service.id });
      opened.push(last);
      await assert.rejects(last.client().request(0), {
        code: 'ERR_CHANNEL_BUSY',
        message: `request: the request channel of service ${service.id} has 256 live senders already (one per Service object, in any process, that has sent a request): detach one`,
      });
    } finally {
      for (const one of opened) one.detach();
    }
  });

  it('detach() closes clients and stops the server; the service is gone after the last detach', async () => {
    const key = uniqueKey();
    const service = Service.create({ key, capacity: 4096, codec: 'json' });
    const id = service.id;
    const server = service.serve(() => new Promise(() => {}));
    const client = service.client();
    const pending = client.request(1);
    service.detach();
    await assert.rejects(pending, isCode('ERR_CHANNEL_CLOSED'));
    await server.done;
    assert.throws(() => service.client(), isCode('ERR_CHANNEL_CLOSED'));
    assert.throws(
      () => shmctl(id, IPC_STAT),
      (e: unknown) => isCode('EINVAL')(e) || isCode('EIDRM')(e),
    );
  });
});
