// Every failure of shmget/shmat/shmdt/shmctl is an IpcError with C's errno,
// and arguments that are wrong before any system call are TypeError or
// RangeError naming the argument. Cases follow the Linux Test Project's
// shmget02, shmat02, shmctl02 and shmdt02 where they apply to this API.
import assert from 'node:assert/strict';
import { constants as os } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { getSystemErrorName } from 'node:util';
import {
  IPC_CREAT,
  IPC_EXCL,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
  IpcError,
  SharedMemory,
  SHM_HUGETLB,
  SHM_REMAP,
  SHM_RND,
  SHMLBA,
  ftok,
  shmat,
  shmctl,
  shmdt,
  shmget,
} from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, removeSegment, uniqueKey, withCleanup } from './helpers/ipc.js';
import { assertExitedCleanly, isRoot, lastJson, NOBODY, run, runNode } from './helpers/processes.js';
import { BECOME_NOBODY, C_PRELUDE, noPrivateIpc, runNodeInPrivateIpc, segmentExists, thrown, waitFor } from './helpers/shm.js';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// hugetlb: the errno name of shmget(IPC_PRIVATE, 2 MiB, IPC_CREAT|SHM_HUGETLB|0600), or "created".
const C_HUGETLB = `${C_PRELUDE}
int main(void) {
  int id = shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0600);
  if (id != -1) { shmctl(id, IPC_RMID, NULL); printf("created\\n"); return 0; }
  printf("%s\\n", errno == EPERM ? "EPERM" : errno == ENOMEM ? "ENOMEM" : errno == EINVAL ? "EINVAL" : errno == ENOENT ? "ENOENT" : "other");
  return 0;
}
`;

assertNoLeaks();

function hex(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/** Asserts `fn` throws an IpcError with Node's SystemError shape for `code`, and returns it. */
function assertIpcError(fn: () => unknown, code: string, syscall: string, mentions: RegExp): IpcError {
  const error = thrown(fn);
  assert.ok(error instanceof IpcError, `expected an IpcError, got ${String(error)}`);
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'IpcError');
  assert.equal(error.code, code);
  assert.equal(error.errno, -os.errno[code as keyof typeof os.errno], "errno is negative, as in Node's system errors");
  assert.equal(getSystemErrorName(error.errno), code);
  assert.equal(error.cErrno, os.errno[code as keyof typeof os.errno], 'cErrno is the positive C value');
  assert.equal(error.syscall, syscall);
  assert.ok(error.message.startsWith(`${syscall}: ${code} (`), error.message);
  assert.match(error.message, mentions);
  return error;
}

/** A 4096-byte segment with a fresh key and the given mode, removed afterwards. */
function withKeyedSegment<T>(mode: number, fn: (id: number, key: number) => Promise<T> | T): Promise<T> {
  return withCleanup(async (defer) => {
    const key = uniqueKey();
    const id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | mode);
    defer(() => removeSegment(id));
    return fn(id, key);
  });
}

describe('shmget errors', () => {
  it('IPC_CREAT|IPC_EXCL on a key that has a segment is EEXIST naming the key', async () => {
    await withKeyedSegment(0o600, (id, key) => {
      assertIpcError(() => shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0o600), 'EEXIST', 'shmget', new RegExp(`key ${hex(key)}`));
      assert.equal(shmget(key, 4096, IPC_CREAT | 0o600), id, 'without IPC_EXCL the same key finds the segment');
    });
  });

  it('a key without a segment and without IPC_CREAT is ENOENT', () => {
    const key = uniqueKey();
    assertIpcError(() => shmget(key, 4096, 0o600), 'ENOENT', 'shmget', new RegExp(`key ${hex(key)}, size 4096`));
  });

  it('creating with size 0 (below shmmin) is EINVAL naming the size', () => {
    const key = uniqueKey();
    assertIpcError(() => shmget(key, 0, IPC_CREAT | IPC_EXCL | 0o600), 'EINVAL', 'shmget', /size 0/);
    assertIpcError(() => shmget(IPC_PRIVATE, 0, IPC_CREAT | 0o600), 'EINVAL', 'shmget', /size 0/);
    assertIpcError(() => shmget(key, 4096, 0o600), 'ENOENT', 'shmget', /key/); // nothing was created
  });

  it('asking for more than the existing segment holds is EINVAL', async () => {
    await withKeyedSegment(0o600, (id, key) => {
      assertIpcError(() => shmget(key, 8192, 0o600), 'EINVAL', 'shmget', /size 8192: .*larger than the existing segment/);
      assert.equal(shmget(key, 4096, 0o600), id, 'the exact size is accepted');
      assert.equal(shmget(key, 1, 0o600), id, 'a smaller size is accepted');
    });
  });

  it('creating above shmmax is EINVAL, checked with shmmax lowered in a private IPC namespace', {
    skip: !isRoot && 'needs root for unshare',
  }, async () => {
    const result = await runNodeInPrivateIpc(`
      import { writeFileSync } from 'node:fs';
      import { shmget, shmctl, IPC_INFO, IPC_RMID, IPC_CREAT, IPC_PRIVATE } from 'SHMKIT';
      writeFileSync('/proc/sys/kernel/shmmax', '8192');
      const shmmax = shmctl(0, IPC_INFO).shmmax;
      const answer = (size) => { try { const id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600); shmctl(id, IPC_RMID); return 'created'; } catch (e) { return e.code + ' ' + e.message; } };
      console.log(JSON.stringify({ shmmax: String(shmmax), atMax: answer(8192), aboveMax: answer(Number(shmmax) + 1), huge: answer(2 ** 53 - 1) }));
    `);
    assertExitedCleanly(result, 'namespace child');
    const r = lastJson<Record<string, string>>(result);
    assert.equal(r.shmmax, '8192', 'IPC_INFO reports the lowered limit');
    assert.equal(r.atMax, 'created');
    assert.match(r.aboveMax!, /^EINVAL shmget: .*size 8193/);
    assert.match(r.huge!, /^EINVAL shmget: .*size 9007199254740991/);
  });
});

describe('shmat errors', () => {
  it('an id that was never valid (-1) is EINVAL naming it', () => {
    assertIpcError(() => shmat(-1), 'EINVAL', 'shmat', /shmid -1/);
  });

  it('the id of a removed segment is EINVAL: Linux answers EINVAL, not EIDRM, once the id is gone', () => {
    const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
    shmctl(id, IPC_RMID);
    assertIpcError(() => shmat(id), 'EINVAL', 'shmat', new RegExp(`shmid ${id}`));
    assertIpcError(() => shmctl(id, IPC_STAT), 'EINVAL', 'shmctl', new RegExp(`shmid ${id}, IPC_STAT`));
    assertIpcError(() => shmctl(id, IPC_RMID), 'EINVAL', 'shmctl', new RegExp(`shmid ${id}, IPC_RMID`));
  });

  it('an address not a multiple of SHMLBA without SHM_RND is EINVAL; with SHM_RND it is rounded down', async () => {
    const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
    try {
      const probe = shmat(id);
      const free = probe.address; // page-aligned, and free again once detached and its buffer collected
      shmdt(probe);
      await waitFor('the detached range to be freed', () => {
        gc();
        return !readFileSync('/proc/self/maps', 'utf8').includes(`\n${free.toString(16)}-`);
      });
      const unaligned = free + BigInt(SHMLBA) - 1n;
      assertIpcError(() => shmat(id, unaligned), 'EINVAL', 'shmat', new RegExp(`shmid ${id}, shmaddr 0x${unaligned.toString(16)}`));
      const rounded = shmat(id, free + 1n, SHM_RND);
      assert.equal(rounded.address, free);
      shmdt(rounded);
    } finally {
      removeSegment(id);
    }
  });

  it('SHM_REMAP with an address is refused before the call, since it could unmap memory in use', () => {
    const error = thrown(() => shmat(0, 0x7000_0000_0000n, SHM_REMAP));
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /"shmflg"/);
  });

  it('creating with SHM_NORESERVE is refused before the call: touching such a segment can be SIGBUS (found by the fuzz test)', {
    skip: noPrivateIpc,
  }, async () => {
    const result = await runNodeInPrivateIpc(
      `
      import { IPC_CREAT, IPC_PRIVATE, SHM_HUGETLB, SHM_INFO, SHM_NORESERVE, shmctl, shmget } from 'SHMKIT';
      const seen = [];
      for (const extra of [SHM_NORESERVE, SHM_NORESERVE | SHM_HUGETLB]) {
        try { shmget(IPC_PRIVATE, 4097, IPC_CREAT | 0o600 | extra); seen.push('created'); } catch (e) { seen.push(e.code + ' ' + e.message); }
      }
      console.log(JSON.stringify({ seen, used: shmctl(0, SHM_INFO).used_ids }));
    `,
      [],
      { timeoutMs: 30_000 },
    );
    assertExitedCleanly(result);
    const { seen, used } = lastJson<{ seen: string[]; used: number }>(result);
    for (const line of seen)
      assert.match(line, /^ERR_OUT_OF_RANGE The value of "flags" is out of range. It must be without SHM_NORESERVE .*SIGBUS/);
    assert.equal(used, 0, 'nothing was created');
  });

  it('an address below SHMLBA with SHM_RND is refused before the call: Linux would map it at address 0 for root (found by the fuzz test)', async () => {
    // In a child, with a time limit: the mapping at 0 once aborted V8.
    const result = await runNode(
      `
      import { IPC_CREAT, IPC_PRIVATE, IPC_RMID, SHM_RND, shmat, shmctl, shmget } from 'SHMKIT';
      const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
      const seen = [];
      for (const addr of [1n, 4095n, 1]) {
        try { shmat(id, addr, SHM_RND); seen.push('attached'); } catch (e) { seen.push(e.code + ' ' + e.message); }
      }
      shmctl(id, IPC_RMID);
      console.log(JSON.stringify(seen));
    `,
      [],
      { timeoutMs: 30_000 },
    );
    assertExitedCleanly(result);
    for (const line of lastJson<string[]>(result))
      assert.match(line, /^ERR_OUT_OF_RANGE The value of "shmaddr" is out of range.*round it down to address 0/);
  });
});

describe('shmdt errors', () => {
  it('detaching twice is EINVAL (LTP shmdt02: an address that is not attached)', () => {
    const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
    try {
      const a = shmat(id);
      shmdt(a);
      assertIpcError(() => shmdt(a), 'EINVAL', 'shmdt', new RegExp(`segment ${id} at 0x[0-9a-f]+ is not attached`));
    } finally {
      removeSegment(id);
    }
  });
});

describe('shmctl errors', () => {
  it('an unknown command is EINVAL (LTP shmctl02)', async () => {
    await withKeyedSegment(0o600, (id) => {
      assertIpcError(() => shmctl(id, 12345), 'EINVAL', 'shmctl', new RegExp(`shmid ${id}, cmd 12345`));
    });
  });

  it('IPC_STAT and IPC_SET on id -1 are EINVAL', () => {
    assertIpcError(() => shmctl(-1, IPC_STAT), 'EINVAL', 'shmctl', /shmid -1, IPC_STAT/);
    assertIpcError(() => shmctl(-1, IPC_SET, { mode: 0o600 }), 'EINVAL', 'shmctl', /shmid -1, IPC_SET/);
  });
});

describe('permission errors, seen by a child that drops from root to nobody', { skip: !isRoot && 'needs root to become nobody' }, () => {
  // One child as nobody answers for both tests: first on root's two segments, then on a segment of its own with mode 0.
  let key600 = 0;
  let id600 = -1;
  let id644 = -1;
  let r: Record<string, unknown> = {};
  before(async () => {
    key600 = uniqueKey();
    id600 = shmget(key600, 4096, IPC_CREAT | IPC_EXCL | 0o600);
    id644 = shmget(uniqueKey(), 4096, IPC_CREAT | IPC_EXCL | 0o644);
    const a = shmat(id644);
    new Uint8Array(a.buffer).set(Buffer.from('root wrote'));
    shmdt(a);

    const result = await runNode(
      `
      import { shmget, shmat, shmdt, shmctl, SharedMemory, IpcError, IPC_CREAT, IPC_PRIVATE, IPC_STAT, IPC_SET, IPC_RMID, SHM_LOCK, SHM_UNLOCK, SHM_RDONLY } from 'SHMKIT';
      ${BECOME_NOBODY}
      const [key600, id600, id644] = process.argv.slice(1).map(Number);
      const answer = (f) => { try { const v = f(); return v === undefined ? 'ok' : v; } catch (e) { return (e instanceof IpcError ? '' : e.name + ' ') + e.code + ' ' + e.syscall + ' | ' + e.message; } };
      const out = {
        uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),
        shmgetRead: answer(() => shmget(key600, 0, 0o400)),
        shmgetNoAccessAsked: answer(() => shmget(key600, 0, 0)),
        shmat600: answer(() => shmat(id600)),
        shmat600ReadOnly: answer(() => shmat(id600, null, SHM_RDONLY)),
        shmat644ReadWrite: answer(() => shmat(id644)),
        shmat644ReadOnly: answer(() => { const a = shmat(id644, null, SHM_RDONLY); const s = Buffer.from(a.read(0, 10)).toString(); shmdt(a); return s; }),
        stat600: answer(() => shmctl(id600, IPC_STAT)),
        stat644: answer(() => shmctl(id644, IPC_STAT).shm_perm.mode & 0o777),
        open600: answer(() => SharedMemory.open({ key: key600 })),
        rmid600: answer(() => shmctl(id600, IPC_RMID)),
        rmid644: answer(() => shmctl(id644, IPC_RMID)),
        set600: answer(() => shmctl(id600, IPC_SET, { mode: 0o666 })),
        set644: answer(() => shmctl(id644, IPC_SET, { mode: 0o666 })),
        setAll644: answer(() => shmctl(id644, IPC_SET, { uid: 65534, gid: 65534, mode: 0o666 })),
        lock644: answer(() => shmctl(id644, SHM_LOCK)),
        unlock644: answer(() => shmctl(id644, SHM_UNLOCK)),
      };
      const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0);
      const owner = {};
      try {
        try { shmctl(id, IPC_STAT); owner.stat = 'ok'; } catch (e) { owner.stat = e.code; }
        try { shmctl(id, IPC_SET, { mode: 0o640 }); owner.set = 'ok'; } catch (e) { owner.set = e.code + ' ' + e.message; }
        try { owner.mode = shmctl(id, IPC_STAT).shm_perm.mode & 0o777; } catch (e) { owner.mode = e.code; }
      } finally {
        shmctl(id, IPC_RMID);
      }
      out.owner = owner;
      console.log(JSON.stringify(out));
      `,
      [String(key600), String(id600), String(id644)],
    );
    assertExitedCleanly(result, 'nobody child');
    r = lastJson<Record<string, unknown>>(result);
  });

  after(() => {
    if (id600 !== -1) removeSegment(id600);
    if (id644 !== -1) removeSegment(id644);
  });

  it('the permission bits give EACCES and ownership gives EPERM, as in C', () => {
    assert.equal(r.uid, 65534);
    assert.equal(r.gid, 65534);
    assert.ok(!(r.groups as number[]).includes(0), "root's group is gone");

    const eacces = (what: string, syscall: string, mentions: string) =>
      assert.match(String(r[what]), new RegExp(`^EACCES ${syscall} \\| ${syscall}: EACCES \\(Permission denied\\): .*${mentions}`), what);
    const eperm = (what: string, mentions: string) =>
      assert.match(String(r[what]), new RegExp(`^EPERM shmctl \\| shmctl: EPERM \\(Operation not permitted\\): .*${mentions}`), what);

    eacces('shmgetRead', 'shmget', `key ${hex(key600)}.*permission bits deny this user`);
    assert.equal(r.shmgetNoAccessAsked, id600, 'shmget asking for no access succeeds, as in C');
    eacces('shmat600', 'shmat', `shmid ${id600}: the segment's permission bits deny this user`);
    eacces('shmat600ReadOnly', 'shmat', `shmid ${id600}`);
    eacces('shmat644ReadWrite', 'shmat', `shmid ${id644}`);
    assert.equal(r.shmat644ReadOnly, 'root wrote', 'read permission is enough for SHM_RDONLY');
    eacces('stat600', 'shmctl', `shmid ${id600}, IPC_STAT: read permission denied`);
    assert.equal(r.stat644, 0o644);
    eacces('open600', 'shmat', `shmid ${id600}`);
    eperm('rmid600', `shmid ${id600}, IPC_RMID: only the owner`);
    eperm('rmid644', `shmid ${id644}, IPC_RMID`);
    eperm('set600', `shmid ${id600}, IPC_SET: only the owner`);
    eperm('set644', `shmid ${id644}, IPC_SET`);
    eperm('setAll644', `shmid ${id644}, IPC_SET`);
    eperm('lock644', `shmid ${id644}, SHM_LOCK`);
    eperm('unlock644', `shmid ${id644}, SHM_UNLOCK`);

    // Nothing the child tried changed anything.
    assert.ok(segmentExists(id600) && segmentExists(id644));
    assert.equal(shmctl(id600, IPC_STAT).shm_perm.mode & 0o777, 0o600);
    assert.equal(shmctl(id644, IPC_STAT).shm_perm.mode & 0o777, 0o644);
    assert.equal(shmctl(id644, IPC_STAT).shm_perm.uid, 0);
  });

  it('the owner of a segment with mode 0 can still change its mode with IPC_SET, as in C', () => {
    assert.deepEqual(r.owner, { stat: 'EACCES', set: 'ok', mode: 0o640 });
  });
});

describe('answers that depend on the machine, compared with C', () => {
  it('SHM_HUGETLB gives the same answer as in C, as root and as nobody (LTP shmget02: EPERM, ENOMEM)', {
    skip: !isRoot && 'needs root',
  }, async () => {
    const exe = await compileC('shm-hugetlb', C_HUGETLB);
    const js = `
      import { shmget, shmctl, IPC_CREAT, IPC_PRIVATE, IPC_RMID, SHM_HUGETLB } from 'SHMKIT';
      ${BECOME_NOBODY}
      try { shmctl(shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0o600), IPC_RMID); console.log('created'); }
      catch (e) { console.log(e.code + ' ' + e.syscall); }
    `;
    // As root, this process (root already) asks; as nobody, a child that drops to nobody.
    const asRoot = () => {
      try {
        shmctl(shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0o600), IPC_RMID);
        return 'created';
      } catch (e) {
        return `${(e as IpcError).code} ${(e as IpcError).syscall}`;
      }
    };
    for (const who of ['root', 'nobody'] as const) {
      const c = await run(exe, [], who === 'nobody' ? { uid: NOBODY.uid, gid: NOBODY.gid } : {});
      assertExitedCleanly(c, `C as ${who}`);
      let node: string;
      if (who === 'root') node = asRoot();
      else {
        const child = await runNode(js);
        assertExitedCleanly(child, `node as ${who}`);
        node = child.stdout.trim();
      }
      const answer = c.stdout.trim();
      assert.notEqual(answer, 'other');
      assert.equal(node, answer === 'created' ? 'created' : `${answer} shmget`, who);
    }
  });
});

describe('arguments refused before any system call', () => {
  const key = uniqueKey();
  const cases: Array<[string, () => unknown, typeof TypeError | typeof RangeError, string]> = [
    ['negative size', () => shmget(key, -1, IPC_CREAT | 0o600), RangeError, 'size'],
    ['fractional size', () => shmget(key, 1.5, IPC_CREAT | 0o600), RangeError, 'size'],
    ['size above 2^53', () => shmget(key, 2 ** 53, IPC_CREAT | 0o600), RangeError, 'size'],
    ['size as a string', () => shmget(key, '4096' as unknown as number, IPC_CREAT | 0o600), TypeError, 'size'],
    ['size as a bigint', () => shmget(key, 4096n as unknown as number, IPC_CREAT | 0o600), TypeError, 'size'],
    ['NaN key', () => shmget(NaN, 4096, IPC_CREAT | 0o600), RangeError, 'key'],
    ['key above 32 bits', () => shmget(2 ** 32, 4096, IPC_CREAT | 0o600), RangeError, 'key'],
    ['key below -2^31', () => shmget(-(2 ** 31) - 1, 4096, IPC_CREAT | 0o600), RangeError, 'key'],
    ['fractional key', () => shmget(key + 0.5, 4096, IPC_CREAT | 0o600), RangeError, 'key'],
    ['key as a string', () => shmget(String(key) as unknown as number, 4096, IPC_CREAT | 0o600), TypeError, 'key'],
    ['flags as a string', () => shmget(key, 4096, '512' as unknown as number), TypeError, 'flags'],
    ['flags undefined', () => (shmget as (k: number, s: number) => number)(key, 4096), TypeError, 'flags'],
    ['negative flags', () => shmget(key, 4096, -1), RangeError, 'flags'],
    ['shmid as a string', () => shmat('0' as unknown as number), TypeError, 'shmid'],
    ['fractional shmid', () => shmat(0.5), RangeError, 'shmid'],
    ['NaN shmid', () => shmat(NaN), RangeError, 'shmid'],
    ['shmaddr as a string', () => shmat(0, '0x1000' as unknown as bigint), TypeError, 'shmaddr'],
    ['negative shmaddr', () => shmat(0, -4096n), RangeError, 'shmaddr'],
    ['shmaddr above 64 bits', () => shmat(0, 2n ** 64n), RangeError, 'shmaddr'],
    ['shmflg as a string', () => shmat(0, null, 'r' as unknown as number), TypeError, 'shmflg'],
    ['shmctl shmid as a string', () => shmctl('0' as unknown as number, IPC_STAT), TypeError, 'shmid'],
    ['shmctl cmd as a string', () => shmctl(0, '2' as unknown as number), TypeError, 'cmd'],
    ['IPC_SET without buf', () => shmctl(0, IPC_SET, undefined as unknown as object), TypeError, 'buf'],
    ['IPC_SET mode above 0o777', () => shmctl(0, IPC_SET, { mode: 0o1777 }), RangeError, 'buf.mode'],
    ['IPC_SET negative uid', () => shmctl(0, IPC_SET, { uid: -1 }), RangeError, 'buf.uid'],
    ['IPC_SET gid as a string', () => shmctl(0, IPC_SET, { gid: '0' as unknown as number }), TypeError, 'buf.gid'],
    ['shmdt of something else', () => shmdt({} as never), TypeError, 'attachment'],
    ['ftok of an empty path', () => ftok('', 1), TypeError, 'path'],
    ['ftok of a path with NUL', () => ftok('/tmp\0x', 1), TypeError, 'path'],
    ['ftok with a negative projId', () => ftok('/', -1), RangeError, 'projId'],
  ];
  for (const [what, call, type, name] of cases) {
    it(`${what} is a ${type.name} naming "${name}"`, () => {
      const error = thrown(call);
      assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
      assert.match((error as Error).message, new RegExp(`"${name.replace('.', '\\.')}"`));
      assert.match((error as unknown as { code: string }).code, type === TypeError ? /^ERR_INVALID_ARG_TYPE$/ : /^ERR_OUT_OF_RANGE$/);
    });
  }

  it('a refused shmget created nothing', () => {
    assertIpcError(() => shmget(key, 4096, 0o600), 'ENOENT', 'shmget', /key/);
  });

  it('a key may be given signed (key_t) or unsigned (as ipcs prints it): both are the same key', async () => {
    const unsigned = (uniqueKey() | 0x8000_0000) >>> 0;
    await withCleanup((defer) => {
      const id = shmget(unsigned, 4096, IPC_CREAT | IPC_EXCL | 0o600);
      defer(() => removeSegment(id));
      assert.equal(shmget(unsigned | 0, 0, 0), id);
      assert.ok((unsigned | 0) < 0);
      assert.equal(shmctl(id, IPC_STAT).shm_perm.key, unsigned | 0, 'shm_perm.key is a key_t, as in C');
    });
  });

  it('SharedMemory options are checked before any system call', () => {
    const cases: Array<[() => unknown, typeof TypeError | typeof RangeError, RegExp]> = [
      [() => SharedMemory.create(undefined as never), TypeError, /"options"/],
      [() => SharedMemory.create({ size: -1 }), RangeError, /"options\.size"/],
      [() => SharedMemory.create({ size: 1.5 }), RangeError, /"options\.size"/],
      [() => SharedMemory.create({ size: 4096, mode: 0o1600 }), RangeError, /"options\.mode"/],
      [() => SharedMemory.create({ size: 4096, key: 2 ** 32 }), RangeError, /"options\.key"/],
      [() => SharedMemory.create({ size: 4096, key: 1, path: '/' }), TypeError, /"options"/],
      // Refused by the types too; at run time, for JavaScript.
      [() => SharedMemory.open({} as never), TypeError, /"options"/],
      [() => SharedMemory.open({ id: 1, key: 1 } as never), TypeError, /"options" argument must be exactly one of id, key or path/],
      [() => SharedMemory.open({ id: -0.5 }), RangeError, /"options\.id"/],
      [() => SharedMemory.openOrCreate({ size: 4096 }), TypeError, /"options"/],
    ];
    for (const [call, type, name] of cases) {
      const error = thrown(call);
      assert.ok(error instanceof type, `${call.toString()}: expected ${type.name}, got ${String(error)}`);
      assert.match((error as Error).message, name);
    }
  });
});
