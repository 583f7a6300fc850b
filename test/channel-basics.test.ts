// Channel: sending and receiving within a process and across processes,
// backpressure, time limits, abort, close, zero copy, and opening.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, describe, it } from 'node:test';
import { Channel, ChannelError, SharedMemory } from 'shmkit';
import { assertNoLeaks, removeSegment, uniqueKey } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { settledWithin } from './helpers/settled.js';
import { waitFor } from './helpers/shm.js';
import { budget } from './helpers/soak.js';
import { assertWrapWakesReader } from './helpers/wrap.js';

// The other process of the pings and of the close, which only opens the channels and sends, is a
// program of one peer process; the ones that are killed, exit or stay alive have processes of their own.
// (Registered before assertNoLeaks(), so the peer ends before the count.)
const tasks = peer();
after(() => tasks.end());
assertNoLeaks();

const text = (bytes: Uint8Array | null): string => new TextDecoder().decode(bytes ?? undefined);

function isCode(code: string) {
  return (error: unknown) => error instanceof ChannelError && error.code === code;
}

const activeTimers = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

/**
 * A child process becomes `channel`'s receiver, runs `then` (with SharedMemory
 * in scope) and dies by SIGKILL; a sender then fills the ring, and its next
 * send must fail with ERR_CHANNEL_PEER_DEAD, its message matching `message`.
 */
async function fillBehindKilledReceiver(channel: Channel, then: string, message: RegExp): Promise<void> {
  const receiverChild = await runNode(
    `
    import { Channel, SharedMemory } from 'SHMKIT';
    Channel.open({ id: Number(process.argv[1]) }).receiver();
    ${then}
    process.kill(process.pid, 'SIGKILL');
    `,
    [String(channel.id)],
  );
  assert.equal(receiverChild.signal, 'SIGKILL');
  const sender = channel.sender();
  while (sender.trySend(new Uint8Array(64)));
  await assert.rejects(sender.send(new Uint8Array(64), { timeoutMs: 10000 }), (error: unknown) => {
    return isCode('ERR_CHANNEL_PEER_DEAD')(error) && message.test((error as Error).message);
  });
}
describe('Channel within one process', { timeout: 60_000 }, () => {
  it('delivers strings and bytes in order, and tryRecv gives null when empty', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    assert.equal(receiver.tryRecv(), null);
    assert.equal(sender.trySend('héllo'), true);
    assert.equal(sender.trySend(new Uint8Array([1, 2, 3])), true);
    assert.equal(sender.trySend(new Uint16Array([0x0102]).buffer), true);
    assert.equal(sender.trySend(new DataView(new Uint8Array([9, 8, 7]).buffer, 1, 2)), true);
    assert.equal(sender.trySend(''), true);
    assert.equal(text(receiver.tryRecv()), 'héllo');
    assert.deepEqual([...receiver.tryRecv()!], [1, 2, 3]);
    assert.deepEqual([...receiver.tryRecv()!], [2, 1]);
    assert.deepEqual([...receiver.tryRecv()!], [8, 7]);
    assert.equal(receiver.tryRecv()!.byteLength, 0);
    assert.equal(receiver.tryRecv(), null);
  });

  it('a view out of its shrunk resizable buffer is sent as what it holds now: no bytes', async () => {
    // Its length reads 0; copying it threw V8's "detached ArrayBuffer" TypeError, without a code.
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    // ES2024's resizable ArrayBuffer, which the ES2022 lib this project compiles against does not declare.
    const resizable = new (ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer)(8, {
      maxByteLength: 64,
    });
    const view = new Uint8Array(resizable, 2, 4);
    (resizable as unknown as { resize(length: number): void }).resize(4);
    assert.equal(view.byteLength, 0);
    assert.equal(sender.trySend(view), true);
    await sender.send(view);
    assert.equal(sender.trySend('after'), true);
    assert.equal(receiver.tryRecv()!.byteLength, 0);
    assert.equal(receiver.tryRecv()!.byteLength, 0);
    assert.equal(text(receiver.tryRecv()), 'after');
  });

  it('rounds the capacity up to a power of two and refuses messages larger than the ring', () => {
    using channel = Channel.create({ capacity: 1000, autoRemove: true });
    assert.equal(channel.capacity, 1024);
    const sender = channel.sender();
    // A record header, and the next record's state word that every claim leaves room for.
    assert.equal(sender.maxMessageSize, 1024 - 32);
    assert.throws(() => sender.trySend(new Uint8Array(1024 - 31)), RangeError);
    assert.throws(() => Channel.create({ capacity: 0 }), RangeError);
    assert.throws(() => Channel.create({ capacity: 4096, wait: 'fast' as never }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.wait.*'adaptive', 'spin' or 'sleep'/,
    });
  });

  for (const wait of ['sleep', 'adaptive'] as const) {
    it(`a message that wraps and finds no room behind its padding reaches a sleeping receiver (${wait})`, async () => {
      // The sender wakes it (channel-ring.test.ts); it used to wait for its 100 ms liveness tick (helpers/wrap.ts).
      using channel = Channel.create({ capacity: 1024, wait, autoRemove: true });
      const sender = channel.sender();
      const receiver = channel.receiver();
      await assertWrapWakesReader({
        maxMessageSize: sender.maxMessageSize,
        send: (data, options) => sender.send(data, options),
        recv: (options) => receiver.recv(options),
      });
    });
  }

  it('wraps around the ring many times without corrupting messages of mixed sizes', () => {
    using channel = Channel.create({ capacity: 1024, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    let sent = 0;
    let received = 0;
    for (let round = 0; round < 2000; round++) {
      const size = (round * 37) % 500;
      const message = new Uint8Array(size).map((_, i) => (i + round) & 0xff);
      while (!sender.trySend(message)) {
        const got = receiver.tryRecv();
        assert.ok(got, 'a full ring has something to receive');
        check(got, received++);
      }
      sent++;
    }
    for (let got = receiver.tryRecv(); got; got = receiver.tryRecv()) check(got, received++);
    assert.equal(received, sent);

    function check(got: Uint8Array, round: number): void {
      const size = (round * 37) % 500;
      assert.equal(got.byteLength, size);
      for (let i = 0; i < size; i++) if (got[i] !== ((i + round) & 0xff)) assert.fail(`message ${round} byte ${i}`);
    }
  });

  it('send waits while the ring is full and resolves once the receiver frees space', async () => {
    using channel = Channel.create({ capacity: 1024, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    let count = 0;
    while (sender.trySend(new Uint8Array(100))) count++;
    assert.ok(count > 0);
    let fillers = 0;
    while (sender.trySend(new Uint8Array(1))) fillers++;
    let resolved = false;
    const pending = sender.send(new Uint8Array([42])).then(() => (resolved = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(resolved, false, 'send waits while full');
    receiver.tryRecv();
    await pending;
    for (let i = 1; i < count + fillers; i++) receiver.tryRecv();
    assert.deepEqual([...receiver.tryRecv()!], [42]);
  });

  it('a trySend right after an awaited send that waited for room goes through: the queue is free again', async () => {
    // Else a streaming loop (trySend, else await send) queues every later
    // message behind the last one: a timer and promise hops each, ten times slower.
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    while (sender.trySend(new Uint8Array(64))) {}
    const waiting = sender.send(new Uint8Array(64), { timeoutMs: 10_000 });
    receiver.tryRecv();
    receiver.tryRecv();
    await waiting;
    assert.equal(sender.trySend(new Uint8Array(8)), true);
  });

  it('keeps one sender’s messages in order when send and trySend mix under backpressure', async () => {
    using channel = Channel.create({ capacity: 512, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < 50; i++) sends.push(sender.send(new Uint32Array([i])));
    // While sends are queued, trySend must not overtake them.
    assert.equal(sender.trySend(new Uint32Array([999])), false);
    const got: number[] = [];
    while (got.length < 50) got.push(new Uint32Array((await receiver.recv({ timeoutMs: 5000 })).buffer)[0]!);
    await Promise.all(sends);
    assert.deepEqual(got, [...Array(50).keys()]);
  });

  it('recv and send honour timeoutMs (ETIMEDOUT) and AbortSignal (AbortError)', async () => {
    using channel = Channel.create({ capacity: 256, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    await assert.rejects(receiver.recv({ timeoutMs: 20 }), isCode('ETIMEDOUT'));
    // Named as the option it is, as options.signal is.
    await assert.rejects(receiver.recv({ timeoutMs: -1 }), { name: 'RangeError', message: /"options\.timeoutMs"/ });
    await assert.rejects(sender.send('x', { timeoutMs: '5' as never }), { name: 'TypeError', message: /"options\.timeoutMs"/ });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await assert.rejects(receiver.recv({ signal: controller.signal }), { name: 'AbortError' });
    await assert.rejects(receiver.recv({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    while (sender.trySend(new Uint8Array(64)));
    await assert.rejects(sender.send(new Uint8Array(64), { timeoutMs: 20 }), isCode('ETIMEDOUT'));
    await assert.rejects(sender.send(new Uint8Array(64), { signal: AbortSignal.timeout(20) }), { name: 'AbortError' });
    // The channel still works after abandoned waits (two records free room even across the end).
    assert.ok(receiver.tryRecv());
    assert.ok(receiver.tryRecv());
    await sender.send(new Uint8Array(64), { timeoutMs: 5000 });
  });

  it('a send or reserve queued behind a waiting send rejects at its own deadline or abort, and is then skipped', async () => {
    using channel = Channel.create({ capacity: 256, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    let filled = 0;
    while (sender.trySend(new Uint8Array(32))) filled++;
    const timers = activeTimers();
    let aheadSettled = false;
    const ahead = sender.send('ahead').finally(() => (aheadSettled = true));
    const controller = new AbortController();
    const aborted = sender.send('aborted', { signal: controller.signal });
    const timedOut = sender.send('timed out', { timeoutMs: 20 });
    const reserveAborted = sender.reserve(8, { signal: controller.signal });
    const reserveTimedOut = sender.reserve(8, { timeoutMs: 20 });
    const abortedBefore = sender.send('aborted before', { signal: AbortSignal.abort() });
    const kept = new AbortController();
    const last = sender.send('last', { timeoutMs: 600_000, signal: kept.signal });
    controller.abort(new Error('stop'));
    const outcomes = await Promise.all(
      [aborted, timedOut, reserveAborted, reserveTimedOut, abortedBefore].map((p) => settledWithin(p, 10_000)),
    );
    assert.equal(aheadSettled, false, 'the send ahead still waits: nobody received');
    const abortedWith = (error: unknown) => error instanceof DOMException && error.name === 'AbortError';
    const timedOutWith = (what: string) => (error: unknown) =>
      isCode('ETIMEDOUT')(error) && (error as Error).message.includes(`: ${what}: not done within 20 ms (nothing was sent`);
    assert.ok(abortedWith(outcomes[0]), `aborted send: ${outcomes[0]}`);
    assert.equal(((outcomes[0] as Error).cause as Error).message, 'stop');
    assert.ok(timedOutWith('send')(outcomes[1]), `timed-out send: ${outcomes[1]}`);
    assert.ok(abortedWith(outcomes[2]), `aborted reserve: ${outcomes[2]}`);
    assert.ok(timedOutWith('reserve')(outcomes[3]), `timed-out reserve: ${outcomes[3]}`);
    assert.ok(abortedWith(outcomes[4]), `send with a signal aborted before: ${outcomes[4]}`);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    // Room comes: the send ahead and the last go, in order; the ones that gave up are skipped.
    const got: string[] = [];
    while (got.length < filled + 2) got.push(text(await receiver.recv({ timeoutMs: 10_000 })));
    await ahead;
    await last;
    assert.deepEqual(got.slice(filled), ['ahead', 'last']);
    assert.equal(receiver.tryRecv(), null, 'nothing else was sent');
    assert.equal(getEventListeners(kept.signal, 'abort').length, 0, 'no abort listener left behind');
    assert.equal(activeTimers(), timers, 'no deadline timer left behind');
  });

  it('a close() or detach() just as a queued send or reserve claims its record: either it was in the ring by then, or it rejects ERR_CHANNEL_CLOSED', async () => {
    // The queued call claims as soon as the send ahead is in (the receiver
    // made room for both): the close or detach comes `depth` microtasks after
    // that, which walks it across the claim and the steps after it.
    for (const call of ['send', 'reserve'] as const) {
      for (const how of ['close', 'detach'] as const) {
        for (let depth = 0; depth < 8; depth++) {
          const label = `${call}, ${how} ${depth} microtasks later`;
          using channel = Channel.create({ capacity: 256, autoRemove: true });
          const receiver = channel.receiver();
          const sender = channel.sender();
          while (sender.trySend(new Uint8Array(32)));
          const ahead = sender.send('ahead');
          const inRing: string[] = [];
          const ending = ahead.then(async () => {
            for (let i = 0; i < depth; i++) await null;
            receiver.drain((data) => inRing.push(text(data)));
            if (how === 'close') sender.close();
            else channel.detach();
          });
          const queued = call === 'send' ? sender.send('queued') : sender.reserve(8);
          receiver.drain(() => {});
          const outcome = await settledWithin(queued, 10_000);
          await ending;
          if (outcome !== 'resolved') assert.ok(isCode('ERR_CHANNEL_CLOSED')(outcome), `${label}: ${outcome}`);
          else if (call === 'send') assert.ok(inRing.includes('queued'), `${label}: resolved, but was not in the ring at the ${how}`);
          else assert.throws(() => sender.commit(), isCode('ERR_CHANNEL_BUSY'), `${label}: the ${how} discarded the reservation`);
          if (how === 'close') {
            // Nothing claimed and left unpublished holds the receiver up.
            assert.equal(channel.sender().trySend('after'), true);
            let last: string | undefined;
            receiver.drain((data) => (last = text(data)));
            assert.equal(last, 'after', label);
          }
        }
      }
    }
  });

  it('close rejects waiting and later sends, lets the receiver drain, then ends its iteration', async () => {
    using channel = Channel.create({ capacity: 256, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    let count = 0;
    while (sender.trySend(`m${count}`)) count++;
    const waiting = sender.send('late');
    receiver.close();
    assert.equal(channel.closed, true);
    await assert.rejects(waiting, isCode('ERR_CHANNEL_CLOSED'));
    assert.throws(() => sender.trySend('x'), isCode('ERR_CHANNEL_CLOSED'));
    await assert.rejects(sender.send('x'), isCode('ERR_CHANNEL_CLOSED'));
    const got: string[] = [];
    for await (const message of receiver) got.push(text(message));
    assert.deepEqual(
      got,
      Array.from({ length: count }, (_, i) => `m${i}`),
    );
    await assert.rejects(receiver.recv(), isCode('ERR_CHANNEL_CLOSED'));
    assert.throws(() => channel.sender(), isCode('ERR_CHANNEL_CLOSED'));
  });

  it('close wakes a receiver that waits on an empty ring', async () => {
    using channel = Channel.create({ capacity: 256, autoRemove: true });
    const receiver = channel.receiver();
    const waiting = receiver.recv();
    setTimeout(() => channel.close(), 20);
    await assert.rejects(waiting, isCode('ERR_CHANNEL_CLOSED'));
  });

  it('reserve and commit write in place; recvView reads in place until release', async () => {
    using channel = Channel.create({ capacity: 1024, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    const view = sender.tryReserve(100)!;
    assert.equal(view.byteLength, 100);
    view.set([7, 7, 7]);
    assert.equal(receiver.tryRecv(), null, 'nothing is visible before commit');
    assert.throws(() => sender.tryReserve(1), isCode('ERR_CHANNEL_BUSY'));
    sender.commit(3);
    const later = await sender.reserve(5);
    later.set([1, 2, 3, 4, 5]);
    sender.commit();
    const discarded = sender.tryReserve(10)!;
    discarded.fill(1);
    sender.discard();
    sender.trySend('after');

    const first = await receiver.recvView();
    assert.deepEqual([...first.data], [7, 7, 7]);
    assert.equal(first.data.buffer.byteLength > 1024, true, 'a view of the segment, not a copy');
    assert.throws(() => receiver.tryRecv(), isCode('ERR_CHANNEL_BUSY'));
    first.release();
    first.release();
    const second = receiver.tryRecvView()!;
    assert.deepEqual([...second.data], [1, 2, 3, 4, 5]);
    second.release();
    assert.equal(text(receiver.tryRecv()), 'after', 'a discarded reservation is skipped');
  });

  it('allows one receiver at a time and many senders', () => {
    using channel = Channel.create({ capacity: 1024, autoRemove: true });
    channel.receiver();
    assert.throws(() => channel.receiver(), isCode('ERR_CHANNEL_BUSY'));
    const senders = Array.from({ length: 10 }, () => channel.sender());
    for (const sender of senders) sender.close();
    assert.throws(() => senders[0]!.trySend('x'), isCode('ERR_CHANNEL_CLOSED'));
  });

  it('open rejects a segment that is not a channel, or of another format version', () => {
    const key = uniqueKey();
    const plain = SharedMemory.create({ key, size: 8192 });
    try {
      assert.throws(
        () => Channel.open({ key }),
        (error: unknown) => isCode('ERR_CHANNEL_FORMAT')(error) && /not a shmkit channel \(magic 0x0/.test((error as Error).message),
      );
      new Int32Array(plain.buffer)[0] = 0x48434b53;
      new Int32Array(plain.buffer)[1] = 99;
      assert.throws(() => Channel.open({ key }), /format version 99; this shmkit reads version 2 only: it was made by a newer shmkit/);
      new Int32Array(plain.buffer)[1] = 1;
      assert.throws(
        () => Channel.open({ key }),
        (error: unknown) =>
          isCode('ERR_CHANNEL_FORMAT')(error) &&
          /format version 1; this shmkit reads version 2 only: it was made by an older shmkit/.test((error as Error).message),
      );
    } finally {
      plain.remove();
      plain.detach();
    }
    using small = SharedMemory.create({ size: 100 });
    assert.throws(() => Channel.open({ id: small.id }), isCode('ERR_CHANNEL_FORMAT'));
  });

  it('open names the header field it refuses, as a C creator would need to know', () => {
    // A header as docs/channel-format.md has a creator write it, then one field wrong at a time.
    using shm = SharedMemory.create({ size: 8192 + 4096, autoRemove: true });
    const i32 = new Int32Array(shm.buffer);
    const header = { 0: 0x48434b53, 1: 2, 2: 8192, 3: 4096, 5: 256 };
    const refusals: [number, number, RegExp][] = [
      [2, 4096, /header_size 4096, not 8192/],
      [3, 3000, /capacity 3000, not a power of two from 256 to 1073741824/],
      [3, 8192, /capacity 8192: the ring does not fit a segment of 12288 bytes/],
      [5, 64, /max_senders 64, not 256/],
    ];
    for (const [index, value, message] of refusals) {
      for (const [at, v] of Object.entries(header)) i32[Number(at)] = v;
      i32[index] = value;
      assert.throws(
        () => Channel.open({ id: shm.id }),
        (error: unknown) => isCode('ERR_CHANNEL_FORMAT')(error) && message.test((error as Error).message),
        String(message),
      );
    }
    for (const [at, v] of Object.entries(header)) i32[Number(at)] = v;
    const channel = Channel.open({ id: shm.id });
    assert.equal(channel.capacity, 4096);
    channel.detach();
  });

  it('opens by key and by id, with the creator’s wait mode unless told otherwise', () => {
    const key = uniqueKey();
    let id: number | undefined;
    try {
      using created = Channel.create({ key, capacity: 4096, wait: 'sleep' });
      id = created.id;
      using byKey = Channel.open({ key });
      assert.equal(byKey.id, created.id);
      assert.equal(byKey.capacity, 4096);
      assert.equal(byKey.wait, 'sleep');
      using byId = Channel.open({ id: created.id, wait: 'spin' });
      assert.equal(byId.wait, 'spin');
      assert.equal(byId.key, key);
      created.remove();
    } finally {
      removeSegment(id);
    }
  });
});

describe('Channel across processes', { timeout: 120_000 }, () => {
  for (const wait of ['adaptive', 'spin', 'sleep'] as const) {
    // Spin mode keeps both processes on a CPU through each round trip (200 took
    // 0.4 CPU-s more than in the other modes): its count has a budget, no
    // defect being behind it; the others, whose waits sleep, stay at 200.
    const pings = wait === 'spin' ? budget(50, 200) : 200;
    it(`answers a ping from another process in ${wait} mode`, async () => {
      using requests = Channel.create({ capacity: 4096, autoRemove: true, wait });
      using replies = Channel.create({ capacity: 4096, autoRemove: true, wait });
      const receiver = requests.receiver();
      const child = tasks.run(
        `
        import { Channel } from 'SHMKIT';
        const [requests, replies, pings] = process.argv.slice(1).map(Number);
        const out = Channel.open({ id: requests }).sender();
        const back = Channel.open({ id: replies }).receiver();
        for (let i = 0; i < pings; i++) {
          await out.send(new Uint32Array([i]));
          const answer = new Uint32Array((await back.recv({ timeoutMs: 10000 })).buffer)[0];
          if (answer !== i * 2) throw new Error('bad answer ' + answer + ' to ' + i);
        }
        out.close();
        console.log(JSON.stringify({ ok: true }));
        `,
        [String(requests.id), String(replies.id), String(pings)],
      );
      // The child's receiver must exist before we answer; the ring holds the first ping meanwhile.
      const first = await receiver.recv({ timeoutMs: 10000 });
      const reply = replies.sender();
      const answer = (message: Uint8Array) => reply.send(new Uint32Array([new Uint32Array(message.buffer)[0]! * 2]), { timeoutMs: 10000 });
      await answer(first);
      for (let i = 1; i < pings; i++) await answer(await receiver.recv({ timeoutMs: 10000 }));
      const result = await child;
      assertExitedCleanly(result);
      assert.deepEqual(lastJson(result), { ok: true });
      reply.close();
    });
  }

  it('delivers every message of several sender processes exactly once, in order per sender', async () => {
    using channel = Channel.create({ capacity: 8192, autoRemove: true });
    const receiver = channel.receiver();
    const senders = 4;
    // No defect is behind the count: the senders start together (a process
    // started late found the others done, at times, with 1,000 each and no
    // start line), and with 1,000 each they contend for the ring throughout.
    const perSender = budget(1000, 3000);
    // [0]: senders ready, [1]: go.
    using start = SharedMemory.create({ size: 8 });
    const words = new Int32Array(start.buffer);
    const children = Array.from({ length: senders }, (_, tag) =>
      runNode(
        `
        import { Channel, SharedMemory } from 'SHMKIT';
        const [id, tag, count, startId] = process.argv.slice(1).map(Number);
        const sender = Channel.open({ id }).sender();
        const words = new Int32Array(SharedMemory.open({ id: startId }).buffer);
        Atomics.add(words, 0, 1);
        while (Atomics.load(words, 1) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        for (let seq = 0; seq < count; seq++) {
          const size = 8 + ((seq * 7 + tag) % 300);
          const message = new Uint8Array(size);
          new DataView(message.buffer).setUint32(0, tag, true);
          new DataView(message.buffer).setUint32(4, seq, true);
          message.fill(seq & 0xff, 8);
          if (seq % 3 === 0) {
            const view = await sender.reserve(size, { timeoutMs: 20000 });
            view.set(message);
            sender.commit();
          } else {
            await sender.send(message, { timeoutMs: 20000 });
          }
        }
        sender.close();
        `,
        [String(channel.id), String(tag), String(perSender), String(start.id)],
      ),
    );
    await waitFor('every sender is ready', () => Atomics.load(words, 0) === senders);
    Atomics.store(words, 1, 1);
    const next = new Array<number>(senders).fill(0);
    for (let received = 0; received < senders * perSender; received++) {
      const message = await receiver.recv({ timeoutMs: 20000 });
      const view = new DataView(message.buffer);
      const tag = view.getUint32(0, true);
      const seq = view.getUint32(4, true);
      assert.equal(seq, next[tag], `sender ${tag}: message ${seq} arrived when ${next[tag]} was due`);
      next[tag]!++;
      assert.equal(message.byteLength, 8 + ((seq * 7 + tag) % 300));
      assert.ok(
        message.subarray(8).every((b) => b === (seq & 0xff)),
        `sender ${tag} message ${seq} intact`,
      );
    }
    for (const result of await Promise.all(children)) assertExitedCleanly(result);
    assert.equal(receiver.tryRecv(), null, 'nothing more than was sent');
  });

  it('a sender waiting on a full ring learns that the receiver process died', async () => {
    using channel = Channel.create({ capacity: 512, autoRemove: true });
    await fillBehindKilledReceiver(channel, '', /receiver \(pid \d+ in its own PID namespace\) died/);
    // A new receiver takes the dead one's place and drains the ring.
    const receiver = channel.receiver();
    assert.ok(receiver.tryRecv());
  });

  it('a dead receiver is found by its presence token, not by the pid word: a zeroed receiver_pid does not hide it', async () => {
    // Two receivers with one pid number in two PID namespaces (pid 1 of two containers) could
    // have the one that stepped down zero the pid word of the one that took its place.
    using channel = Channel.create({ capacity: 512, autoRemove: true });
    await fillBehindKilledReceiver(
      channel,
      'new DataView(SharedMemory.open({ id: Number(process.argv[1]) }).buffer).setInt32(132, 0, true);',
      /receiver \(pid unknown\) died/,
    );
  });

  it('a waiting receiver learns that every sender process died', async () => {
    using channel = Channel.create({ capacity: 512, autoRemove: true });
    const receiver = channel.receiver();
    const child = await runNode(
      `
      import { Channel } from 'SHMKIT';
      const sender = Channel.open({ id: Number(process.argv[1]) }).sender();
      sender.trySend('last words');
      process.kill(process.pid, 'SIGKILL');
      `,
      [String(channel.id)],
    );
    assert.equal(child.signal, 'SIGKILL');
    assert.equal(text(await receiver.recv({ timeoutMs: 10000 })), 'last words');
    await assert.rejects(receiver.recv({ timeoutMs: 10000 }), (error: unknown) => {
      return isCode('ERR_CHANNEL_PEER_DEAD')(error) && /every sender died/.test((error as Error).message);
    });
    // Reported once: the receiver then waits for new senders.
    await assert.rejects(receiver.recv({ timeoutMs: 300 }), isCode('ETIMEDOUT'));
  });

  it('a sender that exits normally without closing is not reported dead', async () => {
    using channel = Channel.create({ capacity: 512, autoRemove: true });
    const receiver = channel.receiver();
    const child = await runNode(
      `
      import { Channel } from 'SHMKIT';
      Channel.open({ id: Number(process.argv[1]) }).sender().trySend('bye');
      `,
      [String(channel.id)],
    );
    assertExitedCleanly(child);
    assert.equal(text(await receiver.recv({ timeoutMs: 10000 })), 'bye');
    await assert.rejects(receiver.recv({ timeoutMs: 300 }), isCode('ETIMEDOUT'));
  });

  it('close in one process rejects a send waiting in another, and the receiver drains', async () => {
    using channel = Channel.create({ capacity: 512, autoRemove: true });
    const receiver = channel.receiver();
    const child = tasks.run(
      `
      import { Channel } from 'SHMKIT';
      const sender = Channel.open({ id: Number(process.argv[1]) }).sender();
      let sent = 0;
      try {
        for (;;) { await sender.send(new Uint8Array(100), { timeoutMs: 20000 }); sent++; if (sent === 3) console.log('full soon'); }
      } catch (error) {
        console.log(JSON.stringify({ sent, code: error.code }));
      }
      `,
      [String(channel.id)],
    );
    // Let the child fill the ring and wait on it.
    const deadline = Date.now() + 10000;
    while (receiver.closed === false && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (channelFull()) break;
    }
    receiver.close();
    const result = await child;
    assertExitedCleanly(result);
    const { sent, code } = lastJson<{ sent: number; code: string }>(result);
    assert.equal(code, 'ERR_CHANNEL_CLOSED');
    let drained = 0;
    for await (const message of receiver) {
      assert.equal(message.byteLength, 100);
      drained++;
    }
    assert.equal(drained, sent);

    function channelFull(): boolean {
      // Without touching the ring: TAIL (docs/channel-format.md) counts the bytes senders claimed.
      using segment = SharedMemory.open({ id: channel.id, readOnly: true });
      const tail = new DataView(segment.read(68, 4).buffer).getInt32(0, true);
      return tail >= 3 * 128;
    }
  });

  it('a process with an idle channel, waiter thread included, exits by itself', async () => {
    const result = await runNode(
      `
      import { Channel } from 'SHMKIT';
      const channel = Channel.create({ capacity: 4096, autoRemove: true, wait: 'sleep' });
      const receiver = channel.receiver();
      const sender = channel.sender();
      setTimeout(() => sender.trySend('wake'), 20);
      await receiver.recv();           // slept on the futex through the waiter thread
      try { await receiver.recv({ timeoutMs: 10 }); } catch {}
      console.log(JSON.stringify({ done: true }));
    `,
      [],
      { timeoutMs: 10000 },
    );
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { done: true });
  });

  it('many pending waits leave libuv’s thread pool free', async () => {
    const channels = Array.from({ length: 8 }, () => Channel.create({ capacity: 4096, autoRemove: true, wait: 'sleep' }));
    try {
      const waits = channels.map((channel) => channel.receiver().recv({ timeoutMs: 30_000 }));
      // More pending waits than the pool's 4 threads, and the pool still works.
      const { pbkdf2 } = await import('node:crypto');
      await Promise.all(
        Array.from(
          { length: 8 },
          () => new Promise((resolve, reject) => pbkdf2('x', 'y', 1, 32, 'sha256', (e, key) => (e ? reject(e) : resolve(key)))),
        ),
      );
      for (const channel of channels) channel.sender().trySend('done');
      assert.deepEqual((await Promise.all(waits)).map(text), Array(8).fill('done'));
    } finally {
      for (const channel of channels) channel.detach();
    }
  });

  it('a pending recv keeps the process alive until a message comes', async () => {
    const result = await runNode(
      `
      import { Channel } from 'SHMKIT';
      const channel = Channel.create({ capacity: 4096, autoRemove: true, wait: 'sleep' });
      const receiver = channel.receiver();
      const sender = channel.sender();
      const timer = setTimeout(() => sender.trySend('late'), 300);
      timer.unref();  // only the pending recv keeps the process alive
      const message = await receiver.recv();
      console.log(JSON.stringify({ got: new TextDecoder().decode(message) }));
    `,
      [],
      { timeoutMs: 10000 },
    );
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { got: 'late' });
  });
});
