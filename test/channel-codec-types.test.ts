// The TypeScript types codecs give channels: test/types/channel-codec-types.ts
// holds the cases (with @ts-expect-error for what must not compile); tsc must accept it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, run } from './helpers/processes.js';

test('tsc accepts test/types/channel-codec-types.ts: a codec types what a channel sends and receives', async () => {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await run(process.execPath, [tsc, '--noEmit', '-p', join(ROOT, 'test', 'types', 'tsconfig.channel.json')], {
    cwd: ROOT,
    timeoutMs: 120_000,
  });
  assert.equal(result.code, 0, `tsc reported errors:\n${result.stdout}${result.stderr}`);
});
