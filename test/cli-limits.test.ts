// shmkit limits prints the numbers of ipcs -l in its units (kbytes for the
// largest segment and the total, bytes for the smallest), or all in bytes
// with --bytes as ipcs -l --bytes. The file runs in a private IPC namespace,
// whose shm sysctls it may set without touching the machine's.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { PAGE_SIZE } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { runFileInPrivateIpc } from './helpers/namespaces.js';
import { shmkitHere } from './helpers/cli.js';
import { run } from './helpers/processes.js';

// The limits are set only in a namespace of this file's own (root).
const skip = await runFileInPrivateIpc();
assertNoLeaks();

const SYSCTL = (name: string) => `/proc/sys/kernel/${name}`;
const defaults = { shmmax: readFileSync(SYSCTL('shmmax'), 'utf8'), shmall: readFileSync(SYSCTL('shmall'), 'utf8') };

/** ipcs -l's shared-memory lines as { "max seg size (kbytes)": "1048576", ... }. */
async function ipcsShm(...flags: string[]): Promise<Map<string, string>> {
  const result = await run('ipcs', ['-l', ...flags]);
  assert.equal(result.code, 0, result.stderr);
  const section = result.stdout.split('------ Shared Memory Limits --------\n')[1]!.split('\n\n')[0]!;
  return new Map(section.split('\n').map((line) => line.split(' = ') as [string, string]));
}

/** shmkit limits -m's lines as { "max segment size (shmmax)": "1048576 kbytes", ... }. */
async function ours(...flags: string[]): Promise<Map<string, string>> {
  const result = await shmkitHere(['limits', '-m', ...flags]);
  assert.equal(result.code, 0, result.stderr);
  return new Map(
    result.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(/ {2,}/) as [string, string]),
  );
}

describe('shmkit limits', { skip }, () => {
  afterEach(() => {
    for (const [name, value] of Object.entries(defaults)) writeFileSync(SYSCTL(name), value);
  });

  for (const [shmmax, shmall] of [
    ['1073741824', '262144'],
    ['1000000', '300'],
  ] as const) {
    it(`prints ipcs -l's numbers in its units, kbytes and bytes (shmmax ${shmmax}, shmall ${shmall} pages)`, async () => {
      writeFileSync(SYSCTL('shmmax'), shmmax);
      writeFileSync(SYSCTL('shmall'), shmall);
      const [theirs, mine] = await Promise.all([ipcsShm(), ours()]);
      assert.equal(mine.get('max number of segments (shmmni)'), theirs.get('max number of segments'));
      assert.equal(mine.get('max segment size (shmmax)'), `${theirs.get('max seg size (kbytes)')} kbytes`);
      assert.equal(mine.get('max total shared memory (shmall)'), `${theirs.get('max total shared memory (kbytes)')} kbytes`);
      assert.equal(mine.get('min segment size (shmmin)'), `${theirs.get('min seg size (bytes)')} bytes`);

      const [theirBytes, myBytes] = await Promise.all([ipcsShm('--bytes'), ours('--bytes')]);
      assert.equal(myBytes.get('max segment size (shmmax)'), `${theirBytes.get('max seg size (bytes)')} bytes`);
      assert.equal(myBytes.get('max total shared memory (shmall)'), `${theirBytes.get('max total shared memory (bytes)')} bytes`);
      assert.equal(myBytes.get('max total shared memory (shmall)'), `${BigInt(shmall) * BigInt(PAGE_SIZE)} bytes`);
    });
  }

  it("at the kernel's defaults (near 2^64) prints exact numbers where ipcs -l caps the total at 2^64", async () => {
    const [theirs, mine, myBytes] = await Promise.all([ipcsShm(), ours(), ours('--bytes')]);
    const shmall = BigInt(defaults.shmall.trim());
    assert.equal(mine.get('max segment size (shmmax)'), `${theirs.get('max seg size (kbytes)')} kbytes`);
    assert.equal(mine.get('max total shared memory (shmall)'), `${(shmall * BigInt(PAGE_SIZE)) / 1024n} kbytes`);
    assert.equal(myBytes.get('max segment size (shmmax)'), `${defaults.shmmax.trim()} bytes`);
    assert.doesNotMatch([...mine.values()].join('\n'), /pages/, 'no unit ipcs -l does not use');
  });
});
