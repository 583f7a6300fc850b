// The usual mistakes get a message that says what to do, with the facts that
// show the cause, each made to happen for real: a taken key, a key nobody
// created, a missing file, another user's object, a size that does not fit,
// a system limit reached, an object removed while in use. The file runs in a
// private IPC namespace, where it may lower the namespace's limits (shmmni,
// shmall, shmmax, kernel.sem) and lists only its own objects.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants as os } from 'node:os';
import { describe, it } from 'node:test';
import { getSystemErrorName } from 'node:util';
import {
  Channel,
  ftok,
  GETNCNT,
  GETVAL,
  IPC_CREAT,
  IPC_EXCL,
  IPC_INFO,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_STAT,
  IpcError,
  MessageQueue,
  Mutex,
  msgctl,
  PubSub,
  Semaphore,
  SemaphoreSet,
  SharedMemory,
  semctl,
  semget,
  Service,
  SHM_INFO,
  shmat,
  shmctl,
  shmget,
} from '../src/index.js';
import { check } from '../src/core/errors.js';
import { hint } from '../src/sysv/hints.js';
import { assertNoLeaks, removeSegment, uniqueKey, usedSegments, withCleanup } from './helpers/ipc.js';
import { runFileInPrivateIpc } from './helpers/namespaces.js';
import { assertExitedCleanly, isRoot, lastJson, runNode } from './helpers/processes.js';
import { BECOME_NOBODY, thrown, waitFor } from './helpers/shm.js';

// The tests that set kernel limits do so only in a namespace of this file's own (root).
const noPrivateIpc = await runFileInPrivateIpc();

assertNoLeaks();

function hex(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/** The IpcError `fn` throws: `code` from `syscall`, errno negative as in Node, the message as Node's system errors start. */
function failure(fn: () => unknown, code: string, syscall: string): IpcError {
  const error = thrown(fn);
  assert.ok(error instanceof IpcError, `expected an IpcError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.equal(error.syscall, syscall);
  assert.equal(getSystemErrorName(error.errno), code);
  assert.ok(error.message.startsWith(`${syscall}: ${code} (`), error.message);
  return error;
}

/** Runs `fn` with the sysctl `name` (of this private IPC namespace) set to `value`, then puts it back. */
async function withSysctl<T>(name: string, value: string, fn: () => Promise<T> | T): Promise<T> {
  const path = `/proc/sys/kernel/${name}`;
  const saved = readFileSync(path, 'utf8');
  writeFileSync(path, value);
  try {
    return await fn();
  } finally {
    writeFileSync(path, saved);
  }
}

/** Removes semaphore set `id` if it still exists (cleanup that never throws). */
function removeSet(id: number): void {
  try {
    semctl(id, 0, IPC_RMID);
  } catch {
    // already gone
  }
}

describe('EEXIST: says to open instead (openOrCreate) or to remove the leftover, with its key', () => {
  it('a segment: SharedMemory.openOrCreate and shmkit rm --key with the key', async () => {
    const key = uniqueKey();
    using first = SharedMemory.create({ key, size: 4096 });
    try {
      const error = failure(() => SharedMemory.create({ key, size: 4096 }), 'EEXIST', 'shmget');
      assert.match(error.message, new RegExp(`key ${hex(key)}, size 4096: a segment with this key exists`));
      assert.match(error.message, new RegExp(`SharedMemory\\.openOrCreate\\(\\{ key: ${hex(key)}, size \\}\\)`));
      assert.match(error.message, new RegExp(`shmkit rm --key ${hex(key)}$`));
      // The hint is also a property of its own, without the words that name the argument.
      assert.match(error.hint ?? '', /^to share it, open it instead/);
      assert.ok(error.message.endsWith(`: a segment with this key exists (IPC_CREAT|IPC_EXCL); ${error.hint}`), error.message);
    } finally {
      first.remove();
    }
  });

  it('a semaphore set: SemaphoreSet.open / Mutex.openOrCreate and shmkit rm -s --key with the key', () => {
    const key = uniqueKey();
    const id = semget(key, 1, IPC_CREAT | IPC_EXCL | 0o600);
    try {
      const error = failure(() => SemaphoreSet.create({ key, count: 1 }), 'EEXIST', 'semget');
      assert.match(error.message, /openOrCreate/);
      assert.match(error.message, new RegExp(`shmkit rm -s --key ${hex(key)}$`));
    } finally {
      removeSet(id);
    }
  });
});

describe('ENOENT: says that nothing created the key and who creates it, or which file is missing', () => {
  it('a key without a segment: nothing has created it; create it first (SharedMemory.create, shmkit create --key) or openOrCreate', () => {
    const key = uniqueKey();
    const error = failure(() => SharedMemory.open({ key }), 'ENOENT', 'shmget');
    assert.match(error.message, new RegExp(`nothing has created key ${hex(key)}`));
    assert.match(error.message, new RegExp(`SharedMemory\\.create\\(\\{ key: ${hex(key)}, size \\}\\)`));
    assert.match(error.message, new RegExp(`shmkit create --key ${hex(key)} --size N`));
    assert.match(error.message, /SharedMemory\.openOrCreate/);
  });

  it('a key without a Channel, PubSub or Service: their own create, not SharedMemory.create or shmkit create, which make a plain segment', () => {
    const key = uniqueKey();
    const opens: Array<[string, () => unknown]> = [
      ['Channel', () => Channel.open({ key })],
      ['PubSub', () => PubSub.open({ key })],
      ['Service', () => Service.open({ key })],
    ];
    for (const [what, open] of opens) {
      const error = failure(open, 'ENOENT', 'shmget');
      assert.equal(
        error.message,
        `shmget: ENOENT (No such file or directory): key ${hex(key)}, size 0: no segment has this key and IPC_CREAT was not given; ` +
          `nothing has created key ${hex(key)} in this IPC namespace (or it was removed): ` +
          `start the program that creates it first (${what}.create({ key: ${hex(key)}, capacity })), then open it`,
      );
      assert.equal(error.hint, error.message.slice(error.message.indexOf('nothing has created')));
      assert.ok(error.stack?.startsWith(`IpcError: ${error.message}\n`), error.stack);
    }
    // A missing file is still ftok's error.
    assert.equal(failure(() => Channel.open({ path: '/no/such/file' }), 'ENOENT', 'ftok').syscall, 'ftok');
  });

  it('a key without a semaphore set: the same, with the calls that create a set', () => {
    const key = uniqueKey();
    const error = failure(() => SemaphoreSet.open({ key }), 'ENOENT', 'semget');
    assert.match(error.message, new RegExp(`nothing has created key ${hex(key)}`));
    assert.match(error.message, new RegExp(`SemaphoreSet\\.create\\(\\{ key: ${hex(key)}, count \\}\\)`));
    assert.match(error.message, new RegExp(`shmkit create -s --key ${hex(key)} --count N`));
  });

  it('a path that does not exist (ftok and openOrCreate({ path })): names the path and says the file must exist', () => {
    const path = `/tmp/shmkit-hint-missing-${process.pid}`;
    for (const call of [() => ftok(path, 1), () => SharedMemory.openOrCreate({ path, size: 4096 }), () => SharedMemory.open({ path })]) {
      const error = failure(call, 'ENOENT', 'ftok');
      assert.match(error.message, new RegExp(`path '${path}'; '${path}' does not exist: `));
      assert.match(error.message, /derives the key from an existing file.*create the file first/);
    }
    assert.equal(usedSegments(), 0, 'nothing was created');
  });

  it('a path whose directory is missing: names the directory', () => {
    const dir = `/tmp/shmkit-hint-missing-dir-${process.pid}`;
    const error = failure(() => ftok(`${dir}/sub/app`, 1), 'ENOENT', 'ftok');
    assert.match(error.message, new RegExp(`'${dir}/sub/app' does not exist, nor its directory '${dir}'`));
  });
});

describe('EACCES: shows the owner, the mode in octal and who this process is (a child dropped to nobody)', {
  skip: !isRoot && 'needs root to run a child as nobody',
}, () => {
  it('shmat, SharedMemory.open, shmget, semget and semctl: uid, mode, euid, the bits that apply, and read-only where reading is allowed', async () => {
    await withCleanup(async (defer) => {
      const key644 = uniqueKey();
      const id644 = shmget(key644, 4096, IPC_CREAT | IPC_EXCL | 0o644);
      defer(() => removeSegment(id644));
      const id600 = shmget(uniqueKey(), 4096, IPC_CREAT | IPC_EXCL | 0o600);
      defer(() => removeSegment(id600));
      const semKey = uniqueKey();
      const semid = semget(semKey, 1, IPC_CREAT | IPC_EXCL | 0o640);
      defer(() => removeSet(semid));

      const result = await runNode(
        `
        import { shmat, shmget, semget, semctl, SharedMemory, IPC_STAT } from 'SHMKIT';
        ${BECOME_NOBODY}
        const [key644, id644, id600, semKey, semid] = process.argv.slice(1).map(Number);
        const message = (f) => { try { f(); return 'no error'; } catch (e) { return e.message; } };
        console.log(JSON.stringify({
          euid: process.geteuid(),
          shmat644: message(() => shmat(id644)),
          open644: message(() => SharedMemory.open({ key: key644 })),
          shmat600: message(() => shmat(id600)),
          shmget644: message(() => shmget(key644, 0, 0o600)),
          semget: message(() => semget(semKey, 0, 0o600)),
          semctl: message(() => semctl(semid, 0, IPC_STAT)),
        }));
      `,
        [String(key644), String(id644), String(id600), String(semKey), String(semid)],
      );
      assertExitedCleanly(result, 'nobody child');
      const r = lastJson<Record<string, string>>(result);
      const me = `this process is euid ${r.euid} \\(egid \\d+\\)`;
      const readOnly = /attach it read-only \(SHM_RDONLY; readOnly: true\)/;
      for (const what of ['shmat644', 'open644']) {
        assert.match(
          r[what]!,
          new RegExp(
            `^shmat: EACCES \\(.*\\): shmid ${id644}: .*owned by uid 0 \\(gid 0, creator uid 0\\) with mode 0644; ${me}, so the other bits apply and grant read only`,
          ),
          what,
        );
        assert.match(r[what]!, readOnly, what);
      }
      assert.match(r.shmat600!, new RegExp(`owned by uid 0 .* with mode 0600; ${me}, so the other bits apply and grant nothing`));
      assert.doesNotMatch(r.shmat600!, readOnly, 'read-only would not help');
      assert.match(r.shmget644!, new RegExp(`^shmget: EACCES \\(.*\\): key ${hex(key644)}, size 0: .*mode 0644; ${me}`));
      assert.doesNotMatch(r.shmget644!, readOnly, 'shmget attaches nothing');
      assert.match(
        r.semget!,
        new RegExp(
          `^semget: EACCES \\(.*\\): key ${hex(semKey)}, nsems 0: .*the set is owned by uid 0 .* with mode 0640; ${me}, so the other bits apply and grant nothing`,
        ),
      );
      assert.match(
        r.semctl!,
        new RegExp(`^semctl: EACCES \\(.*\\): semid ${semid}, IPC_STAT: .*with mode 0640; ${me}.*semctl\\(id, 0, IPC_SET, \\{ mode \\}\\)`),
      );
    });
  });
});

describe('EINVAL on a size: the segment’s real size, or the kernel’s shmmin/shmmax', () => {
  it('asking an existing key for more than its segment has (shmget, SharedMemory.openOrCreate) gives the real size', async () => {
    const key = uniqueKey();
    const id = shmget(key, 100, IPC_CREAT | IPC_EXCL | 0o600);
    try {
      for (const call of [() => shmget(key, 200, 0), () => SharedMemory.openOrCreate({ key, size: 8192 })]) {
        const error = failure(call, 'EINVAL', 'shmget');
        assert.match(error.message, /the segment with this key has 100 bytes: ask for at most that, or 0/);
      }
    } finally {
      removeSegment(id);
    }
  });

  it('creating with size 0 names shmmin, and above shmmax names shmmax with its value and sysctl', { skip: noPrivateIpc }, async () => {
    assert.match(
      failure(() => shmget(IPC_PRIVATE, 0, IPC_CREAT | 0o600), 'EINVAL', 'shmget').message,
      /size 0: .*at least shmmin \(1\) bytes/,
    );
    await withSysctl('shmmax', '8192', () => {
      const error = failure(() => SharedMemory.create({ size: 8193 }), 'EINVAL', 'shmget');
      assert.match(error.message, /size 8193: .*above shmmax, 8192 bytes \(sysctl kernel\.shmmax; shmkit limits\)/);
    });
  });

  it('semget: more semaphores than the existing set has gives its count; above semmsl names semmsl', () => {
    const key = uniqueKey();
    const id = semget(key, 2, IPC_CREAT | IPC_EXCL | 0o600);
    try {
      assert.match(failure(() => semget(key, 3, 0), 'EINVAL', 'semget').message, /the set with this key has 2 semaphores/);
      const semmsl = semctl(0, 0, IPC_INFO).semmsl;
      assert.match(
        failure(() => semget(IPC_PRIVATE, semmsl + 1, IPC_CREAT | 0o600), 'EINVAL', 'semget').message,
        new RegExp(`0 to semmsl \\(${semmsl}\\).*sysctl kernel\\.sem`),
      );
    } finally {
      removeSet(id);
    }
  });
});

describe('EINVAL on an id that names nothing: says so, why an id goes, and which shmkit ls shows what there is', () => {
  // A removed private segment, set and queue: their ids name nothing now, as a stale id handed to another process.
  function goneIds(): { shmid: number; semid: number; msqid: number } {
    const shm = SharedMemory.create({ size: 4096 });
    const shmid = shm.id;
    shm.detach();
    const set = SemaphoreSet.create({ count: 1 });
    set.remove();
    const queue = MessageQueue.create();
    queue.remove();
    return { shmid, semid: set.id, msqid: queue.id };
  }

  it('opening by id (SharedMemory, Channel, SemaphoreSet, Mutex, MessageQueue): no such object, not a bad address or semnum', () => {
    const { shmid, semid, msqid } = goneIds();
    const cases: Array<[() => unknown, string, string, string]> = [
      [() => SharedMemory.open({ id: shmid }), 'shmat', `shmid ${shmid}: no such segment; no segment has this id`, 'shmkit ls lists'],
      [() => Channel.open({ id: shmid }), 'shmat', `shmid ${shmid}: no such segment; no segment has this id`, 'shmkit ls lists'],
      [
        () => SemaphoreSet.open({ id: semid }),
        'semctl',
        `semid ${semid}, IPC_STAT: no such set; no semaphore set has this id`,
        'shmkit ls -s lists',
      ],
      [
        () => Mutex.open({ id: semid }),
        'semctl',
        `semid ${semid}, IPC_STAT: no such set; no semaphore set has this id`,
        'shmkit ls -s lists',
      ],
      [
        () => MessageQueue.open({ id: msqid }),
        'msgctl',
        `msqid ${msqid}, IPC_STAT: no such queue; no message queue has this id`,
        'shmkit ls -q lists',
      ],
    ];
    for (const [open, syscall, words, list] of cases) {
      const error = failure(open, 'EINVAL', syscall);
      assert.ok(
        error.message.startsWith(`${syscall}: EINVAL (Invalid argument): ${words} in this IPC namespace: it was removed`),
        error.message,
      );
      assert.ok(error.message.includes(list), error.message);
      assert.ok(error.hint?.includes('another IPC namespace'), error.message);
    }
  });

  it('the C-faithful calls: the same for shmat and IPC_STAT; where the address, semnum or command may be at fault, no hint', () => {
    const { shmid, semid, msqid } = goneIds();
    assert.match(failure(() => shmat(shmid), 'EINVAL', 'shmat').message, /: no such segment; no segment has this id/);
    assert.match(failure(() => semctl(semid, 0, IPC_STAT), 'EINVAL', 'semctl').message, /: no such set; no semaphore set has this id/);
    assert.match(failure(() => msgctl(msqid, IPC_STAT), 'EINVAL', 'msgctl').message, /: no such queue; no message queue has this id/);
    const atAddress = failure(() => shmat(shmid, 0x7f00_0000_0000n), 'EINVAL', 'shmat');
    assert.match(atAddress.message, /: no such segment, or a bad address$/);
    assert.equal(atAddress.hint, undefined);
    assert.equal(failure(() => semctl(semid, 0, GETVAL), 'EINVAL', 'semctl').hint, undefined);
  });
});

describe('ENOSPC and ENOMEM: which limit, its sysctl, and shmkit limits', { skip: noPrivateIpc }, () => {
  it('shmmni reached: counts the segments and names kernel.shmmni', async () => {
    await withCleanup(async (defer) => {
      const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
      defer(() => removeSegment(id));
      await withSysctl('shmmni', String(shmctl(0, SHM_INFO).used_ids), () => {
        const error = failure(() => SharedMemory.create({ size: 4096 }), 'ENOSPC', 'shmget');
        assert.match(error.message, /the system has 1 segment, as many as shmmni allows \(sysctl kernel\.shmmni; shmkit limits\)/);
        assert.match(error.message, /shmkit rm --orphans/);
      });
    });
  });

  it('shmall reached: the pages in use and needed, and kernel.shmall', async () => {
    await withSysctl('shmall', '4', () => {
      const error = failure(() => shmget(IPC_PRIVATE, 5 * 4096, IPC_CREAT | 0o600), 'ENOSPC', 'shmget');
      assert.match(
        error.message,
        /; 0 pages of \d+ bytes in use, and this segment needs \d+ more: over shmall \(4 pages; sysctl kernel\.shmall; shmkit limits\)/,
      );
    });
  });

  it('semmni and semmns reached: named with the fields of kernel.sem', async () => {
    const sem = readFileSync('/proc/sys/kernel/sem', 'utf8').trim().split(/\s+/);
    const id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0o600);
    try {
      await withSysctl('sem', `${sem[0]} ${sem[1]} ${sem[2]} 1`, () => {
        const error = failure(() => SemaphoreSet.create({ count: 1 }), 'ENOSPC', 'semget');
        assert.match(
          error.message,
          /the system has 1 set, as many as semmni allows \(sysctl kernel\.sem is "semmsl semmns semopm semmni"; shmkit limits\)/,
        );
      });
      await withSysctl('sem', `${sem[0]} 3 ${sem[2]} ${sem[3]}`, () => {
        const error = failure(() => semget(IPC_PRIVATE, 2, IPC_CREAT | 0o600), 'ENOSPC', 'semget');
        assert.match(error.message, /2 semaphores in use, and this set needs 2 more: over semmns \(3; sysctl kernel\.sem/);
      });
    } finally {
      removeSet(id);
    }
  });

  const overcommit = readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim();
  it('a size more than the machine can commit is ENOMEM that says so, naming vm.overcommit_memory and not shmmax/shmall', {
    skip: overcommit === '1' && 'vm.overcommit_memory is 1: the kernel commits any size',
  }, () => {
    const error = failure(() => SharedMemory.create({ size: 2 ** 50 }), 'ENOMEM', 'shmget');
    assert.match(
      error.message,
      /size 1125899906842624: .*the kernel will not commit 1024\.0 TiB of memory: more than this machine can back \(RAM [\d.]+ [KMGT]iB/,
    );
    assert.match(error.message, /sysctl vm\.overcommit_memory [02]; this is the memory limit, not shmmax or shmall \(shmkit limits\)/);
    assert.equal(shmctl(0, SHM_INFO).used_ids, 0, 'nothing was created');
  });
});

describe('EIDRM: says the object was removed while in use', () => {
  it('a semaphore wait whose set is removed rejects with EIDRM saying so', async () => {
    const sem = Semaphore.create();
    let removed = false;
    try {
      const waiting = sem.acquire({ timeoutMs: 10_000 }).then(
        () => assert.fail('acquired'),
        (e: unknown) => e,
      );
      // Removed only once the wait is in the kernel, so the kernel answers EIDRM (not EINVAL for a gone id).
      await waitFor('the wait to reach the kernel', () => semctl(sem.id, 0, GETNCNT) === 1);
      sem.remove();
      removed = true;
      const error = await waiting;
      assert.ok(error instanceof IpcError);
      assert.equal(error.code, 'EIDRM');
      assert.equal(error.errno, -os.errno.EIDRM);
      assert.match(
        error.message,
        new RegExp(
          `^semop: EIDRM \\(.*\\): semid ${sem.id}: the set was removed; someone removed it \\(IPC_RMID: remove\\(\\), shmkit rm, ipcrm\\) while this process was using it; remove a shared set only once every process is done with it`,
        ),
      );
    } finally {
      if (!removed) sem.remove();
      sem[Symbol.dispose]();
    }
  });
});

describe('a hint never hides the error it explains', () => {
  it('when its facts cannot be had (the object is gone), the hint goes without them', () => {
    const id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600);
    shmctl(id, IPC_RMID);
    const text = hint('EACCES', { object: 'segment', id, shmflg: 0 }) ?? '';
    assert.match(text, /^this process is euid \d+ \(egid \d+\); run as its owner/);
    assert.doesNotMatch(text, /owned by/);
    assert.match(hint('EPERM', { object: 'set', id: 0x7fff_fffe }) ?? '', /^this process is euid/);
  });

  it('when explaining throws, the IpcError of the call is thrown all the same, without the words', () => {
    const error = thrown(() =>
      check(-os.errno.EEXIST, 'shmget', () => {
        throw new Error('explaining failed');
      }),
    );
    assert.ok(error instanceof IpcError);
    assert.equal(error.code, 'EEXIST');
    assert.equal(error.message, 'shmget: EEXIST (File exists)');
  });

  it('an errno without a usual fix gets no hint', () => {
    assert.equal(hint('EINTR', { object: 'set', id: 1 }), undefined);
    assert.equal(hint('EISDIR', { path: '/' }), undefined);
  });
});
