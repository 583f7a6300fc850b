// Runs the shmkit command as the user `nobody`: node [this file] ARGS...
// The CLI is loaded while still root, then the process drops to nobody, so
// the checkout needs no permissions for others (CI clones into 0700 dirs).
// It is the bundle, as bin/shmkit.js loads it: the separate modules of
// dist/src took twice as long to load (about 85 ms of CPU a run instead of 40).
import { NOBODY } from './processes.js';

const bundle = new URL('../../src/bundle/main.js', import.meta.url).href;
const { main } = (await import(bundle)) as typeof import('../../src/cli/main.js');
process.setgroups?.([]);
process.setgid?.(NOBODY.gid);
process.setuid?.(NOBODY.uid);
process.exitCode = await main(process.argv.slice(2));
