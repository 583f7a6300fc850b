// Semaphore sets made by a worker that is terminated at any moment are never
// left half made. A terminated worker runs no more JavaScript, and a set was
// made by semget and given its first values by a later call: a worker ended
// between the two left a set at 0 under the key, which every later
// openOrCreate opened as made (a mutex nobody could lock, a semaphore without
// its initial units) until someone removed it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode, SHMKIT } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

/**
 * Workers terminated, half making mutexes and half semaphores. On the code
 * before the fix 24 failed 12 of 12 runs (1 to 9 sets left half made),
 * about as surely as 40 did (2 to 8) when each turn also disposed of its
 * handle: a third of a turn's time, in which an end catches nothing.
 */
const WORKERS = budget(24, 40);

describe('workers terminated while they make semaphore sets', () => {
  it('leave no keyed Mutex that cannot be locked and no Semaphore without its initial units', async () => {
    const result = await runNode(
      `
      import { Worker } from 'node:worker_threads';
      import { once } from 'node:events';
      import { GETVAL, IPC_RMID, Mutex, semctl, semget } from 'SHMKIT';
      const body = \`
        import { parentPort, workerData } from 'node:worker_threads';
        const { Mutex, Semaphore } = await import(workerData.url);
        parentPort.postMessage('ready');
        for (;;) {
          const made = workerData.kind === 'mutex' ? Mutex.openOrCreate({ key: workerData.key }) : Semaphore.create({ key: workerData.key, initial: 3 });
          made.remove(); // and no dispose(), where an end would catch nothing
        }
      \`;
      const key = 0x4d000000 + (process.pid & 0xffff);
      const found = { mutex: { left: 0, stuck: 0 }, semaphore: { left: 0, stuck: 0 } };
      for (let w = 0; w < ${WORKERS}; w++) {
        const kind = w % 2 === 0 ? 'mutex' : 'semaphore';
        const worker = new Worker(body, { eval: true, workerData: { url: process.argv[1], key, kind } });
        worker.on('error', () => {});
        await once(worker, 'message');
        await new Promise((resolve) => setTimeout(resolve, w % 5));
        await worker.terminate();
        let id;
        try {
          id = semget(key, 0, 0);
        } catch {
          continue; // ended between a remove and the next create
        }
        found[kind].left++;
        if (kind === 'mutex') {
          const mutex = Mutex.openOrCreate({ key });
          try {
            await mutex.lock({ timeoutMs: 1000 });
            mutex.unlock();
          } catch (error) {
            if (error.code !== 'ETIMEDOUT') throw error;
            found.mutex.stuck++;
          } finally {
            mutex[Symbol.dispose]();
          }
        } else if (semctl(id, 0, GETVAL) !== 3) {
          found.semaphore.stuck++;
        }
        semctl(id, 0, IPC_RMID);
      }
      console.log(JSON.stringify(found));
      `,
      [SHMKIT],
      { timeoutMs: 90_000 },
    );
    assertExitedCleanly(result, 'the process whose workers were terminated');
    const found = lastJson<Record<'mutex' | 'semaphore', { left: number; stuck: number }>>(result);
    assert.ok(found.mutex.left + found.semaphore.left > 0, `some workers were ended with a set made (${JSON.stringify(found)})`);
    assert.equal(found.mutex.stuck, 0, `mutexes left that nobody could lock (${JSON.stringify(found)})`);
    assert.equal(found.semaphore.stuck, 0, `semaphores left without their 3 units (${JSON.stringify(found)})`);
  });
});
