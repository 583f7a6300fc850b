// Module hooks for a process whose packages import TypeScript 5 as an ES module
// (dependency-cruiser, in layers.test.ts). Such an import makes Node scan all
// 9 MB of the CommonJS compiler for the names it exports (about 0.2 s of CPU);
// here the import gets a module whose default export is what
// require('typescript') returns, which is all dependency-cruiser reads of it.
import { fileURLToPath } from 'node:url';

/**
 * What the process prints (on stderr) once dependency-cruiser has TypeScript:
 * it does not import a TypeScript outside the versions it supports (below 7),
 * and then misses every type-only import without a word.
 */
export const TYPESCRIPT_LOADED = 'dependency-cruiser has TypeScript ';

type Resolved = { url: string; format?: string | null | undefined; shortCircuit?: boolean | undefined };

function redirected(specifier: string, resolved: Resolved): Resolved {
  if (specifier !== 'typescript') return resolved;
  const path = JSON.stringify(fileURLToPath(resolved.url));
  // dependency-cruiser takes a failed import for "TypeScript is not installed"
  // and then silently misses every type-only import: fail the process instead.
  const source = `import { createRequire } from 'node:module';
let ts;
try { ts = createRequire(${path})(${path}); } catch (error) { console.error(error); process.exit(70); }
process.stderr.write(${JSON.stringify(TYPESCRIPT_LOADED)} + ts.version + '\\n');
export default ts;`;
  return { url: `data:text/javascript,${encodeURIComponent(source)}`, shortCircuit: true };
}

/** A resolve hook for module.registerHooks (synchronous) and module.register (its next step answers with a promise). */
export function resolve(
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context: unknown) => Resolved | Promise<Resolved>,
): Resolved | Promise<Resolved> {
  const resolved = nextResolve(specifier, context);
  return resolved instanceof Promise ? resolved.then((r) => redirected(specifier, r)) : redirected(specifier, resolved);
}

/**
 * The --import argument that installs the hook: in the process's own thread
 * with module.registerHooks (Node 22.15 and later; module.register is deprecated
 * there), on a thread of module.register's on Node 20.
 */
export const REGISTER_TYPESCRIPT_HOOKS = `data:text/javascript,${encodeURIComponent(
  `import * as module from 'node:module';
const url = ${JSON.stringify(import.meta.url)};
if (module.registerHooks) module.registerHooks({ resolve: (await import(url)).resolve });
else module.register(url);`,
)}`;
