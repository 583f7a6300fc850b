// SharedMemory: create/open/openOrCreate with safe defaults, read/write/bytes,
// stat/remove/detach, `using`, and segments that go by themselves after the
// last detach (autoRemove, private), even when the last holder is killed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IPC_CREAT, IPC_PRIVATE, IPC_STAT, IpcError, SharedMemory, SHM_DEST, StateError, ftok, shmat, shmctl, shmdt, shmget } from 'shmkit';
import { assertNoLeaks, removeSegment, uniqueKey, usedSegments, withCleanup } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { segmentExists, thrown, waitFor } from './helpers/shm.js';

assertNoLeaks();

/** Creates a SharedMemory for the test and detaches and removes it afterwards. */
function withShm<T>(options: Parameters<typeof SharedMemory.create>[0], fn: (shm: SharedMemory) => Promise<T> | T): Promise<T> {
  return withCleanup(async (defer) => {
    const shm = SharedMemory.create(options);
    defer(() => removeSegment(shm.id));
    defer(() => shm[Symbol.dispose]());
    return fn(shm);
  });
}

function nattch(id: number): number {
  return shmctl(id, IPC_STAT).shm_nattch;
}

function assertStateError(fn: () => unknown, code: string): void {
  const error = thrown(fn);
  assert.ok(error instanceof StateError, `expected a StateError, got ${String(error)}`);
  assert.equal(error.code, code);
}

describe('SharedMemory.create', () => {
  it('creates an attached segment of exactly the size asked, mode 0600, zero-filled', async () => {
    const key = uniqueKey();
    await withShm({ key, size: 5000 }, (shm) => {
      const ds = shmctl(shm.id, IPC_STAT);
      assert.equal(shm.key, key);
      assert.equal(shm.size, 5000);
      assert.equal(shm.size, ds.shm_segsz);
      assert.equal(ds.shm_perm.mode, 0o600);
      assert.equal(ds.shm_perm.key, key);
      assert.equal(ds.shm_nattch, 1);
      assert.equal(shm.readOnly, false);
      assert.equal(shm.detached, false);
      assert.ok(shm.read().every((b) => b === 0));
      assert.equal(shmget(key, 0, 0), shm.id);
    });
  });

  it('takes other permission bits in mode', async () => {
    await withShm({ key: uniqueKey(), size: 100, mode: 0o644 }, (shm) => {
      assert.equal(shm.stat().shm_perm.mode, 0o644);
    });
  });

  it('is exclusive: a second create of the same key is EEXIST and leaves the first segment alone', async () => {
    const key = uniqueKey();
    await withShm({ key, size: 4096 }, (shm) => {
      shm.write(0, 'first');
      const error = thrown(() => SharedMemory.create({ key, size: 4096 }));
      assert.ok(error instanceof IpcError);
      assert.equal(error.code, 'EEXIST');
      assert.equal(error.syscall, 'shmget');
      assert.equal(Buffer.from(shm.read(0, 5)).toString(), 'first');
      assert.equal(nattch(shm.id), 1);
    });
  });

  it('by path uses ftok(path, projId), projId 1 by default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-shm-'));
    try {
      const file = join(dir, 'key');
      writeFileSync(file, '');
      await withShm({ path: file, size: 64 }, (shm) => {
        assert.equal(shm.key, ftok(file, 1));
        assert.equal(shm.stat().shm_perm.key, ftok(file, 1));
      });
      await withShm({ path: file, projId: 7, size: 64 }, (shm) => assert.equal(shm.key, ftok(file, 7)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("size 0 is the kernel's EINVAL and leaves nothing behind", () => {
    const key = uniqueKey();
    const error = thrown(() => SharedMemory.create({ key, size: 0 }));
    assert.ok(error instanceof IpcError);
    assert.equal(error.code, 'EINVAL');
    assert.throws(() => shmget(key, 0, 0), { code: 'ENOENT' });
  });
});

describe('SharedMemory.open', () => {
  it('opens by key, by id and by path, all onto the same memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-shm-'));
    try {
      const file = join(dir, 'key');
      writeFileSync(file, '');
      await withShm({ path: file, projId: 3, size: 4096 }, (shm) => {
        using byKey = SharedMemory.open({ key: shm.key });
        using byId = SharedMemory.open({ id: shm.id });
        using byPath = SharedMemory.open({ path: file, projId: 3 });
        for (const other of [byKey, byId, byPath]) {
          assert.equal(other.id, shm.id);
          assert.equal(other.key, shm.key);
          assert.equal(other.size, 4096);
        }
        shm.write(0, 'one');
        byKey.write(3, 'two');
        byId.write(6, 'three');
        assert.equal(Buffer.from(byPath.read(0, 11)).toString(), 'onetwothree');
        assert.equal(nattch(shm.id), 4);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with ENOENT for a key without a segment and EINVAL for an id without one', () => {
    const byKey = thrown(() => SharedMemory.open({ key: uniqueKey() }));
    assert.ok(byKey instanceof IpcError);
    assert.equal(byKey.code, 'ENOENT');
    const byId = thrown(() => SharedMemory.open({ id: -1 }));
    assert.ok(byId instanceof IpcError);
    assert.equal(byId.code, 'EINVAL');
    assert.equal(byId.syscall, 'shmat');
  });

  it('readOnly attaches with SHM_RDONLY: reads see the writer, writes throw and change nothing', async () => {
    await withShm({ key: uniqueKey(), size: 4096 }, (shm) => {
      using reader = SharedMemory.open({ key: shm.key, readOnly: true });
      assert.equal(reader.readOnly, true);
      shm.write(0, 'hello');
      assert.equal(Buffer.from(reader.read(0, 5)).toString(), 'hello');
      assertStateError(() => reader.write(0, 'bye'), 'ERR_SHM_READ_ONLY');
      assertStateError(() => reader.bytes, 'ERR_SHM_READ_ONLY');
      assertStateError(() => reader.buffer, 'ERR_SHM_READ_ONLY');
      assert.equal(Buffer.from(shm.read(0, 5)).toString(), 'hello');
    });
  });
});

describe('boolean options', () => {
  it("readOnly and autoRemove must be booleans: 1 or 'yes' is a TypeError naming the option, before anything is made or attached", async () => {
    const key = uniqueKey();
    for (const bad of [1, 'yes']) {
      const error = thrown(() => SharedMemory.create({ key, size: 4096, autoRemove: bad as never })) as TypeError & { code: string };
      assert.equal(error.code, 'ERR_INVALID_ARG_TYPE');
      assert.match(error.message, /"options\.autoRemove" argument must be of type boolean/);
      assert.equal((thrown(() => shmget(key, 0, 0)) as IpcError).code, 'ENOENT', 'no segment was made');
    }
    await withShm({ key, size: 4096 }, (shm) => {
      for (const bad of [1, 'yes']) {
        for (const attempt of [
          () => SharedMemory.open({ key, readOnly: bad as never }),
          () => SharedMemory.open({ id: shm.id, readOnly: bad as never }),
          () => SharedMemory.openOrCreate({ key, size: 4096, readOnly: bad as never }),
        ]) {
          const error = thrown(attempt) as TypeError & { code: string };
          assert.equal(error.code, 'ERR_INVALID_ARG_TYPE', String(error));
          assert.match(error.message, /"options\.readOnly" argument must be of type boolean/);
        }
      }
      assert.equal(nattch(shm.id), 1, 'nothing else attached');
      using opened = SharedMemory.open({ key, readOnly: true });
      assert.equal(opened.readOnly, true);
    });
  });
});

describe('SharedMemory.openOrCreate', () => {
  it('creates when the key is free and opens the same segment when it is not', async () => {
    const key = uniqueKey();
    await withCleanup((defer) => {
      const first = SharedMemory.openOrCreate({ key, size: 4096 });
      defer(() => removeSegment(first.id));
      defer(() => first[Symbol.dispose]());
      using second = SharedMemory.openOrCreate({ key, size: 4096 });
      assert.equal(second.id, first.id);
      assert.equal(first.stat().shm_perm.mode, 0o600);
      first.write(0, 'shared');
      assert.equal(Buffer.from(second.read(0, 6)).toString(), 'shared');
    });
  });

  it('gives every one of several processes racing on one key the same segment', async () => {
    const key = uniqueKey();
    await withCleanup(async (defer) => {
      defer(() => {
        try {
          removeSegment(shmget(key, 0, 0));
        } catch {
          // never created
        }
      });
      const children = Array.from({ length: 4 }, (_, i) =>
        runNode(
          `
          import { SharedMemory } from 'SHMKIT';
          const [key, slot] = process.argv.slice(1).map(Number);
          const shm = SharedMemory.openOrCreate({ key, size: 4096 });
          shm.bytes[slot] = slot + 1;
          console.log(JSON.stringify({ id: shm.id }));
          shm.detach();
          `,
          [String(key), String(i)],
        ),
      );
      const results = await Promise.all(children);
      for (const [i, r] of results.entries()) assertExitedCleanly(r, `child ${i}`);
      const ids = new Set(results.map((r) => lastJson<{ id: number }>(r).id));
      assert.equal(ids.size, 1, 'one segment for all');
      const id = shmget(key, 0, 0);
      assert.deepEqual([...ids], [id]);
      const a = shmat(id);
      assert.deepEqual(Array.from(a.read(0, 4)), [1, 2, 3, 4], 'every child wrote into the same segment');
      shmdt(a);
    });
  });

  it('attaches read-only when asked, whether it creates the segment or opens it', async () => {
    const key = uniqueKey();
    await withCleanup((defer) => {
      const created = SharedMemory.openOrCreate({ key, size: 4096, readOnly: true });
      defer(() => removeSegment(created.id));
      defer(() => created[Symbol.dispose]());
      assert.equal(created.readOnly, true, 'the creating call');
      assertStateError(() => created.write(0, 'x'), 'ERR_SHM_READ_ONLY');
      using opened = SharedMemory.openOrCreate({ key, size: 4096, readOnly: true });
      assert.equal(opened.readOnly, true, 'the opening call');
    });
  });

  it('refuses autoRemove, which would free the key at once (every caller would get a segment of its own), before making anything', async () => {
    const key = uniqueKey();
    await withCleanup((defer) => {
      for (const autoRemove of [true, 1, 'yes']) {
        const error = thrown(() => SharedMemory.openOrCreate({ key, size: 4096, autoRemove: autoRemove as never })) as TypeError & {
          code: string;
        };
        assert.ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`);
        assert.equal(error.code, 'ERR_INVALID_ARG_VALUE');
        assert.match(error.message, /options\.autoRemove.*frees its key.*create\(\{ autoRemove: true \}\)/);
        assert.equal((thrown(() => shmget(key, 0, 0)) as IpcError).code, 'ENOENT', 'no segment was made');
      }
      const shm = SharedMemory.openOrCreate({ key, size: 4096, autoRemove: false });
      defer(() => removeSegment(shm.id));
      defer(() => shm[Symbol.dispose]());
      using again = SharedMemory.openOrCreate({ key, size: 4096 });
      assert.equal(again.id, shm.id, 'autoRemove: false is the default');
    });
  });

  it('refuses key IPC_PRIVATE (0), which makes a new segment for every caller, before making anything; open names it too', async () => {
    const before = usedSegments();
    for (const key of [IPC_PRIVATE, 0]) {
      const error = thrown(() => SharedMemory.openOrCreate({ key, size: 4096 })) as RangeError & { code: string };
      assert.ok(error instanceof RangeError, `expected a RangeError, got ${String(error)}`);
      assert.equal(error.code, 'ERR_OUT_OF_RANGE');
      assert.match(
        error.message,
        /"options\.key" is out of range\. It must be a key other than IPC_PRIVATE \(0\), which makes a new segment for every caller/,
      );
      const opening = thrown(() => SharedMemory.open({ key })) as RangeError & { code: string };
      assert.equal(opening.code, 'ERR_OUT_OF_RANGE', String(opening));
      assert.match(
        opening.message,
        /"options\.key" is out of range\. It must be a key other than IPC_PRIVATE \(0\), which finds no segment: open a private segment by its id/,
      );
    }
    assert.equal(usedSegments(), before, 'no segment was made');
  });

  it('refuses with EINVAL to open an existing segment smaller than the size asked, as shmget does', async () => {
    const key = uniqueKey();
    await withShm({ key, size: 4096 }, () => {
      const error = thrown(() => SharedMemory.openOrCreate({ key, size: 8192 }));
      assert.ok(error instanceof IpcError, `expected an IpcError, got ${String(error)}`);
      assert.equal(error.code, 'EINVAL');
      assert.equal(error.syscall, 'shmget');
    });
  });
});

describe('reading and writing', () => {
  it('write puts bytes, strings (UTF-8), ArrayBuffers and views at an offset and returns the byte count', async () => {
    await withShm({ size: 64 }, (shm) => {
      assert.equal(shm.write(0, new Uint8Array([1, 2, 3])), 3);
      assert.equal(shm.write(3, 'é'), 2);
      assert.equal(shm.write(5, new Uint8Array([9, 8]).buffer), 2);
      const words = new Uint16Array([0x0101, 0x0202, 0x0303]);
      assert.equal(shm.write(7, words.subarray(1)), 4, 'a view writes only its own bytes');
      assert.equal(shm.write(11, new DataView(new Uint8Array([7, 7, 7]).buffer, 1)), 2);
      assert.equal(shm.write(64, ''), 0, 'nothing at the very end');
      assert.deepEqual(Array.from(shm.read(0, 13)), [1, 2, 3, 0xc3, 0xa9, 9, 8, 2, 2, 3, 3, 7, 7]);
    });
  });

  it('write refuses data that would run past the end and changes nothing', async () => {
    await withShm({ size: 16 }, (shm) => {
      shm.write(0, new Uint8Array(16).fill(0xee));
      const tooLong = thrown(() => shm.write(10, new Uint8Array(7)));
      assert.ok(tooLong instanceof RangeError);
      assert.match(tooLong.message, /"length"/);
      const pastEnd = thrown(() => shm.write(17, ''));
      assert.ok(pastEnd instanceof RangeError);
      assert.match(pastEnd.message, /"offset"/);
      assert.ok(thrown(() => shm.write(-1, 'x')) instanceof RangeError);
      assert.ok(thrown(() => shm.write(0, 42 as unknown as string)) instanceof TypeError);
      assert.ok(
        shm.read().every((b) => b === 0xee),
        'not one byte was written',
      );
    });
  });

  it('read copies: the whole segment by default, a range when asked; changing the copy changes nothing', async () => {
    await withShm({ size: 32 }, (shm) => {
      shm.write(0, 'abcdefgh');
      const all = shm.read();
      assert.equal(all.length, 32);
      const part = shm.read(2, 3);
      assert.equal(Buffer.from(part).toString(), 'cde');
      part[0] = 0x21;
      assert.equal(Buffer.from(shm.read(2, 1)).toString(), 'c');
      assert.equal(shm.read(32).length, 0);
      assert.ok(thrown(() => shm.read(30, 3)) instanceof RangeError);
      assert.ok(thrown(() => shm.read(33)) instanceof RangeError);
    });
  });

  it('bytes is one Uint8Array over the segment itself, and buffer the ArrayBuffer under it', async () => {
    await withShm({ key: uniqueKey(), size: 4096 }, (shm) => {
      assert.equal(shm.bytes, shm.bytes);
      assert.equal(shm.bytes.buffer, shm.buffer);
      assert.equal(shm.bytes.length, 4096);
      using other = SharedMemory.open({ id: shm.id });
      shm.bytes[100] = 42;
      assert.equal(other.bytes[100], 42);
      other.bytes[101] = 43;
      assert.equal(shm.bytes[101], 43);
      assert.equal(shm.read(101, 1)[0], 43);
    });
  });
});

describe('stat, remove, detach and dispose', () => {
  it('remove marks the segment: it stays usable, cannot be opened by key, and goes after the last detach', async () => {
    const key = uniqueKey();
    await withCleanup((defer) => {
      const shm = SharedMemory.create({ key, size: 4096 });
      defer(() => removeSegment(shm.id));
      defer(() => shm[Symbol.dispose]());
      shm.remove();
      assert.equal(shm.stat().shm_perm.mode & SHM_DEST, SHM_DEST);
      assert.throws(() => SharedMemory.open({ key }), { code: 'ENOENT' });
      shm.write(0, 'still usable');
      assert.equal(Buffer.from(shm.read(0, 12)).toString(), 'still usable');
      shm.detach();
      assert.equal(segmentExists(shm.id), false);
    });
  });

  it('detach empties every view and makes read, write and bytes throw ERR_SHM_DETACHED; the segment stays', async () => {
    await withShm({ key: uniqueKey(), size: 4096 }, (shm) => {
      const bytes = shm.bytes;
      shm.detach();
      assert.equal(shm.detached, true);
      assert.equal(shm.size, 0);
      assert.equal(bytes.length, 0);
      assert.equal(nattch(shm.id), 0);
      assertStateError(() => shm.read(), 'ERR_SHM_DETACHED');
      assertStateError(() => shm.write(0, 'x'), 'ERR_SHM_DETACHED');
      assertStateError(() => shm.bytes, 'ERR_SHM_DETACHED');
      assertStateError(() => shm.detach(), 'ERR_SHM_DETACHED');
      assert.ok(segmentExists(shm.id), 'detaching does not remove');
    });
  });

  it('`using` detaches at the end of the block, also when the block throws, and does not remove', async () => {
    const key = uniqueKey();
    await withCleanup((defer) => {
      let id = -1;
      {
        using shm = SharedMemory.create({ key, size: 4096 });
        id = shm.id;
        defer(() => removeSegment(id));
        assert.equal(nattch(id), 1);
      }
      assert.equal(nattch(id), 0);
      assert.ok(segmentExists(id));
      let inside: SharedMemory | undefined;
      assert.throws(() => {
        using shm = SharedMemory.open({ key });
        inside = shm;
        assert.equal(nattch(id), 1);
        throw new Error('boom');
      }, /boom/);
      assert.equal(inside?.detached, true);
      assert.equal(nattch(id), 0);
    });
  });
});

describe('segments that go by themselves', () => {
  // The child attaches by id, says so in byte 0, waits (bounded) until it is the
  // only one attached, reports, and kills itself with SIGKILL.
  const HOLDER = `
    import { SharedMemory, shmctl, IPC_STAT } from 'SHMKIT';
    import { writeSync } from 'node:fs';
    const id = Number(process.argv[1]);
    // Kept: this attachment is the holder the test is about. shm is not used after the next
    // line, and optimised code may drop it; the collector then detaches it before the creator.
    const shm = (globalThis.shm = SharedMemory.open({ id }));
    shm.bytes[0] = 1;
    const nattch = () => shmctl(id, IPC_STAT).shm_nattch;
    for (let i = 0; i < 5000 && nattch() !== 1; i++) await new Promise((r) => setTimeout(r, 2));
    const ds = shmctl(id, IPC_STAT);
    writeSync(1, JSON.stringify({ nattch: ds.shm_nattch, dest: (ds.shm_perm.mode & 0o1000) !== 0 }) + '\\n');
    process.kill(process.pid, 'SIGKILL');
  `;

  async function killedHolderOutlivesCreator(shm: SharedMemory): Promise<void> {
    const id = shm.id;
    const view = shm.bytes;
    const child = runNode(HOLDER, [String(id)], { timeoutMs: 60_000 });
    await waitFor('the child to attach', () => view[0] === 1);
    shm.detach();
    const result = await child;
    assert.equal(result.signal, 'SIGKILL', `the child was killed by SIGKILL\n${result.stderr}`);
    assert.deepEqual(lastJson(result), { nattch: 1, dest: true }, 'after our detach only the child held it');
    await waitFor('the segment to go', () => !segmentExists(id));
  }

  it('autoRemove: a keyed segment goes after the last detach, even when the last holder is SIGKILLed', async () => {
    const key = uniqueKey();
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ key, size: 4096, autoRemove: true });
      defer(() => removeSegment(shm.id));
      defer(() => shm[Symbol.dispose]());
      assert.equal(shm.key, key);
      assert.equal(shm.stat().shm_perm.mode, SHM_DEST | 0o600);
      await killedHolderOutlivesCreator(shm);
    });
  });

  it('a segment made without key or path is private and goes after the last detach, even after SIGKILL', async () => {
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ size: 4096 });
      defer(() => removeSegment(shm.id));
      defer(() => shm[Symbol.dispose]());
      assert.equal(shm.key, IPC_PRIVATE);
      assert.equal(shm.stat().shm_perm.mode & SHM_DEST, SHM_DEST);
      await killedHolderOutlivesCreator(shm);
    });
  });

  it('autoRemove with only this process: gone on detach', () => {
    const shm = SharedMemory.create({ key: uniqueKey(), size: 100, autoRemove: true });
    try {
      shm.detach();
      assert.equal(segmentExists(shm.id), false);
    } finally {
      removeSegment(shm.id);
    }
  });

  it('the C-faithful shmget(IPC_PRIVATE) does not remove anything on its own', () => {
    const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
    try {
      const a = shmat(id);
      shmdt(a);
      assert.ok(segmentExists(id), 'a private segment from shmget stays until IPC_RMID, as in C');
    } finally {
      removeSegment(id);
    }
  });
});
