// The shmkit command's argument parsing: a negative number after an option
// that takes a value is that option's value (parseArgs alone takes it for
// an option), so `--key -1` is key 0xffffffff and `--length -5` is refused
// as out of range, before any segment is touched; `--opt=-5` means the
// same. Runs the real binary in its own IPC namespace (it lists segments by key).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BIN, run } from './helpers/processes.js';
import { noPrivateIpc } from './helpers/shm.js';

function shmkitInPrivateIpc(args: readonly string[]) {
  return run('unshare', ['--ipc', process.execPath, BIN, ...args], { timeoutMs: 30_000 });
}

describe('negative numbers as option values', { skip: noPrivateIpc }, () => {
  it('--length -5 and --offset -0x10 (and =-5) are out of range, named, before the segment is looked up', async () => {
    for (const args of [
      ['dump', '0', '--length', '-5'],
      ['cat', '0', '--offset', '-0x10'],
      ['dump', '0', '--length=-5'],
      ['write', '0', '--offset', '-1K'],
    ]) {
      const r = await shmkitInPrivateIpc(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /--(length|offset): ERR_OUT_OF_RANGE '-[0-9a-fxK]+' is negative; a byte count or offset is 0 or more/,
        args.join(' '),
      );
      assert.doesNotMatch(r.stderr, /takes no value|EINVAL/);
    }
  });

  it('--key -1 is the key 0xffffffff', async () => {
    const r = await shmkitInPrivateIpc(['stat', '--key', '-1']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--key -1: ENOENT no segment has key 0xffffffff/);
  });

  it('a negative id is out of range; an option without its value says how to give one that starts with a dash', async () => {
    const negative = await shmkitInPrivateIpc(['dump', '-5']);
    assert.equal(negative.code, 2);
    assert.match(negative.stderr, /-5: ERR_OUT_OF_RANGE is negative/);
    const missing = await shmkitInPrivateIpc(['dump', '0', '--length', '-x']);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /--length: ERR_INVALID_OPTION_VALUE needs a value \(for one that starts with a dash, write --length=-\.\.\.\)/,
    );
  });
});
