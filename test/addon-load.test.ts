// Loading the addon: a worker may be terminated at any moment, also while it
// runs the addon's initialisation, where every Node-API call fails. That must
// end the worker alone, never the process (node-addon-api turns such a
// failure into a fatal error; native/shim.h's Export does not).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertExitedCleanly, lastJson, runNode, SHMKIT } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

// Workers terminated at delays of 0 to 99 ms after they were made.
const SWEPT = budget(30, 120);
// Workers terminated 0 to 0.25 ms after this thread saw their import call
// process.dlopen, inside which the addon's initialisation runs (about 0.3 ms
// in all). The sweep lands there by chance: on the addon before 491f4e4, 120
// swept workers ended the process in 1 of 2 runs (here 0 of 4); the first
// few aimed ones end it every time.
const AIMED = budget(8, 32);

describe('loading the addon', () => {
  it('workers terminated at every moment of their import of shmkit end alone; the process goes on', async () => {
    const result = await runNode(
      `
      import { Worker } from 'node:worker_threads';
      const [url, swept, aimed] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
      // Where a worker's import is: 1 started, 2 in process.dlopen (the addon's load), 3 over.
      const at = new Int32Array(new SharedArrayBuffer(4));
      // A CommonJS script (--input-type=commonjs; it would inherit this process's 'module'), as V8 (Node 20)
      // aborts the process when a worker is terminated as an async module (top-level await) starts to evaluate.
      const body = "const { parentPort, workerData } = require('node:worker_threads');" +
        'const at = new Int32Array(workerData); const mark = (n) => { Atomics.store(at, 0, n); Atomics.notify(at, 0); };' +
        'const dlopen = process.dlopen; process.dlopen = function (...args) { mark(2); return dlopen.apply(this, args); };' +
        'mark(1); import(' + JSON.stringify(url) + ").then(() => parentPort.postMessage('loaded')).finally(() => mark(3));";
      let loaded = 0;
      const start = () => {
        Atomics.store(at, 0, 0);
        const worker = new Worker(body, { eval: true, execArgv: ['--input-type=commonjs'], workerData: at.buffer });
        worker.on('error', () => {});
        worker.on('message', () => loaded++);
        return worker;
      };
      // Delays of 0 to 99 ms cover the load (about 20-40 ms here, longer on
      // a busy machine): some workers end before it, some during, some after.
      for (let i = 0; i < swept; i++) {
        const worker = start();
        await new Promise((resolve) => setTimeout(resolve, (i * 37) % 100));
        await worker.terminate();
      }
      // This thread blocks (it has nothing else to do) until the worker is in
      // process.dlopen; now and then it wakes only after the import, and
      // tries another worker, up to four per aimed one.
      let hit = 0, tries = 0;
      for (; hit < aimed && tries < 4 * aimed; tries++) {
        const worker = start();
        for (let now; (now = Atomics.load(at, 0)) < 2; ) if (Atomics.wait(at, 0, now, 10_000) === 'timed-out') break;
        if (Atomics.load(at, 0) === 2) Atomics.wait(at, 0, 2, (hit++ / aimed) * 0.25);
        await worker.terminate();
      }
      const { shmget } = await import(url);
      console.log(JSON.stringify({ loaded, workers: swept + tries, hit, usable: typeof shmget === 'function' }));
      `,
      [SHMKIT, String(SWEPT), String(AIMED)],
      { timeoutMs: 60_000 },
    );
    assertExitedCleanly(result, 'the process whose workers were terminated');
    const { loaded, workers, hit, usable } = lastJson<{ loaded: number; workers: number; hit: number; usable: boolean }>(result);
    assert.ok(loaded > 0 && loaded < workers, `some workers loaded shmkit before they ended, some did not (${loaded} of ${workers})`);
    assert.ok(hit > 0, `aimed workers were terminated in process.dlopen (${hit} of ${AIMED})`);
    assert.equal(usable, true);
  });
});
