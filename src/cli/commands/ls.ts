import { parse } from '../args.js';
import { writeOut, type Command } from '../command.js';
import { CLI_DOCS } from '../files.js';
import { lines, toJson } from '../format.js';
import { posixRows } from '../posix.js';
import { segmentRows } from '../segments.js';
import { queueRows } from '../queues.js';
import { semaphoreRows } from '../semaphores.js';
import { outputWidth, useColor } from '../table.js';
import { listingLines, type Listing } from '../views.js';

/** Which kinds `-m`, `-s`, `-q`, `-a`, `-p` ask for (segments when none is given). */
export function kinds(values: { shm?: boolean; sem?: boolean; queue?: boolean; all?: boolean; posix?: boolean }): {
  segments: boolean;
  semaphores: boolean;
  queues: boolean;
  posix: boolean;
} {
  const semaphores = values.all === true || values.sem === true;
  const queues = values.all === true || values.queue === true;
  const posix = values.posix === true;
  const segments = values.all === true || values.shm === true || (!semaphores && !queues && !posix);
  return { segments, semaphores, queues, posix };
}

export const KIND_OPTIONS = {
  shm: { type: 'boolean', short: 'm' },
  sem: { type: 'boolean', short: 's' },
  queue: { type: 'boolean', short: 'q' },
  all: { type: 'boolean', short: 'a' },
} as const;

/** `-p`: POSIX shared memory (/dev/shm), for the listing commands only. */
export const POSIX_OPTION = { posix: { type: 'boolean', short: 'p' } } as const;

/** What `ls` lists, read once (watch calls it on every refresh). */
export function readListing(want: { segments: boolean; semaphores: boolean; queues?: boolean; posix?: boolean }): Listing {
  return {
    segments: want.segments ? segmentRows() : undefined,
    semaphores: want.semaphores ? semaphoreRows() : undefined,
    queues: want.queues === true ? queueRows() : undefined,
    posix: want.posix === true ? posixRows() : undefined,
  };
}

export const ls: Command = {
  name: 'ls',
  summary: 'list segments (-s: semaphore sets, -q: message queues, -a: all three, -p: POSIX shared memory in /dev/shm), like ipcs -m',
  help: `Usage: shmkit ls [-m] [-s] [-q] [-a] [-p] [--json]

Lists the System V shared-memory segments of this IPC namespace: the columns
of ipcs -m (key, shmid, owner, perms, bytes, nattch, status with dest and
locked), then each segment's resident size (pages really touched) and its
creator's and last user's pids, marked "(gone)" when that process is dead;
"?" is a process in a PID namespace not visible from here (the kernel gives
pid 0), "-" a last user of a segment never attached.
With -p, the POSIX shared-memory objects of /dev/shm (shm_open, Python's
SharedMemory): name, owner, perms, bytes and resident (memory it holds).

Options:
  -m, --shm    segments (the default)
  -s, --sem    semaphore sets instead (like ipcs -s)
  -q, --queue  message queues instead (like ipcs -q: key, msqid, owner, perms,
               used-bytes, messages)
  -a, --all    all three
  -p, --posix  POSIX shared memory in /dev/shm (with -m, -s, -q or -a: those too)
      --json   { "segments": [...], "semaphores": [...], "queues": [...], "posix": [...] }
               with only the kinds asked for; the fields are described in
               ${CLI_DOCS}
`,
  async run(argv, io) {
    const { values } = parse(argv, { ...KIND_OPTIONS, ...POSIX_OPTION, json: { type: 'boolean' } });
    const listing = readListing(kinds(values));
    if (values.json) {
      await writeOut(io.stdout, toJson(listing));
    } else {
      await writeOut(io.stdout, lines(listingLines(listing, { width: outputWidth(io.stdout), color: useColor(io.stdout) })));
    }
    return 0;
  },
};
