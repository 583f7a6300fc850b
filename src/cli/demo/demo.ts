// `shmkit demo`: the classic writer/reader scenario, narrated. A writer (this process) and a
// reader (a child process) pass C-layout records through one segment; two
// semaphores make the reader wait until a record is completely written.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { SemaphoreSet, SharedMemory } from '../../index.js';
import { DEMO_READER } from '../files.js';
import { RMID_FORCED_NOTE, shmRmidForced } from '../proc.js';
import { EMPTY, FULL, RECORDS, Record } from './record.js';

const MESSAGES = ['hello', 'from', 'shared', 'memory', 'bye'];

/** Runs the demo, writing its narration through `print`. Resolves to the exit code. */
export async function runDemo(print: (line: string) => void = (line) => console.log(line)): Promise<number> {
  const say = (line: string): void => print(`  writer[${process.pid}]: ${line}`);
  print('shmkit demo: two processes pass C structs through System V shared memory.');
  print('The writer (this process) fills a record in a shared segment; the reader (a child');
  print('process) reads it. Two semaphores make each side wait for the other, so the reader');
  print('never sees a half-written record.\n');
  if (shmRmidForced()) print(`Note: ${RMID_FORCED_NOTE} (this demo stays attached until the end).\n`);

  // A private segment marked for removal at once: the kernel deletes it after
  // the last detach, even if both processes are killed.
  using shm = SharedMemory.create({ size: Record.size, autoRemove: true });
  say(`shmget(IPC_PRIVATE, ${Record.size}, 0600) -> segment id ${shm.id}`);
  say('  a key such as 0x5005 would let any program find the segment; this one is private,');
  say('  so the reader is told its id. Mode 0600: only this user may attach.');
  say(`shmat -> attached to this process; nattch (processes attached) = ${shm.stat().shm_nattch}`);
  say('shmctl(IPC_RMID) right away: the kernel deletes the segment after the last detach,');
  say('  even if both processes are killed, yet attached processes keep using it.');
  say(`each record is a C struct of ${Record.size} bytes: { int32 seq; int32 pid; double value; char text[48]; }`);

  const sems = SemaphoreSet.create({ count: 2, initial: [1, 0] });
  say(`semget(IPC_PRIVATE, 2) -> semaphore set ${sems.id}: empty=1 (the slot is free), full=0`);
  const cleanup = (): void => {
    try {
      sems.remove();
    } catch {
      // already removed
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanup();
    print(`\ninterrupted (${signal}): semaphore set removed; the segment goes with the last detach.`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // process.exit() runs no finally (shmkit demo | head: the command exits on
  // EPIPE): the set would stay, and the reader find the segment gone.
  let reader: ChildProcess | undefined;
  const onExit = (): void => {
    cleanup();
    reader?.kill();
  };
  process.once('exit', onExit);

  try {
    // node:child_process (with net and dgram) on first use, not for every command.
    const { spawn } = process.getBuiltinModule('node:child_process');
    const child = spawn(process.execPath, [DEMO_READER, String(shm.id), String(sems.id)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    reader = child;
    child.stdout.setEncoding('utf8').on('data', (text: string) => print(text.replace(/\n$/, '')));
    const exited = once(child, 'exit');
    say(`spawned reader process ${child.pid} (Node children are spawned, not forked: it attaches by id)\n`);

    const record = Record.view(shm.buffer);
    for (let i = 0; i < RECORDS; i++) {
      await sems.op([{ sem_num: EMPTY, sem_op: -1 }], { timeoutMs: 10_000 });
      record.seq = i + 1;
      record.pid = process.pid;
      record.value = Math.round(Math.PI * (i + 1) * 1000) / 1000;
      record.text = MESSAGES[i] ?? '';
      say(`waited for empty, wrote #${record.seq} in place: value=${record.value} text="${record.text}"; signal full`);
      await sems.op([{ sem_num: FULL, sem_op: 1 }]);
    }
    const [code] = (await exited) as [number | null];
    print('');
    say(`reader exited with code ${code}; nattch is back to ${shm.stat().shm_nattch}`);
    say('shmdt: the last detach, so the kernel deletes the segment; semctl(IPC_RMID) removes the semaphores.');
    say('nothing is left behind: `ipcs -m -s` (or `shmkit ls -a`) shows neither.');
    return code === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    cleanup();
  }
}
