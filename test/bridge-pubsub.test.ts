// The bridge with a PubSub at either end: on "host A" a PubSub with two
// subscribers receives, through a real nats-server, what a publisher on
// "host B" publishes; codecs pass through; bad options are refused by name.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { bridge, Channel, PubSub } from 'shmkit';
import { rejects, startBridgeCommand } from './helpers/bridge.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { Host, NatsServer, noNatsServer } from './helpers/nats-server.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

describe('bridge: PubSub options', () => {
  const url = 'nats://127.0.0.1:1';
  it('refuses one PubSub both ways, a channel and a PubSub together, and bad PubSub references, by name', async () => {
    await rejects({ pubsub: { id: 1 }, url, subject: 's', direction: 'both' }, /'pubsub'.*two PubSubs/, 'ERR_INVALID_ARG_VALUE');
    using pubsub = PubSub.create({ capacity: 4096, autoRemove: true });
    await rejects(
      { pubsub, url, subject: 's', direction: 'both' },
      /'pubsub'.*would get what its publisher put in/,
      'ERR_INVALID_ARG_VALUE',
    );
    await rejects({ pubsub, channel: { id: 1 }, url, subject: 's', direction: 'out' }, /'pubsub'.*not both/, 'ERR_INVALID_ARG_VALUE');
    await rejects({ pubsub: { out: { id: 1 }, in: { id: 2 } }, url, subject: 's', direction: 'in' }, /'pubsub'/, 'ERR_INVALID_ARG_VALUE');
    await rejects({ pubsub: { out: { id: 1 }, in: 'x' }, url, subject: 's' }, /"pubsub.in"/, 'ERR_INVALID_ARG_TYPE');
    await rejects({ pubsub: { id: -1 }, url, subject: 's', direction: 'out' }, /"pubsub.id"/, 'ERR_OUT_OF_RANGE');
    await rejects({ pubsub: 7, url, subject: 's', direction: 'out' }, /"pubsub"/, 'ERR_INVALID_ARG_TYPE');
    // A Channel where a PubSub is expected is neither a PubSub nor a reference.
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    await rejects({ pubsub: channel, url, subject: 's', direction: 'out' }, /"pubsub"/, 'ERR_INVALID_ARG_TYPE');
    assert.equal(pubsub.subscribers, 0, 'nothing was attached');
  });

  it('a segment that is not a PubSub: ERR_CHANNEL_FORMAT, before connecting', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    await rejects({ pubsub: { id: channel.id }, url, subject: 's', direction: 'out' }, /not a shmkit PubSub/, 'ERR_CHANNEL_FORMAT');
  });
});

describe('bridge: PubSub against a real nats-server', { skip: noNatsServer }, () => {
  it('two subscribers on host A get, in order and decoded (json), every message a publisher on host B publishes', async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    const N = 2_000;
    using hostB = PubSub.create({ capacity: 1 << 14, codec: 'json', autoRemove: true });
    using hostA = PubSub.create({ capacity: 1 << 16, codec: 'json', autoRemove: true });
    const first = hostA.subscriber();
    const second = hostA.subscriber();
    await using out = await bridge({ pubsub: hostB, url: server.url, subject: 'ps.orders', direction: 'out' });
    await using into = await bridge({ pubsub: { id: hostA.id }, url: server.url, subject: 'ps.orders', direction: 'in' });
    assert.equal(hostB.subscribers, 1, "the 'out' bridge is one subscriber");
    const publisher = hostB.publisher();
    const value = (i: number) => ({ i, text: `héllo ${i}`, list: [i, 2 * i] });
    const receiving = [first, second].map(async (subscriber) => {
      for (let i = 0; i < N; i++) assert.deepEqual(await subscriber.recv({ timeoutMs: 10_000 }), value(i), `message ${i}`);
    });
    for (let i = 0; i < N; i++) await publisher.send(value(i));
    const outcomes = await Promise.allSettled(receiving);
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    assert.deepEqual(out.stats, { out: N, in: 0, dropped: 0, lost: 0, duplicates: 0, reconnects: 0 });
    assert.deepEqual(into.stats, { out: 0, in: N, dropped: 0, lost: 0, duplicates: 0, reconnects: 0 });
    // A closed PubSub ends the bridge that serves it, as a closed channel does.
    hostB.close();
    await out.done;
    assert.equal(out.closed, true);
    await into.close();
    assert.equal(hostA.subscribers, 2, 'the applications keep their subscribers');
    publisher.close();
  });

  it("out of a drop-oldest PubSub, what was overwritten before the bridge took it is dropped with reason 'lagged': out + dropped is all that was published", async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    using pubsub = PubSub.create({ capacity: 1 << 12, lag: 'drop-oldest', autoRemove: true });
    await using out = await bridge({ pubsub, url: server.url, subject: 'ps.lagged', direction: 'out' });
    let lagged = 0;
    const otherReasons: string[] = [];
    out.on('dropped', ({ count, reason }: { count: number; reason: string }) => {
      if (reason === 'lagged') lagged += count;
      else otherReasons.push(reason);
    });
    const publisher = pubsub.publisher();
    // While NATS is away the bridge takes nothing more, so the 4 KiB ring overwrites most of these.
    const disconnected = once(out, 'disconnect');
    await server.stop();
    await disconnected;
    const N = 2_000;
    for (let i = 0; i < N; i++) assert.equal(publisher.trySend(new Uint8Array(64).fill(i & 0xff)), true, 'drop-oldest never refuses');
    await server.startAgain();
    for (let i = 0; i < 500 && out.stats.out + out.stats.dropped < N; i++) await sleep(20);
    assert.equal(out.stats.out + out.stats.dropped, N, `out ${out.stats.out} + dropped ${out.stats.dropped}`);
    assert.ok(out.stats.dropped > N / 2, `most were overwritten (dropped ${out.stats.dropped})`);
    assert.equal(lagged, out.stats.dropped, "every drop was reported as 'lagged'");
    assert.deepEqual(otherReasons, []);
    publisher.close();
  });

  it("both ways with two PubSubs, through JetStream: each side gets the other's messages in order, never its own", async () => {
    await using server = Object.assign(await NatsServer.start({ jetstream: true }), { [Symbol.asyncDispose]: () => server.dispose() });
    using outA = PubSub.create({ capacity: 4096, codec: 'text', autoRemove: true });
    using inA = PubSub.create({ capacity: 4096, codec: 'text', autoRemove: true });
    using outB = PubSub.create({ capacity: 4096, codec: 'text', autoRemove: true });
    using inB = PubSub.create({ capacity: 4096, codec: 'text', autoRemove: true });
    const atA = inA.subscriber();
    const atB = inB.subscriber();
    await using _a = await bridge({ pubsub: { out: outA, in: inA }, url: server.url, subject: 'ps.both', jetstream: { durable: 'A' } });
    await using _b = await bridge({ pubsub: { out: outB, in: inB }, url: server.url, subject: 'ps.both', jetstream: { durable: 'B' } });
    const fromA = outA.publisher();
    const fromB = outB.publisher();
    for (let i = 0; i < 50; i++) {
      await fromA.send(`A${i}`);
      await fromB.send(`B${i}`);
    }
    // Each side gets the other's messages in order, and never its own back (the bridge skips its own message ids).
    const expected = (origin: string) => Array.from({ length: 50 }, (_, i) => `${origin}${i}`);
    for (const [subscriber, origin] of [
      [atA, 'B'],
      [atB, 'A'],
    ] as const) {
      const got: string[] = [];
      while (got.length < 50) got.push(await subscriber.recv({ timeoutMs: 10_000 }));
      assert.deepEqual(got, expected(origin));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(atA.tryRecv(), undefined, 'nothing more came back to A');
    assert.equal(atB.tryRecv(), undefined, 'nothing more came back to B');
    fromA.close();
    fromB.close();
  });

  it('across processes: a PubSub in one IPC namespace fans out what a publisher in another publishes', async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    // No defect behind the count: 1,500 (about 125 KB with the rings' headers)
    // still go round the 16 KiB ring and the 64 KiB one more than once.
    const N = budget(1_500, 5_000);
    // The receiving host is this process, in an IPC namespace of its own (the runner's, or unshare's
    // by hand), where it was a Host as the sending one: a Node process (about 65 ms of CPU) less.
    using pubsub = PubSub.create({ capacity: 1 << 16, codec: 'json', autoRemove: true });
    const subscribers = [pubsub.subscriber(), pubsub.subscriber()];
    await using into = await bridge({ pubsub, url: server.url, subject: 'ps.hosts', direction: 'in' });
    const sending = new Host(
      `
      import { PubSub, bridge } from 'SHMKIT';
      import { once } from 'node:events';
      const [url, n] = process.argv.slice(1);
      const pubsub = PubSub.create({ capacity: 1 << 14, codec: 'json', autoRemove: true });
      const b = await bridge({ pubsub, url, subject: 'ps.hosts', direction: 'out' });
      console.log('ready');
      await once(process.stdin, 'data');
      const publisher = pubsub.publisher();
      for (let i = 0; i < Number(n); i++) await publisher.send({ i, pad: 'x'.repeat(i % 100) });
      pubsub.close();
      await b.done;
      console.log('result ' + JSON.stringify(b.stats));
      pubsub.detach();
      process.stdin.destroy();
      `,
      [server.url, String(N)],
    );
    try {
      await sending.line('ready');
      sending.send('go');
      const counts = await Promise.all(
        subscribers.map(async (s) => {
          let inOrder = 0;
          for (let i = 0; i < N; i++) if (((await s.recv({ timeoutMs: 20000 })) as { i: number }).i === i) inOrder++;
          return inOrder;
        }),
      );
      await into.close();
      const sent = JSON.parse((await sending.line('result ')).slice('result '.length));
      assert.equal(sent.out, N);
      assert.deepEqual(
        { counts, stats: into.stats },
        { counts: [N, N], stats: { out: 0, in: N, dropped: 0, lost: 0, duplicates: 0, reconnects: 0 } },
      );
      const exit = await sending.exited;
      assert.equal(exit.code, 0, exit.stderr);
    } finally {
      await sending.kill();
    }
  });

  it('shmkit bridge --pubsub: a PubSub forwarded by the command, its route said and its counters printed at SIGTERM', async () => {
    await using server = Object.assign(await NatsServer.start(), { [Symbol.asyncDispose]: () => server.dispose() });
    using source = PubSub.create({ capacity: 4096, codec: 'text', autoRemove: true });
    using target = PubSub.create({ capacity: 4096, codec: 'text', autoRemove: true });
    const subscriber = target.subscriber();
    await using _in = await bridge({ pubsub: target, url: server.url, subject: 'ps.cli', direction: 'in' });
    const command = await startBridgeCommand(['--pubsub', String(source.id), '--nats', server.url, '--subject', 'ps.cli', '--out']);
    const { child, stdout, stderr } = command;
    try {
      assert.match(stderr(), new RegExp(`forwarding PubSub ${source.id} -> nats://127\\.0\\.0\\.1:${server.port} subject ps\\.cli`));
      assert.equal(source.subscribers, 1, 'the command is one subscriber');
      using publisher = source.publisher();
      await publisher.send('one');
      await publisher.send('two');
      assert.equal(await subscriber.recv({ timeoutMs: 10_000 }), 'one');
      assert.equal(await subscriber.recv({ timeoutMs: 10_000 }), 'two');
      child.kill('SIGTERM');
      assert.equal(await command.exited, 0, stderr());
      assert.equal(stdout(), 'out 2, in 0, dropped 0, lost 0, duplicates 0, reconnects 0\n');
      assert.equal(source.subscribers, 0, 'its subscriber is gone with it');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
