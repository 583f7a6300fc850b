// Sizes beyond what the system allows fail at once, with a coded error that
// names the argument, before anything of that size is allocated: a set of
// 2^31-1 semaphores (once a V8 out-of-memory abort), of 1e8 (once 45 s of a
// blocked event loop before EINVAL), SETALL with an array-like of length
// 2^32-1, a semop with a sparse array of 2^32-1 operations. Each runs in a
// fresh child in its own IPC namespace (some raise its limits), with a time
// limit (the old 45 s would exceed it), and must end by itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson } from './helpers/processes.js';
import { noPrivateIpc, runNodeInPrivateIpc } from './helpers/shm.js';

assertNoLeaks();

/** Child code: `report(what, fn)` runs fn and records what it threw. */
const REPORT = `
  const results = [];
  function report(what, fn) {
    try {
      fn();
      results.push({ what, threw: false });
    } catch (e) {
      results.push({ what, name: e.name, code: e.code, message: e.message});
    }
  }
`;

interface Report {
  what: string;
  threw?: false;
  name?: string;
  code?: string;
  message?: string;
}

describe('sizes beyond the limits', () => {
  it('SemaphoreSet.create with count 2^31-1 or 1e8 throws RangeError naming options.count and SEMMSL, at once', {
    skip: noPrivateIpc,
  }, async () => {
    const result = await runNodeInPrivateIpc(
      `
      import { SemaphoreSet, semctl, IPC_INFO } from 'SHMKIT';
      ${REPORT}
      const semmsl = semctl(0, 0, IPC_INFO).semmsl;
      report('2^31-1', () => SemaphoreSet.create({ count: 2 ** 31 - 1 }));
      report('1e8', () => SemaphoreSet.create({ count: 1e8 }));
      report('1e8 with initial', () => SemaphoreSet.create({ count: 1e8, initial: 1 }));
      report('SEMMSL+1', () => SemaphoreSet.create({ count: semmsl + 1 }));
      const set = SemaphoreSet.create({ count: semmsl });
      const full = set.count;
      set.remove();
      console.log(JSON.stringify({ semmsl, full, results }));
    `,
      [],
      { timeoutMs: 20_000 },
    );
    assertExitedCleanly(result);
    const r = lastJson<{ semmsl: number; full: number; results: Report[] }>(result);
    assert.equal(r.full, r.semmsl, 'a set of exactly SEMMSL semaphores is still made');
    for (const e of r.results) {
      assert.equal(e.name, 'RangeError', `${e.what}: ${e.message}`);
      assert.equal(e.code, 'ERR_OUT_OF_RANGE');
      assert.match(e.message ?? '', /"options\.count"/);
      assert.match(e.message ?? '', new RegExp(`<= ${r.semmsl} \\(SEMMSL`));
    }
  });

  it('with SEMMSL raised to 2^31-1, a set beyond 65,536 semaphores (the reach of the 16-bit sem_num) is refused the same way', {
    skip: noPrivateIpc,
  }, async () => {
    const result = await runNodeInPrivateIpc(
      `
      import { writeFileSync, readFileSync } from 'node:fs';
      import { SemaphoreSet } from 'SHMKIT';
      ${REPORT}
      // This namespace's own limits: semmsl semmns semopm semmni.
      const [, semmns, semopm, semmni] = readFileSync('/proc/sys/kernel/sem', 'utf8').trim().split(/\\s+/);
      writeFileSync('/proc/sys/kernel/sem', \`2147483647 \${semmns} \${semopm} \${semmni}\`);
      report('2^31-1', () => SemaphoreSet.create({ count: 2 ** 31 - 1 }));
      console.log(JSON.stringify({ results }));
    `,
      [],
      { timeoutMs: 20_000 },
    );
    assertExitedCleanly(result);
    const [e] = lastJson<{ results: Report[] }>(result).results;
    assert.equal(e?.code, 'ERR_OUT_OF_RANGE', e?.message);
    assert.match(e?.message ?? '', /"options\.count".*<= 65536 \(sem_num is 16-bit\)/);
  });

  it('SETALL with an array-like of length 2^32-1, and semop with a sparse array of 2^32-1 operations, fail at once', {
    skip: noPrivateIpc,
  }, async () => {
    const result = await runNodeInPrivateIpc(
      `
      import { GETVAL, IPC_CREAT, IPC_PRIVATE, IPC_RMID, SETALL, semctl, semget, semop, semtimedop, SemaphoreSet } from 'SHMKIT';
      ${REPORT}
      const id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0o600);
      report('SETALL', () => semctl(id, 0, SETALL, { length: 2 ** 32 - 1 }));
      report('SETALL length -1', () => semctl(id, 0, SETALL, { length: -1 }));
      report('semop', () => semop(id, new Array(2 ** 32 - 1)));
      report('semtimedop', () => semtimedop(id, new Array(2 ** 32 - 1), 10));
      report('semop with a hole', () => semop(id, [{ sem_num: 0, sem_op: 1 }, , { sem_num: 0, sem_op: 1 }]));
      const set = SemaphoreSet.open({ id });
      let op;
      try { await set.op(new Array(2 ** 32 - 1)); } catch (e) { op = { name: e.name, code: e.code, message: e.message }; }
      const value = semctl(id, 0, GETVAL);
      semctl(id, 0, IPC_RMID);
      console.log(JSON.stringify({ results, op, value }));
    `,
      [],
      { timeoutMs: 20_000 },
    );
    assertExitedCleanly(result);
    const r = lastJson<{ results: Report[]; op: Report; value: number }>(result);
    const [setall, negative, semop, semtimedop, hole] = r.results;
    assert.equal(setall?.code, 'ERR_OUT_OF_RANGE', setall?.message);
    assert.match(setall?.message ?? '', /"arg".*an array of 3 values/);
    assert.equal(negative?.code, 'ERR_OUT_OF_RANGE', negative?.message);
    assert.match(negative?.message ?? '', /"arg\.length"/);
    assert.deepEqual([semop?.name, semop?.code], ['IpcError', 'E2BIG'], semop?.message);
    assert.match(semop?.message ?? '', /^semop: E2BIG .*nsops 4294967295 .*SEMOPM/);
    assert.deepEqual([semtimedop?.code], ['E2BIG'], semtimedop?.message);
    assert.match(semtimedop?.message ?? '', /^semtimedop: E2BIG/);
    assert.equal(hole?.code, 'ERR_INVALID_ARG_TYPE', hole?.message);
    assert.match(hole?.message ?? '', /"sops\[1\]"/);
    assert.equal(r.op.code, 'E2BIG', r.op.message);
    assert.equal(r.value, 0, 'nothing was applied');
  });
});
