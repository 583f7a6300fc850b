// Runs steps of the shmkit command one after another in one Node process,
// for scripts that run many commands where a test cannot (a namespace of
// their own, beside a process that holds objects): what each prints and
// returns is main()'s, as in the test's process (helpers/cli.ts), without a
// process of its own for each (about 40 ms of CPU to start).
//
//   node [this file] DIR < STEPS
//
// A line of STEPS is a step's name and the command's arguments, split on
// blanks ("ls-all ls -a --json"); the step's stdout, stderr and exit code go
// to DIR/NAME.out, .err and .rc, as `shmkit ARGS >NAME.out 2>NAME.err; echo
// $? >NAME.rc` would put them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shmkitHere } from './cli.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: node shmkit-steps.js DIR < STEPS');
let steps = '';
for await (const chunk of process.stdin) steps += chunk;
for (const line of steps.split('\n')) {
  const [name, ...args] = line.trim().split(/\s+/);
  if (!name) continue;
  const result = await shmkitHere(args);
  writeFileSync(join(dir, `${name}.out`), result.stdout);
  writeFileSync(join(dir, `${name}.err`), result.stderr);
  writeFileSync(join(dir, `${name}.rc`), `${result.code}\n`);
}
