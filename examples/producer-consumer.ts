// The classic shared-memory producer/consumer, done right. Shared memory gives no
// synchronisation of its own: "the client shouldn't try to access the data
// until the server is done". Two semaphores say when: `empty` counts free
// slots (the producer waits on it), `full` counts written records (the
// consumer waits on it). This program is the producer; it starts its own
// consumer process, and leaves nothing behind when it ends.
//
// Run: node dist/examples/producer-consumer.js
// (an optional argument gives the number of records)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SemaphoreSet, SharedMemory } from 'shmkit';

const EMPTY = 0;
const FULL = 1;
// One record per slot: u32 seq, u32 length, then up to 56 bytes of text.
const SLOTS = 4;
const SLOT_SIZE = 64;
const TEXT_MAX = SLOT_SIZE - 8;

async function produce(count: number): Promise<void> {
  // No key: the segment goes by itself once both processes detach, even after kill -9.
  using shm = SharedMemory.create({ size: SLOTS * SLOT_SIZE });
  const slots = SemaphoreSet.create({ count: 2, initial: [SLOTS, 0] }); // all slots empty, no record yet
  try {
    const consumer = spawn(process.execPath, [fileURLToPath(import.meta.url), 'consume', String(shm.id), String(slots.id), String(count)], {
      stdio: 'inherit',
    });
    const exited = once(consumer, 'exit');
    const view = new DataView(shm.buffer);
    for (let seq = 0; seq < count; seq++) {
      // Wait for a free slot without blocking the event loop; give up if the consumer is gone for long.
      await slots.op([{ sem_num: EMPTY, sem_op: -1 }], { timeoutMs: 10_000 });
      const offset = (seq % SLOTS) * SLOT_SIZE;
      const text = new TextEncoder().encode(`record ${seq}, written by ${process.pid}`).subarray(0, TEXT_MAX);
      shm.write(offset + 8, text);
      view.setUint32(offset + 4, text.length, true);
      view.setUint32(offset, seq, true);
      // Only now is the record complete: tell the consumer.
      await slots.op([{ sem_num: FULL, sem_op: 1 }]);
    }
    const [code] = (await exited) as [number | null];
    console.log(`producer: wrote ${count} records; consumer exited with ${code}`);
    process.exitCode = code ?? 1;
  } finally {
    slots.remove(); // a semaphore set stays until removed: remove it whatever happened
  }
}

async function consume(shmId: number, setId: number, count: number): Promise<void> {
  using shm = SharedMemory.open({ id: shmId });
  using slots = SemaphoreSet.open({ id: setId });
  const view = new DataView(shm.buffer);
  for (let seq = 0; seq < count; seq++) {
    await slots.op([{ sem_num: FULL, sem_op: -1 }], { timeoutMs: 10_000 }); // wait for a complete record
    const offset = (seq % SLOTS) * SLOT_SIZE;
    const length = view.getUint32(offset + 4, true);
    const text = new TextDecoder().decode(shm.read(offset + 8, length));
    if (view.getUint32(offset, true) !== seq) throw new Error(`consumer: expected record ${seq}, found ${text}`);
    if (seq % Math.max(1, Math.floor(count / 5)) === 0 || seq === count - 1) console.log(`consumer ${process.pid}: ${text}`);
    await slots.op([{ sem_num: EMPTY, sem_op: 1 }]); // the slot is free again
  }
}

const [role, ...rest] = process.argv.slice(2);
if (role === 'consume') {
  const [shmId, setId, count] = rest.map(Number) as [number, number, number];
  await consume(shmId, setId, count);
} else {
  await produce(role === undefined ? 20 : Number(role));
}
