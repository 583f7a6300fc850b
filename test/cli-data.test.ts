// shmkit create, dump, cat and write on segments of this test's own: dump is
// hexdump -C byte for byte (its text checked in this process), cat and write
// move raw bytes through pipes (the real binary), write is all or nothing.
// What only prints and returns (usage errors, a refusal, a dump) runs in
// this process; a create runs as the real binary where its exit matters.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { constants as bufferConstants } from 'node:buffer';
import { IPC_CREAT, IPC_PRIVATE, IPC_STAT, SharedMemory, shmctl, shmget } from 'shmkit';
import { assertNoLeaks, removeSegment, uniqueKey, withCleanup } from './helpers/ipc.js';
import { runMain, shmkitHere } from './helpers/cli.js';
import { run, BIN, shmkit } from './helpers/processes.js';

assertNoLeaks();

/** Runs a shell pipeline in which `shmkit` is the binary. */
function sh(script: string) {
  const prelude = 'shmkit() { "$NODE" "$BIN" "$@"; }\n';
  return run('sh', ['-c', prelude + script], { env: { ...process.env, NODE: process.execPath, BIN }, timeoutMs: 30_000 });
}

/**
 * 1000 bytes with every case hexdump -C distinguishes: text, runs of equal
 * lines (collapsed to "*"), a line equal to the one two before (not
 * collapsed), bytes from 0x00 to 0xff, a partial last line.
 */
function pattern(): Uint8Array {
  const bytes = new Uint8Array(1000);
  bytes.set(new TextEncoder().encode('Hello, shared memory!\n\tsegment 1'), 0);
  // 48..160: zeros (several equal lines). 160..208: "ABCD..." repeated (equal lines again).
  for (let i = 160; i < 208; i++) bytes[i] = 0x41 + (i % 16);
  for (let i = 208; i < 224; i++) bytes[i] = 0xee;
  for (let i = 224; i < 240; i++) bytes[i] = 0x41 + (i % 16);
  for (let i = 256; i < 512; i++) bytes[i] = i - 256;
  bytes.fill(0x7f, 600, 900);
  for (let i = 990; i < 1000; i++) bytes[i] = 0x20 + i - 990;
  return bytes;
}

describe('shmkit create', () => {
  it('creates a segment with the key, size and mode given and prints its id', async () => {
    await withCleanup(async (defer) => {
      const key = uniqueKey();
      // In this process: nattch 0 then says the command left nothing attached even to a live process.
      const result = await shmkitHere(['create', '--key', `0x${key.toString(16)}`, '--size', '3K', '--mode', '640']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^\d+\n$/);
      const id = Number(result.stdout);
      defer(() => removeSegment(id));
      const ds = shmctl(id, IPC_STAT);
      assert.deepEqual([ds.shm_perm.key, ds.shm_segsz, ds.shm_perm.mode & 0o777, ds.shm_nattch], [key, 3072, 0o640, 0]);
    });
  });

  it('creates a private segment that stays after the command exits', async () => {
    await withCleanup(async (defer) => {
      const result = await shmkit(['create', '--private', '--size', '100']);
      assert.equal(result.code, 0, result.stderr);
      const id = Number(result.stdout);
      defer(() => removeSegment(id));
      const ds = shmctl(id, IPC_STAT);
      assert.deepEqual([ds.shm_perm.key, ds.shm_segsz, ds.shm_perm.mode & 0o777], [0, 100, 0o600]);
    });
  });

  it('refuses a key that is taken: one line naming the key and EEXIST, nothing on stdout, exit 1', async () => {
    await withCleanup(async (defer) => {
      const key = uniqueKey();
      const shm = SharedMemory.create({ key, size: 10 });
      defer(() => shm.remove());
      defer(() => shm.detach());
      const result = await shmkitHere(['create', '--key', String(key), '--size', '10']);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, `shmkit create: --key ${key}: EEXIST a segment with this key exists\n`);
    });
  });

  it('is a usage error (exit 2) without --size, with both --key and --private, or with a bad mode', async () => {
    for (const args of [
      ['--key', '1'],
      ['--key', '1', '--private', '--size', '1'],
      ['--private', '--size', '1', '--mode', '999'],
    ]) {
      const result = await shmkitHere(['create', ...args]);
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^shmkit create: --(size|key|private|mode): ERR_\w+ .*\(see shmkit help create\)\n$/);
    }
  });
});

describe('shmkit dump, cat and write', () => {
  let shm: SharedMemory;
  let dir = '';
  let file = '';
  const data = pattern();

  before(() => {
    shm = SharedMemory.create({ key: uniqueKey(), size: data.length });
    shm.write(0, data);
    dir = mkdtempSync(join(tmpdir(), 'shmkit-cli-data-'));
    file = join(dir, 'bytes');
    writeFileSync(file, data);
  });

  after(() => {
    shm.remove();
    shm.detach();
    rmSync(dir, { recursive: true, force: true });
  });

  it('dump prints exactly what hexdump -C prints, at every offset and length', async () => {
    const cases: [number | undefined, number | undefined][] = [
      [undefined, undefined],
      [0, 16],
      [0, 17],
      [5, 40],
      [16, 64],
      [3, 1],
      [40, 200],
      [100, 333],
      [161, 80],
      [250, 300],
      [600, 300],
      [590, 320],
      [993, 7],
      [0, 1000],
      [48, 112],
      [1000, undefined],
      [999, undefined],
      [7, 0],
      [0, 0],
    ];
    for (const [offset, length] of cases) {
      const ours: string[] = ['dump', String(shm.id)];
      const theirs: string[] = ['-C'];
      if (offset !== undefined) ours.push('--offset', String(offset)), theirs.push('-s', String(offset));
      if (length !== undefined) ours.push('--length', String(length)), theirs.push('-n', String(length));
      const [got, want] = await Promise.all([shmkitHere(ours), run('hexdump', [...theirs, file])]);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout, want.stdout, `offset ${offset}, length ${length}`);
    }
  });

  it('dump collapses repeated lines into "*" as hexdump does', async () => {
    const got = await shmkitHere(['dump', String(shm.id), '--offset', '32', '--length', '160']);
    assert.equal(
      got.stdout,
      '00000020  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n' +
        '*\n' +
        '000000a0  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|\n' +
        '*\n' +
        '000000c0\n',
    );
  });

  it('dump of a range past the end prints what hexdump -s -n prints: the bytes up to the end, or only its address', async () => {
    // It failed with ERR_OUT_OF_RANGE (exit 1).
    for (const [offset, length] of [
      [990, 20],
      [1000, 5],
      [1001, undefined],
      [5000, 16],
    ] as const) {
      const range = ['--offset', String(offset), ...(length === undefined ? [] : ['--length', String(length)])];
      const hexdump = ['-C', '-s', String(offset), ...(length === undefined ? [] : ['-n', String(length)]), file];
      const [dumped, expected] = await Promise.all([shmkitHere(['dump', String(shm.id), ...range]), run('hexdump', hexdump)]);
      assert.equal(dumped.code, 0, `${range.join(' ')}: ${dumped.stderr}`);
      assert.equal(dumped.stdout, expected.stdout, range.join(' '));
    }
    assert.match((await shmkitHere(['dump', String(shm.id), '--offset', '990', '--length', '20'])).stdout, /^000003de .*\n000003e8\n$/);
  });

  it('cat refuses a range past the end as a usage error (exit 2, as every ERR_OUT_OF_RANGE)', async () => {
    const result = await shmkitHere(['cat', String(shm.id), '--offset', '990', '--length', '20']);
    assert.deepEqual(
      [result.code, result.stdout, result.stderr],
      [
        2,
        '',
        'shmkit cat: --length: ERR_OUT_OF_RANGE 20 bytes from offset 990 run past the end of the 1000-byte segment (see shmkit help cat)\n',
      ],
    );
  });

  it('cat writes the raw bytes to stdout, and | hexdump -C gives what dump gives', async () => {
    const out = join(dir, 'cat');
    const result = await sh(`shmkit cat ${shm.id} > '${out}'`);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(new Uint8Array(readFileSync(out)), data);
    // A range: what is checked is which bytes, not the file (in this process, as dump's ranges).
    const part = await runMain(['cat', String(shm.id), '--offset', '256', '--length', '256']);
    assert.equal(part.code, 0, part.stderr.toString());
    assert.deepEqual(new Uint8Array(part.stdout), data.subarray(256, 512));
    const [piped, dumped] = await Promise.all([sh(`shmkit cat ${shm.id} | hexdump -C`), shmkitHere(['dump', String(shm.id)])]);
    assert.equal(piped.stdout, dumped.stdout);
  });

  it('cat into a pipe whose reader leaves early ends quietly', async () => {
    await withCleanup(async (defer) => {
      const big = SharedMemory.create({ key: uniqueKey(), size: 16 << 20 });
      defer(() => big.remove());
      defer(() => big.detach());
      const result = await sh(`shmkit cat ${big.id} | head -c 10 | wc -c; echo "status $?"`);
      assert.equal(result.stderr, '');
      assert.equal(result.stdout.replace(/\s+/g, ' ').trim(), '10 status 0');
    });
  });

  it('cat or stat into a file that cannot take it all fails with one line and exit 1, never a short copy or a stack trace', async () => {
    await withCleanup(async (defer) => {
      const big = SharedMemory.create({ key: uniqueKey(), size: 1 << 20 });
      defer(() => big.remove());
      defer(() => big.detach());
      const out = join(dir, 'limited');
      // A file-size limit of 100000 bytes: the first write is cut short, the next fails with EFBIG.
      const limited = await sh(`prlimit --fsize=100000 "$NODE" "$BIN" cat ${big.id} > '${out}'; echo "status $?"`);
      assert.equal(limited.stdout, 'status 1\n');
      assert.equal(limited.stderr, 'shmkit cat: stdout: EFBIG cannot write: file too large\n');
      const full = await sh(`shmkit stat ${big.id} > /dev/full; echo "status $?"`);
      assert.equal(full.stdout, 'status 1\n');
      assert.equal(full.stderr, 'shmkit stat: stdout: ENOSPC cannot write: no space left on device\n');
    });
  });

  it('write puts stdin into the segment at --offset and leaves the other bytes alone', async () => {
    await withCleanup(async (defer) => {
      const target = SharedMemory.create({ key: uniqueKey(), size: 64 });
      defer(() => target.remove());
      defer(() => target.detach());
      target.bytes.fill(0xaa);
      const payload = new Uint8Array([0, 1, 2, 0xff, 0x80, 10, 13]);
      const result = await shmkit(['write', String(target.id), '--offset', '0x10'], { input: payload });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '');
      const expected = new Uint8Array(64).fill(0xaa);
      expected.set(payload, 16);
      assert.deepEqual(target.read(), expected);
    });
  });

  it('write refuses data that runs past the end and writes nothing', async () => {
    await withCleanup(async (defer) => {
      const target = SharedMemory.create({ key: uniqueKey(), size: 64 });
      defer(() => target.remove());
      defer(() => target.detach());
      // In this process: a refusal, what the command prints and returns.
      const result = await shmkitHere(['write', String(target.id), '--offset', '60'], { input: 'hello' });
      // Too much data is a failure (exit 1, EFBIG as write(2) says past a limit); an offset past the end, bad usage (exit 2).
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.equal(
        result.stderr,
        'shmkit write: stdin: EFBIG more than the 4 bytes that fit from offset 60 in the 64-byte segment; nothing written\n',
      );
      assert.deepEqual(target.read(), new Uint8Array(64));
      const past = await shmkitHere(['write', String(target.id), '--offset', '65'], { input: '' });
      assert.equal(past.code, 2);
      assert.match(
        past.stderr,
        /^shmkit write: --offset: ERR_OUT_OF_RANGE 65 is past the end of the 64-byte segment \(see shmkit help write\)\n$/,
      );
    });
  });

  it('a segment past 4 GiB: written and read at an offset past 4 GiB where Node.js maps it, else one clear line saying why', async () => {
    await withCleanup(async (defer) => {
      // Reserved, never touched: no memory is used.
      const size = 4 * 1024 ** 3 + 4096;
      const id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600);
      defer(() => removeSegment(id));
      // Both in this process: what is checked is the offset past 4 GiB, not a pipe.
      const written = await shmkitHere(['write', String(id), '--offset', '4G'], { input: 'HELLO' });
      const read = await shmkitHere(['dump', String(id), '--offset', '4G', '--length', '5']);
      if (size <= bufferConstants.MAX_LENGTH) {
        assert.equal(written.code, 0, written.stderr);
        assert.match(read.stdout, /^100000000 {2}48 45 4c 4c 4f .*\|HELLO\|\n100000005\n$/);
        return;
      }
      // Node 20: no buffer may be larger than 4 GiB, so the segment cannot be attached at all. The line said
      // "EFBIG shmat: EFBIG (File too large): ..." and docs/cli.md that offsets past 4 GiB work.
      const why = (verb: string) =>
        `EFBIG the ${size}-byte segment is larger than one buffer may be in Node.js ${process.versions.node} ` +
        `(buffer.constants.MAX_LENGTH, ${bufferConstants.MAX_LENGTH} bytes), so it cannot be attached and no part of it can be ${verb}; ` +
        'Node.js 22 and later attach it\n';
      assert.deepEqual([written.code, written.stderr], [1, `shmkit write: ${id}: ${why('written')}`]);
      assert.deepEqual([read.code, read.stdout, read.stderr], [1, '', `shmkit dump: ${id}: ${why('read')}`]);
    });
  });

  it('dump, cat and write name a missing segment: "ID: EINVAL no such segment"', async () => {
    for (const command of ['dump', 'cat', 'write']) {
      const result = await shmkitHere([command, '2147483000'], { input: '' });
      assert.equal(result.code, 1, command);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, `shmkit ${command}: 2147483000: EINVAL no such segment\n`);
    }
  });
});
