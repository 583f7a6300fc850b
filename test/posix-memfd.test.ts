// Anonymous memory (memfd_create): handed to a child through spawn's stdio and
// mapped there with fromFd, and seals that make its size (or contents)
// trustworthy, refusing what they say they refuse.
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, readdirSync, writeSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  F_ADD_SEALS,
  F_GET_SEALS,
  F_SEAL_EXEC,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  type IpcError,
  MAP_SHARED,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  PROT_READ,
  PROT_WRITE,
  PosixSharedMemory,
  StateError,
  fcntl,
  memfd_create,
  mmap,
  munmap,
} from 'shmkit';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { thrown } from './helpers/shm.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).replace(/\0.*$/s, '');
const openFds = () => readdirSync('/proc/self/fd').length;
const errorCode = (fn: () => unknown) => (thrown(fn) as Error & { code: string }).code;

// The child: maps fd 3 (its inherited memfd) requiring the seals in argv[1], reads, writes, tries to resize.
const CHILD = `
import { PosixSharedMemory } from 'SHMKIT';
import { ftruncateSync } from 'node:fs';
const out = {};
try {
  const shm = PosixSharedMemory.fromFd(3, { seals: Number(process.argv[1]) });
  out.size = shm.size;
  out.seals = shm.seals;
  out.name = shm.name;
  out.text = new TextDecoder().decode(shm.read(0, 11));
  shm.write(100, 'from child');
  try { ftruncateSync(3, 1); out.shrink = 'allowed'; } catch (e) { out.shrink = e.code; }
  shm.detach();
} catch (e) {
  out.error = e.code;
  out.message = e.message;
}
console.log(JSON.stringify(out));
`;

describe('memfd memory handed to a child', () => {
  it("a child maps the memfd it got through spawn stdio with fromFd, trusts its sealed size, and both see each other's writes", async () => {
    using shm = PosixSharedMemory.createAnonymous({ size: 8192, name: 'handoff', seal: true });
    assert.equal(shm.name, null);
    assert.equal(shm.seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
    shm.write(0, 'from parent');
    const result = await runNode(CHILD, [String(F_SEAL_SHRINK | F_SEAL_GROW)], { stdio: ['pipe', 'pipe', 'pipe', shm.fd] });
    assertExitedCleanly(result, 'child');
    const out = lastJson<Record<string, unknown>>(result);
    assert.equal(out.size, 8192);
    assert.equal(out.name, null);
    assert.equal(out.text, 'from parent');
    assert.equal(out.shrink, 'EPERM', 'the sealed size cannot change, in any process');
    assert.equal((out.seals as number) & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
    assert.equal(text(shm.read(100, 16)), 'from child');
  });

  it('a child that requires seals the sender did not add gets ERR_SHM_NOT_SEALED and maps nothing', async () => {
    using shm = PosixSharedMemory.createAnonymous({ size: 4096 });
    assert.equal(shm.seals & (F_SEAL_SHRINK | F_SEAL_GROW), 0);
    const result = await runNode(CHILD, [String(F_SEAL_SHRINK)], { stdio: ['pipe', 'pipe', 'pipe', shm.fd] });
    assertExitedCleanly(result, 'child');
    const out = lastJson<Record<string, string>>(result);
    assert.equal(out.error, 'ERR_SHM_NOT_SEALED');
    assert.match(out.message!, /F_SEAL_SHRINK/);
    assert.equal(text(shm.read(100, 16)), '', 'the child wrote nothing');
    const local = thrown(() => PosixSharedMemory.fromFd(shm.fd, { seals: F_SEAL_SEAL | F_SEAL_GROW }));
    assert.ok(local instanceof StateError);
    assert.equal(local.code, 'ERR_SHM_NOT_SEALED');
  });

  it('fromFd keeps a duplicate: the caller may close its descriptor, and detach closes the duplicate', () => {
    const before = openFds();
    const sender = PosixSharedMemory.createAnonymous({ size: 4096 });
    const receiver = PosixSharedMemory.fromFd(sender.fd);
    assert.notEqual(receiver.fd, sender.fd);
    // Each object's own, and the SIGBUS guard's one for the file both map (native/sigbus.cc).
    assert.equal(openFds(), before + 3);
    sender.write(0, 'shared');
    sender.detach();
    assert.equal(text(receiver.read(0, 8)), 'shared', 'the memory lives while a mapping does');
    receiver.detach();
    assert.equal(openFds(), before);
    assert.equal(
      errorCode(() => receiver.fd),
      'ERR_SHM_DETACHED',
    );
    assert.equal(
      errorCode(() => PosixSharedMemory.fromFd(before + 100)),
      'EBADF',
    );
    assert.equal(
      errorCode(() => PosixSharedMemory.fromFd(-1)),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      errorCode(() => PosixSharedMemory.fromFd(3.5)),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(openFds(), before, 'failed calls leave no descriptor open');
  });
});

describe('seals refuse what they say', () => {
  it('createAnonymous with F_SEAL_WRITE (alone or with others): sealed before it is mapped, mapped read-only, and nobody can write', () => {
    for (const seal of [F_SEAL_WRITE, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW]) {
      using shm = PosixSharedMemory.createAnonymous({ size: 4096, seal });
      assert.equal(shm.seals & seal, seal);
      assert.equal(shm.readOnly, true);
      assert.deepEqual([...shm.read(0, 4)], [0, 0, 0, 0]);
      assert.equal(
        errorCode(() => shm.write(0, 'x')),
        'ERR_SHM_READ_ONLY',
      );
      assert.equal(
        errorCode(() => writeSync(shm.fd, 'x')),
        'EPERM',
      );
      assert.equal(
        errorCode(() => PosixSharedMemory.fromFd(shm.fd, { readOnly: false })),
        'EPERM',
      );
    }
  });

  it('F_SEAL_SHRINK and F_SEAL_GROW: ftruncate to any other size is EPERM, in this process too', () => {
    using shm = PosixSharedMemory.createAnonymous({ size: 4096, seal: true });
    assert.equal(
      errorCode(() => ftruncateSync(shm.fd, 100)),
      'EPERM',
    );
    assert.equal(
      errorCode(() => ftruncateSync(shm.fd, 8192)),
      'EPERM',
    );
    assert.equal(shm.stat().size, 4096);
  });

  it('F_SEAL_FUTURE_WRITE: write() and new writable mappings are EPERM, receivers map read-only, the sealer keeps writing', () => {
    using shm = PosixSharedMemory.createAnonymous({ size: 4096 });
    shm.write(0, 'v1');
    shm.seal(F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW);
    assert.equal(
      errorCode(() => writeSync(shm.fd, 'x')),
      'EPERM',
    );
    const denied = thrown(() => PosixSharedMemory.fromFd(shm.fd, { readOnly: false })) as IpcError;
    assert.equal(denied.code, 'EPERM');
    assert.equal(denied.syscall, 'mmap');
    assert.match(denied.message, /sealed against writing/);
    using receiver = PosixSharedMemory.fromFd(shm.fd, { seals: F_SEAL_FUTURE_WRITE });
    assert.equal(receiver.readOnly, true, 'a write-sealed memfd is mapped read-only by default');
    assert.equal(
      errorCode(() => receiver.buffer),
      'ERR_SHM_READ_ONLY',
    );
    shm.write(0, 'v2');
    assert.equal(text(receiver.read(0, 4)), 'v2');
  });

  it('F_SEAL_WRITE needs no writable mapping (EBUSY while one exists), and F_SEAL_SEAL stops further seals (EPERM)', () => {
    const fd = memfd_create('faithful', MFD_CLOEXEC | MFD_ALLOW_SEALING);
    try {
      ftruncateSync(fd, 4096);
      const writable = mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      new Uint8Array(writable.buffer).set([1, 2, 3]);
      const busy = thrown(() => fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)) as IpcError;
      assert.equal(busy.code, 'EBUSY');
      assert.equal(busy.syscall, 'fcntl');
      munmap(writable);
      assert.equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL), 0);
      assert.equal(fcntl(fd, F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_SEAL), F_SEAL_WRITE | F_SEAL_SEAL);
      assert.equal(
        errorCode(() => fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)),
        'EPERM',
      );
      assert.equal(
        errorCode(() => mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)),
        'EPERM',
      );
      using reader = PosixSharedMemory.fromFd(fd);
      assert.deepEqual([...reader.read(0, 3)], [1, 2, 3]);
    } finally {
      closeSync(fd);
    }
  });

  it('memory made without MFD_ALLOW_SEALING carries F_SEAL_SEAL and refuses seals; a file that cannot be sealed is refused with a coded error', () => {
    const fd = memfd_create('unsealable', MFD_CLOEXEC);
    try {
      assert.equal(fcntl(fd, F_GET_SEALS) & F_SEAL_SEAL, F_SEAL_SEAL);
      const error = thrown(() => fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)) as IpcError;
      assert.equal(error.code, 'EPERM');
      assert.match(error.message, /F_ADD_SEALS F_SEAL_SHRINK/);
    } finally {
      closeSync(fd);
    }
    using named = PosixSharedMemory.createAnonymous({ size: 10 });
    assert.equal(
      errorCode(() => named.unlink()),
      'ERR_SHM_NO_NAME',
    );
    assert.equal(
      errorCode(() => named.seal(0x8000)),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      errorCode(() => fcntl(named.fd, 1 /* F_GETFD */)),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      errorCode(() => PosixSharedMemory.createAnonymous({ size: 10, name: 'x'.repeat(250) })),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      errorCode(() => PosixSharedMemory.createAnonymous({ size: 10, seal: 'yes' as unknown as boolean })),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.equal(
      errorCode(() => PosixSharedMemory.createAnonymous({ size: 0 })),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(typeof F_SEAL_EXEC, 'number');
  });
});
