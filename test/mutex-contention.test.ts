// Correctness under contention: four processes each increment a counter in
// a shared segment 10,000 times under one Mutex, with a read-modify-write
// that loses updates without the lock. The counter ends at exactly 40,000.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GETNCNT, GETVAL, IPC_RMID, Mutex, SemaphoreSet, SharedMemory, semctl } from 'shmkit';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

const PROCESSES = 4;
/**
 * A stress budget, 3,000 each (10,000 in a soak run); no defect is behind the
 * count. Without the lock (tryLock, lock and unlock taken out of the worker)
 * 3,000 each ended at 3,909-4,992 of 12,000 in 5 runs of 5.
 */
const INCREMENTS = budget(3_000, 10_000);

const WORKER = `
  import { Mutex, SemaphoreSet, SharedMemory } from 'SHMKIT';
  const [shmId, mutexId, gateId, count] = process.argv.slice(1).map(Number);
  const shm = SharedMemory.open({ id: shmId });
  const mutex = Mutex.open({ id: mutexId });
  // Start together, so that the processes really overlap.
  await SemaphoreSet.open({ id: gateId }).op([{ sem_num: 0, sem_op: -1 }], { timeoutMs: 60_000 });
  const view = new DataView(shm.buffer);
  let contended = 0;
  for (let i = 0; i < count; i++) {
    if (!mutex.tryLock()) {
      contended++;
      await mutex.lock({ timeoutMs: 60_000 });
    }
    // Read, yield now and then, write: without the lock, updates get lost.
    const value = view.getUint32(0, true);
    if (i % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
    view.setUint32(0, value + 1, true);
    mutex.unlock();
  }
  console.log(JSON.stringify({ contended }));
`;

describe('Mutex under contention', () => {
  it(`${PROCESSES} processes × ${INCREMENTS} increments under one mutex end at exactly ${PROCESSES * INCREMENTS}`, async () => {
    using shm = SharedMemory.create({ size: 8 });
    let mutex: Mutex | undefined;
    let gate: SemaphoreSet | undefined;
    try {
      mutex = Mutex.create();
      gate = SemaphoreSet.create({ count: 1 });
      const args = [String(shm.id), String(mutex.id), String(gate.id), String(INCREMENTS)];
      const running = Promise.all(Array.from({ length: PROCESSES }, () => runNode(WORKER, args, { timeoutMs: 180_000 })));
      for (let i = 0; i < 6000 && semctl(gate.id, 0, GETNCNT) < PROCESSES; i++) await sleep(5);
      gate.set(0, PROCESSES);
      const results = await running;
      for (const [i, r] of results.entries()) assertExitedCleanly(r, `worker ${i}`);
      const contended = results.reduce((sum, r) => sum + lastJson<{ contended: number }>(r).contended, 0);
      assert.equal(new DataView(shm.buffer).getUint32(0, true), PROCESSES * INCREMENTS);
      assert.ok(contended > 0, 'the workers did contend (some locks had to wait)');
      assert.equal(semctl(mutex.id, 0, GETVAL), 1, 'unlocked at the end');
    } finally {
      if (mutex) semctl(mutex.id, 0, IPC_RMID);
      gate?.remove();
    }
  });
});
