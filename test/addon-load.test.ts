// Loading the addon: a worker may be terminated at any moment, also while it
// runs the addon's initialisation, where every Node-API call fails. That must
// end the worker alone, never the process (node-addon-api turns such a
// failure into a fatal error; native/shim.h's Export does not).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertExitedCleanly, lastJson, runNode, SHMKIT } from './helpers/processes.js';

describe('loading the addon', () => {
  it('workers terminated at every moment of their import of shmkit end alone; the process goes on', async () => {
    const result = await runNode(
      `
      import { Worker } from 'node:worker_threads';
      const body = 'await import(' + JSON.stringify(process.argv[1]) + "); (await import('node:worker_threads')).parentPort.postMessage('loaded');";
      let loaded = 0;
      // Delays of 0 to 99 ms cover the load (about 20-40 ms here, longer on
      // a busy machine): some workers end before it, some during, some after.
      for (let i = 0; i < 120; i++) {
        const worker = new Worker(body, { eval: true });
        worker.on('error', () => {});
        worker.on('message', () => loaded++);
        await new Promise((resolve) => setTimeout(resolve, (i * 37) % 100));
        await worker.terminate();
      }
      const { shmget } = await import(process.argv[1]);
      console.log(JSON.stringify({ loaded, usable: typeof shmget === 'function' }));
      `,
      [SHMKIT],
      { timeoutMs: 60_000 },
    );
    assertExitedCleanly(result, 'the process whose workers were terminated');
    const { loaded, usable } = lastJson<{ loaded: number; usable: boolean }>(result);
    assert.ok(loaded > 0 && loaded < 120, `some workers loaded shmkit before they ended, some did not (${loaded} of 120)`);
    assert.equal(usable, true);
  });
});
