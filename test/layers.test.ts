// The dependency rule: each folder of src/ imports only the layers below it
// (.dependency-cruiser.cjs says which), with no cycles, type-only imports
// included. A file that imports across the plan fails here, naming the rule
// and the import.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { REGISTER_TYPESCRIPT_HOOKS, TYPESCRIPT_LOADED } from './helpers/typescript-hooks.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPCRUISE = fileURLToPath(new URL('../../node_modules/dependency-cruiser/bin/dependency-cruise.mjs', import.meta.url));

describe('layers', () => {
  it('no file in src/ imports across the layers of .dependency-cruiser.cjs, and nothing imports in a cycle', async () => {
    // Without Node's guess at whether a .js file of a package that names no
    // module type is an ES module: the guess compiles all of TypeScript's
    // 9 MB (the parser dependency-cruiser uses) once more, about 0.1 s of CPU.
    // No such file of dependency-cruiser's is one: such a file would fail to load.
    // Without V8's optimizing compiler (helpers/typescript.ts says why) and with
    // TypeScript imported as require loads it (helpers/typescript-hooks.ts).
    const run = promisify(execFile)(
      process.execPath,
      [
        '--no-experimental-detect-module',
        '--no-opt',
        '--import',
        REGISTER_TYPESCRIPT_HOOKS,
        DEPCRUISE,
        '--config',
        '.dependency-cruiser.cjs',
        '--output-type',
        'err',
        'src',
      ],
      { cwd: ROOT },
    );
    const outcome = await run.then(
      (result) => ({ code: 0, output: result.stdout + result.stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code,
        output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
      }),
    );
    assert.equal(outcome.code, 0, `dependency-cruiser found imports across the layers:\n${outcome.output}`);
    assert.match(outcome.output, /no dependency violations found/);
    // Without TypeScript it would have checked value imports only, and passed.
    assert.ok(outcome.output.includes(TYPESCRIPT_LOADED), `dependency-cruiser ran without TypeScript:\n${outcome.output}`);
  });
});
