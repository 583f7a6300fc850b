// `shmkit demo` passes every record from writer to reader in order, explains
// the steps, and leaves nothing behind, also when interrupted. Each run is in
// a private IPC namespace, so "nothing left" is checked with ipcs exactly.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertExitedCleanly, isRoot, run, BIN } from './helpers/processes.js';

/** Runs `script` in sh inside a new IPC namespace, with $NODE and $BIN set. */
function inPrivateIpc(script: string) {
  return run('unshare', ['--ipc', 'sh', '-c', script], {
    env: { ...process.env, NODE: process.execPath, BIN },
    timeoutMs: 60_000,
  });
}

/** Lines of `ipcs -m -s` that describe an object. */
const COUNT_OBJECTS = `ipcs -m -s | grep -c '^0x' || true`;

describe('shmkit demo', { skip: !isRoot && 'needs root for unshare --ipc' }, () => {
  it('passes five records from writer to reader in order and removes the segment and semaphores', async () => {
    const result = await inPrivateIpc(`"$NODE" "$BIN" demo && echo "left: $(${COUNT_OBJECTS})"`);
    assertExitedCleanly(result, 'demo');
    const lines = result.stdout.split('\n');
    const wrote = lines.filter((line) => /writer\[\d+\]: waited for empty, wrote #/.test(line));
    const read = lines.filter((line) => /reader\[\d+\]: waited for full, read #/.test(line));
    assert.equal(wrote.length, 5, result.stdout);
    assert.equal(read.length, 5, result.stdout);
    const texts = ['hello', 'from', 'shared', 'memory', 'bye'];
    read.forEach((line, i) => {
      assert.match(line, new RegExp(`read #${i + 1} from pid \\d+: value=[0-9.]+ text="${texts[i]}"`));
      // The reader never sees a record before the writer announced it complete.
      assert.ok(lines.indexOf(wrote[i]!) < lines.indexOf(line), `record ${i + 1} read before it was written`);
    });
    for (const word of ['shmget', 'shmat', 'nattch', 'IPC_RMID', 'semget', 'shmdt']) {
      assert.ok(result.stdout.includes(word), `the narration mentions ${word}`);
    }
    assert.match(result.stdout, /left: 0\n$/);
  });

  it('leaves nothing behind, and no stack trace, when the reader of its output goes away (demo | head)', async () => {
    const result = await inPrivateIpc(`
      "$NODE" "$BIN" demo | head -2 >/dev/null
      for i in $(seq 40); do [ "$(${COUNT_OBJECTS})" = 0 ] && break; sleep 0.05; done
      echo "left: $(${COUNT_OBJECTS})"`);
    assertExitedCleanly(result, 'demo | head');
    assert.match(result.stdout, /left: 0\n$/, result.stdout);
    assert.equal(result.stderr, '');
  });

  it('leaves nothing behind when interrupted with SIGINT halfway', async () => {
    // The reader is held at its start (a preload that waits for the file
    // "go"), so the writer, having written record 1, waits for it: the
    // interrupt always comes halfway, however fast or slow the machine.
    const script = `
      NODE_OPTIONS="--require ./hold-reader.cjs" "$NODE" "$BIN" demo > out.txt 2>&1 &
      pid=$!
      for i in $(seq 200); do grep -q 'wrote #1' out.txt 2>/dev/null && break; sleep 0.05; done
      kill -INT $pid
      wait $pid; echo "demo exit: $?"
      touch go
      for i in $(seq 100); do [ "$(${COUNT_OBJECTS})" = 0 ] && break; sleep 0.05; done
      echo "left: $(${COUNT_OBJECTS})"
      cat out.txt
    `;
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-demo-'));
    writeFileSync(
      join(dir, 'hold-reader.cjs'),
      `if (/reader\\.js$/.test(process.argv[1] ?? '')) {
        const tick = new Int32Array(new SharedArrayBuffer(4));
        for (let i = 0; i < 1000 && !require('node:fs').existsSync('go'); i++) Atomics.wait(tick, 0, 0, 20);
      }`,
    );
    try {
      const result = await run('unshare', ['--ipc', 'sh', '-c', script], {
        cwd: dir,
        env: { ...process.env, NODE: process.execPath, BIN },
        timeoutMs: 60_000,
      });
      assertExitedCleanly(result, 'the interrupt script');
      assert.match(result.stdout, /demo exit: 130/, result.stdout);
      assert.match(result.stdout, /interrupted \(SIGINT\)/);
      assert.doesNotMatch(result.stdout, /wrote #2/, 'the interrupt came halfway');
      assert.match(result.stdout, /left: 0\n/, result.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
