// Bundles the library and the command into dist/src/bundle/, from what tsc
// built in dist/src. Node loads each ES module file on its own, and shmkit is
// some hundred of them: `import 'shmkit'` took 66 ms that way, 25 ms bundled,
// and every process that uses shmkit (the command's every run) pays it.
// index.js is the library, one file: split in two (a chunk it shared with the
// command), linking the ~200 names between them took 0.7 ms of each import.
// main.js (the command) and reader.js (the second process of `shmkit demo`)
// import it as `./index.js`, as a program would import 'shmkit', and share a
// chunk of their own; packages stay imports of their own. The published
// package ships these and the declarations, not the modules they are made from.
//
//   node scripts/bundle.mjs [--no-sourcemap]
//
// --no-sourcemap for the published package (`prepare`), which ships no maps.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'no-sourcemap': { type: 'boolean', default: false } } });
const dist = (path) => fileURLToPath(new URL(`../dist/${path}`, import.meta.url));
const require = createRequire(import.meta.url);

// The built-in modules the code imports are read with process.getBuiltinModule
// (Node 20.16 and later) instead of `import ... from 'node:fs'`. An import
// makes Node build the module's ES facade, which reads every export: node:fs's
// getters load fs/promises, readline and the streams, node:process's load the
// diagnostic report, and `import 'shmkit'` paid about 4 ms of CPU for them.
// Here only the names the code imports are read, once, when the bundle is
// evaluated (the facade's bindings are such a snapshot too); a name the
// built-in does not export stays a build error.
const builtins = {
  name: 'builtins-without-facades',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, ({ path, kind }) => (kind === 'import-statement' ? { path, namespace: 'builtin' } : undefined));
    build.onLoad({ filter: /./, namespace: 'builtin' }, ({ path }) => {
      // The facade's names: the module's own enumerable keys (listing them runs no getter).
      const names = Object.keys(require(path)).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default');
      const lines = [
        `const $builtin = /* @__PURE__ */ process.getBuiltinModule(${JSON.stringify(path)});`,
        'const $read = (name) => $builtin[name];',
        'export default $builtin;',
        ...names.map((name) => `export const ${name} = /* @__PURE__ */ $read(${JSON.stringify(name)});`),
      ];
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

// The command's imports of the public API (src/index.ts, all the command may
// import of the library) are imports of the library's bundle.
const library = {
  name: 'library-as-index-js',
  setup(build) {
    build.onResolve({ filter: /\/index\.js$/ }, ({ path, resolveDir }) =>
      resolve(resolveDir, path) === dist('src/index.js') ? { path: './index.js', external: true } : undefined,
    );
  },
};

const common = {
  outdir: dist('src/bundle'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // Class and function names are part of what errors and inspection show.
  keepNames: true,
  sourcemap: !values['no-sourcemap'],
  logLevel: 'warning',
};

// Chunks are named by their content: a chunk of an earlier build would stay beside the new one.
rmSync(dist('src/bundle'), { recursive: true, force: true });

await build({ ...common, entryPoints: { index: dist('src/index.js') }, plugins: [builtins] });
await build({
  ...common,
  entryPoints: { main: dist('src/cli/main.js'), reader: dist('src/cli/demo/reader.js') },
  splitting: true,
  chunkNames: 'shared-[hash]',
  plugins: [builtins, library],
});
