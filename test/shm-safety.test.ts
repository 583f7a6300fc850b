// No JavaScript can crash the process through an attachment: detached buffers
// are empty, forgotten attachments are detached by the GC, read-only ones give
// out nothing writable, a buffer moved to another ArrayBuffer keeps its memory,
// and one posted to another thread is copied or refused, never moved. Each case
// runs in another process, which must end by itself, not by a signal.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { IPC_CREAT, IPC_PRIVATE, IPC_STAT, shmat, shmctl, shmdt, shmget } from 'shmkit';
import { assertNoLeaks, removeSegment, withCleanup } from './helpers/ipc.js';
import { cleanUpPosixNames, uniqueName } from './helpers/posix.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, type RunResult, runNode } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

/**
 * The cases that need another process, not a new one, run one after another
 * in one peer, each with a copy of the library of its own: a fault ends the
 * peer and fails that case. The forgotten-attachment loops (they count the
 * process's mappings) and the transfer case (a Node flag) keep a process each.
 */
let cases = peer();
after(() => cases.end());

assertNoLeaks();
cleanUpPosixNames();

/** Asserts that `what` ended cleanly, returns its last JSON line. */
function outcomeOf<T>(what: string, result: RunResult): T {
  assertExitedCleanly(result, what);
  return lastJson<T>(result);
}

/** Runs `code` with `args` (the segment id, and any more) as argv[1...] in a process of its own; returns its last JSON line. */
async function inChild<T>(
  what: string,
  code: string,
  args: number | readonly (number | string)[],
  timeoutMs = 60_000,
  nodeFlags: string[] = [],
): Promise<T> {
  return outcomeOf<T>(what, await runNode(code, [args].flat().map(String), { timeoutMs, nodeFlags }));
}

/** As inChild, in the peer. */
async function inPeer<T>(what: string, code: string, args: number | readonly (number | string)[]): Promise<T> {
  return outcomeOf<T>(what, await cases.run(code, [args].flat().map(String), { timeoutMs: 60_000 }));
}

/**
 * ArrayBuffer.prototype.transfer() moves an ArrayBuffer's memory to a new
 * ArrayBuffer, the one way an attachment's buffer can be moved. Node 20 has
 * it behind a V8 flag; later Node has it always.
 */
const WITH_TRANSFER = 'transfer' in ArrayBuffer.prototype ? [] : ['--harmony-rab-gsab-transfer'];

/** A segment made by the test (not the child), removed afterwards whatever happens. */
function withSegment<T>(size: number, fn: (id: number) => Promise<T>): Promise<T> {
  return withCleanup(async (defer) => {
    const id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600);
    defer(() => removeSegment(id));
    return await fn(id);
  });
}

/** Reads `length` bytes of segment `id` through a fresh attachment. */
function segmentBytes(id: number, length: number): Uint8Array {
  const a = shmat(id);
  try {
    return a.read(0, length);
  } finally {
    shmdt(a);
  }
}

const DETACH_EVERYTHING = `
import { shmat, shmdt, SharedMemory, StateError } from 'SHMKIT';
import { openSync, readSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
const id = Number(process.argv[1]);
const a = shmat(id);
const buf = a.buffer;
const u8 = new Uint8Array(buf);
const u8off = new Uint8Array(buf, 16, 32);
const i32 = new Int32Array(buf, 64);
const f64 = new Float64Array(buf);
const big = new BigInt64Array(buf, 8, 4);
const dv = new DataView(buf, 4);
const nodeBuf = Buffer.from(buf, 0, 4096);
u8.fill(0xa5, 0, 4096);
const shm = SharedMemory.open({ id });
const bytes = shm.bytes;
shmdt(a);
shm.detach();
const outcome = (f) => {
  try {
    const v = f();
    if (v === undefined) return 'undefined';
    if (typeof v === 'string') return v === '' ? 'empty string' : 'string ' + v;
    if (typeof v === 'object' && v !== null) return 'length ' + (v.byteLength ?? v.length ?? v.written);
    return String(v);
  } catch (e) {
    return 'threw ' + e.name;
  }
};
const ops = {
  'read u8[0]': () => u8[0],
  'write u8[0]': () => { u8[0] = 1; return u8[0]; },
  'read offset view': () => u8off[0],
  'read Int32Array': () => i32[0],
  'write Float64Array': () => { f64[0] = 1.5; return f64[0]; },
  'write BigInt64Array': () => { big[0] = 1n; return big[0]; },
  'TypedArray length': () => u8.length,
  'TypedArray byteOffset': () => u8off.byteOffset,
  'ArrayBuffer byteLength': () => buf.byteLength,
  'set() from array': () => u8.set([1, 2, 3]),
  'set() from TypedArray': () => u8.set(new Uint8Array(16)),
  'subarray()': () => u8.subarray(0, 10),
  'slice()': () => u8.slice(0, 10),
  'fill()': () => u8.fill(1),
  'copyWithin()': () => u8.copyWithin(0, 1),
  'indexOf()': () => u8.indexOf(0xa5),
  'Array.from()': () => Array.from(u8),
  'DataView getUint8': () => dv.getUint8(0),
  'DataView setUint8': () => dv.setUint8(0, 1),
  'DataView getFloat64': () => dv.getFloat64(0),
  'DataView setBigUint64': () => dv.setBigUint64(0, 1n),
  'DataView byteLength': () => dv.byteLength,
  'ArrayBuffer slice()': () => buf.slice(0, 10),
  'new Uint8Array(buffer)': () => new Uint8Array(buf),
  'new DataView(buffer)': () => new DataView(buf),
  'structuredClone(buffer)': () => structuredClone(buf),
  'Buffer toString': () => nodeBuf.toString('hex'),
  'Buffer write': () => nodeBuf.write('abc'),
  'Buffer readUInt32LE': () => nodeBuf.readUInt32LE(0),
  'Buffer copy': () => nodeBuf.copy(Buffer.alloc(10)),
  'TextDecoder decode': () => new TextDecoder().decode(u8),
  'TextEncoder encodeInto': () => new TextEncoder().encodeInto('abc', u8),
  'Atomics.load': () => Atomics.load(i32, 0),
  'Atomics.store': () => Atomics.store(i32, 0, 1),
  'fs.readSync into it': () => readSync(openSync('/dev/zero', 'r'), u8),
  'fs.writeSync from it': () => writeSync(openSync('/dev/null', 'w'), u8),
  'crypto.randomFillSync': () => randomFillSync(u8),
  'attachment byteLength': () => a.byteLength,
  'attachment buffer byteLength': () => a.buffer.byteLength,
  'attachment detached': () => a.detached,
  'attachment read()': () => a.read(0, 1),
  'SharedMemory bytes held before detach': () => bytes.length,
  'SharedMemory size': () => shm.size,
  'SharedMemory read()': () => shm.read(0, 1),
  'SharedMemory write()': () => shm.write(0, 'x'),
  'SharedMemory bytes': () => shm.bytes,
  'SharedMemory detach() again': () => shm.detach(),
  'SharedMemory dispose after detach': () => shm[Symbol.dispose](),
};
const results = {};
for (const [name, op] of Object.entries(ops)) results[name] = outcome(op);
let stateCode;
try { a.read(); } catch (e) { stateCode = e instanceof StateError ? e.code : 'not a StateError'; }
console.log(JSON.stringify({ results, stateCode }));
`;

describe('memory safety of attachments', () => {
  it('after shmdt every buffer and view is empty, and reading, writing or copying through them cannot fault', async () => {
    await withSegment(4096, async (id) => {
      const { results, stateCode } = await inPeer<{ results: Record<string, string>; stateCode: string }>(
        'detach child',
        DETACH_EVERYTHING,
        id,
      );
      // The exact answers of the main paths.
      assert.equal(results['read u8[0]'], 'undefined');
      assert.equal(results['write u8[0]'], 'undefined');
      assert.equal(results['read offset view'], 'undefined');
      assert.equal(results['write BigInt64Array'], 'undefined');
      assert.equal(results['TypedArray length'], '0');
      assert.equal(results['TypedArray byteOffset'], '0');
      assert.equal(results['ArrayBuffer byteLength'], '0');
      assert.equal(results['set() from array'], 'threw TypeError');
      assert.equal(results['set() from TypedArray'], 'threw TypeError');
      assert.equal(results['subarray()'], 'threw TypeError');
      assert.equal(results['DataView getUint8'], 'threw TypeError');
      assert.equal(results['DataView setBigUint64'], 'threw TypeError');
      assert.equal(results['attachment byteLength'], '0');
      assert.equal(results['attachment buffer byteLength'], '0');
      assert.equal(results['attachment detached'], 'true');
      assert.equal(results['attachment read()'], 'threw StateError');
      assert.equal(results['SharedMemory bytes held before detach'], '0');
      assert.equal(results['SharedMemory size'], '0');
      assert.equal(results['SharedMemory read()'], 'threw StateError');
      assert.equal(results['SharedMemory write()'], 'threw StateError');
      assert.equal(results['SharedMemory bytes'], 'threw StateError');
      assert.equal(results['SharedMemory detach() again'], 'threw StateError');
      assert.equal(results['SharedMemory dispose after detach'], 'undefined');
      assert.equal(stateCode, 'ERR_SHM_DETACHED');
      // Everything else: an exception, or an answer that carries no byte of the segment.
      const harmless = /^(threw (TypeError|RangeError|DataCloneError|StateError)|undefined|0|-1|true|empty string|length 0)$/;
      for (const [name, outcome] of Object.entries(results)) assert.match(outcome, harmless, name);
      // And no write after shmdt reached the segment.
      assert.ok(
        segmentBytes(id, 4096).every((b) => b === 0xa5),
        'the segment still holds what was written before shmdt',
      );
      assert.equal(shmctl(id, IPC_STAT).shm_nattch, 0);
    });
  });

  it('a second shmdt of the same attachment is an IpcError EINVAL naming the segment', async () => {
    await withSegment(4096, async (id) => {
      const r = await inPeer<Record<string, unknown>>(
        'double shmdt child',
        `
        import { shmat, shmdt, IpcError } from 'SHMKIT';
        const a = shmat(Number(process.argv[1]));
        shmdt(a);
        try { shmdt(a); console.log('{"threw":false}'); }
        catch (e) {
          console.log(JSON.stringify({ threw: true, isIpcError: e instanceof IpcError, code: e.code, errno: e.errno,
            syscall: e.syscall, message: e.message }));
        }
        `,
        id,
      );
      assert.equal(r.threw, true);
      assert.equal(r.isIpcError, true);
      assert.equal(r.code, 'EINVAL');
      assert.equal(r.errno, -22, "errno is negative, as in Node's system errors");
      assert.equal(r.syscall, 'shmdt');
      assert.match(String(r.message), new RegExp(`^shmdt: EINVAL .*segment ${id} at 0x[0-9a-f]+`));
    });
  });

  // A buffer's memory can move to another ArrayBuffer on every Node (web
  // streams move it; ArrayBuffer.prototype.transfer() from Node 21), so a
  // collected buffer does not prove its mapping unused: only the finalizer, on
  // an event-loop turn, detaches, and a synchronous loop is refused (EAGAIN)
  // once a quarter of vm.max_map_count awaits it. Forgotten attachments: more
  // than the 65,530 areas of vm.max_map_count, so that none detached during
  // the asynchronous loop would run out of them (the synchronous one is
  // refused at a quarter).
  const FORGOTTEN = budget(70_000, 100_000);
  interface Loop {
    attached: number;
    nattchAfterGc: number;
    seen: number;
    refusedAt: number | null;
    refusal: string | null;
    bound: number;
    /** The synchronous loop's: its refusal, and the first byte seen by an attachment made once the event loop ran. */
    code?: string | false;
    syscall?: string;
    message?: string;
    hint?: string;
    again?: number;
  }
  const loopChild = (variant: 'synchronous' | 'asynchronous') =>
    withSegment(4096, (id) =>
      inChild<Loop>(
        `${variant} GC child`,
        `
        import { readFileSync } from 'node:fs';
        import { shmat, shmdt, shmctl, IPC_STAT, IpcError } from 'SHMKIT';
        const id = Number(process.argv[1]);
        const nattch = () => shmctl(id, IPC_STAT).shm_nattch;
        const bound = Math.floor(Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8')) / 4);
        // Never 0, which the segment holds before any write.
        const byte = (i) => (i % 255) + 1;
        let seen = 0, refusedAt = null, refusal = null, failure;
        for (let i = 0; i < ${FORGOTTEN}; i++) {
          let a;
          try { a = shmat(id); } catch (e) { refusedAt = i; refusal = e.code + ' ' + e.message; failure = e; break; }
          const view = new Uint8Array(a.buffer);
          view[0] = byte(i);
          seen += view[0] === byte(i) ? 1 : 0;
          ${variant === 'asynchronous' ? 'if (i % 100 === 0) await new Promise((r) => setImmediate(r)); else await null;' : ''}
        }
        const attached = nattch();
        for (let turn = 0; turn < 200 && nattch() !== 0; turn++) {
          gc();
          await new Promise((r) => setImmediate(r));
          await new Promise((r) => setTimeout(r, 10));
        }
        const out = { attached, nattchAfterGc: nattch(), seen, refusedAt, refusal, bound };
        if (failure !== undefined) {
          const a = shmat(id);
          Object.assign(out, { code: failure instanceof IpcError && failure.code, syscall: failure.syscall, message: failure.message,
            hint: failure.hint, again: new Uint8Array(a.buffer)[0] });
          shmdt(a);
        }
        console.log(JSON.stringify(out));
        `,
        id,
        240_000,
      ),
    );
  // The synchronous loop runs once, for this test and the bounded loop's
  // below, which watch the same loop (16,000 attachments and a collection).
  let synchronousLoop: Promise<Loop> | undefined;
  const runSynchronousLoop = () => (synchronousLoop ??= loopChild('synchronous'));
  for (const variant of ['synchronous', 'asynchronous'] as const) {
    const refused = variant === 'synchronous';
    it(`${FORGOTTEN.toLocaleString('en-US')} attachments forgotten in ${variant === 'synchronous' ? 'a synchronous' : 'an asynchronous'} loop are all detached by the garbage collector${refused ? ' once the event loop runs; shmat refuses with EAGAIN before the map count runs out' : ''}`, async () => {
      const r = await (refused ? runSynchronousLoop() : loopChild(variant));
      if (refused) {
        assert.ok(r.refusedAt !== null, `shmat refused before ${FORGOTTEN} forgotten attachments`);
        assert.ok(r.refusedAt >= r.bound, `refused only past the bound (${r.refusedAt} of ${r.bound})`);
        assert.match(String(r.refusal), /^EAGAIN shmat: EAGAIN .*forgotten attachments are detached when the event loop next runs/);
        assert.equal(r.seen, r.refusedAt, 'every attachment until then was usable');
        assert.ok(r.attached <= r.refusedAt, `nattch ${r.attached} at the refusal`);
      } else {
        assert.equal(r.refusedAt, null, `no refusal (${r.refusal})`);
        assert.equal(r.seen, FORGOTTEN, 'every attachment was usable');
        assert.ok(r.attached < 65_000, `the GC detached during the loop (nattch ${r.attached} at its end)`);
      }
      assert.equal(r.nattchAfterGc, 0);
    });
  }

  it('a buffer or view still held keeps its mapping after the attachment is forgotten, and goes after it', async () => {
    await withSegment(4096, async (id) => {
      const r = await inPeer<{ nattchHeld: number; nattchViewHeld: number; read: number; nattchAfter: number }>(
        'held buffer child',
        `
        import { shmat, shmctl, IPC_STAT } from 'SHMKIT';
        const id = Number(process.argv[1]);
        const nattch = () => shmctl(id, IPC_STAT).shm_nattch;
        const settle = async () => { for (let i = 0; i < 5; i++) { gc(); await new Promise((r) => setTimeout(r, 10)); } };
        let buffer = shmat(id).buffer;            // the Attachment itself is unreachable at once
        await settle();
        const nattchHeld = nattch();
        let view = new Uint16Array(buffer, 2, 1); // only a view now
        buffer = null;
        await settle();
        const nattchViewHeld = nattch();
        view[0] = 0xbeef;
        const read = view[0];
        view = null;
        for (let i = 0; i < 200 && nattch() !== 0; i++) await settle();
        console.log(JSON.stringify({ nattchHeld, nattchViewHeld, read, nattchAfter: nattch() }));
        `,
        id,
      );
      assert.equal(r.nattchHeld, 1);
      assert.equal(r.nattchViewHeld, 1);
      assert.equal(r.read, 0xbeef);
      assert.equal(r.nattchAfter, 0);
      const bytes = segmentBytes(id, 4);
      assert.equal(bytes[2]! | (bytes[3]! << 8), 0xbeef, 'the write through the view reached the segment');
    });
  });

  it('a SHM_RDONLY attachment reads with read() and every write path throws instead of faulting', async () => {
    await withSegment(4096, async (id) => {
      const a = shmat(id);
      new Uint8Array(a.buffer).set(Buffer.from('read me'), 0);
      shmdt(a);
      const r = await inPeer<Record<string, unknown>>(
        'read-only child',
        `
        import * as shmkit from 'SHMKIT';
        import { readFileSync } from 'node:fs';
        const { shmat, shmdt, SharedMemory, StateError, SHM_RDONLY } = shmkit;
        const id = Number(process.argv[1]);
        const error = (f) => { try { f(); return 'no error'; } catch (e) { return (e instanceof StateError ? 'StateError ' : e.name + ' ') + e.code + ': ' + e.message; } };
        const a = shmat(id, null, SHM_RDONLY);
        const maps = readFileSync('/proc/self/maps', 'utf8').split('\\n').find((l) => l.startsWith(a.address.toString(16) + '-'));
        const copy = a.read(0, 7);
        copy[0] = 0x52; // a copy: writing to it is harmless and changes nothing shared
        const shm = SharedMemory.open({ id, readOnly: true });
        const out = {
          readOnly: a.readOnly,
          byteLength: a.byteLength,
          perms: maps?.split(' ')[1],
          read: Buffer.from(a.read(0, 7)).toString(),
          buffer: error(() => a.buffer),
          shmReadOnly: shm.readOnly,
          shmRead: Buffer.from(shm.read(0, 7)).toString(),
          shmBuffer: error(() => shm.buffer),
          shmBytes: error(() => shm.bytes),
          shmWrite: error(() => shm.write(0, 'X')),
          shmWriteEmpty: error(() => shm.write(0, '')),
          exported: Object.keys(shmkit).filter((k) => /memoryOf|attachmentOf/.test(k)),
        };
        shmdt(a);
        shm.detach();
        console.log(JSON.stringify(out));
        `,
        id,
      );
      assert.equal(r.readOnly, true);
      assert.equal(r.byteLength, 4096);
      assert.equal(r.perms, 'r--s', 'the kernel mapped it read-only: a write there would be SIGSEGV');
      assert.equal(r.read, 'read me');
      assert.match(String(r.buffer), new RegExp(`^StateError ERR_SHM_READ_ONLY: shmat: segment ${id} is attached read-only`));
      assert.equal(r.shmReadOnly, true);
      assert.equal(r.shmRead, 'read me');
      assert.match(String(r.shmBuffer), /^StateError ERR_SHM_READ_ONLY/);
      assert.match(String(r.shmBytes), /^StateError ERR_SHM_READ_ONLY/);
      assert.match(String(r.shmWrite), /^StateError ERR_SHM_READ_ONLY: write: segment \d+ is attached read-only/);
      assert.match(String(r.shmWriteEmpty), /^StateError ERR_SHM_READ_ONLY/);
      assert.deepEqual(r.exported, [], 'no internal accessor of the raw memory is exported');
      assert.equal(Buffer.from(segmentBytes(id, 7)).toString(), 'read me', 'the segment is unchanged');
    });
  });

  // Read-only memory is mapped without write permission, but its ArrayBuffer
  // is an ordinary one: only shmkit's guards stand between a write and
  // SIGSEGV, so they must rest on state user code cannot change. Each way a
  // program could make `readOnly` say false runs with a shmkit of its own.
  const READ_ONLY_TRIGGERS = {
    'assigned on the attachment': 'a.readOnly = false; return new Uint8Array(a.buffer)[0] = 1;',
    'shadowed on the attachment': "Object.defineProperty(a, 'readOnly', { value: false }); return new Uint8Array(a.buffer)[0] = 1;",
    'patched on the prototype, buffer': 'patch(shmkit.Attachment.prototype); return new Uint8Array(a.buffer)[0] = 1;',
    'shadowed, struct view': "Object.defineProperty(a, 'readOnly', { value: false }); return T.view(a, 0).x = 1;",
    'patched, struct write': 'patch(shmkit.Attachment.prototype); return T.write(a, { x: 1 }, 0);',
    'patched, atomic store': "patch(shmkit.Attachment.prototype); return shmkit.atomic(T.view(a, 0), 'x').store(1);",
    'shadowed on a PROT_READ mapping': "Object.defineProperty(m, 'readOnly', { value: false }); return new Uint8Array(m.buffer)[0] = 1;",
    'patched, mapping struct view': 'patch(shmkit.Mapping.prototype); return T.view(m, 0).x = 1;',
    'patched on SharedMemory.prototype, write()':
      "patch(shmkit.SharedMemory.prototype); patch(shmkit.Attachment.prototype); return shm.write(0, 'X');",
    'patched on SharedMemory.prototype, sharedBuffer()': 'patch(shmkit.SharedMemory.prototype); return shm.sharedBuffer();',
    'patched on PosixSharedMemory.prototype, write()':
      "patch(shmkit.PosixSharedMemory.prototype); patch(shmkit.Mapping.prototype); return ro.write(0, 'X');",
    'patched on PosixSharedMemory.prototype, struct view':
      'patch(shmkit.PosixSharedMemory.prototype); patch(shmkit.Mapping.prototype); return T.view(ro, 0).x = 1;',
  };
  // Each way runs as a program of the peer, with a copy of shmkit of its own,
  // so that its patches reach no other (a process each cost 12 Node starts, a
  // worker thread each 12 Node environments). A write that got through to the
  // memory would end the peer with SIGSEGV: that is the verdict of the way it
  // was running, and the ways after it run in a new peer. The first of these
  // tests to run starts them; each takes its own.
  const triggerProgram = (code: string) => `
    import * as shmkit from 'SHMKIT';
    import { ftruncateSync, writeSync, closeSync } from 'node:fs';
    const { shmat, shmdt, SharedMemory, PosixSharedMemory, StateError, SHM_RDONLY, PROT_READ, MAP_SHARED } = shmkit;
    const [id, name] = [Number(process.argv[1]), process.argv[2]];
    const T = shmkit.struct({ x: shmkit.int32 });
    const a = shmat(id, null, SHM_RDONLY);
    const shm = SharedMemory.open({ id, readOnly: true });
    const fd = shmkit.memfd_create('ro', 0);
    ftruncateSync(fd, 4096);
    writeSync(fd, Buffer.from('memfd'), 0, 5, 0);
    const m = shmkit.mmap(null, 4096, PROT_READ, MAP_SHARED, fd);
    const rw = PosixSharedMemory.create({ name, size: 4096 });
    rw.write(0, 'posix');
    const ro = PosixSharedMemory.open({ name, readOnly: true });
    PosixSharedMemory.unlink(name);
    const patch = (proto) => Object.defineProperty(proto, 'readOnly', { get: () => false, configurable: true });
    let outcome;
    try {
      (() => { ${code} })();
      outcome = 'no error';
    } catch (e) {
      outcome = (e instanceof StateError ? 'StateError ' : e.name + ' ') + e.code + ': ' + e.message;
    }
    console.log(JSON.stringify({ outcome, shmReadOnly: shm.read(0, 1)[0], roFirst: ro.read(0, 1)[0], mFirst: m.read(0, 1)[0] }));
    shmdt(a); shm.detach(); ro.detach(); rw.detach(); shmkit.munmap(m); closeSync(fd);
  `;
  interface Triggered {
    outcome: string;
    shmReadOnly: number;
    roFirst: number;
    mFirst: number;
    error?: string;
    /** The segment's first 7 bytes once the program ended. */
    segment: string;
  }
  let triggered: Promise<Record<string, Triggered>> | undefined;
  const runTriggers = () =>
    (triggered ??= withCleanup(async (defer) => {
      const results: Record<string, Triggered> = {};
      for (const [way, code] of Object.entries(READ_ONLY_TRIGGERS)) {
        const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
        defer(() => removeSegment(id));
        const a = shmat(id);
        new Uint8Array(a.buffer).set(Buffer.from('read me'), 0);
        shmdt(a);
        const result = await cases.run(triggerProgram(code), [String(id), uniqueName('readonly')], { timeoutMs: 60_000 });
        if (result.signal === null && result.code === 0) results[way] = lastJson<Triggered>(result);
        else {
          const how = result.signal !== null ? `signal ${result.signal}` : `exit code ${result.code}`;
          results[way] = { error: `ended with ${how}\n${result.stderr}` } as Triggered;
          if (result.signal !== null) cases = peer(); // the peer itself ended
        }
        results[way]!.segment = Buffer.from(segmentBytes(id, 7)).toString();
      }
      return results;
    }));
  for (const trigger of Object.keys(READ_ONLY_TRIGGERS)) {
    it(`a read-only attachment or mapping whose readOnly is ${trigger} still cannot be written: a coded error, not SIGSEGV`, async () => {
      const r = (await runTriggers())[trigger]!;
      if (r.error !== undefined) throw new Error(`read-only program (${trigger}): ${r.error}`);
      const assignment = trigger === 'assigned on the attachment';
      assert.match(
        r.outcome,
        assignment ? /^TypeError undefined: Cannot set property readOnly/ : /^StateError ERR_SHM_READ_ONLY: /,
        'a coded error (or, for the assignment, no way to set it)',
      );
      assert.equal(r.shmReadOnly, 'r'.charCodeAt(0), 'the segment is unchanged');
      assert.equal(r.roFirst, 'p'.charCodeAt(0), 'the POSIX object is unchanged');
      assert.equal(r.mFirst, 'm'.charCodeAt(0), 'the memfd is unchanged');
      assert.equal(r.segment, 'read me');
    });
  }

  it('a buffer a web stream moved (a byte stream enqueue) keeps its memory: after a GC and more attachments the moved view reads the segment, not another', async () => {
    await withSegment(4096, async (id) => {
      const r = await inPeer<{
        byteLength: number;
        detached: boolean;
        bytes: number[];
        landed: boolean;
        nattchWhileHeld: number;
        nattchAfter: number;
      }>(
        'web stream child',
        `
        import { shmat, shmget, shmctl, IPC_PRIVATE, IPC_CREAT, IPC_RMID, IPC_STAT } from 'SHMKIT';
        const id = Number(process.argv[1]);
        const nattch = () => shmctl(id, IPC_STAT).shm_nattch;
        let a = shmat(id);
        const address = a.address;
        new Uint8Array(a.buffer).set([104, 101, 108, 108, 111]);
        let chunk = new Uint8Array(a.buffer);
        // Node's ReadableByteStreamController moves the chunk's buffer to a new ArrayBuffer (Node 20 too), emptying a.buffer.
        const stream = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(chunk); c.close(); } });
        let { value } = await stream.getReader().read();
        const byteLength = value.byteLength, detached = a.detached;
        chunk = null; a = null;
        await new Promise((r) => setTimeout(r, 0));
        gc(); gc();
        // Attach another segment, kept alive, past shmat's sweep interval, or until one lands at the moved memory's address.
        const other = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
        const keep = [shmat(other)];
        shmctl(other, IPC_RMID); // goes with the child: it stays attachable while attached
        let landed = false;
        for (let i = 0; i < 600 && !landed; i++) {
          const b = shmat(other);
          new Uint8Array(b.buffer).fill(66);
          keep.push(b);
          landed = b.address === address;
        }
        const bytes = Array.from(value.subarray(0, 5));
        const nattchWhileHeld = nattch();
        value = null;
        for (let turn = 0; turn < 200 && nattch() !== 0; turn++) { gc(); await new Promise((r) => setTimeout(r, 10)); }
        console.log(JSON.stringify({ byteLength, detached, bytes, landed, nattchWhileHeld, nattchAfter: nattch() }));
        `,
        id,
      );
      assert.equal(r.byteLength, 4096);
      assert.equal(r.detached, true, 'the stream moved the buffer away from the attachment');
      assert.deepEqual(r.bytes, [104, 101, 108, 108, 111], "the moved view reads the segment's own bytes");
      assert.equal(r.landed, false, 'no later attachment was mapped over memory the moved view uses');
      assert.equal(r.nattchWhileHeld, 1, 'the segment stays attached while the moved view lives');
      assert.equal(r.nattchAfter, 0, 'and is detached once it is collected');
    });
  });

  it('a buffer moved by ArrayBuffer.prototype.transfer() keeps the memory mapped: shmdt says EBUSY and the GC detaches it later', async () => {
    await withSegment(4096, async (id) => {
      const r = await inChild<Record<string, unknown>>(
        'transfer child',
        `
        import { shmat, shmdt, shmctl, IPC_STAT, IpcError, StateError } from 'SHMKIT';
        const id = Number(process.argv[1]);
        const nattch = () => shmctl(id, IPC_STAT).shm_nattch;
        const a = shmat(id);
        new Uint8Array(a.buffer)[0] = 42;
        let moved = a.buffer.transfer();
        const out = { detached: a.detached, byteLength: a.byteLength, movedLength: moved.byteLength };
        try { a.read(); } catch (e) { out.readError = e instanceof StateError && e.code; }
        try { shmdt(a); out.shmdt = 'ok'; } catch (e) { out.shmdt = e instanceof IpcError && e.code + ' ' + e.errno + ' ' + e.syscall; out.message = e.message; }
        // The moved buffer is still the segment: read and write through it after the failed shmdt.
        let view = new Uint8Array(moved);
        out.movedRead = view[0];
        view[1] = 43;
        out.nattchWhileHeld = nattch();
        const b = shmat(id);
        out.seenByOther = new Uint8Array(b.buffer)[1];
        shmdt(b);
        moved = null;
        view = null;
        for (let i = 0; i < 200 && nattch() !== 0; i++) { gc(); await new Promise((r) => setTimeout(r, 10)); }
        out.nattchAfterGc = nattch();
        console.log(JSON.stringify(out));
        `,
        id,
        60_000,
        WITH_TRANSFER,
      );
      assert.equal(r.detached, true);
      assert.equal(r.byteLength, 0);
      assert.equal(r.movedLength, 4096);
      assert.equal(r.readError, 'ERR_SHM_TRANSFERRED');
      assert.equal(r.shmdt, 'EBUSY -16 shmdt');
      assert.match(String(r.message), /transferred to another ArrayBuffer/);
      assert.equal(r.movedRead, 42);
      assert.equal(r.nattchWhileHeld, 1);
      assert.equal(r.seenByOther, 43);
      assert.equal(r.nattchAfterGc, 0);
    });
  });

  // Node-API's buffers over outside memory are untransferable: postMessage and
  // structuredClone copy them (Node 20) or refuse them (DataCloneError, Node 21
  // and later). Either way the mapping never leaves this thread.
  it('a buffer posted to a worker or structuredClone-transferred is copied or refused, never moved, and the attachment stays usable', async () => {
    await withSegment(4096, async (id) => {
      const r = await inPeer<Record<string, unknown>>(
        'worker child',
        `
        import { shmat, shmdt, shmctl, IPC_STAT } from 'SHMKIT';
        import { Worker } from 'node:worker_threads';
        import { once } from 'node:events';
        const id = Number(process.argv[1]);
        const nattch = () => shmctl(id, IPC_STAT).shm_nattch;
        const source = \`
          import { parentPort } from 'node:worker_threads';
          parentPort.on('message', (m) => { const view = new Uint8Array(m); view[1] = view[0] + 1; parentPort.postMessage(view[1]); });
        \`;
        const worker = new Worker(new URL('data:text/javascript,' + encodeURIComponent(source)));
        const a = shmat(id);
        new Uint8Array(a.buffer)[0] = 10;
        const out = {};
        try {
          worker.postMessage(a.buffer, [a.buffer]);
          const [first] = await once(worker, 'message');
          out.post = 'copied';
          out.first = first;
        } catch (e) { out.post = 'refused ' + e.name; }
        try {
          const clone = structuredClone(a.buffer, { transfer: [a.buffer] });
          new Uint8Array(clone)[2] = 99;
          out.clone = 'copied ' + clone.byteLength;
        } catch (e) { out.clone = 'refused ' + e.name; }
        out.detached = a.detached;
        out.byteLength = a.byteLength;
        new Uint8Array(a.buffer)[3] = 13;
        const b = shmat(id);
        out.seen = Array.from(new Uint8Array(b.buffer, 0, 4));
        shmdt(b);
        shmdt(a);
        out.nattchAfterShmdt = nattch();
        await worker.terminate();
        console.log(JSON.stringify(out));
        `,
        id,
      );
      const major = Number(process.versions.node.split('.')[0]);
      if (major >= 21) {
        assert.equal(r.post, 'refused DataCloneError');
        assert.equal(r.clone, 'refused DataCloneError');
      } else {
        assert.equal(r.post, 'copied');
        assert.equal(r.first, 11, 'the worker read the copy');
        assert.equal(r.clone, 'copied 4096');
      }
      assert.equal(r.detached, false);
      assert.equal(r.byteLength, 4096);
      assert.deepEqual(r.seen, [10, 0, 0, 13], 'only this thread wrote to the segment');
      assert.equal(r.nattchAfterShmdt, 0);
    });
  });

  it('a synchronous attach-and-forget loop gets EAGAIN, not a crash, and recovers when the event loop runs (memory can move on every Node: web streams, transfer())', async () => {
    // The synchronous loop of the forgotten-attachment test above: each attachment wrote a byte of its own until shmat refused.
    const r = await runSynchronousLoop();
    assert.equal(r.code, 'EAGAIN');
    assert.equal(r.syscall, 'shmat');
    assert.match(String(r.message), /forgotten attachments are detached when the event loop next runs/);
    assert.match(
      String(r.hint),
      /^\d+ forgotten attachments are detached when the event loop next runs/,
      "the hint is the error's hint too",
    );
    const attached = r.refusedAt ?? 0;
    assert.ok(attached > 1000 && attached < 60_000, `refused before the map count ran out (${attached} attached)`);
    assert.equal(r.nattchAfterGc, 0);
    assert.equal(r.again, ((attached - 1) % 255) + 1, "attached again, the segment holds the last forgotten attachment's byte");
  });
});
