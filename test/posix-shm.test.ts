// POSIX shared memory by name: PosixSharedMemory and the C-faithful
// shm_open/mmap, across real processes (Node children and C programs using
// shm_open + mmap), with C's errors, safe defaults and struct views.
import assert from 'node:assert/strict';
import { closeSync, constants as fsConstants, fstatSync, ftruncateSync, openSync, readdirSync } from 'node:fs';
import { constants as os } from 'node:os';
import { after, describe, it } from 'node:test';
import { getSystemErrorName } from 'node:util';
import {
  IpcError,
  MAP_PRIVATE,
  MAP_SHARED,
  Mapping,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  PosixSharedMemory,
  type StateError,
  char,
  float64,
  int32,
  mmap,
  munmap,
  shm_open,
  shm_unlink,
  struct,
} from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertExitedCleanly, isRoot, lastJson, run, runNode, SHMKIT } from './helpers/processes.js';
import { startNode } from './helpers/namespaces.js';
import { peer } from './helpers/peer.js';
import { cleanUpPosixNames, shmExists, uniqueName, unlinkQuietly } from './helpers/posix.js';
import { BECOME_NOBODY, thrown } from './helpers/shm.js';

cleanUpPosixNames();

/**
 * The children that need another process, not a new one (openOrCreate's
 * second caller, the create with mode -0, the struct writer), run in turn in
 * one (3 processes -> 1); those that exit or become nobody keep their own.
 */
const other = peer();
after(() => other.end());

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).replace(/\0.*$/s, '');

// peer create NAME SIZE MODE TEXT: creates NAME (O_EXCL) with MODE exactly (umask 0), sizes it, writes TEXT at 0.
// peer open NAME: maps all of NAME, prints its size and the string at 0, writes "hello from C" at 4096.
const C_PEER = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define die(what) do { perror(what); exit(1); } while (0)
int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "create") == 0) {
    umask(0);
    size_t size = strtoul(argv[3], NULL, 0);
    int fd = shm_open(argv[2], O_RDWR | O_CREAT | O_EXCL, (mode_t)strtoul(argv[4], NULL, 8));
    if (fd == -1) die("shm_open");
    if (ftruncate(fd, (off_t)size) == -1) die("ftruncate");
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    strcpy(p, argv[5]);
    if (munmap(p, size) == -1) die("munmap");
    close(fd);
    printf("{\\"created\\":true}\\n");
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "open") == 0) {
    int fd = shm_open(argv[2], O_RDWR, 0);
    if (fd == -1) die("shm_open");
    struct stat st;
    if (fstat(fd, &st) == -1) die("fstat");
    char *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    close(fd);
    printf("{\\"size\\":%ld,\\"mode\\":%u,\\"text\\":\\"%s\\"}\\n", (long)st.st_size, (unsigned)(st.st_mode & 0777), p);
    strcpy(p + 4096, "hello from C");
    munmap(p, (size_t)st.st_size);
    return 0;
  }
  return 2;
}
`;

describe('PosixSharedMemory with C programs', () => {
  it('a C program opens a Node-created name with shm_open + mmap, reads what Node wrote, and Node sees its write', async () => {
    const peer = await compileC('posix-peer', C_PEER);
    const name = uniqueName('c-open');
    const shm = PosixSharedMemory.create({ name, size: 8192 });
    try {
      shm.write(0, 'hello from node');
      const result = await run(peer, ['open', name]);
      assertExitedCleanly(result, 'C peer');
      assert.deepEqual(lastJson(result), { size: 8192, mode: 0o600, text: 'hello from node' });
      assert.equal(text(shm.read(4096, 32)), 'hello from C');
    } finally {
      shm.detach();
      unlinkQuietly(name);
    }
  });

  it('Node opens a name a C program created and left behind, with its size and mode, then unlinks it', async () => {
    const peer = await compileC('posix-peer', C_PEER);
    const name = uniqueName('c-create');
    try {
      const result = await run(peer, ['create', name, '5000', '640', 'made by C']);
      assertExitedCleanly(result, 'C peer');
      using shm = PosixSharedMemory.open({ name });
      assert.equal(shm.size, 5000);
      assert.equal(shm.name, name);
      assert.equal(text(shm.read(0, 64)), 'made by C');
      assert.equal(shm.stat().mode & 0o777, 0o640);
      shm.unlink();
      assert.equal(shmExists(name), false);
      // Unlinked, still mapped: the memory stays until the mapping goes.
      shm.write(0, 'still here');
      assert.equal(text(shm.read(0, 16)), 'still here');
    } finally {
      unlinkQuietly(name);
    }
  });
});

/** glibc 2.34 and later take names of NAME_MAX (255) bytes; older ones stop at 253. */
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
const [glibcMajor = 0, glibcMinor = 0] = (glibc ?? '').split('.').map(Number);
const longNames = glibcMajor > 2 || (glibcMajor === 2 && glibcMinor >= 34);

describe('names as long as C takes them', () => {
  /** A fresh name of exactly NAME_MAX (255) bytes after the slash. */
  function longestName(): string {
    const fixed = `shmkit-test--${process.pid}-00000000`.length;
    const name = uniqueName(`long${'n'.repeat(255 - fixed - 4)}`);
    assert.equal(Buffer.byteLength(name) - 1, 255);
    return name;
  }

  it('a name of 255 bytes (NAME_MAX) that a C program created opens, and one Node creates C opens', {
    skip: !longNames && `glibc ${glibc}`,
  }, async () => {
    const peer = await compileC('posix-peer', C_PEER);
    const fromC = longestName();
    const result = await run(peer, ['create', fromC, '5000', '600', 'long name from C']);
    assertExitedCleanly(result, 'C peer');
    {
      using shm = PosixSharedMemory.open({ name: fromC });
      assert.equal(text(shm.read(0, 64)), 'long name from C');
      shm.unlink();
    }
    const fromNode = longestName();
    using shm = PosixSharedMemory.create({ name: fromNode, size: 8192 });
    try {
      shm.write(0, 'long name from Node');
      const opened = await run(peer, ['open', fromNode]);
      assertExitedCleanly(opened, 'C peer');
      assert.deepEqual(lastJson(opened), { size: 8192, mode: 0o600, text: 'long name from Node' });
    } finally {
      shm.unlink();
    }
    const tooLong = thrown(() => PosixSharedMemory.create({ name: `${fromNode}x`, size: 10 })) as RangeError & { code: string };
    assert.equal(tooLong.code, 'ERR_OUT_OF_RANGE');
    assert.match(tooLong.message, /name\.length.* 1 to 255 bytes .*Received 256/);
  });
});

describe('PosixSharedMemory across Node processes', () => {
  it("a child maps the same name and each sees the other's writes while both are mapped", async () => {
    const name = uniqueName('child');
    const shm = PosixSharedMemory.create({ name, size: 4096 });
    const child = startNode(
      `
      import { PosixSharedMemory } from 'SHMKIT';
      import { createInterface } from 'node:readline';
      const shm = PosixSharedMemory.open({ name: process.argv[1] });
      const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
      console.log(JSON.stringify({ size: shm.size }));
      await lines.next();
      console.log(JSON.stringify({ seen: new TextDecoder().decode(shm.read(0, 4)) }));
      shm.write(100, 'pong');
      console.log('written');
      await lines.next();
      shm.detach();
      process.exit(0);
    `,
      [name],
    );
    try {
      assert.deepEqual(await child.json(), { size: 4096 });
      shm.write(0, 'ping');
      child.send('go');
      assert.deepEqual(await child.json(), { seen: 'ping' });
      assert.equal(await child.line(), 'written');
      assert.equal(text(shm.read(100, 8)), 'pong');
      child.send('end');
      assertExitedCleanly(await child.exited, 'child');
    } finally {
      await child.kill();
      shm.detach();
      unlinkQuietly(name);
    }
  });

  it('openOrCreate creates once; a second caller gets the same memory; a smaller existing object is EINVAL', async () => {
    const name = uniqueName('ooc');
    try {
      using first = PosixSharedMemory.openOrCreate({ name, size: 4096 });
      first.write(0, 'first');
      const result = await other.run(
        `
        import { PosixSharedMemory } from 'SHMKIT';
        const shm = PosixSharedMemory.openOrCreate({ name: process.argv[1], size: 4096 });
        let small;
        try { PosixSharedMemory.openOrCreate({ name: process.argv[1], size: 8192 }); } catch (e) { small = e.code; }
        console.log(JSON.stringify({ text: new TextDecoder().decode(shm.read(0, 5)), size: shm.size, small }));
        shm.detach();
      `,
        [name],
      );
      assertExitedCleanly(result, 'child');
      assert.deepEqual(lastJson(result), { text: 'first', size: 4096, small: 'EINVAL' });
    } finally {
      unlinkQuietly(name);
    }
  });

  it('a child opening an object whose mode denies its user gets EACCES; the default mode is 0600 and a given mode is exact', {
    skip: !isRoot && 'needs root to run a child as nobody',
  }, async () => {
    const name = uniqueName('eacces');
    const open = uniqueName('mode');
    try {
      using shm = PosixSharedMemory.create({ name, size: 4096 });
      assert.equal(shm.stat().mode & 0o777, 0o600);
      const previous = process.umask(0o077);
      try {
        using wide = PosixSharedMemory.create({ name: open, size: 4096, mode: 0o644 });
        assert.equal(wide.stat().mode & 0o777, 0o644, 'the mode asked for, not filtered by the umask');
      } finally {
        process.umask(previous);
      }
      const result = await runNode(
        `
        import { PosixSharedMemory } from 'SHMKIT';
        ${BECOME_NOBODY}
        const out = {};
        try { PosixSharedMemory.open({ name: process.argv[1] }); } catch (e) { out.denied = [e.code, e.syscall, e.message.includes(process.argv[1])]; out.deniedMessage = e.message; }
        const ro = PosixSharedMemory.open({ name: process.argv[2], readOnly: true });
        out.readable = ro.size;
        ro.detach();
        try { PosixSharedMemory.open({ name: process.argv[2] }); } catch (e) { out.writeDenied = e.code; out.writeDeniedMessage = e.message; }
        console.log(JSON.stringify(out));
      `,
        [name, open],
      );
      assertExitedCleanly(result, 'child as nobody');
      const { deniedMessage, writeDeniedMessage, ...out } = lastJson<Record<string, unknown>>(result);
      assert.deepEqual(out, { denied: ['EACCES', 'shm_open', true], readable: 4096, writeDenied: 'EACCES' });
      // The hint gives the facts: owner, mode, who the child is, which bits apply; read-only access where reading is allowed.
      const owner = `owned by uid ${process.geteuid!()} \\(gid ${process.getegid!()}\\)`;
      assert.match(
        String(deniedMessage),
        new RegExp(
          `${owner} with mode 0600; this process is euid 65534 \\(egid 65534\\), so the other bits apply and grant nothing: run as its owner`,
        ),
      );
      assert.doesNotMatch(String(deniedMessage), /open it read-only/);
      assert.match(
        String(writeDeniedMessage),
        /with mode 0644; .*the other bits apply and grant read only: .*; or open it read-only \(O_RDONLY; readOnly: true\)/,
      );
    } finally {
      unlinkQuietly(name);
      unlinkQuietly(open);
    }
  });
});

describe('PosixSharedMemory errors', () => {
  it('create of a taken name is EEXIST and open of a missing one ENOENT, naming the call and the name', () => {
    const name = uniqueName('errors');
    try {
      using shm = PosixSharedMemory.create({ name, size: 100 });
      const exists = thrown(() => PosixSharedMemory.create({ name, size: 100 })) as IpcError;
      assert.ok(exists instanceof IpcError);
      assert.equal(exists.code, 'EEXIST');
      assert.equal(exists.syscall, 'shm_open');
      assert.match(exists.message, new RegExp(`shm_open: EEXIST .*${name}`));
      assert.ok(
        exists.message.includes(`open it instead (PosixSharedMemory.open or PosixSharedMemory.openOrCreate({ name: '${name}', size }))`),
        exists.message,
      );
      assert.ok(exists.message.includes(`PosixSharedMemory.unlink('${name}'), or rm /dev/shm${name}`), exists.message);
      assert.equal(shm.size, 100, 'the existing object is untouched');
      shm.unlink();
      const missing = thrown(() => PosixSharedMemory.open({ name })) as IpcError;
      assert.equal(missing.code, 'ENOENT');
      assert.equal(missing.errno, -os.errno.ENOENT, "negative, as in Node's system errors");
      assert.equal(missing.cErrno, os.errno.ENOENT);
      assert.equal(getSystemErrorName(missing.errno), 'ENOENT');
      assert.match(
        missing.message,
        new RegExp(`^shm_open: ENOENT .*nothing has created ${name} in /dev/shm .*PosixSharedMemory\\.openOrCreate`),
      );
      assert.equal((thrown(() => PosixSharedMemory.unlink(name)) as IpcError).code, 'ENOENT');
      assert.equal((thrown(() => shm.unlink()) as IpcError).code, 'ENOENT');
    } finally {
      unlinkQuietly(name);
    }
  });

  it('names are checked before any call: one leading slash, no other slash, 1 to 255 bytes, well-formed Unicode', () => {
    // A lone surrogate would go to the kernel as U+FFFD: '/\uD800' and '/\uDFFF' would name one object.
    for (const bad of [
      'noslash',
      '/a/b',
      '/',
      '//x',
      '/.',
      '/..',
      'x\0y',
      `/${'n'.repeat(256)}`,
      `/${'é'.repeat(128)}`,
      '/\uD800',
      '/a\uDFFFb',
    ]) {
      const error = thrown(() => PosixSharedMemory.create({ name: bad, size: 10 })) as Error & { code: string };
      assert.ok(error instanceof TypeError || error instanceof RangeError, bad);
      assert.match(error.code, /^ERR_(INVALID_ARG_VALUE|OUT_OF_RANGE)$/, bad);
      assert.match(error.message, /name/);
    }
    assert.equal(
      (thrown(() => PosixSharedMemory.open({ name: 7 as unknown as string })) as Error & { code: string }).code,
      'ERR_INVALID_ARG_TYPE',
    );
    assert.equal((thrown(() => shm_open('/\uD800', O_RDONLY)) as Error & { code: string }).code, 'ERR_INVALID_ARG_VALUE');
    assert.equal(
      (thrown(() => PosixSharedMemory.createAnonymous({ name: 'x\uD800', size: 10 })) as Error & { code: string }).code,
      'ERR_INVALID_ARG_VALUE',
    );
    assert.equal((thrown(() => shm_open('/x', 0o4000_0000, 0)) as Error & { code: string }).code, 'ERR_OUT_OF_RANGE');
    assert.equal((thrown(() => PosixSharedMemory.create({ name: '/ok', size: 0 })) as Error & { code: string }).code, 'ERR_OUT_OF_RANGE');
    assert.equal((thrown(() => PosixSharedMemory.create({ name: '/ok', size: -1 })) as Error & { code: string }).code, 'ERR_OUT_OF_RANGE');
    assert.equal(
      (thrown(() => PosixSharedMemory.create({ name: '/ok', size: 10, mode: 0o1777 })) as Error & { code: string }).code,
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(shmExists('/ok'), false);
  });

  it("readOnly must be a boolean: 1 or 'yes' is a TypeError naming it, never a writable mapping", () => {
    const name = uniqueName('ro-type');
    using shm = PosixSharedMemory.create({ name, size: 4096 });
    try {
      for (const bad of [1, 'yes']) {
        for (const attempt of [
          () => PosixSharedMemory.open({ name, readOnly: bad as never }),
          () => PosixSharedMemory.openOrCreate({ name, size: 4096, readOnly: bad as never }),
        ]) {
          const error = thrown(attempt) as TypeError & { code: string };
          assert.equal(error.code, 'ERR_INVALID_ARG_TYPE', String(error));
          assert.match(error.message, /"options\.readOnly" argument must be of type boolean/);
        }
      }
      using opened = PosixSharedMemory.open({ name, readOnly: true });
      assert.equal(opened.readOnly, true);
    } finally {
      shm.unlink();
    }
  });

  it('an object nobody has sized yet cannot be opened (EINVAL), and a failed create leaves no name behind', () => {
    const name = uniqueName('unsized');
    const fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0o600);
    try {
      const error = thrown(() => PosixSharedMemory.open({ name })) as IpcError;
      assert.equal(error.code, 'EINVAL');
      assert.match(error.message, /size 0/);
    } finally {
      closeSync(fd);
      shm_unlink(name);
    }
    // More than the machine has: refused before the reservation (ENOMEM), which
    // would not fail but have the OOM killer make room. A memfd has no size
    // limit that would refuse it first, as /dev/shm's may.
    const huge = uniqueName('huge');
    const fds = readdirSync('/proc/self/fd').length;
    const error = thrown(() => PosixSharedMemory.create({ name: huge, size: 2 ** 50 })) as IpcError;
    assert.ok(error instanceof IpcError, String(error));
    assert.ok(['ENOMEM', 'EFBIG', 'EINVAL'].includes(error.code), error.code);
    assert.equal(shmExists(huge), false);
    const anonymous = thrown(() => PosixSharedMemory.createAnonymous({ size: 2 ** 50 })) as IpcError;
    assert.ok(anonymous instanceof IpcError, String(anonymous));
    assert.equal(anonymous.code, 'ENOMEM');
    assert.equal(anonymous.syscall, 'createAnonymous', 'shmkit refused, before any fallocate');
    assert.match(anonymous.message, /size 1125899906842624: more memory than this machine can give now/);
    assert.equal(readdirSync('/proc/self/fd').length, fds, 'no descriptor left open');
  });

  it('a mode of -0 (an integer from 0 to 0o777) creates mode 0 and does not abort the process', async () => {
    // Node's fchmodSync aborts the process (a failed assertion, SIGABRT) on a mode of -0: run it in another (the peer).
    const name = uniqueName('minus-zero');
    try {
      const result = await other.run(
        `
        import { PosixSharedMemory } from 'SHMKIT';
        const shm = PosixSharedMemory.create({ name: process.argv[1], size: 4096, mode: -0 });
        console.log(JSON.stringify({ mode: shm.stat().mode & 0o777 }));
        shm.detach();
      `,
        [name],
      );
      assertExitedCleanly(result, 'the child creating with mode -0');
      assert.deepEqual(lastJson(result), { mode: 0 });
    } finally {
      unlinkQuietly(name);
    }
  });
});

describe('C-faithful shm_open, mmap, munmap, shm_unlink', () => {
  it('port the textbook program: shm_open, ftruncate, mmap shared, write, munmap, shm_unlink', async () => {
    const name = uniqueName('faithful');
    const fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600);
    try {
      ftruncateSync(fd, 4096);
      const mapping = mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      assert.ok(mapping instanceof Mapping);
      assert.equal(mapping.byteLength, 4096);
      assert.equal(typeof mapping.address, 'bigint');
      closeSync(fd); // as in C, the mapping outlives the descriptor
      new Uint8Array(mapping.buffer).set(new TextEncoder().encode('faithful'));
      const ro = shm_open(name, O_RDONLY);
      const view = mmap(null, 4096, PROT_READ, MAP_SHARED, ro, 0);
      closeSync(ro);
      assert.equal(text(view.read(0, 16)), 'faithful');
      assert.equal(view.readOnly, true);
      assert.equal((thrown(() => view.buffer) as StateError).code, 'ERR_SHM_READ_ONLY');
      munmap(view);
      munmap(mapping);
      assert.equal(mapping.byteLength, 0);
      assert.equal((thrown(() => munmap(mapping)) as IpcError).code, 'EINVAL');
      // A private mapping is this process's copy.
      const again = shm_open(name, O_RDONLY);
      const priv = mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, again, 0);
      closeSync(again);
      new Uint8Array(priv.buffer)[0] = 0x46;
      const check = PosixSharedMemory.open({ name, readOnly: true });
      assert.equal(text(check.read(0, 16)), 'faithful');
      check.detach();
      munmap(priv);
    } finally {
      shm_unlink(name);
    }
    assert.equal(shmExists(name), false);
  });

  it('mmap refuses before any call what C would let fault: ranges past the end, PROT_NONE, an address; and names bad descriptors', () => {
    const name = uniqueName('mmap-args');
    const fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600);
    try {
      ftruncateSync(fd, 4096);
      const code = (fn: () => unknown) => (thrown(fn) as Error & { code: string }).code;
      assert.equal(
        code(() => mmap(null, 8192, PROT_READ, MAP_SHARED, fd, 0)),
        'ERR_OUT_OF_RANGE',
      );
      assert.equal(
        code(() => mmap(null, 4096, PROT_READ, MAP_SHARED, fd, 4096)),
        'ERR_OUT_OF_RANGE',
      );
      assert.equal(
        code(() => mmap(null, 4096, 0, MAP_SHARED, fd, 0)),
        'ERR_OUT_OF_RANGE',
      );
      assert.equal(
        code(() => mmap(null, 4096, PROT_WRITE, MAP_SHARED, fd, 0)),
        'ERR_OUT_OF_RANGE',
      );
      assert.equal(
        code(() => mmap(0x1000 as unknown as null, 4096, PROT_READ, MAP_SHARED, fd, 0)),
        'ERR_OUT_OF_RANGE',
      );
      assert.equal(
        code(() => mmap(null, 4096, PROT_READ, 0, fd, 0)),
        'ERR_OUT_OF_RANGE',
      );
      assert.equal(
        code(() => mmap(null, 100, PROT_READ, MAP_SHARED, fd, 1)),
        'EINVAL',
      );
      assert.equal(
        code(() => munmap({} as Mapping)),
        'ERR_INVALID_ARG_TYPE',
      );
      const procFile = openSync('/proc/self/status', 'r');
      try {
        assert.equal(
          code(() => mmap(null, 1, PROT_READ, MAP_SHARED, procFile, 0)),
          'ERR_OUT_OF_RANGE',
        );
      } finally {
        closeSync(procFile);
      }
      const dir = openSync('/dev/shm', 'r');
      try {
        assert.equal(
          code(() => mmap(null, 1, PROT_READ, MAP_SHARED, dir, 0)),
          'ENODEV',
        );
      } finally {
        closeSync(dir);
      }
      const ro = shm_open(name, O_RDONLY);
      try {
        const denied = thrown(() => mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0)) as IpcError;
        assert.equal(denied.code, 'EACCES');
        assert.equal(denied.syscall, 'mmap');
        assert.match(denied.message, new RegExp(`fd ${ro}`));
      } finally {
        closeSync(ro);
      }
      const closed = fd + 1000;
      const fsError = thrown(() => fstatSync(closed)) as NodeJS.ErrnoException;
      const badf = thrown(() => mmap(null, 4096, PROT_READ, MAP_SHARED, closed, 0)) as IpcError;
      assert.ok(badf instanceof IpcError);
      assert.equal(badf.code, 'EBADF');
      assert.equal(badf.syscall, 'mmap');
      assert.equal(badf.errno, fsError.errno, "the fs error's own errno, negative as Node has it");
      assert.equal(badf.errno, -os.errno.EBADF);
    } finally {
      closeSync(fd);
      shm_unlink(name);
    }
  });
});

describe('struct views over POSIX memory', () => {
  const Sample = struct({ pid: int32, value: float64, label: char(16) });

  it('a child writes a struct through a view; the parent reads it through its own; a read-only mapping reads but refuses writes', async () => {
    const name = uniqueName('struct');
    try {
      using shm = PosixSharedMemory.create({ name, size: 4096 });
      const view = Sample.view(shm, 64);
      view.value = 1.5;
      const result = await other.run(
        `
        import { PosixSharedMemory, struct, int32, float64, char } from 'SHMKIT';
        const Sample = struct({ pid: int32, value: float64, label: char(16) });
        const shm = PosixSharedMemory.open({ name: process.argv[1] });
        const view = Sample.view(shm, 64);
        const seen = view.value;
        view.pid = process.pid;
        view.value = seen * 2;
        view.label = 'from child';
        shm.detach();
        console.log(JSON.stringify({ pid: process.pid }));
      `,
        [name],
      );
      assertExitedCleanly(result, 'child');
      const { pid } = lastJson<{ pid: number }>(result);
      assert.deepEqual(Sample.read(shm, 64), { pid, value: 3, label: 'from child' });
      using ro = PosixSharedMemory.open({ name, readOnly: true });
      const roView = Sample.view(ro, 64);
      assert.equal(roView.label, 'from child');
      const error = thrown(() => {
        roView.pid = 1;
      }) as StateError;
      assert.equal(error.code, 'ERR_SHM_READ_ONLY');
      assert.match(error.message, /read-only/);
      assert.equal((thrown(() => Sample.write(ro, { pid: 1, value: 0, label: '' }, 64)) as StateError).code, 'ERR_SHM_READ_ONLY');
      ro.detach();
      assert.equal((thrown(() => roView.label) as StateError).code, 'ERR_SHM_DETACHED');
      assert.equal(view.pid, pid, 'the writable mapping is untouched by the other detach');
    } finally {
      unlinkQuietly(name);
    }
  });
});

describe('PosixSharedMemory messages say what refused and why', () => {
  it('sizes: -1 and 0 get the same words; a memfd name too long is options.name.length', () => {
    const words = (size: number) => (thrown(() => PosixSharedMemory.createAnonymous({ size })) as Error).message;
    assert.match(words(0), /"options\.size" is out of range\. It must be an integer >= 1 and <= \d+\. Received 0$/);
    assert.equal(words(-1), words(0).replace('Received 0', 'Received -1'));
    const long = thrown(() => PosixSharedMemory.createAnonymous({ size: 1, name: 'x'.repeat(300) })) as Error;
    assert.match(long.message, /"options\.name\.length" is out of range/);
  });

  it('openOrCreate of an existing object smaller than asked names openOrCreate (shm_open succeeded)', () => {
    const name = uniqueName('small');
    try {
      using shm = PosixSharedMemory.create({ name, size: 100 });
      const error = thrown(() => PosixSharedMemory.openOrCreate({ name, size: 5000 })) as IpcError;
      assert.equal(error.code, 'EINVAL');
      assert.equal(error.syscall, 'openOrCreate');
      assert.match(error.message, /^openOrCreate: EINVAL .*the existing object has 100 bytes, fewer than the size 5000 asked for/);
      assert.equal(shm.size, 100);
    } finally {
      unlinkQuietly(name);
    }
  });

  it('fromFd of an O_WRONLY descriptor with readOnly: true says the descriptor must be readable, not PROT_WRITE', () => {
    const name = uniqueName('wronly');
    try {
      using shm = PosixSharedMemory.create({ name, size: 4096 });
      const fd = openSync(`/dev/shm${name}`, fsConstants.O_WRONLY);
      try {
        const error = thrown(() => PosixSharedMemory.fromFd(fd, { readOnly: true })) as IpcError;
        assert.equal(error.code, 'EACCES');
        assert.match(
          error.message,
          /PROT_READ, offset 0: the descriptor is open for writing only \(O_WRONLY\); mmap needs one that is readable/,
        );
        assert.doesNotMatch(error.message, /PROT_WRITE with MAP_SHARED/);
      } finally {
        closeSync(fd);
      }
      assert.equal(shm.size, 4096);
    } finally {
      unlinkQuietly(name);
    }
  });

  it('an object of 2^47 bytes or more is EFBIG (or, where one ArrayBuffer may be that large, ENOMEM naming the address space), its length exact past 2^53', async () => {
    for (const size of [2n ** 47n, 2n ** 53n + 1n]) {
      const name = uniqueName('vast');
      try {
        // truncate(1): Node's ftruncate takes a number, which cannot hold 2^53 + 1.
        const sized = await run('truncate', ['-s', String(size), `/dev/shm${name}`]);
        assert.equal(sized.code, 0, sized.stderr);
        const error = thrown(() => PosixSharedMemory.open({ name })) as IpcError;
        assert.ok(error instanceof IpcError, String(error));
        if (error.code === 'EFBIG') {
          assert.match(error.message, new RegExp(`^mmap: EFBIG .*${name}, length ${size}: larger than one ArrayBuffer may be`));
        } else {
          assert.ok(size < 2n ** 53n, `${size}: ${error.message}`);
          assert.equal(error.code, 'ENOMEM');
          assert.match(error.message, new RegExp(`no room in this process's address space for ${size} bytes`));
        }
      } finally {
        unlinkQuietly(name);
      }
    }
  });

  it("unlink of another user's object (mode 0666) is EACCES saying only its owner or root may remove it from sticky /dev/shm", {
    skip: !isRoot && 'needs root to run a child as nobody',
  }, async () => {
    const name = uniqueName('sticky');
    try {
      using shm = PosixSharedMemory.create({ name, size: 4096, mode: 0o666 });
      const result = await runNode(
        `
        import { PosixSharedMemory } from 'SHMKIT';
        ${BECOME_NOBODY}
        try { PosixSharedMemory.unlink(process.argv[1]); console.log(JSON.stringify('removed')); }
        catch (e) { console.log(JSON.stringify(e.code + ' ' + e.message)); }
      `,
        [name],
      );
      assertExitedCleanly(result, 'child as nobody');
      const message = lastJson<string>(result);
      assert.match(
        message,
        /^EACCES shm_unlink: EACCES .*this user may not remove it; \/dev\/shm is sticky \(mode 01777\), so only its owner \(uid 0; its mode 0666 grants reading and writing, not removal\), the directory's owner \(uid 0\) or root may remove it/,
      );
      assert.doesNotMatch(message, /grant access/);
      assert.equal(shm.stat().nlink, 1, 'still there');
    } finally {
      unlinkQuietly(name);
    }
  });

  it('shm_open on a /dev/shm out of inodes is ENOSPC with the count to check and what to do', {
    skip: !isRoot && 'needs root for a private /dev/shm',
  }, async () => {
    const script = `
      import { shm_open, O_RDWR, O_CREAT } from ${JSON.stringify(SHMKIT)};
      let outcome = 'never refused';
      try { for (let i = 0; i < 100; i++) shm_open('/inode-' + i, O_RDWR | O_CREAT, 0o600); }
      catch (e) { outcome = e.code + ' ' + e.message; }
      console.log(JSON.stringify(outcome));
    `;
    const result = await run('unshare', [
      '--ipc',
      '--mount',
      'sh',
      '-c',
      'mount -t tmpfs -o size=1m,nr_inodes=8 tmpfs /dev/shm && exec "$@"',
      'sh',
      process.execPath,
      '--input-type=module',
      '-e',
      script,
    ]);
    assertExitedCleanly(result, 'child');
    assert.match(
      lastJson<string>(result),
      /^ENOSPC shm_open: ENOSPC .*name \/inode-\d+: \/dev\/shm \(tmpfs\) has no inode left for a new object; every inode of \/dev\/shm is in use \(df -i \/dev\/shm\)/,
    );
  });
});
