import { SHM_INFO, shmctl } from '../../index.js';
import { parse } from '../args.js';
import { writeOut, type Command } from '../command.js';
import { lines, toJson } from '../format.js';
import { msgUsage } from '../queues.js';
import { semUsage } from '../semaphores.js';
import { summaryKinds } from './limits.js';
import { KIND_OPTIONS } from './ls.js';

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return rows.map(([name, value]) => `${name.padEnd(width)}${value}`);
}

export const usage: Command = {
  name: 'usage',
  summary: 'system-wide usage (ipcs -u)',
  help: `Usage: shmkit usage [-m] [-s] [-q] [-a] [--json]

Prints what this IPC namespace uses: segments and their pages allocated,
resident and swapped (shmctl SHM_INFO), semaphore sets and semaphores
(semctl SEM_INFO), message queues, their messages and bytes (msgctl
MSG_INFO), the numbers of ipcs -u. All kinds by default.

Options:
  -m, --shm    shared memory only
  -s, --sem    semaphores only
  -q, --queue  message queues only
  -a, --all    all
      --json   { "shm": { used_ids, shm_tot, shm_rss, shm_swp, swap_attempts,
               swap_successes }, "sem": { semusz, semaem }, "msg": { msgpool,
               msgmap, msgtql } }; shm sizes in pages, msgtql in bytes
`,
  async run(argv, io) {
    const { values } = parse(argv, { ...KIND_OPTIONS, json: { type: 'boolean' } });
    const want = summaryKinds(values);
    let shm: Record<string, number> | undefined;
    if (want.segments) {
      const u = shmctl(0, SHM_INFO);
      shm = {
        used_ids: u.used_ids,
        shm_tot: Number(u.shm_tot),
        shm_rss: Number(u.shm_rss),
        shm_swp: Number(u.shm_swp),
        swap_attempts: Number(u.swap_attempts),
        swap_successes: Number(u.swap_successes),
      };
    }
    let sem: Record<string, number> | undefined;
    if (want.semaphores) {
      const u = semUsage();
      sem = { semusz: u.semusz, semaem: u.semaem };
    }
    let msg: Record<string, number> | undefined;
    if (want.queues) {
      const u = msgUsage();
      msg = { msgpool: u.msgpool, msgmap: u.msgmap, msgtql: u.msgtql };
    }
    if (values.json) {
      await writeOut(io.stdout, toJson({ shm, sem, msg }));
      return 0;
    }
    const out: string[] = [];
    if (shm) {
      out.push(
        'Shared memory usage',
        ...table([
          ['segments allocated', String(shm.used_ids)],
          ['pages allocated', String(shm.shm_tot)],
          ['pages resident', String(shm.shm_rss)],
          ['pages swapped', String(shm.shm_swp)],
          ['swap attempts / successes', `${shm.swap_attempts} / ${shm.swap_successes}`],
        ]),
      );
    }
    if (sem) {
      if (out.length > 0) out.push('');
      out.push(
        'Semaphore usage',
        ...table([
          ['sets in use', String(sem.semusz)],
          ['semaphores allocated', String(sem.semaem)],
        ]),
      );
    }
    if (msg) {
      if (out.length > 0) out.push('');
      out.push(
        'Message queue usage',
        ...table([
          ['queues allocated', String(msg.msgpool)],
          ['messages (used headers)', String(msg.msgmap)],
          ['bytes in messages (used space)', String(msg.msgtql)],
        ]),
      );
    }
    await writeOut(io.stdout, lines(out));
    return 0;
  },
};
