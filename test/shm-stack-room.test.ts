// shmat with an explicit address into the free space below the main thread's
// stack succeeds in C (the memory is free), but then the stack cannot grow and
// a deep recursion dies with SIGSEGV instead of V8's RangeError. shmkit
// refuses such addresses with a RangeError naming shmaddr.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson } from './helpers/processes.js';
import { noPrivateIpc, runNodeInPrivateIpc } from './helpers/shm.js';

assertNoLeaks();

const CHILD = `
import { shmat, shmdt, shmget, shmctl, IPC_PRIVATE, IPC_CREAT, IPC_RMID, SHM_INFO, SHM_RND, SHMLBA } from 'SHMKIT';
import { readFileSync } from 'node:fs';
const [low, high] = readFileSync('/proc/self/maps', 'utf8').split('\\n').find((l) => l.endsWith('[stack]')).split(' ')[0].split('-').map((x) => BigInt('0x' + x));
const size = 1 << 20;
const id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600);
const other = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
const otherAttachment = shmat(other);
new Uint8Array(otherAttachment.buffer).fill(7);
const attempt = (address, flags = 0) => {
  try { const a = shmat(id, address, flags); const at = a.address; shmdt(a); return 'attached at 0x' + at.toString(16); }
  catch (e) { return e.name + ' ' + e.code + ' ' + e.message; }
};
const page = 4096n;
const out = {
  justBelow: attempt(low - BigInt(size) - page),
  touching: attempt(low - BigInt(size)),
  withinGrowth: attempt(low - (4n << 20n)),
  withinGuardGap: attempt(low - (8n << 20n) - (512n << 10n) - BigInt(size)),
  rounded: attempt(low - BigInt(size) - page + 123n, SHM_RND),
};
// Far from the stack: where the kernel put it a moment ago.
const probe = shmat(id);
const far = probe.address;
shmdt(probe);
for (let i = 0; i < 100 && readFileSync('/proc/self/maps', 'utf8').includes(far.toString(16) + '-'); i++) { gc(); await new Promise((r) => setTimeout(r, 10)); }
out.far = attempt(far) === 'attached at 0x' + far.toString(16);
// The stack still grows as far as V8 lets it.
let depth = 0;
const deep = () => { depth++; deep(); };
try { deep(); out.recursion = 'returned'; } catch (e) { out.recursion = e.name; }
out.depth = depth;
out.otherIntact = otherAttachment.read().every((b) => b === 7);
shmdt(otherAttachment);
shmctl(id, IPC_RMID);
shmctl(other, IPC_RMID);
out.used = shmctl(0, SHM_INFO).used_ids;
console.log(JSON.stringify(out));
`;

describe('explicit shmat addresses near the stack', () => {
  it("an address in the room below the main thread's stack is a RangeError naming shmaddr, and deep recursion stays a RangeError", {
    skip: noPrivateIpc,
  }, async () => {
    const result = await runNodeInPrivateIpc(CHILD, [], { timeoutMs: 60_000 });
    assertExitedCleanly(result, 'stack child');
    const r = lastJson<Record<string, unknown>>(result);
    for (const name of ['justBelow', 'touching', 'withinGrowth', 'withinGuardGap', 'rounded']) {
      assert.match(
        String(r[name]),
        /^RangeError ERR_OUT_OF_RANGE The value of "shmaddr" is out of range\. It must be an address whose mapping stays clear of the main thread's stack .*SIGSEGV/,
        name,
      );
    }
    assert.equal(r.far, true, 'an address away from the stack still works');
    assert.equal(r.recursion, 'RangeError');
    assert.ok(Number(r.depth) > 1000);
    assert.equal(r.otherIntact, true);
    assert.equal(r.used, 0);
  });
});
