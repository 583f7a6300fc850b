import { IPC_INFO, PAGE_SIZE, shmctl } from '../../index.js';
import { parse } from '../args.js';
import { writeOut, type Command } from '../command.js';
import { lines, toJson } from '../format.js';
import { shmRmidForced } from '../proc.js';
import { msgLimits } from '../queues.js';
import { semLimits } from '../semaphores.js';
import { KIND_OPTIONS } from './ls.js';

/** Which kinds -m/-s/-q/-a ask for; with none, all. */
export function summaryKinds(values: { shm?: boolean; sem?: boolean; queue?: boolean; all?: boolean }): {
  segments: boolean;
  semaphores: boolean;
  queues: boolean;
} {
  if (values.all || (!values.shm && !values.sem && !values.queue)) return { segments: true, semaphores: true, queues: true };
  return { segments: values.shm === true, semaphores: values.sem === true, queues: values.queue === true };
}

/**
 * `struct shminfo` for JSON: shmmax and shmall as decimal strings, since they
 * can exceed 2^53; then the sysctl kernel.shm_rmid_forced (0, 1, or null if unreadable).
 */
export function shmLimitsJson() {
  const l = shmctl(0, IPC_INFO);
  const forced = shmRmidForced();
  return {
    shmmax: l.shmmax.toString(),
    shmmin: Number(l.shmmin),
    shmmni: Number(l.shmmni),
    shmseg: Number(l.shmseg),
    shmall: l.shmall.toString(),
    shm_rmid_forced: forced === null ? null : Number(forced),
  };
}

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return rows.map(([name, value]) => `${name.padEnd(width)}${value}`);
}

export const limits: Command = {
  name: 'limits',
  summary: 'system-wide limits (ipcs -l)',
  help: `Usage: shmkit limits [-m] [-s] [-q] [-a] [--bytes] [--json]

Prints the system's limits for shared memory (shmctl IPC_INFO: shmmax,
shmmin, shmmni, shmseg, shmall), the sysctl kernel.shm_rmid_forced (when 1,
a segment goes as soon as nobody is attached) and semaphores (semctl IPC_INFO: semmni,
semmsl, semmns, semopm, semvmx, ...) and message queues (msgctl IPC_INFO:
msgmni, msgmax, msgmnb, ...), the numbers of ipcs -l, in its units: the
maximum segment size and the total in kbytes (shmall is counted in pages of
PAGE_SIZE bytes), the minimum segment size and the message sizes in bytes.
All kinds by default.

Options:
  -m, --shm    shared-memory limits only
  -s, --sem    semaphore limits only
  -q, --queue  message-queue limits only
  -a, --all    all
      --bytes  sizes in bytes (as ipcs -l --bytes)
      --json   { "shm": { struct shminfo, shm_rmid_forced }, "sem": { struct
               seminfo }, "msg": { struct msginfo } }; shmmax and shmall are decimal strings (they can
               exceed 2^53), shm_rmid_forced 0, 1 or null (unreadable)
`,
  async run(argv, io) {
    const { values } = parse(argv, { ...KIND_OPTIONS, bytes: { type: 'boolean' }, json: { type: 'boolean' } });
    const want = summaryKinds(values);
    const shm = want.segments ? shmLimitsJson() : undefined;
    const sem = want.semaphores ? semLimits() : undefined;
    const msg = want.queues ? msgLimits() : undefined;
    if (values.json) {
      await writeOut(io.stdout, toJson({ shm, sem, msg }));
      return 0;
    }
    const out: string[] = [];
    if (shm) {
      // As ipcs -l: kbytes unless --bytes, the minimum always in bytes. Exact
      // bigints: where shmall in bytes passes 2^64, ipcs shows 2^64 rounded down instead.
      const size = (bytes: bigint) => (values.bytes ? `${bytes} bytes` : `${bytes / 1024n} kbytes`);
      out.push(
        'Shared memory limits',
        ...table([
          ['max number of segments (shmmni)', String(shm.shmmni)],
          ['max segment size (shmmax)', size(BigInt(shm.shmmax))],
          ['min segment size (shmmin)', `${shm.shmmin} bytes`],
          ['max total shared memory (shmall)', size(BigInt(shm.shmall) * BigInt(PAGE_SIZE))],
          ['max segments per process (shmseg)', String(shm.shmseg)],
          [
            'remove when unattached (shm_rmid_forced)',
            shm.shm_rmid_forced === 1
              ? '1: the kernel removes a segment as soon as nobody is attached, key or not'
              : String(shm.shm_rmid_forced ?? '?'),
          ],
        ]),
      );
    }
    if (sem) {
      if (out.length > 0) out.push('');
      out.push(
        'Semaphore limits',
        ...table([
          ['max number of sets (semmni)', String(sem.semmni)],
          ['max semaphores per set (semmsl)', String(sem.semmsl)],
          ['max semaphores system wide (semmns)', String(sem.semmns)],
          ['max ops per semop call (semopm)', String(sem.semopm)],
          ['semaphore max value (semvmx)', String(sem.semvmx)],
        ]),
      );
    }
    if (msg) {
      if (out.length > 0) out.push('');
      out.push(
        'Message queue limits',
        ...table([
          ['max queues system wide (msgmni)', String(msg.msgmni)],
          ['max size of message (msgmax)', `${msg.msgmax} bytes`],
          ['default max size of queue (msgmnb)', `${msg.msgmnb} bytes`],
        ]),
      );
    }
    await writeOut(io.stdout, lines(out));
    return 0;
  },
};
