// Bundles the library and the command into dist/src/bundle/, from what tsc
// built in dist/src. Node loads each ES module file on its own, and shmkit is
// some hundred of them: `import 'shmkit'` took 66 ms that way, 25 ms bundled,
// and every process that uses shmkit (the command's every run) pays it.
// index.js and main.js share one chunk; packages stay imports of their own.
//
//   node scripts/bundle.mjs [--no-sourcemap]
//
// --no-sourcemap for the published package (`prepare`), which ships no maps.
import { build } from 'esbuild';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({ options: { 'no-sourcemap': { type: 'boolean', default: false } } });
const dist = (path) => fileURLToPath(new URL(`../dist/${path}`, import.meta.url));

await build({
  entryPoints: { index: dist('src/index.js'), main: dist('src/cli/main.js') },
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
