// shmkit refuses to load where System V IPC as it uses it is missing, with a clear message.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { assertSupportedPlatform } from '../src/core/platform.js';

it('other operating systems get a clear error naming the platform', () => {
  for (const platform of ['darwin', 'win32', 'freebsd']) {
    assert.throws(() => assertSupportedPlatform(platform, 'x64'), {
      message: `shmkit supports Linux only (System V shared memory, futexes); this is ${platform}.`,
    });
  }
});

it('other architectures get a clear error naming the architecture', () => {
  assert.throws(() => assertSupportedPlatform('linux', 'ia32'), { message: /Linux on x64 and arm64; this is ia32/ });
});

it('Linux on x64 and arm64 is supported', () => {
  assertSupportedPlatform('linux', 'x64');
  assertSupportedPlatform('linux', 'arm64');
});
