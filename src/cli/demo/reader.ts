// The demo's second process: attaches the segment by id (children of Node are
// spawned, not forked, so they cannot inherit an attachment), then takes each
// record only after the writer has finished it.
import { SemaphoreSet, SharedMemory } from '../../index.js';
import { EMPTY, FULL, RECORDS, Record } from './record.js';

const [shmId, semId] = process.argv.slice(2).map(Number);
const say = (line: string): void => void process.stdout.write(`  reader[${process.pid}]: ${line}\n`);

using shm = SharedMemory.open({ id: shmId ?? -1 });
const sems = SemaphoreSet.open({ id: semId ?? -1 });
say(`attached segment ${shm.id} by id; nattch is now ${shm.stat().shm_nattch}`);
const record = Record.view(shm.buffer);
try {
  for (let i = 0; i < RECORDS; i++) {
    await sems.op([{ sem_num: FULL, sem_op: -1 }], { timeoutMs: 10_000 });
    say(`waited for full, read #${record.seq} from pid ${record.pid}: value=${record.value} text="${record.text}"; signal empty`);
    await sems.op([{ sem_num: EMPTY, sem_op: 1 }]);
  }
  say('done: shmdt, exit');
} catch (error) {
  // The writer was interrupted (it removed the set: EIDRM) or died (timeout):
  // make sure the semaphores go too; the segment goes with our detach.
  try {
    sems.remove();
  } catch {
    // already removed
  }
  say(`stopping: ${(error as Error).message}`);
  process.exitCode = 1;
}
