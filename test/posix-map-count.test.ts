// Mappings near vm.max_map_count: at the limit the kernel refuses V8's own
// next mapping too, and V8 aborts the process (80,000 mmaps of one page: a
// typed ENOMEM at the 65,180th, then exit 134). shmkit now refuses a new
// mapping while the process's areas are within 2048 of the limit. The
// limit is machine-wide, so the test lowers the one shmkit assumes instead
// (SHMKIT_MAX_MAP_COUNT), which keeps it quick and touches nothing else.
// Only memfds and private segments are used, in a child.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';

const LIMIT = 4000;

describe('room for V8 in the map count', () => {
  it('mmap and shmat are ENOMEM naming vm.max_map_count and the count once the areas come within 2048 of the limit; V8 goes on, and unmapping makes room', async () => {
    const result = await runNode(
      `
      import { memfd_create, mmap, munmap, shmget, shmat, shmctl, IPC_PRIVATE, IPC_CREAT, IPC_RMID, MFD_CLOEXEC, PROT_READ, PROT_WRITE, MAP_SHARED } from 'SHMKIT';
      import { ftruncateSync, readFileSync } from 'node:fs';
      import { Worker } from 'node:worker_threads';
      const areas = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').length - 1;
      const fd = memfd_create('count', MFD_CLOEXEC);
      ftruncateSync(fd, 4096);
      const kept = [];
      let refused;
      try {
        while (kept.length < 5000) kept.push(mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
      } catch (e) { refused = { code: e.code, message: e.message }; }
      const atRefusal = areas();
      let shmatRefused;
      const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
      try { shmat(id); } catch (e) { shmatRefused = e.code + ' ' + e.message; }
      shmctl(id, IPC_RMID);
      // V8 can still grow its heap and start a thread: 80 MB in 100 large
      // arrays, some 230 areas more (50 arrays of 100,000 String() calls made
      // 50 MB and 190, for 95 ms of CPU where this takes 43).
      const junk = Array.from({ length: 100 }, (_, i) => new Array(100000).fill(i));
      await new Promise((resolve, reject) => { const w = new Worker('1 + 1', { eval: true }); w.on('exit', resolve); w.on('error', reject); });
      // Unmapped and collected (munmap leaves throwaway memory until then), the areas go, and mapping works again.
      for (let i = 0; i < 500; i++) munmap(kept.pop());
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 50));
      globalThis.gc();
      let again = 'ok';
      try { kept.push(mmap(null, 4096, PROT_READ, MAP_SHARED, fd, 0)); } catch (e) { again = e.code; }
      console.log(JSON.stringify({ mapped: kept.length - 1, refused, atRefusal, shmatRefused, junk: junk.length, again }));
    `,
      [],
      { env: { ...process.env, SHMKIT_MAX_MAP_COUNT: String(LIMIT) }, timeoutMs: 60_000 },
    );
    assertExitedCleanly(result, 'child');
    const out = lastJson<{
      mapped: number;
      refused?: { code: string; message: string };
      atRefusal: number;
      shmatRefused?: string;
      again: string;
    }>(result);
    assert.equal(out.refused?.code, 'ENOMEM', `refused after ${out.mapped} mappings`);
    assert.match(
      out.refused.message,
      /^mmap: ENOMEM \(.*\): fd \d+, length 4096, PROT_READ\|PROT_WRITE, offset 0: this process has (\d+) memory mappings \(\/proc\/self\/maps\), within 2048 of vm\.max_map_count \(4000, lowered by SHMKIT_MAX_MAP_COUNT\)/,
    );
    const counted = Number(/has (\d+) memory mappings/.exec(out.refused.message)![1]);
    assert.ok(counted + 2048 >= LIMIT && counted < LIMIT - 1900, `refused at ${counted} areas`);
    assert.ok(out.atRefusal < LIMIT - 1900, `${out.atRefusal} areas after the refusal`);
    assert.match(
      String(out.shmatRefused),
      /^ENOMEM shmat: ENOMEM .*: shmid \d+: this process has \d+ memory mappings .*vm\.max_map_count \(4000/,
    );
    assert.equal(out.again, 'ok');
  });
});
