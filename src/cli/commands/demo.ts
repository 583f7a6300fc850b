import { parse } from '../args.js';
import { writeOut, type Command } from '../command.js';

export const demo: Command = {
  name: 'demo',
  summary: 'a guided demonstration (coming)',
  help: `Usage: shmkit demo

A guided demonstration of shmkit. Coming.
`,
  async run(argv) {
    parse(argv, {});
    await writeOut('demo: coming\n');
    return 0;
  },
};
