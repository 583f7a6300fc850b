// Attachment.buffer is the mapped segment itself: what a C program writes is
// visible through a JS view that already exists, without any call, and the
// reverse.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPC_STAT, shmat, shmctl, shmdt, shmget } from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, removeSegment, uniqueKey, withCleanup } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, run } from './helpers/processes.js';
import { C_PRELUDE, waitFor } from './helpers/shm.js';

assertNoLeaks();

// Writes argv[2] at offset argv[3] of segment argv[1], then exits.
const C_POKE = `${C_PRELUDE}
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  char *p = shmat(atoi(argv[1]), NULL, 0);
  if (p == (void *)-1) die("shmat");
  strcpy(p + atoi(argv[3]), argv[2]);
  if (shmdt(p) == -1) die("shmdt");
  return 0;
}
`;

// Prints the NUL-terminated string at offset argv[2] of segment argv[1].
const C_PEEK = `${C_PRELUDE}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  char *p = shmat(atoi(argv[1]), NULL, SHM_RDONLY);
  if (p == (void *)-1) die("shmat");
  printf("%s\\n", p + atoi(argv[2]));
  if (shmdt(p) == -1) die("shmdt");
  return 0;
}
`;

// A peer that stays attached while JS works: writes "from C" at 16 and sets
// byte 0 (ready), then polls byte 1 (bounded: 20 s) for JS's answer, and
// prints what it found there and at offset 32.
const C_PEER = `${C_PRELUDE}
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  volatile unsigned char *p = shmat(atoi(argv[1]), NULL, 0);
  if (p == (void *)-1) die("shmat");
  strcpy((char *)p + 16, "from C");
  __atomic_store_n(&p[0], 1, __ATOMIC_RELEASE);
  int i;
  for (i = 0; i < 20000 && __atomic_load_n(&p[1], __ATOMIC_ACQUIRE) == 0; i++) usleep(1000);
  if (i == 20000) { fprintf(stderr, "no answer from JS\\n"); return 3; }
  printf("{\\"flag\\":%u,\\"text\\":\\"%s\\"}\\n", p[1], (const char *)p + 32);
  if (shmdt((const void *)p) == -1) die("shmdt");
  return 0;
}
`;

function cString(bytes: Uint8Array, offset: number): string {
  const end = bytes.indexOf(0, offset);
  return Buffer.from(bytes.subarray(offset, end === -1 ? bytes.length : end)).toString('utf8');
}

describe('zero-copy attachments', () => {
  it('buffer is one ArrayBuffer of shm_segsz bytes at the mapped address', () => {
    const id = shmget(IPC_PRIVATE, 10_000, IPC_CREAT | 0o600);
    const a = shmat(id);
    try {
      assert.ok(a.buffer instanceof ArrayBuffer);
      assert.equal(a.buffer, a.buffer, 'the same buffer every time, not a copy');
      assert.equal(a.buffer.byteLength, 10_000);
      assert.equal(a.byteLength, shmctl(id, IPC_STAT).shm_segsz);
      // The address is a SYSV mapping of this process, shared and writable.
      const start = a.address.toString(16);
      const line = readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${start}-`));
      assert.ok(line, `no mapping at 0x${start} in /proc/self/maps`);
      assert.match(line, / rw-s .*\/SYSV[0-9a-f]{8}/);
    } finally {
      shmdt(a);
      removeSegment(id);
    }
  });

  it('two attachments in one process are the same memory at different addresses', () => {
    const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
    const a = shmat(id);
    const b = shmat(id);
    try {
      assert.notEqual(a.address, b.address);
      const va = new Uint32Array(a.buffer);
      const vb = new Uint32Array(b.buffer);
      va[10] = 0xdeadbeef;
      assert.equal(vb[10], 0xdeadbeef);
      vb[1023] = 7;
      assert.equal(va[1023], 7);
    } finally {
      shmdt(a);
      shmdt(b);
      removeSegment(id);
    }
  });

  it('bytes a C program writes appear in a JS view made before it ran', async () => {
    const poke = await compileC('shm-poke', C_POKE);
    await withCleanup(async (defer) => {
      const id = shmget(uniqueKey(), 4096, IPC_CREAT | IPC_EXCL | 0o600);
      defer(() => removeSegment(id));
      const a = shmat(id);
      defer(() => shmdt(a));
      const view = new Uint8Array(a.buffer);
      const dv = new DataView(a.buffer, 100);
      assert.equal(view[200], 0);
      assertExitedCleanly(await run(poke, [String(id), 'written by C', '200']), 'poke');
      // No shmkit call between the C write and these reads.
      assert.equal(cString(view, 200), 'written by C');
      assert.equal(dv.getUint8(100), 'w'.charCodeAt(0));
    });
  });

  it('bytes written through a JS view are what a C program reads', async () => {
    const peek = await compileC('shm-peek', C_PEEK);
    await withCleanup(async (defer) => {
      const id = shmget(uniqueKey(), 4096, IPC_CREAT | IPC_EXCL | 0o600);
      defer(() => removeSegment(id));
      const a = shmat(id);
      defer(() => shmdt(a));
      new Uint8Array(a.buffer).set(Buffer.from('written by JS\0'), 300);
      const result = await run(peek, [String(id), '300']);
      assertExitedCleanly(result, 'peek');
      assert.equal(result.stdout, 'written by JS\n');
    });
  });

  it('a C peer and JS exchange bytes both ways while both are attached', async () => {
    const peer = await compileC('shm-peer', C_PEER);
    await withCleanup(async (defer) => {
      const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
      defer(() => removeSegment(id));
      const a = shmat(id);
      defer(() => shmdt(a));
      const view = new Uint8Array(a.buffer);
      const child = run(peer, [String(id)], { timeoutMs: 30_000 });
      // The C write is seen by polling the view alone: no shmkit call.
      await waitFor('the C peer to set its ready flag', () => view[0] === 1);
      assert.equal(cString(view, 16), 'from C');
      assert.equal(shmctl(id, IPC_STAT).shm_nattch, 2);
      view.set(Buffer.from('from JS\0'), 32);
      Atomics.store(new Int8Array(a.buffer), 1, 0x5a);
      const result = await child;
      assertExitedCleanly(result, 'C peer');
      assert.deepEqual(lastJson(result), { flag: 0x5a, text: 'from JS' });
    });
  });

  it('a copy made by structuredClone without transfer is not shared', () => {
    const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
    const a = shmat(id);
    try {
      const view = new Uint8Array(a.buffer);
      view[0] = 1;
      const copy = new Uint8Array(structuredClone(a.buffer));
      assert.equal(copy[0], 1);
      copy[0] = 2;
      view[1] = 3;
      assert.equal(view[0], 1);
      assert.equal(copy[1], 0);
      assert.equal(a.byteLength, 4096, 'the attachment keeps its buffer');
    } finally {
      shmdt(a);
      removeSegment(id);
    }
  });
});
