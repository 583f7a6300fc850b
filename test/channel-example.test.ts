// examples/channel-workers.ts runs with one command, gets every result, and leaves nothing behind.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, ROOT, run } from './helpers/processes.js';

assertNoLeaks();

describe('examples/channel-workers', { timeout: 60_000 }, () => {
  it('a server receives every result its worker processes send through one channel', async () => {
    const result = await run(process.execPath, [join(ROOT, 'dist/examples/channel-workers.js')], { timeoutMs: 50_000 });
    assertExitedCleanly(result, 'channel-workers');
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.pop(), 'received 15 results from 3 workers');
    assert.equal(lines.length, 15);
    for (let worker = 0; worker < 3; worker++) {
      const jobs = lines.filter((line) => line.startsWith(`worker ${worker} `)).map((line) => Number(/job (\d+)/.exec(line)![1]));
      assert.deepEqual(jobs, [0, 1, 2, 3, 4], `worker ${worker}'s results arrive in order`);
    }
    assert.ok(lines.includes('worker 0 job 0: 9592 primes'));
  });
});
