// MessageQueue, the high level: safe defaults (0600, exclusive create),
// open by key, id or path, typed messages in and out, trySend/tryReceive,
// stat, remove and dispose, and argument errors before any system call.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { IPC_INFO, IPC_SET, IPC_STAT, IpcError, MessageQueue, MSG_INFO, type StateError, ftok, msgctl, msgsnd } from 'shmkit';
import { assertNoLeaks, removeQueue, uniqueKey } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
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

/**
 * The children that change the limits of an IPC namespace of their own run
 * in turn in one process there, which renews the namespace after each (9
 * processes -> 1); the one that becomes nobody keeps a process of its own.
 */
const isolated = peer({ privateIpc: true });
after(() => isolated.end());

const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * A child's `pattern(size, i)`: byte j is (j * 31 + i) & 255. It repeats every
 * 256 bytes, so the first 256 are written and copied in doubling blocks: a
 * byte at a time, the children's messages of up to 1 MiB took some 90 ms of CPU.
 */
const PATTERN = `
const pattern = (size, i) => {
  const b = new Uint8Array(size);
  for (let j = 0; j < Math.min(size, 256); j++) b[j] = (j * 31 + i) & 255;
  for (let k = 256; k < size; k *= 2) b.copyWithin(k, 0, Math.min(k, size - k));
  return b;
};`;

/** Internal modules, for children that import 'SHMKIT_MODULES': the same copy of the library. */
const MSG_MODULE = new URL('../src/sysv/msg.js', import.meta.url).href;
const WAIT_THREADS = new URL('../src/sysv/wait-threads.js', import.meta.url).href;
const { E2BIG } = osConstants.errno;

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
    const result = await isolated.run(`
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
    const result = await isolated.run(`
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

  // A receive waiting on a thread held a buffer of its whole msgsz (MSGMAX)
  // while it waited: at 256 MiB, 32 of them (a thread's most) held 8 GiB of
  // address space, which vm.overcommit_memory=2 or RLIMIT_AS refuse. It now
  // waits with at most 64 KiB and takes a longer message with a buffer for it.
  it('32 receives waiting with a MSGMAX of 256 MiB hold less than one buffer of MSGMAX, and each gets its message whole', {
    skip: noPrivateIpc,
  }, async () => {
    const result = await isolated.run(`
      import { readFileSync, writeFileSync } from 'node:fs';
      import { MessageQueue } from 'SHMKIT';
      writeFileSync('/proc/sys/kernel/msgmax', String(256 << 20));
      writeFileSync('/proc/sys/kernel/msgmnb', String(16 << 20));
      const vmSize = () => Number(/^VmSize:\\s+(\\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const sizes = [10, 100 << 10, 1 << 20];
      ${PATTERN}
      const bytes = (i) => pattern(sizes[i % 3], i);
      const q = MessageQueue.create();
      try {
        const receives = (signal) => Array.from({ length: 32 }, (_, i) => q.receive({ type: i + 1, wait: 'sleep', signal }));
        // A first round, aborted, starts the 32 waiter threads: their malloc
        // arenas (64 MiB of address space each, up to 8 per CPU) are the
        // threads', kept for the next waits, not the receives'.
        const warm = new AbortController();
        const first = receives(warm.signal).map((p) => p.catch(() => {}));
        await sleep(100);
        warm.abort();
        await Promise.all(first);
        globalThis.gc();
        const before = vmSize();
        const pending = receives(undefined);
        await sleep(200);
        const grewMiB = Math.round((vmSize() - before) / 2 ** 20);
        for (let i = 0; i < 32; i++) await q.send(bytes(i), { type: i + 1 });
        const got = await Promise.all(pending);
        const wrong = got.flatMap((m, i) => (m.type === i + 1 && Buffer.from(m.data).equals(bytes(i)) ? [] : [[i + 1, m.type, m.data.length]]));
        console.log(JSON.stringify({ grewMiB, wrong, left: q.stat().msg_qnum }));
      } finally {
        q.remove();
      }
    `);
    assertExitedCleanly(result);
    const { grewMiB, wrong, left } = lastJson<{ grewMiB: number; wrong: unknown[]; left: number }>(result);
    assert.ok(grewMiB < 256, `VmSize grew by ${grewMiB} MiB for 32 waiting receives`);
    assert.deepEqual(wrong, [], 'each receive got exactly its bytes');
    assert.equal(left, 0);
  });

  it('receives of any type racing for long messages take each once and whole (a message gone before its retry is waited for again)', {
    skip: noPrivateIpc,
  }, async () => {
    // Every waiting receive is woken (E2BIG) by a message longer than 64
    // KiB; one takes it, the others find it gone and wait again.
    const result = await isolated.run(`
      import { writeFileSync } from 'node:fs';
      import { MessageQueue } from 'SHMKIT';
      writeFileSync('/proc/sys/kernel/msgmax', String(256 << 20));
      writeFileSync('/proc/sys/kernel/msgmnb', String(8 << 20));
      const sizes = [10, 100 << 10, 1 << 20, 70_000];
      const COUNT = 120;
      ${PATTERN}
      const bytes = (i) => {
        const b = pattern(sizes[i % 4], i);
        new DataView(b.buffer).setUint32(0, i);
        return b;
      };
      const q = MessageQueue.create();
      try {
        const seen = new Map();
        let bad = 0;
        const stop = new AbortController();
        const receiver = async () => {
          for (;;) {
            let m;
            try {
              m = await q.receive({ wait: 'sleep', signal: stop.signal });
            } catch (error) {
              if (error.name === 'AbortError') return;
              throw error;
            }
            const i = new DataView(m.data.buffer, m.data.byteOffset).getUint32(0);
            seen.set(i, (seen.get(i) ?? 0) + 1);
            if (!Buffer.from(m.data).equals(bytes(i)) || m.type !== i + 1) bad++;
          }
        };
        const receivers = Array.from({ length: 32 }, receiver);
        await new Promise((resolve) => setTimeout(resolve, 100));
        for (let i = 0; i < COUNT; i++) await q.send(bytes(i), { type: i + 1 });
        const until = Date.now() + 10_000;
        while ([...seen.values()].reduce((a, b) => a + b, 0) < COUNT && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
        await new Promise((resolve) => setTimeout(resolve, 50));
        stop.abort();
        await Promise.all(receivers);
        const missing = Array.from({ length: COUNT }, (_, i) => i).filter((i) => !seen.has(i));
        const twice = [...seen].filter(([, n]) => n > 1).map(([i]) => i);
        console.log(JSON.stringify({ missing, twice, bad, left: q.stat().msg_qnum }));
      } finally {
        q.remove();
      }
    `);
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { missing: [], twice: [], bad: 0, left: 0 });
  });

  it('a waiting receive keeps msgrcv semantics past its 64 KiB: MSG_NOERROR cuts at msgsz, E2BIG leaves the message, msgtyp < 0 and MSG_EXCEPT choose as the kernel does', {
    skip: noPrivateIpc,
  }, async () => {
    // MessageQueue never truncates: the flags reach the waiter thread through
    // the internal msgrcvStart (src/sysv/msg.ts), as the high level's receive does.
    const result = await isolated.run(`
      import { writeFileSync } from 'node:fs';
      import { IPC_CREAT, IPC_PRIVATE, IPC_RMID, IPC_STAT, MSG_EXCEPT, MSG_NOERROR, msgctl, msgget, msgsnd } from 'SHMKIT_MODULES';
      import { msgrcvStart, receivedMessage } from '${MSG_MODULE}';
      import { runOnThread } from '${WAIT_THREADS}';
      writeFileSync('/proc/sys/kernel/msgmax', String(1 << 20));
      writeFileSync('/proc/sys/kernel/msgmnb', String(4 << 20));
      const id = msgget(IPC_PRIVATE, IPC_CREAT | 0o600);
      const fill = (n, type) => {
        const b = new Uint8Array(n);
        for (let j = 0; j < n; j++) b[j] = (j * 7 + type) & 255;
        return b;
      };
      const sentLength = new Map();
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      // Starts a receive on a waiter thread, sends once it waits, and says what it got.
      const receive = async (msgsz, msgtyp, flags, sends) => {
        const got = new Promise((resolve) =>
          runOnThread({
            start: (t) => msgrcvStart(id, msgsz, msgtyp, flags, t),
            deadline: performance.now() + 2000,
            done: (r, _noThread, value) => resolve(r === 0 ? receivedMessage(value) : r),
          }),
        );
        await sleep(50);
        for (const [type, n] of sends) {
          msgsnd(id, { mtype: type, mtext: fill(n, type) });
          sentLength.set(type, n);
        }
        const m = await got;
        if (typeof m === 'number') return { errno: -m, left: msgctl(id, IPC_STAT).msg_qnum };
        // All of it, or its first msgsz bytes (MSG_NOERROR): never cut elsewhere.
        const exact = m.mtext.length === Math.min(sentLength.get(m.mtype), msgsz) && Buffer.from(m.mtext).equals(fill(m.mtext.length, m.mtype));
        return { type: m.mtype, length: m.mtext.length, exact, left: msgctl(id, IPC_STAT).msg_qnum };
      };
      const assertEmpty = () => {
        const left = msgctl(id, IPC_STAT).msg_qnum;
        if (left > 0) throw new Error('messages left: ' + left);
      };
      const out = {};
      try {
        out.cut = await receive(100_000, 0, MSG_NOERROR, [[1, 300_000]]);
        out.fitsWithNoerror = await receive(100_000, 0, MSG_NOERROR, [[1, 80_000]]);
        out.tooLong = await receive(100_000, 0, 0, [[2, 300_000]]);
        out.thenTaken = await receive(300_000, 2, 0, []);
        assertEmpty();
        out.lowest = await receive(1 << 20, -5, 0, [[9, 200_000], [4, 150_000]]);
        out.except = await receive(1 << 20, 9, MSG_EXCEPT, [[6, 500_000]]);
        out.rest = await receive(1 << 20, 9, 0, []);
        assertEmpty();
      } finally {
        try { msgctl(id, IPC_RMID); } catch {}
      }
      console.log(JSON.stringify(out));
    `);
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), {
      cut: { type: 1, length: 100_000, exact: true, left: 0 },
      fitsWithNoerror: { type: 1, length: 80_000, exact: true, left: 0 },
      tooLong: { errno: E2BIG, left: 1 },
      thenTaken: { type: 2, length: 300_000, exact: true, left: 0 },
      lowest: { type: 4, length: 150_000, exact: true, left: 1 },
      except: { type: 6, length: 500_000, exact: true, left: 1 },
      rest: { type: 9, length: 200_000, exact: true, left: 0 },
    });
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
      const result = await isolated.run(`
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
    const result = await isolated.run(`
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
