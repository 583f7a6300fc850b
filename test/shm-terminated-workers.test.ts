// Segments made by a worker that is terminated at any moment: none is left in
// the system. A terminated worker runs no more JavaScript, not even a
// finally, so a segment made by shmget and marked for removal by a later
// call was left behind whenever the end fell between the two, and one whose
// attachment Node-API refused (it refuses every call while a worker ends)
// stayed attached until the process exited.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode, SHMKIT } from './helpers/processes.js';

assertNoLeaks();

const WORKERS = 30;

describe('workers terminated while they make segments', () => {
  it('leave no segment behind: private, keyed with autoRemove, and channels', async () => {
    const result = await runNode(
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
});
