// SharedMemory.sharedBuffer(): the segment as a SharedArrayBuffer that worker
// threads share. Where Node-API can make one (node_api_create_external_
// sharedarraybuffer: Node 22, 24 and 26), a worker's writes are in the
// segment, the attachment lives while any thread holds it and the collector
// detaches it after; where it cannot (Node 20), the call is an IpcError
// ENOSYS that leaves nothing attached. CI runs this file on Node 20 and on
// Node 26 (.ci/run), so both halves run there.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IpcError } from '../src/core/errors.js';
import { SharedMemory } from '../src/shm/shared-memory.js';
import { shmatShared } from '../src/sysv/shm.js';
import { assertNoLeaks, uniqueKey } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';

assertNoLeaks();

/**
 * Whether this Node.js can make a SharedArrayBuffer over a segment. Asked of
 * an id no segment has any more, so that the answer (ENOSYS, or shmat's
 * EINVAL) attaches nothing: an attachment the collector frees later would
 * move this file's leak count.
 */
function supported(): boolean {
  const gone = SharedMemory.create({ size: 64 });
  const id = gone.id;
  gone.detach(); // private: removed at its last detach
  try {
    shmatShared(id);
  } catch (error) {
    if (error instanceof IpcError && error.code === 'ENOSYS') return false;
    if (error instanceof IpcError && (error.code === 'EINVAL' || error.code === 'EIDRM')) return true;
    throw error;
  }
  throw new Error(`shmat of removed segment ${id} succeeded`);
}
const SUPPORTED = supported();
const UNSUPPORTED_HERE =
  !SUPPORTED && `Node.js ${process.version} has no node_api_create_external_sharedarraybuffer (CI runs this file on Node 26 too)`;
const SUPPORTED_HERE = SUPPORTED && `Node.js ${process.version} can make one (the other half runs on Node 20)`;

/** A child (with --expose-gc) that prints its result as its last line of JSON. */
async function inChild<T>(code: string, args: readonly string[] = []): Promise<T> {
  const result = await runNode(code, args, { timeoutMs: 60_000 });
  assertExitedCleanly(result, 'child');
  return lastJson<T>(result);
}

describe('SharedMemory.sharedBuffer() where Node-API can make a SharedArrayBuffer', { skip: UNSUPPORTED_HERE }, () => {
  it('a worker given it by postMessage writes into the segment itself, and one more attachment is counted', async () => {
    const r = await inChild<Record<string, unknown>>(`
      import { SharedMemory } from 'SHMKIT';
      import { Worker } from 'node:worker_threads';
      import { once } from 'node:events';
      const shm = SharedMemory.create({ size: 4096, autoRemove: true });
      const out = { before: shm.stat().shm_nattch };
      const sab = shm.sharedBuffer();
      out.kind = Object.prototype.toString.call(sab);
      out.length = sab.byteLength;
      out.with = shm.stat().shm_nattch;
      shm.bytes[0] = 7;
      const worker = new Worker(
        // ESM, as the child runs with --input-type=module, which its workers inherit.
        "import { parentPort } from 'node:worker_threads';" +
        "parentPort.once('message', (s) => { const v = new Uint8Array(s); v[1] = v[0] + 1; Atomics.store(new Int32Array(s), 1, 123456); parentPort.postMessage('written'); });",
        { eval: true },
      );
      worker.postMessage(sab);
      await once(worker, 'message');
      await worker.terminate();
      out.seen = [shm.bytes[0], shm.bytes[1], new Int32Array(shm.buffer)[1]];
      shm.detach();
      console.log(JSON.stringify(out));
    `);
    assert.equal(r['kind'], '[object SharedArrayBuffer]');
    assert.equal(r['length'], 4096);
    assert.equal(r['before'], 1);
    assert.equal(r['with'], 2, 'the SharedArrayBuffer is an attachment of its own');
    assert.deepEqual(r['seen'], [7, 8, 123456], "the worker's writes are in the segment");
  });

  it('lives while any thread holds it, through detach() of the SharedMemory, and the collector detaches it after', async () => {
    const r = await inChild<Record<string, number>>(
      `
      import { SharedMemory, IPC_RMID, IPC_STAT, shmctl } from 'SHMKIT';
      import { Worker } from 'node:worker_threads';
      import { once } from 'node:events';
      // A key: the segment stays (no autoRemove) while nattch goes to 0, until IPC_RMID below.
      const shm = SharedMemory.create({ key: Number(process.argv[1]), size: 4096 });
      const id = shm.id;
      const nattch = () => shmctl(id, IPC_STAT).shm_nattch;
      const collect = async () => { for (let i = 0; i < 20; i++) { gc(); await new Promise((r) => setTimeout(r, 5)); } };
      const out = {};
      try {
        // One that nobody keeps: the collector detaches it.
        (() => { new Uint8Array(shm.sharedBuffer())[0] = 1; })();
        out.dropped = nattch();
        await collect();
        out.droppedAfterGc = nattch();
        // One a worker keeps after this thread let go of it and detached the SharedMemory.
        let sab = shm.sharedBuffer();
        const worker = new Worker(
          "import { parentPort } from 'node:worker_threads'; let kept;" +
          "parentPort.on('message', (m) => { if (m === 'write') { new Uint8Array(kept)[2] = 99; parentPort.postMessage('ok'); }" +
          " else if (m === 'drop') { kept = undefined; gc(); parentPort.postMessage('ok'); } else { kept = m; parentPort.postMessage('ok'); } });",
          { eval: true },
        );
        worker.postMessage(sab);
        await once(worker, 'message');
        sab = undefined;
        shm.detach();
        await collect();
        out.workerHolds = nattch();
        worker.postMessage('write');
        await once(worker, 'message');
        worker.postMessage('drop');
        await once(worker, 'message');
        await collect();
        out.workerDropped = nattch();
        await worker.terminate();
        const check = SharedMemory.open({ id });
        out.written = check.bytes[2];
        check.detach();
      } finally {
        shmctl(id, IPC_RMID);
      }
      console.log(JSON.stringify(out));
    `,
      [String(uniqueKey())],
    );
    assert.equal(r['dropped'], 2);
    assert.equal(r['droppedAfterGc'], 1, 'a SharedArrayBuffer nobody holds is detached by the collector');
    assert.equal(r['workerHolds'], 1, "the worker's SharedArrayBuffer outlives detach() and the main thread's collections");
    assert.equal(r['written'], 99, 'and the memory under it is the segment');
    assert.equal(r['workerDropped'], 0, 'once the worker let go too, the collector detached it');
  });

  it('100,000 made and forgotten in one synchronous loop stay far below the map limit, and all go with the collector', async (t) => {
    // Each one is a mapping of its own; the process may hold vm.max_map_count
    // (65,530 by default) in all, and V8 aborts when it cannot map its own heap.
    const r = await inChild<Record<string, number>>(`
      import { SharedMemory } from 'SHMKIT';
      import { readFileSync } from 'node:fs';
      const mappings = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').length;
      const shm = SharedMemory.create({ size: 4096, autoRemove: true });
      const out = { limit: Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8')), most: 0 };
      for (let i = 0; i < 100_000; i++) {
        new Uint8Array(shm.sharedBuffer())[0] = 1;
        if (i % 5000 === 0) out.most = Math.max(out.most, mappings());
      }
      for (let i = 0; i < 20; i++) { gc(); await new Promise((r) => setTimeout(r, 5)); }
      out.after = shm.stat().shm_nattch;
      shm.detach();
      console.log(JSON.stringify(out));
    `);
    assert.ok(r['most']! < Math.min(r['limit']!, 65_530) / 2, `at most ${r['most']} mappings at once (limit ${r['limit']})`);
    assert.equal(r['after'], 1, 'only the SharedMemory itself is left attached');
    t.diagnostic(`at most ${r['most']} mappings at once, of ${r['limit']} allowed`);
  });
});

describe('SharedMemory.sharedBuffer() where it cannot make one', { skip: SUPPORTED_HERE }, () => {
  it('is an IpcError ENOSYS naming shmat, this Node.js and what would do, and attaches nothing', () => {
    using shm = SharedMemory.create({ size: 64, autoRemove: true });
    assert.throws(
      () => shm.sharedBuffer(),
      (error: unknown) =>
        error instanceof IpcError &&
        error.code === 'ENOSYS' &&
        error.syscall === 'shmat' &&
        error.message.includes(process.version) &&
        /node_api_create_external_sharedarraybuffer/.test(error.message),
    );
    assert.equal(shm.stat().shm_nattch, 1, 'nothing was left attached');
  });
});

describe('SharedMemory.sharedBuffer() refusals', () => {
  it('a read-only attachment and a detached one say so, whatever the Node.js', () => {
    using shm = SharedMemory.create({ size: 64, autoRemove: true });
    using ro = SharedMemory.open({ id: shm.id, readOnly: true });
    assert.throws(() => ro.sharedBuffer(), { code: 'ERR_SHM_READ_ONLY', message: /sharedBuffer: .*read-only.*always writable/ });
    ro.detach();
    assert.throws(() => ro.sharedBuffer(), { code: 'ERR_SHM_DETACHED' });
  });
});
