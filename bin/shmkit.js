#!/usr/bin/env node
// The shmkit command; its code is in src/cli/ (built to dist/src/cli/ and
// bundled with the library into dist/src/bundle/).
import module from 'node:module';

// Node 22.1 and later keep the bundle's compiled code between runs (in the
// temporary directory; NODE_DISABLE_COMPILE_CACHE=1 turns it off): on Node
// 24, `shmkit --help` took 46 ms instead of 54. Before the import: the cache
// covers only what is loaded after it is enabled. Node 20 has no such cache.
module.enableCompileCache?.();
let main;
try {
  ({ main } = await import('../dist/src/bundle/main.js'));
} catch (error) {
  // No addon (or no build): one line, as every other error of the command, and exit code 1.
  const message = String(error?.message ?? error).split('\n', 1)[0];
  process.stderr.write(`${message.startsWith('shmkit: ') ? '' : 'shmkit: '}${message}\n`);
  process.exit(1);
}

process.exitCode = await main(process.argv.slice(2));
