// No JavaScript can crash the process through POSIX memory: detached buffers
// are empty, read-only mappings give out nothing writable, forgotten mappings
// (and their descriptors) are reclaimed by the garbage collector, and an
// object shrunk under its mapping by another process reads as zeros instead of
// killing the reader with SIGBUS. Each case runs in another process, which
// must end by itself, not by a signal.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PosixSharedMemory } from 'shmkit';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, type RunResult, run, runNode, SHMKIT } from './helpers/processes.js';
import { startNode } from './helpers/namespaces.js';
import { END_WORKER } from './helpers/worker-end.js';
import { cleanUpPosixNames, shmExists, uniqueName, unlinkQuietly } from './helpers/posix.js';
import { budget } from './helpers/soak.js';

/**
 * The cases that need another process, not a new one, run one after another
 * in one peer, each with a copy of the library of its own. The forgotten
 * mappings (they measure the process's address space and descriptors), the
 * shrunk object's reader (it exits) and the foreign SIGBUS keep a process each.
 */
const cases = peer();
after(() => cases.end());

cleanUpPosixNames();

// Forgotten 1 MiB objects, then as many forgotten mappings: none reclaimed,
// 3,000 take 3,000 MiB of address space (and 3,000 descriptors), over the
// bounds of 2,048 MiB and 50.
const FORGOTTEN = budget(3000, 6000);

/** Asserts that `what` ended cleanly, returns its last JSON line. */
function outcomeOf<T>(what: string, result: RunResult): T {
  assertExitedCleanly(result, what);
  return lastJson<T>(result);
}

async function inChild<T>(what: string, code: string, args: string[]): Promise<T> {
  return outcomeOf<T>(what, await runNode(code, args, { timeoutMs: 120_000 }));
}

/** As inChild, in the peer. */
async function inPeer<T>(what: string, code: string, args: string[]): Promise<T> {
  return outcomeOf<T>(what, await cases.run(code, args, { timeoutMs: 120_000 }));
}

describe('memory safety of POSIX mappings', () => {
  it('after detach every buffer and view is empty, and reading, writing or copying through them cannot fault', async () => {
    const name = uniqueName('detach');
    try {
      const results = await inPeer<Record<string, string>>(
        'detach child',
        `
        import { PosixSharedMemory, StateError, struct, int32 } from 'SHMKIT';
        import { openSync, readSync } from 'node:fs';
        const shm = PosixSharedMemory.create({ name: process.argv[1], size: 8192 });
        const buf = shm.buffer, u8 = shm.bytes, i32 = new Int32Array(buf, 64), dv = new DataView(buf, 4);
        const nodeBuf = Buffer.from(buf, 0, 4096);
        const view = struct({ n: int32 }).view(shm, 0);
        u8.fill(0xa5);
        shm.unlink();
        shm.detach();
        const outcome = (f) => {
          try {
            const v = f();
            if (typeof v === 'object' && v !== null) return 'length ' + (v.byteLength ?? v.length);
            return String(v);
          } catch (e) { return 'threw ' + (e.code ?? e.name); }
        };
        const ops = {
          'read u8[0]': () => u8[0], 'write u8[0]': () => { u8[0] = 1; return u8[0]; },
          'Int32Array read': () => i32[0], 'Atomics.store': () => Atomics.store(i32, 0, 1),
          'DataView getUint8': () => dv.getUint8(0), 'ArrayBuffer byteLength': () => buf.byteLength,
          'Buffer write': () => nodeBuf.write('abc'), 'fill()': () => u8.fill(1),
          'fs.readSync into it': () => readSync(openSync('/dev/zero', 'r'), u8),
          'struct view read': () => view.n, 'size': () => shm.size, 'read()': () => shm.read(0, 1),
          'write()': () => shm.write(0, 'x'), 'bytes': () => shm.bytes, 'buffer': () => shm.buffer,
          'fd': () => shm.fd, 'seals': () => shm.seals, 'stat()': () => shm.stat(),
          'detach() again': () => shm.detach(), 'dispose after detach': () => shm[Symbol.dispose](),
          'detached': () => shm.detached,
        };
        const results = {};
        for (const [name, op] of Object.entries(ops)) results[name] = outcome(op);
        console.log(JSON.stringify(results));
      `,
        [name],
      );
      assert.equal(results['read u8[0]'], 'undefined');
      assert.equal(results['write u8[0]'], 'undefined');
      assert.equal(results['Int32Array read'], 'undefined');
      assert.equal(results['Atomics.store'], 'threw TypeError');
      assert.equal(results['DataView getUint8'], 'threw TypeError');
      assert.equal(results['ArrayBuffer byteLength'], '0');
      assert.equal(results['fs.readSync into it'], '0');
      assert.equal(results['struct view read'], 'threw ERR_SHM_DETACHED');
      assert.equal(results['size'], '0');
      for (const op of ['read()', 'write()', 'bytes', 'fd', 'seals', 'stat()', 'detach() again']) {
        assert.equal(results[op], 'threw ERR_SHM_DETACHED', op);
      }
      assert.equal(results['dispose after detach'], 'undefined');
      assert.equal(results['detached'], 'true');
      assert.equal(shmExists(name), false);
    } finally {
      unlinkQuietly(name);
    }
  });

  it('a read-only mapping gives out nothing writable: buffer and bytes throw, read() copies, writes are StateErrors', async () => {
    const name = uniqueName('readonly');
    const writer = PosixSharedMemory.create({ name, size: 4096 });
    try {
      writer.write(0, 'original');
      const results = await inPeer<Record<string, string>>(
        'read-only child',
        `
        import { PosixSharedMemory, O_RDONLY, shm_open, struct, char } from 'SHMKIT';
        const ro = PosixSharedMemory.open({ name: process.argv[1], readOnly: true });
        const outcome = (f) => { try { return String(f()); } catch (e) { return 'threw ' + (e.code ?? e.name); } };
        const copy = ro.read(0, 8);
        copy[0] = 0x58;
        const view = struct({ s: char(16) }).view(ro, 0);
        const fd = shm_open(process.argv[1], O_RDONLY);
        const fromFd = PosixSharedMemory.fromFd(fd);
        console.log(JSON.stringify({
          buffer: outcome(() => ro.buffer), bytes: outcome(() => ro.bytes), write: outcome(() => ro.write(0, 'x')),
          copyChanged: new TextDecoder().decode(ro.read(0, 8)), viewRead: outcome(() => view.s),
          viewWrite: outcome(() => { view.s = 'no'; }), readOnly: String(ro.readOnly),
          fromReadOnlyFd: String(fromFd.readOnly), fromFdBuffer: outcome(() => fromFd.buffer),
        }));
      `,
        [name],
      );
      assert.deepEqual(results, {
        buffer: 'threw ERR_SHM_READ_ONLY',
        bytes: 'threw ERR_SHM_READ_ONLY',
        write: 'threw ERR_SHM_READ_ONLY',
        copyChanged: 'original',
        viewRead: 'original',
        viewWrite: 'threw ERR_SHM_READ_ONLY',
        readOnly: 'true',
        fromReadOnlyFd: 'true',
        fromFdBuffer: 'threw ERR_SHM_READ_ONLY',
      });
    } finally {
      writer.detach();
      unlinkQuietly(name);
    }
  });

  it('forgotten mappings and their descriptors are reclaimed by the garbage collector: address space and descriptors stay bounded (those of a synchronous loop once the event loop runs)', async () => {
    const name = uniqueName('gc');
    const shm = PosixSharedMemory.create({ name, size: 1 << 20 });
    try {
      const out = await inChild<{ vmGrowthMiB: number; fdGrowth: number; syncVmGrowthMiB: number; syncVmAfterMiB: number; value: number }>(
        'gc child',
        `
        import { PosixSharedMemory, mmap, shm_open, O_RDONLY, PROT_READ, MAP_SHARED } from 'SHMKIT';
        import { closeSync, readFileSync, readdirSync } from 'node:fs';
        import { setImmediate as turn } from 'node:timers/promises';
        const vmMiB = () => Number(/VmSize:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
        const fds = () => readdirSync('/proc/self/fd').length;
        const name = process.argv[1];
        const vm0 = vmMiB(), fd0 = fds();
        let value = 0;
        // ${FORGOTTEN} forgotten 1 MiB objects: ${FORGOTTEN} MiB of address space and as many descriptors if none were reclaimed.
        for (let i = 0; i < ${FORGOTTEN}; i++) {
          value += PosixSharedMemory.open({ name }).bytes[i % 1024];
          if (i % 500 === 0) { globalThis.gc(); await turn(); }
        }
        for (let i = 0; i < 5; i++) { globalThis.gc(); await turn(); }
        const vmGrowthMiB = vmMiB() - vm0, fdGrowth = fds() - fd0;
        // Synchronous: C-faithful mappings forgotten without the event loop ever running.
        const fd = shm_open(name, O_RDONLY);
        const vm1 = vmMiB();
        for (let i = 0; i < ${FORGOTTEN}; i++) {
          value += mmap(null, 1 << 20, PROT_READ, MAP_SHARED, fd, 0).read(i % 1024, 1)[0];
          if (i % 500 === 0) globalThis.gc();
        }
        closeSync(fd);
        const syncVmGrowthMiB = vmMiB() - vm1;
        for (let i = 0; i < 5; i++) { globalThis.gc(); await turn(); }
        console.log(JSON.stringify({ vmGrowthMiB, fdGrowth, syncVmGrowthMiB, syncVmAfterMiB: vmMiB() - vm1, value }));
      `,
        [name],
      );
      assert.equal(out.value, 0);
      assert.ok(out.vmGrowthMiB < 2048, `address space grew by ${out.vmGrowthMiB} MiB`);
      assert.ok(out.fdGrowth < 50, `descriptors grew by ${out.fdGrowth}`);
      // A buffer's memory can move (web streams on every Node, transfer() from Node 21): only the finalizer, on an event-loop turn, unmaps.
      assert.ok(out.syncVmAfterMiB < 2048, `address space still ${out.syncVmAfterMiB} MiB larger once the event loop ran`);
    } finally {
      shm.detach();
      unlinkQuietly(name);
    }
  });

  it('an object another process shrinks under the mapping reads as zeros past its new end instead of killing the reader (SIGBUS)', async () => {
    const name = uniqueName('shrink');
    const child = startNode(
      `
      import { PosixSharedMemory } from 'SHMKIT';
      import { createInterface } from 'node:readline';
      const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
      const shm = PosixSharedMemory.create({ name: process.argv[1], size: 65536 });
      const ro = PosixSharedMemory.open({ name: process.argv[1], readOnly: true });
      const u8 = shm.bytes;
      u8.fill(7);
      console.log('ready');
      await lines.next(); // meanwhile another process truncates the object to 4096 bytes
      let sum = 0;
      for (let i = 0; i < u8.length; i += 512) sum += u8[i];
      u8[60000] = 9;
      const roCopy = ro.read(0, 65536);
      console.log(JSON.stringify({ sum, first: u8[0], last: u8[65535], written: u8[60000], roFirst: roCopy[0], roLast: roCopy[65535], size: shm.stat().size }));
      shm.unlink(); shm.detach(); ro.detach();
      process.exit(0);
    `,
      [name],
    );
    try {
      assert.equal(await child.line(), 'ready');
      const truncate = await run('truncate', ['-s', '4096', `/dev/shm${name}`]);
      assertExitedCleanly(truncate, 'truncate');
      child.send('go');
      const out = await child.json<Record<string, number>>();
      // 8 samples in the first 4096 bytes still hold 7; the rest is gone and reads 0.
      assert.deepEqual(out, { sum: 8 * 7, first: 7, last: 0, written: 9, roFirst: 7, roLast: 0, size: 4096 });
      assertExitedCleanly(await child.exited, 'shrunk child');
    } finally {
      await child.kill();
      unlinkQuietly(name);
    }
  });

  it('faults on every other page of a large shrunk object keep the mapping in few areas (vm.max_map_count is never neared), and each page reads 0', async () => {
    // A zero page put over each faulting page alone splits the mapping into
    // two more areas; at vm.max_map_count (65530) every allocation of the
    // process fails (an abort). Past 1024 of them, the rest of the range
    // goes in one piece.
    const result = await inPeer<{ sum: number; areas: number; written: number }>(
      'strided faults child',
      `
      import { PosixSharedMemory } from 'SHMKIT';
      import { ftruncateSync, readFileSync } from 'node:fs';
      const areas = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').length;
      const pages = 8192;
      const shm = PosixSharedMemory.createAnonymous({ size: pages * 4096 });
      const before = areas();
      ftruncateSync(shm.fd, 0);
      const bytes = shm.bytes;
      let sum = 0;
      for (let page = 0; page < pages; page += 2) sum += bytes[page * 4096];
      bytes[(pages - 1) * 4096] = 5;
      console.log(JSON.stringify({ sum, areas: areas() - before, written: bytes[(pages - 1) * 4096] }));
      `,
      [],
    );
    assert.equal(result.sum, 0);
    assert.equal(result.written, 5);
    // 1024 single pages make about 2048 areas; one page each for all 4096 faults, about 8192.
    assert.ok(result.areas < 2200, `areas added: ${result.areas}`);
  });

  it('a SIGBUS that is not a fault in a mapped file still ends the process as before', async () => {
    const result = await runNode(`
      import { PosixSharedMemory } from 'SHMKIT';
      const shm = PosixSharedMemory.createAnonymous({ size: 4096 });
      shm.bytes[0] = 1;
      process.kill(process.pid, 'SIGBUS');
      setTimeout(() => console.log('survived'), 1000);
    `);
    assert.equal(result.signal, 'SIGBUS');
    assert.doesNotMatch(result.stdout, /survived/);
  });

  it("leaves open a descriptor number that the program closed itself and that now names another file: on detach and at a worker's end", async () => {
    // Each case closes the object's descriptor behind its back, and this thread opens node's own
    // executable until the same number comes back; then shmkit closes "its" descriptor, by
    // detach() or as the worker ends: the file this thread opened must stay open.
    const results = await inPeer<Record<string, boolean>>(
      'descriptor reuse child',
      `
      import { PosixSharedMemory } from 'SHMKIT';
      import { Worker } from 'node:worker_threads';
      import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
      ${END_WORKER}
      // Lower free numbers come first: open until n comes back, then close the others.
      function reuse(n) {
        const others = [];
        for (let fd = openSync(process.execPath, 'r'); fd !== n; fd = openSync(process.execPath, 'r')) {
          others.push(fd);
          if (others.length > 4096) throw new Error('descriptor ' + n + ' never came back');
        }
        for (const fd of others) closeSync(fd);
      }
      const node = statSync(process.execPath).ino;
      const stillOpen = (fd) => {
        try {
          if (fstatSync(fd).ino !== node) return false;
        } catch {
          return false;
        }
        closeSync(fd);
        return true;
      };
      const results = {};

      const shm = PosixSharedMemory.createAnonymous({ size: 4096 });
      const n = shm.fd;
      closeSync(n);
      reuse(n);
      shm.detach();
      results.detach = stillOpen(n);

      // (A worker's own fs.openSync descriptors close with it, so this thread opens the file.)
      for (const how of ['exit', 'terminate']) {
        const words = new Int32Array(new SharedArrayBuffer(8)); // [0]: the worker's number; [1]: reused
        const worker = new Worker(\`
          import { parentPort, workerData } from 'node:worker_threads';
          import { closeSync } from 'node:fs';
          const { PosixSharedMemory } = await import(workerData.url);
          globalThis.keep = PosixSharedMemory.createAnonymous({ size: 4096 });
          const n = globalThis.keep.fd;
          closeSync(n);
          Atomics.store(workerData.words, 0, n);
          Atomics.wait(workerData.words, 1, 0);
          if (workerData.how === 'exit') process.exit(0);
          parentPort.postMessage('ready');
          setInterval(() => {}, 1000);
        \`, { eval: true, workerData: { url: process.argv[1], words, how } });
        worker.on('error', (error) => console.log('worker error: ' + error.message));
        while (Atomics.load(words, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        reuse(Atomics.load(words, 0));
        Atomics.store(words, 1, 1);
        Atomics.notify(words, 1);
        await endWorker(worker, how);
        results[how] = stillOpen(Atomics.load(words, 0));
      }
      console.log(JSON.stringify(results));
      `,
      [SHMKIT],
    );
    assert.deepEqual(results, { detach: true, exit: true, terminate: true }, 'still open: the file that took the number');
  });

  it("never reaches the descriptor of another object that took the number, nor of the same object opened again: detach, every use, collection, a worker's end", async () => {
    const results = await inPeer<Record<string, unknown>>(
      'descriptor reuse by shmkit child',
      `
      import { PosixSharedMemory, F_SEAL_GROW } from 'SHMKIT';
      import { Worker } from 'node:worker_threads';
      import { closeSync, openSync } from 'node:fs';
      const code = (fn) => { try { fn(); return 'ok'; } catch (error) { return error.code; } };
      const results = {};

      // A's descriptor closed by the program; B, made next, takes its number.
      const a = PosixSharedMemory.createAnonymous({ size: 4096 });
      closeSync(a.fd);
      const b = PosixSharedMemory.createAnonymous({ size: 8192 });
      const bSeals = b.seals;
      results.uses = [code(() => a.fd), code(() => a.stat()), code(() => a.seals), code(() => a.seal(F_SEAL_GROW))];
      results.bSealsKept = b.seals === bSeals;
      a.detach();
      results.bAfterDetach = b.stat().size;
      b.detach();

      // The same through the garbage collector: C forgotten, D takes its number.
      let c = PosixSharedMemory.createAnonymous({ size: 4096 });
      closeSync(c.fd);
      const d = PosixSharedMemory.createAnonymous({ size: 8192 });
      let collected = false;
      const watch = new FinalizationRegistry(() => (collected = true));
      watch.register(c, 0);
      c = null;
      for (let i = 0; i < 200 && !collected; i++) {
        globalThis.gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      results.collected = collected;
      results.dAfterCollection = code(() => d.stat());
      d.detach();

      // A worker closes its own descriptor of a named object; this thread opens the object again on that number.
      const name = '/shmkit-test-reuse-' + process.pid;
      const made = PosixSharedMemory.create({ name, size: 4096 });
      const words = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(\`
        import { workerData } from 'node:worker_threads';
        import { closeSync } from 'node:fs';
        const { PosixSharedMemory } = await import(workerData.url);
        globalThis.keep = PosixSharedMemory.open({ name: workerData.name });
        const n = globalThis.keep.fd;
        closeSync(n);
        Atomics.store(workerData.words, 0, n);
        setInterval(() => {}, 1000);
      \`, { eval: true, workerData: { url: process.argv[1], words, name } });
      while (Atomics.load(words, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const n = Atomics.load(words, 0);
      // The lower free numbers taken until n comes, then n freed: the open gets it.
      const others = [];
      for (let fd = openSync(process.execPath, 'r'); fd !== n; fd = openSync(process.execPath, 'r')) others.push(fd);
      closeSync(n);
      const again = PosixSharedMemory.open({ name });
      for (const fd of others) closeSync(fd);
      results.sameNumber = again.fd === n;
      await worker.terminate();
      results.againAfterWorker = code(() => again.stat());
      again.detach();
      made.unlink();
      made.detach();

      // A buffer transferred away (a byte stream takes its chunks): the descriptor still closes.
      const moved = PosixSharedMemory.createAnonymous({ size: 4096 });
      const fd = moved.fd;
      new ReadableStream({ type: 'bytes', start: (controller) => controller.enqueue(new Uint8Array(moved.buffer)) });
      results.detachMoved = code(() => moved.detach());
      results.movedFdClosed = code(() => closeSync(fd));
      const disposed = PosixSharedMemory.createAnonymous({ size: 4096 });
      const fd2 = disposed.fd;
      new ReadableStream({ type: 'bytes', start: (controller) => controller.enqueue(new Uint8Array(disposed.buffer)) });
      disposed[Symbol.dispose]();
      results.disposedFdClosed = code(() => closeSync(fd2));
      console.log(JSON.stringify(results));
      `,
      [SHMKIT],
    );
    assert.deepEqual(results, {
      uses: ['EBADF', 'EBADF', 'EBADF', 'EBADF'],
      bSealsKept: true,
      bAfterDetach: 8192,
      collected: true,
      dAfterCollection: 'ok',
      sameNumber: true,
      againAfterWorker: 'ok',
      detachMoved: 'ERR_SHM_TRANSFERRED',
      movedFdClosed: 'EBADF',
      disposedFdClosed: 'EBADF',
    });
  });
});
