// The fuzz tests that write random words over live segments
// (channel-fuzz, pubsub-fuzz, service-fuzz) share how a run is judged.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { assertExitedCleanly, lastJson } from './processes.js';
import { runNodeInPrivateIpc } from './shm.js';

/** What a fuzzer child prints as its last line: the calls it made and the error codes it saw, by count. */
export interface FuzzSummary {
  calls: number;
  codes: Record<string, number>;
}

/**
 * Runs fuzzer `code` (with `args`) in a private IPC namespace and checks what
 * every run must show: it ended by itself (no signal, no time limit, exit 0),
 * made all `iterations` calls, and every error it saw has a code `expected`
 * matches. The codes go to the test's diagnostics; the summary is returned.
 */
export async function runFuzzer<S extends FuzzSummary>(
  t: TestContext,
  code: string,
  args: readonly string[],
  { iterations, timeoutMs, expected }: { iterations: number; timeoutMs: number; expected: RegExp },
): Promise<S> {
  const result = await runNodeInPrivateIpc(code, args, { timeoutMs });
  assertExitedCleanly(result, 'fuzzer');
  const summary = lastJson<S>(result);
  assert.equal(summary.calls, iterations);
  for (const kind of Object.keys(summary.codes)) assert.match(kind, expected, `an expected kind of error: ${kind}`);
  t.diagnostic(JSON.stringify(summary.codes));
  return summary;
}
