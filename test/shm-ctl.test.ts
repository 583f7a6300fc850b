// shmctl: IPC_STAT with C's field names and values (checked against C's own
// shmctl), IPC_SET, IPC_RMID, SHM_LOCK/SHM_UNLOCK, IPC_INFO, SHM_INFO, SHM_STAT.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  IPC_CREAT,
  IPC_EXCL,
  IPC_INFO,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
  PAGE_SIZE,
  SharedMemory,
  SHM_DEST,
  SHM_INFO,
  SHM_LOCK,
  SHM_LOCKED,
  SHM_STAT,
  SHM_STAT_ANY,
  SHM_UNLOCK,
  shmat,
  shmctl,
  shmdt,
  shmget,
  type ShmidDs,
} from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, removeSegment, uniqueKey, withCleanup } from './helpers/ipc.js';
import { assertExitedCleanly, isRoot, lastJson, run, runNode } from './helpers/processes.js';
import { BECOME_NOBODY, C_PRELUDE, C_PRINT_STAT, runNodeInPrivateIpc, segmentExists } from './helpers/shm.js';

assertNoLeaks();

// stat ID [attach]: prints its pid, then (attached first if asked) the segment's IPC_STAT.
const C_STAT = `${C_PRELUDE}${C_PRINT_STAT}
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int id = atoi(argv[1]);
  void *p = NULL;
  if (argc > 2 && strcmp(argv[2], "attach") == 0 && (p = shmat(id, NULL, 0)) == (void *)-1) die("shmat");
  printf("{\\"pid\\":%d}\\n", getpid());
  print_stat(id);
  if (p && shmdt(p) == -1) die("shmdt");
  return 0;
}
`;

// create KEY SIZE: creates a segment (mode 0600), attaches and detaches it once, prints its pid and the id.
const C_CREATE = `${C_PRELUDE}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  int id = shmget((key_t)strtol(argv[1], NULL, 0), (size_t)atol(argv[2]), IPC_CREAT | IPC_EXCL | 0600);
  if (id == -1) die("shmget");
  void *p = shmat(id, NULL, 0);
  if (p == (void *)-1) die("shmat");
  if (shmdt(p) == -1) die("shmdt");
  printf("{\\"pid\\":%d,\\"id\\":%d}\\n", getpid(), id);
  return 0;
}
`;

interface CStat {
  key: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  mode: number;
  shm_segsz: number;
  shm_cpid: number;
  shm_lpid: number;
  shm_nattch: number;
  shm_atime: number;
  shm_dtime: number;
  shm_ctime: number;
}

async function cStat(id: number, attach = false): Promise<{ pid: number; stat: CStat }> {
  const exe = await compileC('shm-stat', C_STAT);
  const result = await run(exe, attach ? [String(id), 'attach'] : [String(id)]);
  assertExitedCleanly(result, 'C stat');
  const [pidLine, statLine] = result.stdout.trim().split('\n');
  return { pid: (JSON.parse(pidLine!) as { pid: number }).pid, stat: JSON.parse(statLine!) as CStat };
}

function flatten(ds: ShmidDs): CStat {
  const { shm_perm: p, ...rest } = ds;
  return {
    key: p.key,
    uid: p.uid,
    gid: p.gid,
    cuid: p.cuid,
    cgid: p.cgid,
    mode: p.mode,
    shm_segsz: rest.shm_segsz,
    shm_cpid: rest.shm_cpid,
    shm_lpid: rest.shm_lpid,
    shm_nattch: rest.shm_nattch,
    shm_atime: rest.shm_atime,
    shm_dtime: rest.shm_dtime,
    shm_ctime: rest.shm_ctime,
  };
}

describe('shmctl IPC_STAT', () => {
  it('reports a new segment with C field names: size as asked, creator pid, owner, mode, no attach yet', async () => {
    await withCleanup((defer) => {
      const key = uniqueKey();
      // The kernel stamps times from a coarse clock that may trail Date.now() by a tick.
      const before = Math.floor(Date.now() / 1000) - 1;
      const id = shmget(key, 5000, IPC_CREAT | IPC_EXCL | 0o640);
      defer(() => removeSegment(id));
      const after = Math.ceil(Date.now() / 1000);
      const ds = shmctl(id, IPC_STAT);
      assert.deepEqual(Object.keys(ds).sort(), [
        'shm_atime',
        'shm_cpid',
        'shm_ctime',
        'shm_dtime',
        'shm_lpid',
        'shm_nattch',
        'shm_perm',
        'shm_segsz',
      ]);
      assert.deepEqual(Object.keys(ds.shm_perm).sort(), ['cgid', 'cuid', 'gid', 'key', 'mode', 'seq', 'uid']);
      assert.equal(ds.shm_segsz, 5000, 'shm_segsz is the size asked for, not rounded to pages');
      assert.equal(ds.shm_cpid, process.pid);
      assert.equal(ds.shm_lpid, 0);
      assert.equal(ds.shm_nattch, 0);
      assert.equal(ds.shm_atime, 0);
      assert.equal(ds.shm_dtime, 0);
      assert.ok(ds.shm_ctime >= before && ds.shm_ctime <= after, `shm_ctime ${ds.shm_ctime} is the creation time`);
      assert.equal(ds.shm_perm.key, key);
      assert.equal(ds.shm_perm.mode, 0o640);
      assert.equal(ds.shm_perm.uid, process.getuid!());
      assert.equal(ds.shm_perm.gid, process.getgid!());
      assert.equal(ds.shm_perm.cuid, process.getuid!());
      assert.equal(ds.shm_perm.cgid, process.getgid!());
    });
  });

  it('counts attachments in shm_nattch and records the last attach and detach', () => {
    const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
    try {
      const a = shmat(id);
      let ds = shmctl(id, IPC_STAT);
      assert.equal(ds.shm_nattch, 1);
      assert.equal(ds.shm_lpid, process.pid);
      assert.ok(ds.shm_atime >= ds.shm_ctime);
      assert.equal(ds.shm_dtime, 0);
      const b = shmat(id);
      assert.equal(shmctl(id, IPC_STAT).shm_nattch, 2);
      shmdt(a);
      ds = shmctl(id, IPC_STAT);
      assert.equal(ds.shm_nattch, 1);
      assert.ok(ds.shm_dtime >= ds.shm_atime);
      shmdt(b);
      assert.equal(shmctl(id, IPC_STAT).shm_nattch, 0);
    } finally {
      removeSegment(id);
    }
  });

  it('equals what C reads with shmctl(IPC_STAT), including shm_nattch counted from both languages', async () => {
    await withCleanup(async (defer) => {
      const id = shmget(uniqueKey(), 12345, IPC_CREAT | IPC_EXCL | 0o604);
      defer(() => removeSegment(id));
      const a = shmat(id);
      defer(() => shmdt(a));
      const b = shmat(id);
      defer(() => shmdt(b));
      const c = await cStat(id);
      assert.deepEqual(c.stat, flatten(shmctl(id, IPC_STAT)));
      assert.equal(c.stat.shm_nattch, 2, 'C sees the two JS attachments');
      const attached = await cStat(id, true);
      assert.equal(attached.stat.shm_nattch, 3, 'C counts its own attachment too');
      assert.equal(attached.stat.shm_lpid, attached.pid);
      const ds = shmctl(id, IPC_STAT);
      assert.equal(ds.shm_nattch, 2, 'the C process detached');
      assert.equal(ds.shm_lpid, attached.pid, 'shm_lpid is the C process, which detached last');
    });
  });

  it('shm_cpid is the pid of the process that created the segment, shm_lpid of the last to attach or detach', async () => {
    const exe = await compileC('shm-create', C_CREATE);
    await withCleanup(async (defer) => {
      const key = uniqueKey();
      const result = await run(exe, [String(key), '100']);
      assertExitedCleanly(result, 'C create');
      const { pid, id } = lastJson<{ pid: number; id: number }>(result);
      defer(() => removeSegment(id));
      assert.equal(shmget(key, 0, 0), id);
      let ds = shmctl(id, IPC_STAT);
      assert.equal(ds.shm_cpid, pid);
      assert.equal(ds.shm_lpid, pid);
      assert.equal(ds.shm_segsz, 100);
      assert.equal(ds.shm_perm.mode, 0o600);
      const a = shmat(id);
      ds = shmctl(id, IPC_STAT);
      assert.equal(ds.shm_cpid, pid, 'attaching does not change the creator');
      assert.equal(ds.shm_lpid, process.pid);
      shmdt(a);
    });
  });

  it('SharedMemory.create makes mode 0600 by default, and its stat() is IPC_STAT', async () => {
    await withCleanup((defer) => {
      const shm = SharedMemory.create({ key: uniqueKey(), size: 3000 });
      defer(() => shm.remove());
      defer(() => shm[Symbol.dispose]());
      assert.equal(shm.stat().shm_perm.mode, 0o600);
      assert.deepEqual(shm.stat(), shmctl(shm.id, IPC_STAT));
      assert.equal(shm.stat().shm_segsz, 3000);
    });
  });
});

describe('shmctl IPC_SET', () => {
  it('changes the mode and leaves the owner alone when only mode is given; C sees the new mode', async () => {
    await withCleanup(async (defer) => {
      const id = shmget(uniqueKey(), 4096, IPC_CREAT | IPC_EXCL | 0o600);
      defer(() => removeSegment(id));
      const before = shmctl(id, IPC_STAT);
      shmctl(id, IPC_SET, { mode: 0o644 });
      const after = shmctl(id, IPC_STAT);
      assert.equal(after.shm_perm.mode, 0o644);
      assert.equal(after.shm_perm.uid, before.shm_perm.uid);
      assert.equal(after.shm_perm.gid, before.shm_perm.gid);
      assert.ok(after.shm_ctime >= before.shm_ctime);
      assert.equal((await cStat(id)).stat.mode, 0o644);
    });
  });

  it('changing the mode of a segment marked for removal keeps SHM_DEST', async () => {
    await withCleanup((defer) => {
      const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
      defer(() => removeSegment(id));
      const a = shmat(id);
      defer(() => shmdt(a));
      shmctl(id, IPC_RMID);
      shmctl(id, IPC_SET, { mode: 0o640 });
      assert.equal(shmctl(id, IPC_STAT).shm_perm.mode, SHM_DEST | 0o640, 'still marked for removal, new permission bits');
    });
  });

  it('giving the segment to nobody lets nobody change and remove it', { skip: !isRoot && 'needs root' }, async () => {
    await withCleanup(async (defer) => {
      const id = shmget(uniqueKey(), 4096, IPC_CREAT | IPC_EXCL | 0o600);
      defer(() => removeSegment(id));
      shmctl(id, IPC_SET, { uid: 65534, gid: 65534 });
      const ds = shmctl(id, IPC_STAT);
      assert.equal(ds.shm_perm.uid, 65534);
      assert.equal(ds.shm_perm.gid, 65534);
      assert.equal(ds.shm_perm.cuid, 0, 'the creator stays');
      assert.equal(ds.shm_perm.mode, 0o600);
      const result = await runNode(
        `
        import { shmctl, shmat, shmdt, IPC_SET, IPC_STAT, IPC_RMID } from 'SHMKIT';
        ${BECOME_NOBODY}
        const id = Number(process.argv[1]);
        const a = shmat(id);            // owner's bits now apply to nobody
        shmdt(a);
        shmctl(id, IPC_SET, { mode: 0o400 });
        const mode = shmctl(id, IPC_STAT).shm_perm.mode;
        shmctl(id, IPC_RMID);
        console.log(JSON.stringify({ mode }));
        `,
        [String(id)],
      );
      assertExitedCleanly(result, 'nobody owner child');
      assert.deepEqual(lastJson(result), { mode: 0o400 });
      assert.equal(segmentExists(id), false, 'nobody removed it');
    });
  });
});

describe('shmctl IPC_RMID', () => {
  it('removes an unattached segment at once', () => {
    const key = uniqueKey();
    const id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0o600);
    shmctl(id, IPC_RMID);
    assert.equal(segmentExists(id), false);
    assert.throws(() => shmget(key, 0, 0), { code: 'ENOENT' });
  });

  it('marks an attached segment SHM_DEST with key 0: still usable, and gone after the last detach', () => {
    const key = uniqueKey();
    const id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0o600);
    try {
      const a = shmat(id);
      const view = new Uint8Array(a.buffer);
      view[0] = 1;
      shmctl(id, IPC_RMID);
      const ds = shmctl(id, IPC_STAT);
      assert.equal(ds.shm_perm.mode & SHM_DEST, SHM_DEST);
      assert.equal(ds.shm_perm.key, IPC_PRIVATE);
      assert.equal(ds.shm_nattch, 1);
      assert.throws(() => shmget(key, 0, 0), { code: 'ENOENT' }, 'the key is free again');
      view[1] = 2;
      const b = shmat(id); // Linux still attaches by id
      assert.deepEqual(Array.from(new Uint8Array(b.buffer, 0, 2)), [1, 2]);
      shmdt(b);
      shmdt(a);
      assert.equal(segmentExists(id), false);
    } finally {
      removeSegment(id);
    }
  });
});

describe('shmctl SHM_LOCK and SHM_UNLOCK', () => {
  it('set and clear SHM_LOCKED in shm_perm.mode', async () => {
    await withCleanup((defer) => {
      const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
      defer(() => removeSegment(id));
      assert.equal(shmctl(id, IPC_STAT).shm_perm.mode & SHM_LOCKED, 0);
      shmctl(id, SHM_LOCK);
      assert.equal(shmctl(id, IPC_STAT).shm_perm.mode, SHM_LOCKED | 0o600);
      shmctl(id, SHM_UNLOCK);
      assert.equal(shmctl(id, IPC_STAT).shm_perm.mode, 0o600);
    });
  });
});

describe('shmctl IPC_INFO, SHM_INFO and SHM_STAT', () => {
  it('IPC_INFO gives the limits of /proc/sys/kernel as bigints', () => {
    const proc = (name: string) => BigInt(readFileSync(`/proc/sys/kernel/${name}`, 'utf8').trim());
    const info = shmctl(0, IPC_INFO);
    assert.equal(info.shmmax, proc('shmmax'));
    assert.equal(info.shmmni, proc('shmmni'));
    assert.equal(info.shmall, proc('shmall'));
    assert.equal(info.shmmin, 1n);
    assert.equal(typeof info.shmseg, 'bigint');
    assert.ok(Number.isInteger(info.highest_index) && info.highest_index >= 0);
  });

  it('SHM_INFO counts segments and their pages, alone in a private IPC namespace', {
    skip: !isRoot && 'needs root for unshare',
  }, async () => {
    const result = await runNodeInPrivateIpc(`
      import { shmget, shmctl, IPC_CREAT, IPC_PRIVATE, IPC_RMID, SHM_INFO, PAGE_SIZE } from 'SHMKIT';
      const usage = () => { const u = shmctl(0, SHM_INFO); return { used: u.used_ids, pages: String(u.shm_tot), highest: u.highest_index }; };
      const out = { empty: usage() };
      const ids = [1, PAGE_SIZE, PAGE_SIZE * 3 + 1].map((size) => shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600));
      out.three = usage();
      shmctl(ids[0], IPC_RMID);
      out.two = usage();
      shmctl(ids[1], IPC_RMID);
      shmctl(ids[2], IPC_RMID);
      out.none = usage();
      console.log(JSON.stringify(out));
    `);
    assertExitedCleanly(result, 'namespace child');
    const r = lastJson<Record<string, { used: number; pages: string; highest: number }>>(result);
    assert.deepEqual(r.empty, { used: 0, pages: '0', highest: 0 });
    assert.deepEqual(r.three, { used: 3, pages: String(1 + 1 + 4), highest: 2 }, 'shm_tot counts whole pages');
    assert.equal(r.two!.used, 2);
    assert.equal(r.two!.pages, '5');
    assert.equal(r.none!.used, 0);
    assert.ok(PAGE_SIZE > 0);
  });

  it('SHM_STAT by index, from 0 to highest_index, finds a segment we created and returns its id', async () => {
    await withCleanup((defer) => {
      const key = uniqueKey();
      const id = shmget(key, 777, IPC_CREAT | IPC_EXCL | 0o600);
      defer(() => removeSegment(id));
      const highest = shmctl(0, SHM_INFO).highest_index;
      const found = [];
      for (let index = 0; index <= highest; index++) {
        try {
          const entry = shmctl(index, SHM_STAT);
          if (entry.id === id) {
            found.push(entry);
            assert.deepEqual(shmctl(index, SHM_STAT_ANY), entry, 'SHM_STAT_ANY gives the same');
          }
        } catch (error) {
          assert.equal((error as { code?: string }).code, 'EINVAL', 'an unused index is EINVAL');
        }
      }
      assert.equal(found.length, 1);
      const { id: foundId, ...ds } = found[0]!;
      assert.equal(foundId, id);
      assert.deepEqual(ds, shmctl(id, IPC_STAT));
      assert.equal(ds.shm_perm.key, key);
    });
  });

  it('SHM_STAT_ANY shows nobody a segment that SHM_STAT and IPC_STAT refuse', { skip: !isRoot && 'needs root' }, async () => {
    await withCleanup(async (defer) => {
      const id = shmget(uniqueKey(), 4096, IPC_CREAT | IPC_EXCL | 0o600);
      defer(() => removeSegment(id));
      const result = await runNode(
        `
        import { shmctl, IPC_STAT, SHM_INFO, SHM_STAT, SHM_STAT_ANY } from 'SHMKIT';
        ${BECOME_NOBODY}
        const id = Number(process.argv[1]);
        const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
        let index = -1;
        for (let i = 0; i <= shmctl(0, SHM_INFO).highest_index; i++) {
          try { if (shmctl(i, SHM_STAT_ANY).id === id) index = i; } catch {}
        }
        console.log(JSON.stringify({ found: index >= 0, stat: code(() => shmctl(id, IPC_STAT)), shmStat: code(() => shmctl(index, SHM_STAT)) }));
        `,
        [String(id)],
      );
      assertExitedCleanly(result, 'nobody child');
      assert.deepEqual(lastJson(result), { found: true, stat: 'EACCES', shmStat: 'EACCES' });
    });
  });
});
