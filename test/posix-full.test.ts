// A full /dev/shm under an object shmkit opened but did not create: C's
// shm_open + ftruncate (and Python's SharedMemory) make objects with holes,
// whose pages get memory only when first touched. On a full tmpfs that touch
// is SIGBUS (ENOSPC in the kernel), which the SIGBUS guard used to meet with
// a private zero page, the same as a page past a shrunk end: write() said it
// wrote what no other process ever saw, and after 1024 such faults the guard
// put private zeros over the whole rest of the mapping, hiding what a C
// writer had put on a later page. Now shmkit's writes reserve their pages
// first (ENOSPC, nothing written), and a fault inside the file is recorded
// and reported by the next call. Each case runs in a child with a private
// /dev/shm of 8 MiB (unshare: root only), which goes with it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileC } from './helpers/c.js';
import { runNodeOnPrivateShm } from './helpers/shm.js';
import { assertExitedCleanly, isRoot, lastJson, SHMKIT } from './helpers/processes.js';

const skip = isRoot ? false : 'needs root for a private /dev/shm (unshare --mount)';

// mk NAME SIZE: shm_open + ftruncate, no page touched (as C and Python do).
// put NAME OFFSET TEXT: pwrite. get NAME OFFSET LENGTH: pread, printed as text.
// fill FILE: writes zeros until the file system is full.
const C_PEER = `#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  if (strcmp(argv[1], "fill") == 0) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static char zeros[65536];
    if (fd < 0) return 1;
    while (write(fd, zeros, sizeof zeros) > 0) {}
    return 0;
  }
  int fd = shm_open(argv[2], strcmp(argv[1], "mk") == 0 ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0600);
  if (fd < 0) { perror("shm_open"); return 1; }
  if (strcmp(argv[1], "mk") == 0) return ftruncate(fd, strtoll(argv[3], 0, 0)) ? 1 : 0;
  if (strcmp(argv[1], "put") == 0) return pwrite(fd, argv[4], strlen(argv[4]), strtoll(argv[3], 0, 0)) < 0;
  char buf[256] = {0};
  size_t n = strtoul(argv[4], 0, 0);
  if (n >= sizeof buf || pread(fd, buf, n, strtoll(argv[3], 0, 0)) < 0) return 1;
  for (size_t i = 0; i < n; i++) putchar(buf[i] ? buf[i] : '.');
  return 0;
}
`;

/** Runs ESM `script` in a private IPC and mount namespace whose /dev/shm is a tmpfs of 8 MiB; `PEER` in it is the C program's path. */
async function onFullShm(script: string): Promise<Record<string, unknown>> {
  const peer = await compileC('posix-full-peer', C_PEER);
  const code = `const PEER = ${JSON.stringify(peer)};\n${script.replaceAll('SHMKIT', SHMKIT)}`;
  const result = await runNodeOnPrivateShm(code, { tmpfs: 'size=8m' });
  assertExitedCleanly(result, 'child');
  return lastJson<Record<string, unknown>>(result);
}

// An object of 32 MiB with holes, a C writer's text on its last page, then /dev/shm filled.
const SETUP = `
import { execFileSync } from 'node:child_process';
const c = (...args) => execFileSync(PEER, args, { encoding: 'utf8' });
const SIZE = 32 << 20, LAST = SIZE - 4096;
c('mk', '/holes', String(SIZE));
c('put', '/holes', String(LAST), 'ZZZZZ');
c('fill', '/dev/shm/filler');
const outcome = (f) => { try { const v = f(); return v instanceof Uint8Array ? 'bytes ' + v.length : String(v); } catch (e) { return e.code + ' ' + e.syscall + ': ' + e.message; } };
`;

describe('a full /dev/shm under an object with holes', { skip }, () => {
  it('write() and a struct write reserve their pages first: ENOSPC naming the call and the range, nothing written', async () => {
    const out = await onFullShm(`
      import { PosixSharedMemory, struct, int32, uint8 } from 'SHMKIT';
      ${SETUP}
      const shm = PosixSharedMemory.open({ name: '/holes' });
      const Rec = struct({ a: int32, b: uint8 });
      const written = outcome(() => shm.write(1 << 20, new Uint8Array(1 << 20).fill(0x41)));
      const structWrite = outcome(() => Rec.write(shm, { a: 7, b: 1 }, 4 << 20));
      const view = outcome(() => Rec.view(shm, 6 << 20));
      const readBack = outcome(() => new TextDecoder().decode(shm.read(LAST, 5)));
      const cSees = c('get', '/holes', String((1 << 20) + 10), '4');
      // Once there is room again, the same write goes through and C sees it.
      execFileSync('rm', ['/dev/shm/filler']);
      const again = outcome(() => shm.write(1 << 20, 'AAAA'));
      const cSeesAfter = c('get', '/holes', String(1 << 20), '4');
      shm.detach();
      PosixSharedMemory.unlink('/holes');
      console.log(JSON.stringify({ written, structWrite, view, readBack, cSees, again, cSeesAfter }));
    `);
    assert.match(
      String(out.written),
      /^ENOSPC fallocate: .*write: \/holes, offset 1048576, length 1048576: not enough room in \/dev\/shm .*nothing was written/,
    );
    assert.match(String(out.structWrite), /^ENOSPC fallocate: .*write: \/holes, offset 4194304, length 8: /);
    assert.match(String(out.view), /^ENOSPC fallocate: .*view: \/holes, offset 6291456, length 8: /);
    assert.equal(out.readBack, 'ZZZZZ', 'the refusals left the mapping intact');
    assert.equal(out.cSees, '....', 'nothing of the refused write reached the object');
    assert.equal(out.again, '4');
    assert.equal(out.cSeesAfter, 'AAAA');
  });

  it('a write through bytes that faults is reported by the next call (ENOSPC, the offset), and a later page keeps what a C writer put there', async () => {
    const out = await onFullShm(`
      import { PosixSharedMemory, struct, int32 } from 'SHMKIT';
      ${SETUP}
      const shm = PosixSharedMemory.open({ name: '/holes' });
      const bytes = shm.bytes;
      // 8 MiB, 2048 pages: every one faults (more than the 1024 after which the guard used to give up on the rest of the mapping).
      bytes.fill(0x42, 0, 8 << 20);
      const lastPageHere = new TextDecoder().decode(bytes.subarray(LAST, LAST + 5));
      const read = outcome(() => shm.read(0, 1));
      const write = outcome(() => shm.write(0, 'x'));
      const getBytes = outcome(() => shm.bytes);
      const view = outcome(() => struct({ a: int32 }).view(shm, 0));
      const detach = outcome(() => shm.detach());
      const cLastPage = c('get', '/holes', String(LAST), '5');
      const cFirstPage = c('get', '/holes', '0', '1');
      PosixSharedMemory.unlink('/holes');
      console.log(JSON.stringify({ lastPageHere, read, write, getBytes, view, detach, cLastPage, cFirstPage }));
    `);
    assert.equal(out.lastPageHere, 'ZZZZZ', 'the guard replaced the faulting pages only');
    assert.equal(out.cLastPage, 'ZZZZZ');
    assert.equal(out.cFirstPage, '.', 'the bytes written through the faulting pages never reached the object');
    for (const call of ['read', 'write', 'getBytes', 'view'] as const) {
      assert.match(
        String(out[call]),
        /^ENOSPC \w+: .*\/holes: the kernel could not supply the page at offset 0 when it was touched: \/dev\/shm \(tmpfs\) had no room/,
        call,
      );
    }
    assert.equal(out.detach, 'undefined', 'detach after the fault was reported unmaps quietly');
  });

  it('detach() reports a fault no call has told of yet, after unmapping; a Mapping from mmap() reports it too, and munmap()', async () => {
    const out = await onFullShm(`
      import { PosixSharedMemory, mmap, munmap, shm_open, O_RDWR, PROT_READ, PROT_WRITE, MAP_SHARED } from 'SHMKIT';
      import { closeSync } from 'node:fs';
      ${SETUP}
      const shm = PosixSharedMemory.open({ name: '/holes' });
      shm.bytes[5 << 20] = 1;
      const detach = outcome(() => shm.detach());
      const detached = shm.detached;
      const fd = shm_open('/holes', O_RDWR);
      const m = mmap(null, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      closeSync(fd);
      new Uint8Array(m.buffer)[6 << 20] = 1;
      const mappingRead = outcome(() => m.read(0, 1));
      const unmap = outcome(() => munmap(m));
      const m2 = mmap(null, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, shm_open('/holes', O_RDWR), 0);
      new Uint8Array(m2.buffer)[7 << 20] = 1;
      const unmapUntold = outcome(() => munmap(m2));
      PosixSharedMemory.unlink('/holes');
      console.log(JSON.stringify({ detach, detached, mappingRead, unmap, unmapUntold }));
    `);
    assert.match(String(out.detach), /^ENOSPC detach: .*\/holes: the kernel could not supply the page at offset 5242880 /);
    assert.equal(out.detached, true);
    assert.match(String(out.mappingRead), /^ENOSPC read: .*fd \d+: the kernel could not supply the page at offset 6291456 /);
    assert.equal(out.unmap, 'undefined');
    assert.match(String(out.unmapUntold), /^ENOSPC munmap: .*offset 7340032 /);
  });

  it('a file shrunk under the mapping still reads as zeros with no error: only faults inside the file are reported', async () => {
    const out = await onFullShm(`
      import { PosixSharedMemory } from 'SHMKIT';
      import { ftruncateSync } from 'node:fs';
      const outcome = (f) => { try { return String(f()); } catch (e) { return e.code; } };
      const shm = PosixSharedMemory.createAnonymous({ size: 8 << 20 });
      shm.bytes.fill(1);
      ftruncateSync(shm.fd, 4096);
      // 2047 pages past the end, more than the 1024 replaced one by one.
      for (let at = 4096; at < 8 << 20; at += 4096) shm.bytes[at] = 2;
      const past = outcome(() => shm.read(8192, 1)[0]);
      const inside = outcome(() => shm.read(0, 1)[0]);
      const write = outcome(() => shm.write(0, 'x'));
      const detach = outcome(() => shm.detach());
      console.log(JSON.stringify({ past, inside, write, detach }));
    `);
    assert.deepEqual(out, { past: '2', inside: '1', write: '1', detach: 'undefined' });
  });
});
