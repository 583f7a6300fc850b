// The TypeScript types the public API gives: test/types/*.ts hold the cases
// (with @ts-expect-error for what must not compile), and tsc must accept them.
// One tsc run checks every case file: most of its time goes to loading the
// library's own types, which each file would otherwise load again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ROOT, run } from './helpers/processes.js';

let output = '';
let code: number | null = null;

before(async () => {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', join(ROOT, 'test', 'types', 'tsconfig.json')], {
    cwd: ROOT,
    timeoutMs: 120_000,
  });
  output = result.stdout + result.stderr;
  code = result.code;
});

/** tsc's complaints, each a line naming the file it is about. */
function complaintsAbout(file: string): string[] {
  return output.split('\n').filter((line) => line.startsWith(`test/types/${file}(`));
}

for (const [file, what] of [
  ['struct-types.ts', 'view and value types follow the schema'],
  ['channel-codec-types.ts', 'a codec types what a channel sends and receives'],
] as const) {
  test(`tsc accepts test/types/${file}: ${what}`, () => {
    assert.deepEqual(complaintsAbout(file), [], `tsc reported errors in test/types/${file}`);
    assert.equal(code, 0, `tsc reported errors:\n${output}`);
  });
}
