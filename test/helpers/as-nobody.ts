// Runs the shmkit command as the user `nobody`: node [this file] ARGS...
// The CLI is loaded while still root, then the process drops to nobody, so
// the checkout needs no permissions for others (CI clones into 0700 dirs).
// It is the bundle, as bin/shmkit.js loads it (helpers/cli.ts's main).
import { main } from './cli.js';
import { NOBODY } from './processes.js';

process.setgroups?.([]);
process.setgid?.(NOBODY.gid);
process.setuid?.(NOBODY.uid);
process.exitCode = await main(process.argv.slice(2));
