import { parse } from '../args.js';
import type { Command } from '../command.js';
import { runDemo } from '../demo/demo.js';

export const demo: Command = {
  name: 'demo',
  summary: 'watch two processes pass C structs through shared memory',
  help: `Usage: shmkit demo

Starts a writer (this process) and a reader (a child process) that pass five
C-layout records through one System V segment, synchronised by two
semaphores (empty/full), and explains each step: key, id, attach, write,
read, nattch, remove. Nothing is left behind, even if interrupted: the
segment is marked for removal at once and the semaphore set is removed on
exit, Ctrl-C or SIGTERM.
`,
  async run(argv, io) {
    parse(argv, {});
    // A few lines, written as they come: waiting for 'drain' on each would pile up listeners on a full pipe.
    return runDemo((line) => void io.stdout.write(`${line}\n`));
  },
};
