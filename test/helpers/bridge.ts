// Assertions the bridge tests share.
import assert from 'node:assert/strict';
import { bridge } from '../../src/index.js';

/** bridge(options) rejects with `code` and a message matching `name`. */
export async function rejects(options: unknown, name: RegExp, code: string): Promise<void> {
  await assert.rejects(bridge(options as never), (error: Error & { code?: string }) => {
    assert.equal(error.code, code);
    assert.match(error.message, name);
    return true;
  });
}
