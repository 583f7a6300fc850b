// Shared memory made by a worker that ends, at any moment and in any way:
// nothing is left in the system or in the process. A terminated worker runs
// no more JavaScript, not even a finally, and neither a terminated nor an
// exiting one runs the collector's clean-ups: so a System V segment made by
// shmget and marked for removal by a later call was left behind whenever the
// end fell between the two; one whose attachment Node-API refused (it refuses
// every call while a worker ends) stayed attached until the process exited;
// a PosixSharedMemory's descriptor (and with it a memfd's memory) stayed open
// for the life of the process; and a named object whose creator ended before
// sizing it stayed at size 0, which every later openOrCreate refused.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { assertExitedCleanly, lastJson, SHMKIT, SHMKIT_MODULES } from './helpers/processes.js';
import { budget } from './helpers/soak.js';
import { END_WORKER } from './helpers/worker-end.js';

/**
 * The process whose workers end: each test's program runs in it in turn (a
 * copy of the library each), where each had a process of its own; an abort
 * still shows as its signal. Its end, which would detach what a worker left
 * attached, comes before the leak check.
 */
const workers = peer();
after(() => workers.end());

assertNoLeaks();

/**
 * Workers terminated while they make segments. On the code before the fix
 * 30% of them left a segment (6 to 11 of 30), and with only the unmapping
 * of a refused attachment missing 19% (2 to 6 of 20, 5 of 5 runs failed).
 */
const WORKERS = budget(20, 30);
/** Workers that end holding PosixSharedMemory objects: each left all 3 descriptors open before the fix. */
const FD_WORKERS = budget(2, 6);

describe('workers terminated while they make segments', () => {
  it('leave no segment behind: private, keyed with autoRemove, and channels', async () => {
    const result = await workers.run(
      `
      import { Worker } from 'node:worker_threads';
      import { once } from 'node:events';
      import { SHM_INFO, shmctl } from 'SHMKIT';
      const used = () => shmctl(0, SHM_INFO).used_ids;
      const before = used();
      // Each worker makes and drops segments flat out, so that its end falls
      // anywhere in SharedMemory.create or Channel.create.
      // (An ES module, as this process runs with --input-type=module, which its workers inherit.)
      const body = \`
        import { parentPort, workerData } from 'node:worker_threads';
        const { Channel, SharedMemory } = await import(workerData.url);
        parentPort.postMessage('ready');
        for (let i = 0; ; i++) {
          if (i % 3 === 0) SharedMemory.create({ size: 4096 }).detach();
          else if (i % 3 === 1) SharedMemory.create({ key: workerData.key + (i % 1000), size: 4096, autoRemove: true }).detach();
          else Channel.create({ capacity: 4096, autoRemove: true }).detach();
        }
      \`;
      let made = 0;
      for (let w = 0; w < ${WORKERS}; w++) {
        const worker = new Worker(body, { eval: true, workerData: { url: process.argv[1], key: 0x5e000000 + w * 1000 } });
        worker.on('error', () => {});
        await once(worker, 'message');
        await new Promise((resolve) => setTimeout(resolve, w % 4));
        await worker.terminate();
        made++;
      }
      // The attachments of an ended worker go with its environment; allow the collector its turn.
      const giveUp = Date.now() + 5000;
      while (used() !== before && Date.now() < giveUp) await new Promise((resolve) => setTimeout(resolve, 20));
      console.log(JSON.stringify({ made, before, after: used() }));
      `,
      [SHMKIT],
      { timeoutMs: 60_000 },
    );
    assertExitedCleanly(result, 'the process whose workers were terminated');
    const { made, before, after } = lastJson<{ made: number; before: number; after: number }>(result);
    assert.equal(made, WORKERS);
    assert.equal(after, before, `segments in the system before the workers and after (${WORKERS} terminated)`);
  });

  it('close the descriptors of their PosixSharedMemory objects, anonymous, named and from a descriptor, however they end', async () => {
    const result = await workers.run(
      `
      import { Worker } from 'node:worker_threads';
      import { once } from 'node:events';
      import { readdirSync, readlinkSync } from 'node:fs';
      ${END_WORKER}
      const fds = () => readdirSync('/proc/self/fd').map((fd) => { try { return fd + ' ' + readlinkSync('/proc/self/fd/' + fd); } catch { return fd; } });
      // Each worker keeps 1 MiB of anonymous memory, a named object and a map of a descriptor, then ends.
      const body = \`
        import { parentPort, workerData } from 'node:worker_threads';
        const { PosixSharedMemory } = await import(workerData.url);
        if (workerData.how === 'warm-up') process.exit(0);
        const anonymous = PosixSharedMemory.createAnonymous({ size: 1 << 20 });
        const named = PosixSharedMemory.create({ name: workerData.name, size: 4096 });
        globalThis.keep = [anonymous, named, PosixSharedMemory.fromFd(anonymous.fd)];
        named.unlink();
        parentPort.postMessage('ready');
        if (workerData.how === 'exit') process.exit(0);
        setInterval(() => {}, 1000);
      \`;
      // Node opens a few descriptors of its own with the first worker: count after one.
      const warmUp = new Worker(body, { eval: true, workerData: { url: process.argv[1], how: 'warm-up' } });
      await once(warmUp, 'exit');
      const before = fds();
      for (let w = 0; w < ${FD_WORKERS}; w++) {
        const how = ['terminate', 'exit'][w % 2];
        const worker = new Worker(body, { eval: true, workerData: { url: process.argv[1], name: '/shmkit-worker-ends-' + process.pid + '-' + w, how } });
        worker.on('error', (error) => console.log('worker error: ' + error.message));
        await endWorker(worker, how);
      }
      const after = fds();
      console.log(JSON.stringify({ opened: after.filter((fd) => !before.includes(fd)), closed: before.filter((fd) => !after.includes(fd)) }));
      `,
      [SHMKIT],
      { timeoutMs: 60_000 },
    );
    assertExitedCleanly(result, 'the process whose workers ended');
    assert.deepEqual(
      lastJson(result),
      { opened: [], closed: [] },
      `descriptors the workers left open (${FD_WORKERS} workers, 3 objects each)`,
    );
  });

  it('remove a named object whose creation they did not finish (no object of size 0 is left)', async () => {
    const name = `/shmkit-unfinished-${process.pid}`;
    const result = await workers.run(
      `
      import { Worker } from 'node:worker_threads';
      import { once } from 'node:events';
      import { existsSync } from 'node:fs';
      import { PosixSharedMemory } from 'SHMKIT';
      // The worker stops right after shm_open, as a termination there would: the object has size 0.
      const body = \`
        import { parentPort, workerData } from 'node:worker_threads';
        // The modules it uses, not all of dist/src's (some 40 ms of CPU more to load in a worker).
        const { shmOpenOwned } = await import(new URL('./posix/shm.js', workerData.modules).href);
        const { O_RDWR, O_CREAT, O_EXCL } = await import(new URL('./posix/constants.js', workerData.modules).href);
        const fd = shmOpenOwned(workerData.name, O_RDWR | O_CREAT | O_EXCL, 0o600, true);
        parentPort.postMessage(fd);
        setInterval(() => {}, 1000);
      \`;
      const worker = new Worker(body, { eval: true, workerData: { name: process.argv[2], modules: process.argv[3] } });
      worker.on('error', (error) => console.log('worker error: ' + error.message));
      await once(worker, 'message');
      const seen = existsSync('/dev/shm' + process.argv[2]);
      await worker.terminate();
      const left = existsSync('/dev/shm' + process.argv[2]);
      // And openOrCreate works on the name.
      PosixSharedMemory.openOrCreate({ name: process.argv[2], size: 4096 }).detach();
      PosixSharedMemory.unlink(process.argv[2]);
      console.log(JSON.stringify({ seen, left }));
      `,
      [SHMKIT, name, SHMKIT_MODULES],
      { timeoutMs: 60_000 },
    );
    assertExitedCleanly(result, 'the process whose worker ended');
    assert.deepEqual(lastJson(result), { seen: true, left: false });
  });

  it('remove a keyed segment they made but did not initialize (a channel header unwritten), and keep the finished ones', async () => {
    const result = await workers.run(
      `
      import { Worker } from 'node:worker_threads';
      import { once } from 'node:events';
      import { Channel, IPC_RMID, SharedMemory, shmctl, shmget } from 'SHMKIT';
      const base = 0x5f000000 + (process.pid & 0xffff) * 4;
      // Key base: made unfinished and never finished, as a Channel.create ended before its header;
      // base + 1: made unfinished, then finished; base + 2: a plain keyed SharedMemory; base + 3: a keyed Channel.
      const body = \`
        import { parentPort, workerData } from 'node:worker_threads';
        // The modules it uses, not all of dist/src's (as above).
        const { createUnfinished, finishCreation, SharedMemory } = await import(new URL('./shm/shared-memory.js', workerData.modules).href);
        const { Channel } = await import(new URL('./channel/channel.js', workerData.modules).href);
        const { base } = workerData;
        globalThis.keep = [
          createUnfinished({ key: base, size: 4096 }),
          createUnfinished({ key: base + 1, size: 4096 }),
          SharedMemory.create({ key: base + 2, size: 4096 }),
          Channel.create({ key: base + 3, capacity: 4096 }),
        ];
        finishCreation(globalThis.keep[1]);
        parentPort.postMessage('made');
        setInterval(() => {}, 1000);
      \`;
      const worker = new Worker(body, { eval: true, workerData: { base, modules: process.argv[2] } });
      worker.on('error', (error) => console.log('worker error: ' + error.message));
      await once(worker, 'message');
      await worker.terminate();
      const exists = (key) => {
        try {
          return shmget(key, 0, 0) >= 0;
        } catch {
          return false;
        }
      };
      const found = [0, 1, 2, 3].map((k) => exists(base + k));
      // The finished channel opens.
      Channel.open({ key: base + 3 }).detach();
      for (let k = 0; k < 4; k++) if (found[k]) shmctl(shmget(base + k, 0, 0), IPC_RMID);
      console.log(JSON.stringify(found));
      `,
      [SHMKIT, SHMKIT_MODULES],
      { timeoutMs: 60_000 },
    );
    assertExitedCleanly(result, 'the process whose worker ended');
    assert.deepEqual(lastJson(result), [false, true, true, true], 'which of the four keyed segments are left');
  });
});
