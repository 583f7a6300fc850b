// A read-only attachment is mapped PROT_READ, but every ArrayBuffer is
// writable: if shmkit called a built-in that a program can replace on such a
// buffer, the replacement would keep it and a write through it would be
// SIGSEGV. Here a child replaces every method and getter shmkit could meet
// (ArrayBuffer, typed arrays, DataView, Atomics, Function.prototype, Reflect,
// Object, Array, String, TextDecoder, JSON) with wrappers that keep what they
// are given, runs every read path over a read-only segment (Attachment.read,
// SharedMemory.read, struct views, read(), toJSON, inspect, atomic().load,
// the CLI's cat and dump), and checks that nothing kept aliases the segment.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson } from './helpers/processes.js';
import { noPrivateIpc, runNodeInPrivateIpc } from './helpers/shm.js';

assertNoLeaks();

// The command's main(), from the bundle bin/shmkit.js loads: it shares the
// library's copy with 'SHMKIT', and loads in some 35 ms of CPU less than the
// library's and the CLI's separate modules.
const MAIN = new URL('../src/bundle/main.js', import.meta.url).href;

const CHILD = `
import { isAnyArrayBuffer, isArrayBufferView } from 'node:util/types';
import { inspect } from 'node:util';
import { SharedMemory, shmat, shmdt, shmget, shmctl, struct, int32, int64, float64, bool, char, array, atomic,
  IPC_PRIVATE, IPC_CREAT, IPC_RMID, SHM_INFO, SHM_RDONLY, StateError } from 'SHMKIT';
import { main } from ${JSON.stringify(MAIN)};

// Originals, before anything is patched.
const apply = Reflect.apply;
const getOwn = Object.getOwnPropertyDescriptor;
const define = Object.defineProperty;
const ownKeys = Reflect.ownKeys;
const construct = Reflect.construct;
const TA = Object.getPrototypeOf(Uint8Array.prototype);
const U8 = Uint8Array;
const taBuffer = getOwn(TA, 'buffer').get, taOffset = getOwn(TA, 'byteOffset').get, taLength = getOwn(TA, 'byteLength').get;
const dvBuffer = getOwn(DataView.prototype, 'buffer').get, dvOffset = getOwn(DataView.prototype, 'byteOffset').get, dvLength = getOwn(DataView.prototype, 'byteLength').get;
const abLength = getOwn(ArrayBuffer.prototype, 'byteLength').get;
const set = TA.set;
const log = console.log;
const stringify = JSON.stringify;

let recording = false;
const kept = [];
const keep = (value) => {
  if (recording && (isAnyArrayBuffer(value) || isArrayBufferView(value))) kept[kept.length] = value;
};
let patched = 0;
function patch(target, label) {
  for (const key of ownKeys(target)) {
    const d = getOwn(target, key);
    if (!d.configurable) continue;
    if (key === 'constructor' && typeof d.value === 'function') {
      // What species lookups (slice, subarray) read from the receiver.
      const original = d.value;
      define(target, key, { configurable: true, get() { keep(this); return original; }, set(v) {} });
      patched++;
    } else if (typeof d.value === 'function') {
      const original = d.value;
      define(target, key, { ...d, value: function (...args) { keep(this); for (let i = 0; i < args.length; i++) keep(args[i]); return new.target ? construct(original, args, new.target) : apply(original, this, args); } });
      patched++;
    } else if (typeof d.get === 'function') {
      const original = d.get;
      define(target, key, { ...d, get() { keep(this); return apply(original, this, []); } });
      patched++;
    }
  }
}

const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
const writer = shmat(id);
const w = new U8(writer.buffer);
for (let i = 0; i < 4096; i++) w[i] = 0x20 + (i % 90);
const Inner = struct({ a: int32, b: float64 });
const Layout = struct({ counter: int32, big: int64, ratio: float64, flag: bool, name: char(16), long: char(200),
  inner: Inner, items: array(int32, 4), structs: array(Inner, 2) });
const ro = shmat(id, null, SHM_RDONLY);
const shm = SharedMemory.open({ id, readOnly: true });
const view = Layout.view(shm);
const attachmentView = Layout.view(ro, 8);

for (const target of [ArrayBuffer, ArrayBuffer.prototype, SharedArrayBuffer.prototype, TA, TA.constructor, DataView.prototype,
  Atomics, Function.prototype, Reflect, Object, Array.prototype, Array, String, String.prototype, TextDecoder.prototype,
  TextEncoder.prototype, JSON, Buffer.prototype,
  ...[Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, BigInt64Array, BigUint64Array, Float32Array, Float64Array].map((c) => c.prototype)]) {
  patch(target);
}

const outcomes = {};
const ops = {
  'Attachment.read(0, 1)': () => ro.read(0, 1),
  'Attachment.read()': () => ro.read(),
  'Attachment.byteLength': () => ro.byteLength,
  'Attachment.detached': () => ro.detached,
  'Attachment.buffer': () => ro.buffer,
  'SharedMemory.read': () => shm.read(8, 64),
  'SharedMemory.size': () => shm.size,
  'SharedMemory.bytes': () => shm.bytes,
  'view scalars': () => [view.counter, view.big, view.ratio, view.flag],
  'view char': () => view.name + view.long,
  'view nested': () => [view.inner.a, view.inner.b, view.structs.get(1).a],
  'view array': () => [view.items[0], view.items.get(3), view.items.toArray(), [...view.items]],
  'view toJSON': () => stringify(view),
  'view inspect': () => inspect(view),
  'attachment view': () => attachmentView.counter + attachmentView.name,
  'struct.read(shm)': () => Layout.read(shm),
  'struct.read(attachment)': () => Layout.read(ro, 16),
  'write(dst, read-only view)': () => { const copy = new ArrayBuffer(Layout.size); Layout.write(copy, view); return copy; },
  'set(i, read-only view)': () => { const pair = array(Inner, 2).view(new ArrayBuffer(2 * Inner.size)); pair.set(1, view.inner); return pair; },
  'Inner.view(...).toJSON': () => Inner.view(ro, 24).toJSON(),
  'atomic load': () => atomic(view, 'counter').load() + atomic(view.items, 1).load(),
  'atomic store': () => atomic(view, 'counter').store(1),
  'view write': () => { view.counter = 1; },
  'struct.write': () => Layout.write(shm, Layout.read(shm)),
};
for (const [name, op] of Object.entries(ops)) {
  recording = true;
  try { const value = op(); outcomes[name] = value === undefined ? 'undefined' : 'ok'; }
  catch (e) { outcomes[name] = (e instanceof StateError ? 'StateError ' : 'threw ') + e.code; }
  finally { recording = false; }
}
// The CLI's cat and dump (to stdout, before the JSON line).
for (const name of ['cat', 'dump']) {
  recording = true;
  try { outcomes['cli ' + name] = String(await main([name, String(id), '--length', '64'])); }
  catch (e) { outcomes['cli ' + name] = 'threw ' + e.message; }
  finally { recording = false; }
}

// Did anything kept alias the segment? Change every byte through the writable
// attachment and see whether a kept object sees the change.
const span = (x) => {
  if (isAnyArrayBuffer(x)) return [x, 0, apply(abLength, x, [])];
  if (x instanceof DataView) return [apply(dvBuffer, x, []), apply(dvOffset, x, []), apply(dvLength, x, [])];
  return [apply(taBuffer, x, []), apply(taOffset, x, []), apply(taLength, x, [])];
};
const snapshot = (x) => {
  const [buffer, offset, length] = span(x);
  const out = new U8(length);
  apply(set, out, [new U8(buffer, offset, length)]);
  return out;
};
function aliases(objects) {
  const before = objects.map(snapshot);
  for (let i = 0; i < 4096; i++) w[i] ^= 0xff;
  const after = objects.map(snapshot);
  return objects.filter((_, i) => before[i].length > 0 && before[i].some((b, j) => b !== after[i][j]));
}
const leaks = aliases(kept).map((x) => Object.prototype.toString.call(x) + ' of ' + span(x)[2] + ' bytes');
// The detector itself: a view of the writable attachment, kept the same way, is found.
recording = true;
new U8(writer.buffer, 0, 16).subarray(0, 8);
recording = false;
const control = aliases(kept.slice(-2)).length;
const readAfter = shm.read(0, 4);
shm.detach();
shmdt(ro);
shmdt(writer);
shmctl(id, IPC_RMID);
log('');
log(stringify({ patched, kept: kept.length, leaks, control, outcomes, readAfter: Array.from(readAfter), used: shmctl(0, SHM_INFO).used_ids }));
`;

describe('read-only attachments and patched built-ins', () => {
  it("no patched method, getter or constructor lookup ever receives a read-only attachment's memory, and the process survives", {
    skip: noPrivateIpc,
  }, async () => {
    const result = await runNodeInPrivateIpc(CHILD, [], { timeoutMs: 60_000 });
    assertExitedCleanly(result, 'patched built-ins child');
    const r = lastJson<{
      patched: number;
      kept: number;
      leaks: string[];
      control: number;
      outcomes: Record<string, string>;
      readAfter: number[];
      used: number;
    }>(result);
    assert.ok(r.patched > 200, `built-ins replaced (${r.patched})`);
    assert.ok(r.kept > 0, 'the wrappers were called');
    assert.equal(r.control, 2, 'the detector finds a kept view of the segment');
    assert.deepEqual(r.leaks, [], 'nothing kept aliases the read-only segment');
    for (const [name, outcome] of Object.entries(r.outcomes)) {
      if (['Attachment.buffer', 'SharedMemory.bytes', 'atomic store', 'view write', 'struct.write'].includes(name)) {
        assert.equal(outcome, 'StateError ERR_SHM_READ_ONLY', name);
      } else {
        assert.match(outcome, /^(ok|0)$/, name);
      }
    }
    assert.deepEqual(r.readAfter, [0x20, 0x21, 0x22, 0x23], 'reads still see the segment (changed twice by the detector)');
    assert.equal(r.used, 0, 'the child removed its segment');
  });
});
