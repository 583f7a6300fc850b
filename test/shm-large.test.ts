// Segments larger than one typed array can be (buffer.constants.MAX_LENGTH,
// 4 GiB in Node 20): read, write and `shmkit write`/`cat` work at any
// offset; `bytes` and a read of everything, which would need one typed
// array of the whole segment, fail with a coded error saying why (or work,
// on a Node whose typed arrays are large enough). Also: writing a detached
// buffer is a TypeError naming the argument. The large segment is made in
// a child in its own IPC namespace (pages are only allocated where written).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedMemory } from '../src/index.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, BIN, lastJson } from './helpers/processes.js';
import { runNodeInPrivateIpc, thrown } from './helpers/shm.js';

assertNoLeaks();

describe('segments over 4 GiB', () => {
  it('read, write and shmkit write/cat work at offsets past 4 GiB; bytes and a whole read fail with a coded error (or work, where typed arrays are that large)', async () => {
    const result = await runNodeInPrivateIpc(`
      import { spawnSync } from 'node:child_process';
      import { constants } from 'node:buffer';
      import { SharedMemory } from 'SHMKIT';
      const size = 5 * 2 ** 30;
      const shm = SharedMemory.create({ size });
      const outcome = (fn) => { try { const v = fn(); return { ok: v }; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
      const high = size - 16;
      const written = shm.write(high, 'past four GiB');
      const readBack = new TextDecoder().decode(shm.read(high, 13));
      const low = shm.write(0, new Uint8Array([1, 2, 3]));
      const cli = spawnSync(process.execPath, [${JSON.stringify(BIN)}, 'write', String(shm.id), '--offset', String(size - 3)], { input: 'end', encoding: 'utf8' });
      const cat = spawnSync(process.execPath, [${JSON.stringify(BIN)}, 'cat', String(shm.id), '--offset', String(size - 16), '--length', '16'], { encoding: 'latin1' });
      const bytes = outcome(() => shm.bytes.length);
      const whole = outcome(() => shm.read().length);
      shm.detach();
      console.log(JSON.stringify({ maxLength: constants.MAX_LENGTH, size, written, readBack, low, cli: [cli.status, cli.stderr], cat: [cat.status, cat.stdout, cat.stderr], bytes, whole }));
    `, [], { timeoutMs: 60_000 });
    assertExitedCleanly(result);
    const r = lastJson<{
      maxLength: number; size: number; written: number; readBack: string; low: number;
      cli: [number, string]; cat: [number, string, string];
      bytes: { ok?: number; name?: string; code?: string; message?: string };
      whole: { ok?: number; name?: string; code?: string; message?: string };
    }>(result);
    assert.equal(r.written, 13);
    assert.equal(r.readBack, 'past four GiB');
    assert.equal(r.low, 3);
    assert.deepEqual(r.cli, [0, '']);
    assert.deepEqual(r.cat, [0, 'past four GiBend', '']);
    if (r.size > r.maxLength) {
      assert.equal(r.bytes.code, 'ERR_SHM_TOO_LARGE', r.bytes.message);
      assert.match(r.bytes.message ?? '', /^bytes: segment \d+ has 5368709120 bytes.*MAX_LENGTH.*read\(offset, length\)/);
      assert.equal(r.whole.code, 'ERR_OUT_OF_RANGE', r.whole.message);
      assert.match(r.whole.message ?? '', /"length \(default: to the end\)".*MAX_LENGTH/);
    } else {
      assert.deepEqual([r.bytes.ok, r.whole.ok], [r.size, r.size]);
    }
  });
});

describe('writing a detached buffer', () => {
  it('is a TypeError ERR_INVALID_ARG_VALUE naming data, and writes nothing', () => {
    using shm = SharedMemory.create({ size: 64 });
    shm.write(0, 'keep');
    const buffer = new ArrayBuffer(8);
    structuredClone(buffer, { transfer: [buffer] });
    const view = new Uint8Array(new ArrayBuffer(4));
    structuredClone(view.buffer, { transfer: [view.buffer] });
    for (const data of [buffer, view]) {
      const error = thrown(() => shm.write(0, data)) as TypeError & { code?: string };
      assert.ok(error instanceof TypeError, String(error));
      assert.equal(error.code, 'ERR_INVALID_ARG_VALUE');
      assert.match(error.message, /^The argument 'data' is invalid: its ArrayBuffer is detached/);
    }
    assert.equal(new TextDecoder().decode(shm.read(0, 4)), 'keep');
  });
});
