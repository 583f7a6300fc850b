// MessageQueue, the high level: safe defaults (0600, exclusive create),
// open by key, id or path, typed messages in and out, trySend/tryReceive,
// stat, remove and dispose, and argument errors before any system call.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { IPC_INFO, IPC_SET, IPC_STAT, IpcError, MessageQueue, MSG_INFO, type StateError, ftok, msgctl, msgsnd } from '../src/index.js';
import { assertNoLeaks, removeQueue, uniqueKey } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson } from './helpers/processes.js';
import { BECOME_NOBODY, noPrivateIpc, runNodeInPrivateIpc, thrown } from './helpers/shm.js';

assertNoLeaks();

const made: number[] = [];
afterEach(() => made.splice(0).forEach(removeQueue));

function track(q: MessageQueue): MessageQueue {
  made.push(q.id);
  return q;
}

const dir = mkdtempSync(join(tmpdir(), 'shmkit-msg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const str = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('creating and opening', () => {
  it('creates a private queue with mode 0600 by default', () => {
    const q = track(MessageQueue.create());
    assert.equal(q.key, 0);
    const ds = q.stat();
    assert.equal(ds.msg_perm.mode & 0o777, 0o600);
    assert.equal(ds.msg_qnum, 0);
  });

  it('never reuses an existing queue: EEXIST for a taken key', () => {
    const key = uniqueKey();
    const q = track(MessageQueue.create({ key, mode: 0o640 }));
    assert.equal(q.stat().msg_perm.mode & 0o777, 0o640);
    const error = thrown(() => MessageQueue.create({ key })) as IpcError;
    assert.ok(error instanceof IpcError);
    assert.equal(error.code, 'EEXIST');
  });

  it('opens by key, by id and by path (ftok with projId, default 1)', () => {
    const file = join(dir, 'queue-file');
    writeFileSync(file, '');
    const q = track(MessageQueue.create({ path: file, projId: 7 }));
    assert.equal(q.key, ftok(file, 7));
    assert.equal(MessageQueue.open({ path: file, projId: 7 }).id, q.id);
    assert.equal(MessageQueue.open({ key: q.key }).id, q.id);
    const byId = MessageQueue.open({ id: q.id });
    assert.equal(byId.key, q.key);
    const other = track(MessageQueue.create({ path: file }));
    assert.equal(other.key, ftok(file, 1));
  });

  it('openOrCreate creates once and then opens the same queue', () => {
    const key = uniqueKey();
    const a = track(MessageQueue.openOrCreate({ key }));
    const b = MessageQueue.openOrCreate({ key, mode: 0o666 });
    assert.equal(a.id, b.id);
    assert.equal(b.stat().msg_perm.mode & 0o777, 0o600, 'an existing queue keeps its mode');
  });

  it('says ENOENT for a key without a queue, and refuses to open IPC_PRIVATE', () => {
    assert.equal((thrown(() => MessageQueue.open({ key: uniqueKey() })) as IpcError).code, 'ENOENT');
    assert.equal((thrown(() => MessageQueue.open({ key: 0 })) as RangeError).name, 'RangeError');
    assert.equal((thrown(() => MessageQueue.openOrCreate({})) as TypeError).name, 'TypeError');
  });

  it('checks options before any system call', () => {
    const before = msgctl(0, MSG_INFO).msgpool;
    const codeOf = (fn: () => unknown): string => (thrown(fn) as { code: string }).code;
    assert.equal(
      codeOf(() => MessageQueue.create({ mode: 0o1777 })),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      codeOf(() => MessageQueue.create({ key: 1.5 })),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      codeOf(() => MessageQueue.create({ key: 1, path: '/' })),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.equal(
      codeOf(() => MessageQueue.create(null as unknown as object)),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.equal(
      codeOf(() => MessageQueue.open({ id: 1, key: 2 } as unknown as { id: number })),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.equal(msgctl(0, MSG_INFO).msgpool, before);
  });

  it('projId without path, and trySend options that are not an object, are TypeErrors naming them (never dropped)', () => {
    const before = msgctl(0, MSG_INFO).msgpool;
    const key = uniqueKey();
    for (const call of [
      () => MessageQueue.create({ projId: 3 }), // would have made a private queue
      () => MessageQueue.create({ key, projId: 3 }),
      () => MessageQueue.openOrCreate({ key, projId: 3 }),
      () => MessageQueue.open({ id: 0, projId: 3 } as unknown as { id: number }),
    ]) {
      const error = thrown(call) as TypeError & { code: string };
      assert.equal(error.code, 'ERR_INVALID_ARG_TYPE', String(error));
      assert.match(error.message, /"options\.projId"/);
    }
    const file = join(dir, 'projid-file');
    writeFileSync(file, '');
    const bad = thrown(() => MessageQueue.create({ path: file, projId: 'x' as unknown as number })) as TypeError & { code: string };
    assert.equal(bad.code, 'ERR_INVALID_ARG_TYPE');
    assert.match(bad.message, /"options\.projId"/);
    assert.equal(msgctl(0, MSG_INFO).msgpool, before, 'nothing was created');

    const q = track(MessageQueue.create());
    for (const options of [5, 'type', true]) {
      const error = thrown(() => q.trySend('x', options as unknown as { type: number })) as TypeError & { code: string };
      assert.equal(error.code, 'ERR_INVALID_ARG_TYPE', String(error));
      assert.match(error.message, /"options"/);
    }
    assert.equal(q.stat().msg_qnum, 0, 'nothing was sent');
  });
});

describe('another user', () => {
  it('open by id works for a user who may send but not read (0622), as by key and as msgsnd in C; 0600 stays EACCES', {
    skip: noPrivateIpc,
  }, async () => {
    // In a namespace of its own, where the child may choose the next id (one
    // with a sequence number, so that only the right table slot answers) and
    // its root objects go with it after it became nobody.
    const result = await runNodeInPrivateIpc(`
      import { writeFileSync } from 'node:fs';
      import { MessageQueue } from 'SHMKIT';
      writeFileSync('/proc/sys/kernel/msg_next_id', String(3 * 32768 + 5));
      const q = MessageQueue.create({ key: 0x5151, mode: 0o622 });
      const closed = MessageQueue.create({ mode: 0o600 });
      ${BECOME_NOBODY}
      const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
      const byId = MessageQueue.open({ id: q.id });
      console.log(JSON.stringify({
        id: q.id,
        byId: [byId.id, byId.key],
        sent: byId.trySend('from nobody', { type: 2 }),
        byKey: MessageQueue.open({ key: 0x5151 }).id,
        receive: code(() => byId.tryReceive()),
        stat: code(() => byId.stat()),
        closed: code(() => MessageQueue.open({ id: closed.id })),
        otherSlot: code(() => MessageQueue.open({ id: q.id + 32768 })),
      }));
    `);
    assertExitedCleanly(result);
    const r = lastJson<Record<string, unknown>>(result);
    assert.equal(r.id, 3 * 32768 + 5);
    assert.deepEqual(r.byId, [r.id, 0x5151]);
    assert.equal(r.sent, true);
    assert.equal(r.byKey, r.id);
    assert.deepEqual(
      [r.receive, r.stat, r.closed],
      ['EACCES', 'EACCES', 'EACCES'],
      'reading is still denied, and a queue it may not write',
    );
    assert.equal(r.otherSlot, 'EINVAL', 'the same slot with another sequence number is no queue');
  });
});

describe('messages', () => {
  it('sends and receives typed messages, strings as UTF-8', async () => {
    const q = track(MessageQueue.create());
    await q.send('plain');
    await q.send(new Uint8Array([1, 2, 3]), { type: 9 });
    await q.send(Buffer.from('typed'), { type: 4 });
    const first = await q.receive();
    assert.deepEqual([first.type, str(first.data)], [1, 'plain']);
    const nine = await q.receive({ type: 9 });
    assert.deepEqual([nine.type, [...nine.data]], [9, [1, 2, 3]]);
    assert.deepEqual(await q.receive({ type: -5 }), { type: 4, data: new Uint8Array(Buffer.from('typed')) });
  });

  it('a type uses every byte of the C long: large types arrive as sent', () => {
    const q = track(MessageQueue.create());
    const types = [Number.MAX_SAFE_INTEGER, 2 ** 40 + 7, 0x01020304, 256, 255];
    for (const type of types) assert.equal(q.trySend(String(type), { type }), true);
    for (const type of types) {
      const m = q.tryReceive()!;
      assert.deepEqual([m.type, str(m.data)], [type, String(type)]);
    }
  });

  it('except takes the first message of any other type', async () => {
    const q = track(MessageQueue.create());
    q.trySend('a', { type: 1 });
    q.trySend('b', { type: 2 });
    const m = await q.receive({ type: 1, except: true });
    assert.deepEqual([m.type, str(m.data)], [2, 'b']);
    assert.equal((thrown(() => q.tryReceive({ type: 0, except: true })) as { code: string }).code, 'ERR_OUT_OF_RANGE');
  });

  it('trySend says false when the queue is full; tryReceive null when nothing matches', () => {
    const q = track(MessageQueue.create());
    msgctl(q.id, IPC_SET, { msg_qbytes: 8 });
    assert.equal(q.trySend('12345678', { type: 3 }), true);
    assert.equal(q.trySend('x'), false);
    assert.equal(q.stat().msg_qnum, 1);
    assert.equal(q.tryReceive({ type: 2 }), null);
    assert.deepEqual(q.tryReceive({ type: 3 }), { type: 3, data: new TextEncoder().encode('12345678') });
    assert.equal(q.tryReceive(), null);
  });

  it("a message longer than MSGMAX is the kernel's EINVAL, named for msgsnd", async () => {
    const q = track(MessageQueue.create());
    const { msgmax } = msgctl(0, IPC_INFO);
    await assert.rejects(
      q.send(new Uint8Array(msgmax + 1)),
      (e: IpcError) => e.code === 'EINVAL' && e.syscall === 'msgsnd' && /MSGMAX/.test(e.message),
    );
    assert.equal(q.stat().msg_qnum, 0);
  });

  it('checks send and receive options before any system call', async () => {
    const q = track(MessageQueue.create());
    const codeOf = async (p: Promise<unknown>): Promise<string> =>
      (
        (await p.then(
          () => ({ code: 'resolved' }),
          (e: { code: string }) => e,
        )) as { code: string }
      ).code;
    assert.equal(await codeOf(q.send('x', { type: 0 })), 'ERR_OUT_OF_RANGE');
    assert.equal(await codeOf(q.send(42 as unknown as string)), 'ERR_INVALID_ARG_TYPE');
    assert.equal(await codeOf(q.send('x', { timeoutMs: -1 })), 'ERR_OUT_OF_RANGE');
    assert.equal(await codeOf(q.receive({ type: 0.5 })), 'ERR_OUT_OF_RANGE');
    assert.equal(await codeOf(q.receive({ except: 'yes' as unknown as boolean, type: 1 })), 'ERR_INVALID_ARG_TYPE');
    assert.equal(await codeOf(q.receive({ signal: {} as AbortSignal })), 'ERR_INVALID_ARG_TYPE');
    assert.equal(q.stat().msg_qnum, 0);
    assert.equal(q.stat().msg_stime, 0, 'nothing was sent');
  });

  it('a detached buffer is refused by name, never sent as an empty message; an empty one is sent', async () => {
    const q = track(MessageQueue.create());
    // Views made before their buffer is transferred away: V8 makes none of a detached one.
    const detachedAs = (make: (buffer: ArrayBuffer) => ArrayBufferView | ArrayBuffer): ArrayBufferView | ArrayBuffer => {
      const buffer = new ArrayBuffer(8);
      const data = make(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      return data;
    };
    const kinds: Array<(b: ArrayBuffer) => ArrayBufferView | ArrayBuffer> = [
      (b: ArrayBuffer) => b,
      (b: ArrayBuffer) => new Uint8Array(b),
      (b: ArrayBuffer) => new DataView(b),
      (b: ArrayBuffer) => new Float64Array(b),
    ];
    for (const make of kinds) {
      const data = detachedAs(make);
      const kind = Object.prototype.toString.call(data);
      assert.throws(() => q.trySend(data), { code: 'ERR_INVALID_ARG_VALUE', message: /^The argument 'data' .*detached/ }, kind);
      await assert.rejects(q.send(data), { code: 'ERR_INVALID_ARG_VALUE' }, kind);
      assert.throws(() => msgsnd(q.id, { mtype: 1, mtext: data }), { code: 'ERR_INVALID_ARG_VALUE', message: /'msgp\.mtext'/ }, kind);
    }
    assert.equal(q.stat().msg_qnum, 0, 'nothing was sent');
    assert.equal(q.trySend(new Uint8Array(0)), true);
    assert.deepEqual([...(await q.receive()).data], []);
  });

  it('interoperates with the C-faithful calls on the same queue', async () => {
    const q = track(MessageQueue.create());
    msgsnd(q.id, { mtype: 77, mtext: 'from msgsnd' });
    const m = await q.receive({ type: 77 });
    assert.equal(str(m.data), 'from msgsnd');
  });

  it('receives a message longer than the current MSGMAX (lowered after it was sent)', { skip: noPrivateIpc }, async () => {
    // msgmax is per IPC namespace: changed only in a namespace of the child's own.
    const result = await runNodeInPrivateIpc(`
      import { writeFileSync } from 'node:fs';
      import { MessageQueue } from 'SHMKIT';
      const q = MessageQueue.create();
      await q.send(new Uint8Array(4000).fill(7));
      writeFileSync('/proc/sys/kernel/msgmax', '1000');
      const m = await q.receive();
      q.remove();
      console.log(JSON.stringify({ length: m.data.length, sum: m.data.reduce((a, b) => a + b, 0) }));
    `);
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { length: 4000, sum: 28000 });
  });

  it('with a large MSGMAX, receives that find nothing allocate no buffer of MSGMAX bytes', { skip: noPrivateIpc }, async () => {
    // Each tryReceive, each receive's first try, and each try of a receive
    // queued for a waiter thread (256 every 50 ms) made a fresh buffer of
    // MSGMAX: at 256 MiB, 300 idle receives kept a core and a half busy.
    const result = await runNodeInPrivateIpc(`
      import { writeFileSync } from 'node:fs';
      import { MessageQueue } from 'SHMKIT';
      writeFileSync('/proc/sys/kernel/msgmax', String(256 << 20));
      writeFileSync('/proc/sys/kernel/msgmnb', String(1 << 20));
      const q = MessageQueue.create();
      let most = 0;
      const sample = () => (most = Math.max(most, process.memoryUsage().arrayBuffers));
      const sampler = setInterval(sample, 5);
      for (let i = 0; i < 20; i++) { q.tryReceive(); sample(); }
      const stop = new AbortController();
      const idle = Array.from({ length: 300 }, (_, i) => q.receive({ type: i + 1, signal: stop.signal }).catch(() => {}));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Still received whole: a message longer than what a first try holds.
      await q.send(new Uint8Array(200_000).fill(3), { type: 300 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      clearInterval(sampler);
      stop.abort();
      await Promise.all(idle);
      const left = q.stat().msg_qnum;
      q.remove();
      console.log(JSON.stringify({ mostMiB: Math.round(most / 2 ** 20), left }));
    `);
    assertExitedCleanly(result);
    const { mostMiB, left } = lastJson<{ mostMiB: number; left: number }>(result);
    assert.equal(left, 0, 'the long message was received');
    assert.ok(mostMiB < 64, `ArrayBuffers reached ${mostMiB} MiB`);
  });

  // A receive waiting with a buffer of MSGMAX (8192 in a new namespace) is
  // woken with E2BIG by a longer message, MSGMAX having been raised for it;
  // this thread is busy meanwhile, so that `then` happens before the result
  // reaches JavaScript.
  const E2BIG_WAKE = `
    import { writeFileSync } from 'node:fs';
    import { MessageQueue, msgctl, msgrcv, msgsnd, IPC_NOWAIT, IPC_RMID } from 'SHMKIT';
    writeFileSync('/proc/sys/kernel/msgmnb', '65536');
    const q = MessageQueue.create();
    const controller = new AbortController();
    const pending = q.receive({ wait: 'sleep', signal: controller.signal }).then(
      (m) => new TextDecoder().decode(m.data),
      (error) => (error.name === 'AbortError' ? error.name : error.code),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    writeFileSync('/proc/sys/kernel/msgmax', '65536');
    msgsnd(q.id, { mtype: 1, mtext: new Uint8Array(60000) });
    const then = process.argv[1];
    for (const start = performance.now(); performance.now() - start < 50; );
  `;
  for (const [then, steps, expected] of [
    [
      'taken by another receiver',
      // MSGMAX lowered again: the waiting receive can no longer grow its buffer, nor need to.
      `writeFileSync('/proc/sys/kernel/msgmax', '8192');
       msgrcv(q.id, 65536, 0, IPC_NOWAIT);
       setTimeout(() => q.send('the next one'), 100);`,
      { outcome: 'the next one', left: 0 },
    ],
    ['aborted', 'controller.abort();', { outcome: 'AbortError', left: 1 }],
    ['removed', 'msgctl(q.id, IPC_RMID);', { outcome: 'EIDRM', left: -1 }],
  ] as const) {
    it(`a receive woken by a message too long for it, then ${then}: waits on, aborts or ends with EIDRM`, {
      skip: noPrivateIpc,
    }, async () => {
      const result = await runNodeInPrivateIpc(`
        ${E2BIG_WAKE}
        ${steps}
        const outcome = await pending;
        let left = -1;
        try {
          left = q.stat().msg_qnum;
          q.remove();
        } catch {}
        console.log(JSON.stringify({ outcome, left }));
      `);
      assertExitedCleanly(result);
      assert.deepEqual(lastJson(result), expected);
      assert.doesNotMatch(result.stderr, /Uncaught|Error/);
    });
  }

  it('a send whose size a lowered MSGMAX refuses fails alone: the queue and its other waits live on', { skip: noPrivateIpc }, async () => {
    const result = await runNodeInPrivateIpc(`
      import { writeFileSync } from 'node:fs';
      import { MessageQueue } from 'SHMKIT';
      const q = MessageQueue.create();
      while (q.trySend(new Uint8Array(100)));
      const send = q.send(new Uint8Array(1000), { timeoutMs: 300, wait: 'sleep' }).catch((error) => error.code);
      let other = 'pending';
      const receive = q.receive({ type: 99, wait: 'sleep' }).then(
        (m) => (other = new TextDecoder().decode(m.data)),
        (error) => (other = error.code),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      writeFileSync('/proc/sys/kernel/msgmax', '500');
      const sent = await send;
      await new Promise((resolve) => setTimeout(resolve, 50));
      const otherThen = other;
      while (q.tryReceive({ type: 1 }) !== null);
      await q.send('for 99', { type: 99 });
      await receive;
      q.remove();
      console.log(JSON.stringify({ sent, otherThen, other }));
    `);
    assertExitedCleanly(result);
    const { sent, otherThen, other } = lastJson<{ sent: string; otherThen: string; other: string }>(result);
    assert.ok(sent === 'EINVAL' || sent === 'ETIMEDOUT', `the send: ${sent}`);
    assert.deepEqual({ otherThen, other }, { otherThen: 'pending', other: 'for 99' });
  });
});

describe('stat, remove and dispose', () => {
  it('stat shows what the queue holds', async () => {
    const q = track(MessageQueue.create());
    await q.send('abc');
    await q.send('de', { type: 2 });
    const ds = q.stat();
    assert.equal(ds.msg_qnum, 2);
    assert.equal(ds.msg_cbytes, 5);
    assert.equal(ds.msg_lspid, process.pid);
    assert.deepEqual(ds, msgctl(q.id, IPC_STAT));
  });

  it('remove takes the queue and its messages away for everyone', async () => {
    const q = MessageQueue.create();
    made.push(q.id);
    await q.send('gone with it');
    const other = MessageQueue.open({ id: q.id });
    q.remove();
    assert.equal((thrown(() => other.stat()) as IpcError).code, 'EINVAL');
    assert.equal((thrown(() => other.tryReceive()) as IpcError).code, 'EINVAL');
  });

  it('dispose releases the handle, never the queue', async () => {
    const q = track(MessageQueue.create());
    {
      using handle = MessageQueue.open({ id: q.id });
      await handle.send('kept');
    }
    const disposed = MessageQueue.open({ id: q.id });
    disposed[Symbol.dispose]();
    assert.equal(disposed.closed, true);
    const error = thrown(() => disposed.tryReceive()) as StateError;
    assert.equal(error.code, 'ERR_MSG_CLOSED');
    await assert.rejects(disposed.receive(), (e: StateError) => e.code === 'ERR_MSG_CLOSED');
    assert.equal(q.stat().msg_qnum, 1);
  });
});
