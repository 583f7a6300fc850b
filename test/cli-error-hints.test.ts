// The command shows an IpcError's hint where it tells a user at the command
// line what to act on (owner, mode and who runs it; sizes and limits), and
// leaves out the hints that name library calls (EEXIST, ENOENT).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SemaphoreSet, SharedMemory } from 'shmkit';
import { assertNoLeaks, uniqueKey, withCleanup } from './helpers/ipc.js';
import { shmkitHere } from './helpers/cli.js';
import { isRoot, NOBODY, type RunResult } from './helpers/processes.js';
import { shmkitSteps } from './helpers/shmkit-steps.js';

assertNoLeaks();

const facts = (object: string) =>
  new RegExp(
    `; the ${object} is owned by uid 0 \\(gid 0, creator uid 0\\) with mode 0600; this process is euid ${NOBODY.uid} \\(egid ${NOBODY.gid}\\), ` +
      'so the other bits apply and grant nothing: run as its owner, or have the owner grant access',
  );

describe('shmkit: the hints of IpcErrors', () => {
  it("EACCES on root's 0600 segment and set, as another user: the owner, the mode and who runs the command", {
    skip: !isRoot && 'needs root to run as nobody',
  }, async () => {
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ size: 4096 });
      defer(() => shm.detach());
      const set = SemaphoreSet.create({ count: 1 });
      defer(() => set.remove());
      // A segment nobody may read but not write: write is told nothing of attaching read-only, which cannot help it.
      const readable = SharedMemory.create({ size: 4096, mode: 0o644 });
      defer(() => readable.detach());
      // The three commands as nobody, one after another in one process (helpers/shmkit-steps.ts, as
      // helpers/as-nobody.ts ran each). Its stdin is empty: write is refused on attaching, before it reads any.
      const [cat, stat, write] = (await shmkitSteps(
        [
          ['cat', String(shm.id)],
          ['stat', '-s', String(set.id)],
          ['write', String(readable.id)],
        ],
        { asNobody: true },
      )) as [RunResult, RunResult, RunResult];
      assert.equal(cat.code, 1);
      assert.match(cat.stderr, new RegExp(`^shmkit cat: ${shm.id}: EACCES permission denied`));
      assert.match(cat.stderr, facts('segment'));
      assert.equal(stat.code, 1);
      assert.match(stat.stderr, new RegExp(`^shmkit stat: ${set.id}: EACCES permission denied`));
      assert.match(stat.stderr, facts('set'));
      assert.equal(write.code, 1);
      assert.match(write.stderr, new RegExp(`^shmkit write: ${readable.id}: EACCES permission denied; .*grant read only`));
      assert.doesNotMatch(write.stderr, /read-only/);
    });
  });

  it('EEXIST: the command says it in its own words, without the library calls of the hint', async () => {
    const key = uniqueKey();
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ key, size: 64 });
      defer(() => {
        shm.remove();
        shm.detach();
      });
      const again = await shmkitHere(['create', '--key', `0x${key.toString(16)}`, '--size', '64']);
      assert.equal(again.code, 1);
      assert.equal(again.stderr, `shmkit create: --key 0x${key.toString(16)}: EEXIST a segment with this key exists\n`);
    });
  });
});
