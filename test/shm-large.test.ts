// Segments larger than one ArrayBuffer may be (buffer.constants.MAX_LENGTH,
// 4 GiB in Node 20): Node-API cannot map them, and attaching says so with a
// coded EFBIG; where Node allows it (22 and later), read, write and `shmkit
// write`/`cat` work at any offset. Also: writing a detached
// buffer is a TypeError naming the argument. The large segment is made in
// a child in its own IPC namespace (pages are only allocated where written).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedMemory } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, BIN, lastJson } from './helpers/processes.js';
import { noPrivateIpc, runNodeInPrivateIpc, thrown } from './helpers/shm.js';

assertNoLeaks();

describe('segments over 4 GiB', () => {
  it('are mapped where one ArrayBuffer may be that large (read, write and shmkit write/cat at offsets past 4 GiB); elsewhere attaching is a coded EFBIG that says why, and create leaves nothing behind', {
    skip: noPrivateIpc,
  }, async () => {
    const result = await runNodeInPrivateIpc(
      `
      import { spawnSync } from 'node:child_process';
      import { constants } from 'node:buffer';
      import { SharedMemory, shmctl, SHM_INFO } from 'SHMKIT';
      const size = 5 * 2 ** 30;
      const outcome = (fn) => { try { const v = fn(); return { ok: v }; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
      let shm;
      const created = outcome(() => { shm = SharedMemory.create({ size }); return shm.size; });
      const report = { maxLength: constants.MAX_LENGTH, size, created, segmentsLeft: shmctl(0, SHM_INFO).used_ids };
      if (shm) {
        const high = size - 16;
        report.written = shm.write(high, 'past four GiB');
        report.readBack = new TextDecoder().decode(shm.read(high, 13));
        const cli = spawnSync(process.execPath, [${JSON.stringify(BIN)}, 'write', String(shm.id), '--offset', String(size - 3)], { input: 'end', encoding: 'utf8' });
        const cat = spawnSync(process.execPath, [${JSON.stringify(BIN)}, 'cat', String(shm.id), '--offset', String(size - 16), '--length', '16'], { encoding: 'latin1' });
        report.cli = [cli.status, cli.stderr];
        report.cat = [cat.status, cat.stdout, cat.stderr];
        shm.remove();
        shm.detach();
      }
      console.log(JSON.stringify(report));
    `,
      [],
      { timeoutMs: 60_000 },
    );
    assertExitedCleanly(result);
    const r = lastJson<{
      maxLength: number;
      size: number;
      segmentsLeft: number;
      created: { ok?: number; name?: string; code?: string; message?: string };
      written?: number;
      readBack?: string;
      cli?: [number, string];
      cat?: [number, string, string];
    }>(result);
    if (r.size > r.maxLength) {
      // Node-API makes every ArrayBuffer over outside memory through node::Buffer, which stops at MAX_LENGTH (4 GiB in Node 20).
      assert.equal(r.created.code, 'EFBIG', r.created.message);
      assert.match(r.created.message ?? '', /larger than one ArrayBuffer may be in this Node\.js \(buffer\.constants\.MAX_LENGTH/);
      assert.equal(r.segmentsLeft, 0, 'the segment create made is gone again');
    } else {
      assert.equal(r.created.ok, r.size);
      assert.equal(r.written, 13);
      assert.equal(r.readBack, 'past four GiB');
      assert.deepEqual(r.cli, [0, '']);
      assert.deepEqual(r.cat, [0, 'past four GiBend', '']);
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
