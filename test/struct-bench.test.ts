// bench/struct.ts runs and reports its numbers (how fast is not asserted:
// timings belong to the benchmark, not to the tests).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runStructBench } from '../bench/struct.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, ROOT, run } from './helpers/processes.js';

assertNoLeaks();

test('runStructBench() resolves to view and DataView rates for each case', async () => {
  const result = await runStructBench({ iterations: 10_000, rounds: 1 });
  assert.deepEqual(
    result.cases.map((c) => c.name),
    [
      'int32 get',
      'int32 set',
      'float64 get',
      'float64 set',
      'int64 get',
      'int64 set',
      'float32 get',
      'float32 set',
      'int16 get',
      'int16 set',
      'view()',
    ],
  );
  for (const c of result.cases) {
    assert.ok(c.viewOpsPerSec > 0 && c.dataViewOpsPerSec > 0);
    assert.equal(c.ratio, c.viewOpsPerSec / c.dataViewOpsPerSec);
  }
});

test('node dist/bench/struct.js --json prints the same shape', async () => {
  const result = await run(process.execPath, [join(ROOT, 'dist', 'bench', 'struct.js'), '--json', '--iterations=10000']);
  assertExitedCleanly(result, 'bench');
  const json = lastJson<{ cases: Array<{ ratio: number }> }>(result);
  assert.equal(json.cases.length, 11);
});
