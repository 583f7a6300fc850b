// Module hooks (module.register) for a process whose packages import TypeScript
// 5 as an ES module (dependency-cruiser, in layers.test.ts). Such an import makes
// Node scan all 9 MB of the CommonJS compiler for the names it exports (about
// 0.2 s of CPU); here the import gets a module whose default export is what
// require('typescript') returns, which is all dependency-cruiser reads of it.
import { fileURLToPath } from 'node:url';

type Resolved = { url: string; format?: string | null; shortCircuit?: boolean };

export async function resolve(
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context: unknown) => Promise<Resolved>,
): Promise<Resolved> {
  const resolved = await nextResolve(specifier, context);
  if (specifier !== 'typescript') return resolved;
  const path = JSON.stringify(fileURLToPath(resolved.url));
  // dependency-cruiser takes a failed import for "TypeScript is not installed"
  // and then silently misses every type-only import: fail the process instead.
  const source = `import { createRequire } from 'node:module';
let ts;
try { ts = createRequire(${path})(${path}); } catch (error) { console.error(error); process.exit(70); }
export default ts;`;
  return { url: `data:text/javascript,${encodeURIComponent(source)}`, shortCircuit: true };
}

/** The --import argument that registers these hooks. */
export const REGISTER_TYPESCRIPT_HOOKS = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module'; register(${JSON.stringify(import.meta.url)});`,
)}`;
