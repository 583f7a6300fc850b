// Bundles the library and the command into dist/src/bundle/, from what tsc
// built in dist/src. Node loads each ES module file on its own, and shmkit is
// some hundred of them: `import 'shmkit'` took 66 ms that way, 25 ms bundled,
// and every process that uses shmkit (the command's every run) pays it.
// index.js (the library), main.js (the command) and reader.js (the second
// process of `shmkit demo`) share one chunk; packages stay imports of their
// own. The published package ships these and the declarations, not the
// modules they are made from.
//
//   node scripts/bundle.mjs [--no-sourcemap]
//
// --no-sourcemap for the published package (`prepare`), which ships no maps.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'no-sourcemap': { type: 'boolean', default: false } } });
const dist = (path) => fileURLToPath(new URL(`../dist/${path}`, import.meta.url));

// Chunks are named by their content: a chunk of an earlier build would stay beside the new one.
rmSync(dist('src/bundle'), { recursive: true, force: true });

await build({
  entryPoints: { index: dist('src/index.js'), main: dist('src/cli/main.js'), reader: dist('src/cli/demo/reader.js') },
  outdir: dist('src/bundle'),
  bundle: true,
  splitting: true,
  chunkNames: 'shared-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // Class and function names are part of what errors and inspection show.
  keepNames: true,
  sourcemap: !values['no-sourcemap'],
  logLevel: 'warning',
});
