// shmdt while Node's own native work (the thread pool) still writes into the
// buffer: the JavaScript buffer is empty at once, but crypto.randomFill or a
// pending fs.read holds a raw pointer. shmkit leaves throwaway memory over the
// range until the buffer object is collected, so the late writes land there:
// no SIGSEGV, and never in a segment attached later. Each case runs in a child
// in its own IPC namespace, with a time limit, that must exit by itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson } from './helpers/processes.js';
import { noPrivateIpc, runNodeInPrivateIpc } from './helpers/shm.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

async function inChild<T>(what: string, code: string, nodeFlags: string[] = []): Promise<T> {
  const result = await runNodeInPrivateIpc(code, [], { timeoutMs: 60_000, nodeFlags });
  assertExitedCleanly(result, what);
  return lastJson<T>(result);
}

const PRELUDE = `
import { SharedMemory, shmat, shmdt, shmget, shmctl, IPC_PRIVATE, IPC_CREAT, IPC_RMID, IPC_STAT, SHM_INFO } from 'SHMKIT';
import { readFileSync } from 'node:fs';
const mapped = (address) => readFileSync('/proc/self/maps', 'utf8').split('\\n').some((l) => l.startsWith(address.toString(16) + '-'));
const settle = async (done) => { for (let i = 0; i < 200 && !done(); i++) { gc(); await new Promise((r) => setTimeout(r, 10)); } };
`;

// Rounds of randomFill and detach(): each one's fill is still pending when
// the segment goes, so one would end the process without the throwaway memory.
const FILL_ROUNDS = budget(2, 8);
// shmat/shmdt of a 4 MiB segment: never freed, the placeholders of 5,000 would
// take 20,000 MiB of address space, over the test's bound of 16,384 (sampled
// every 100: 19,600 at the last sample).
const SHMDT_LOOP = budget(5_000, 10_000);
// Their 4 MiB buffers are external memory, on which V8 runs a full GC every
// few iterations: on one GC thread it ran half as many (about 145 in 5,000
// iterations, not 280) for half the CPU, and the placeholders went as well
// (1,444 MiB at most). Sweeps that left them to the finalizer reached
// 19,866 MiB either way.
const ONE_GC_THREAD = ['--single-threaded-gc'];

describe('shmdt while native work still uses the buffer', { skip: noPrivateIpc }, () => {
  it('crypto.randomFill then detach(): the fill completes into throwaway memory, the process lives, other segments are untouched', async () => {
    const r = await inChild<{ rounds: number; filled: number; other: boolean; nattch: number[]; used: number }>(
      'randomFill child',
      `${PRELUDE}
      import { randomFill } from 'node:crypto';
      const other = SharedMemory.create({ size: 1 << 20 });
      other.bytes.fill(0x5a);
      const nattch = [];
      let filled = 0;
      for (let round = 0; round < ${FILL_ROUNDS}; round++) {
        const s = SharedMemory.create({ key: 0x5afe0000 + round, size: 16 << 20 });
        const id = s.id;
        const done = new Promise((resolve) => randomFill(s.bytes, (error, buf) => resolve(error ?? buf.byteLength)));
        s.detach();
        nattch.push(shmctl(id, IPC_STAT).shm_nattch);
        shmctl(id, IPC_RMID);
        const outcome = await done;
        if (outcome === 0) filled++;
      }
      const otherIntact = other.read().every((b) => b === 0x5a);
      other.detach();
      console.log(JSON.stringify({ rounds: ${FILL_ROUNDS}, filled, other: otherIntact, nattch, used: shmctl(0, SHM_INFO).used_ids }));
      `,
    );
    assert.equal(r.filled, r.rounds, 'every callback ran, with the emptied buffer');
    assert.deepEqual(r.nattch, new Array(r.rounds).fill(0), 'detach() detached the segment at once');
    assert.equal(r.other, true, 'another segment kept its bytes');
    assert.equal(r.used, 0, 'every segment is gone (the other one was private: removed at its detach)');
  });

  it('a pending fs.read into a detached attachment completes into throwaway memory, never into a segment attached later, and the range is freed after the buffer', async () => {
    const r = await inChild<Record<string, unknown>>(
      'fs.read child',
      `${PRELUDE}
      import { openSync, read, writeSync, closeSync, unlinkSync } from 'node:fs';
      import { execFileSync } from 'node:child_process';
      const fifo = '/tmp/shmkit-fifo-' + process.pid;
      execFileSync('mkfifo', [fifo]);
      const fd = openSync(fifo, 'r+'); // read-write: opening does not wait for a writer
      const idA = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
      const idB = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
      let a = shmat(idA);
      const address = a.address;
      const done = new Promise((resolve) => read(fd, new Uint8Array(a.buffer), 0, 16, null, (error, n) => resolve(error ? error.code : n)));
      shmdt(a);
      const out = { nattchA: shmctl(idA, IPC_STAT).shm_nattch, reservedWhilePending: mapped(address) };
      const b = shmat(idB);
      out.sameAddress = b.address === address;
      writeSync(fd, 'X'.repeat(16));
      out.bytesRead = await done;
      out.B = Buffer.from(b.read(0, 16)).toString('hex');
      const check = shmat(idA);
      out.A = Buffer.from(check.read(0, 16)).toString('hex');
      shmdt(check);
      a = null;
      await settle(() => !mapped(address));
      out.freedAfterGc = !mapped(address);
      // The address is free again: a segment can be attached exactly there.
      const again = shmat(idB, address);
      out.reattached = again.address === address;
      shmdt(again);
      shmdt(b);
      closeSync(fd);
      unlinkSync(fifo);
      shmctl(idA, IPC_RMID);
      shmctl(idB, IPC_RMID);
      out.used = shmctl(0, SHM_INFO).used_ids;
      console.log(JSON.stringify(out));
      `,
    );
    const zeros = '00'.repeat(16);
    assert.equal(r.nattchA, 0, 'shmdt detached the segment at once');
    assert.equal(r.reservedWhilePending, true, 'the range stays reserved while the buffer lives');
    assert.equal(r.sameAddress, false, 'no segment is mapped at the address while the read is pending');
    assert.equal(r.bytesRead, 16, 'the read completed');
    assert.equal(r.B, zeros, 'the later segment did not get the read data');
    assert.equal(r.A, zeros, 'the detached segment did not get it either');
    assert.equal(r.freedAfterGc, true, 'the placeholder goes when the buffer is collected');
    assert.equal(r.reattached, true);
    assert.equal(r.used, 0);
  });

  it(`${SHMDT_LOOP.toLocaleString('en-US')} shmat/shmdt of a 4 MiB segment in a synchronous loop stay bounded: placeholders of collected buffers are freed without the event loop`, async () => {
    const r = await inChild<{ done: number; peakMiB: number; endMiB: number; used: number }>(
      'shmdt loop child',
      `${PRELUDE}
      const id = shmget(IPC_PRIVATE, 4 << 20, IPC_CREAT | 0o600);
      const vmMiB = () => Number(/VmSize:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
      const start = vmMiB();
      let done = 0, peakMiB = 0;
      for (let i = 0; i < ${SHMDT_LOOP}; i++) {
        const a = shmat(id);
        new Uint8Array(a.buffer)[0] = i & 0xff;
        shmdt(a);
        done++;
        if (i % 100 === 0) peakMiB = Math.max(peakMiB, vmMiB() - start);
      }
      const endMiB = vmMiB() - start;
      shmctl(id, IPC_RMID);
      console.log(JSON.stringify({ done, peakMiB, endMiB, used: shmctl(0, SHM_INFO).used_ids }));
      `,
      ONE_GC_THREAD,
    );
    assert.equal(r.done, SHMDT_LOOP);
    // Never freed, the placeholders would take 4 MiB each (see SHMDT_LOOP).
    assert.ok(r.peakMiB < 16_384, `placeholders were freed during the loop (address space grew by ${Math.round(r.peakMiB)} MiB at most)`);
    assert.equal(r.used, 0);
  });
});
