// The C-faithful message-queue calls behave as C's: msgrcv's choice of
// message by type (0, > 0, < 0, MSG_EXCEPT), MSG_NOERROR and E2BIG, IPC_NOWAIT
// (ENOMSG, EAGAIN), MSG_COPY, removal under a blocked msgrcv (EIDRM), the
// msqid_ds and msginfo structures, and argument errors before any system call.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import {
  IPC_CREAT,
  IPC_EXCL,
  IPC_INFO,
  IPC_NOWAIT,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
  IpcError,
  MSG_COPY,
  MSG_EXCEPT,
  MSG_INFO,
  MSG_NOERROR,
  MSG_STAT,
  MSG_STAT_ANY,
  msgctl,
  msgget,
  msgrcv,
  msgsnd,
} from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, removeQueue, uniqueKey } from './helpers/ipc.js';
import { assertExitedCleanly, C_AS_NOBODY, isRoot, JS_AS_NOBODY, lastJson, run, runNode } from './helpers/processes.js';
import { thrown, waitFor } from './helpers/shm.js';

assertNoLeaks();

const made: number[] = [];
afterEach(() => made.splice(0).forEach(removeQueue));

function newQueue(flags = 0o600): number {
  const id = msgget(IPC_PRIVATE, IPC_CREAT | flags);
  made.push(id);
  return id;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

function sendAll(id: number, messages: Array<[number, string]>): void {
  for (const [mtype, s] of messages) msgsnd(id, { mtype, mtext: text(s) });
}

function receiveAll(id: number, msgtyp = 0, flags = 0): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (;;) {
    try {
      const m = msgrcv(id, 8192, msgtyp, flags | IPC_NOWAIT);
      out.push([m.mtype, str(m.mtext)]);
    } catch (error) {
      if (error instanceof IpcError && error.code === 'ENOMSG') return out;
      throw error;
    }
  }
}

function code(fn: () => unknown): string {
  return (thrown(fn) as { code: string }).code;
}

describe('msgget', () => {
  it('creates a queue with the given permission bits, opens it by key, and refuses IPC_EXCL on a taken key', () => {
    const key = uniqueKey();
    const id = msgget(key, IPC_CREAT | IPC_EXCL | 0o640);
    made.push(id);
    assert.equal(msgget(key, 0), id);
    const ds = msgctl(id, IPC_STAT);
    assert.equal(ds.msg_perm.mode & 0o777, 0o640);
    assert.equal(ds.msg_perm.key, key | 0);
    assert.equal(ds.msg_perm.uid, process.getuid?.());
    const eexist = thrown(() => msgget(key, IPC_CREAT | IPC_EXCL | 0o600)) as IpcError;
    assert.ok(eexist instanceof IpcError);
    assert.equal(eexist.code, 'EEXIST');
    assert.equal(eexist.syscall, 'msgget');
    assert.match(eexist.message, /^msgget: EEXIST .*key 0x[0-9a-f]{8}/);
  });

  it('says ENOENT for a key without a queue when IPC_CREAT is not given', () => {
    const error = thrown(() => msgget(uniqueKey(), 0)) as IpcError;
    assert.equal(error.code, 'ENOENT');
    assert.match(error.message, /IPC_CREAT was not given/);
  });

  it('checks its arguments before any system call', () => {
    const before = msgctl(0, MSG_INFO).msgpool;
    assert.equal(
      code(() => msgget('1' as unknown as number, IPC_CREAT)),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.equal(
      code(() => msgget(IPC_PRIVATE, -1)),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      code(() => msgget(2 ** 32, IPC_CREAT)),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(msgctl(0, MSG_INFO).msgpool, before);
  });
});

describe('msgsnd and msgrcv', () => {
  it('msgtyp 0 takes messages in the order they were sent, whatever their type', () => {
    const id = newQueue();
    sendAll(id, [
      [3, 'a'],
      [1, 'b'],
      [2, 'c'],
    ]);
    assert.deepEqual(receiveAll(id), [
      [3, 'a'],
      [1, 'b'],
      [2, 'c'],
    ]);
  });

  it('msgtyp > 0 takes the first message of that type', () => {
    const id = newQueue();
    sendAll(id, [
      [1, 'a'],
      [2, 'b'],
      [1, 'c'],
      [2, 'd'],
    ]);
    assert.deepEqual(receiveAll(id, 2), [
      [2, 'b'],
      [2, 'd'],
    ]);
    assert.deepEqual(receiveAll(id), [
      [1, 'a'],
      [1, 'c'],
    ]);
  });

  it('msgtyp < 0 takes the first message of the lowest type up to |msgtyp|', () => {
    const id = newQueue();
    sendAll(id, [
      [5, 'five'],
      [3, 'three'],
      [4, 'four'],
      [3, 'three again'],
      [1, 'one'],
      [9, 'nine'],
    ]);
    assert.deepEqual(receiveAll(id, -4), [
      [1, 'one'],
      [3, 'three'],
      [3, 'three again'],
      [4, 'four'],
    ]);
    assert.deepEqual(receiveAll(id), [
      [5, 'five'],
      [9, 'nine'],
    ]);
  });

  it('MSG_EXCEPT takes the first message of any other type', () => {
    const id = newQueue();
    sendAll(id, [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [1, 'd'],
    ]);
    assert.deepEqual(receiveAll(id, 1, MSG_EXCEPT), [
      [2, 'b'],
      [3, 'c'],
    ]);
    assert.deepEqual(receiveAll(id), [
      [1, 'a'],
      [1, 'd'],
    ]);
  });

  it('a message longer than msgsz is E2BIG and stays on the queue; MSG_NOERROR cuts it', () => {
    const id = newQueue();
    sendAll(id, [[7, 'a long message']]);
    const error = thrown(() => msgrcv(id, 4, 0, IPC_NOWAIT)) as IpcError;
    assert.equal(error.code, 'E2BIG');
    assert.equal(error.syscall, 'msgrcv');
    assert.match(error.message, /msqid \d+, msgsz 4.*longer than msgsz/);
    assert.equal(msgctl(id, IPC_STAT).msg_qnum, 1);
    const cut = msgrcv(id, 4, 0, MSG_NOERROR | IPC_NOWAIT);
    assert.deepEqual([cut.mtype, str(cut.mtext)], [7, 'a lo']);
    assert.equal(msgctl(id, IPC_STAT).msg_qnum, 0, 'the rest of a cut message is gone, as in C');
  });

  it('IPC_NOWAIT: msgrcv on an empty queue is ENOMSG, msgsnd to a full queue is EAGAIN', () => {
    const id = newQueue();
    assert.equal(
      code(() => msgrcv(id, 100, 0, IPC_NOWAIT)),
      'ENOMSG',
    );
    assert.equal(
      code(() => msgrcv(id, 100, 5, IPC_NOWAIT)),
      'ENOMSG',
    );
    msgctl(id, IPC_SET, { msg_qbytes: 10 });
    msgsnd(id, { mtype: 1, mtext: new Uint8Array(10) }, IPC_NOWAIT);
    const full = thrown(() => msgsnd(id, { mtype: 1, mtext: new Uint8Array(1) }, IPC_NOWAIT)) as IpcError;
    assert.equal(full.code, 'EAGAIN');
    assert.match(full.message, /queue is full/);
    assert.equal(msgctl(id, IPC_STAT).msg_qnum, 1);
  });

  it('a message longer than MSGMAX is EINVAL; an empty message is allowed', () => {
    const id = newQueue();
    const { msgmax } = msgctl(0, IPC_INFO);
    assert.equal(
      code(() => msgsnd(id, { mtype: 1, mtext: new Uint8Array(msgmax + 1) }, IPC_NOWAIT)),
      'EINVAL',
    );
    msgsnd(id, { mtype: 1, mtext: new Uint8Array(msgmax) }, IPC_NOWAIT);
    msgsnd(id, { mtype: 2, mtext: '' });
    assert.equal(msgrcv(id, msgmax, 0).mtext.length, msgmax);
    assert.deepEqual(msgrcv(id, 0, 0), { mtype: 2, mtext: new Uint8Array(0) });
  });

  it('sends strings as UTF-8 and any ArrayBufferView by its bytes', () => {
    const id = newQueue();
    msgsnd(id, { mtype: 1, mtext: 'héllo' });
    msgsnd(id, { mtype: 1, mtext: new Uint16Array([0x0102]) });
    assert.equal(str(msgrcv(id, 100).mtext), 'héllo');
    assert.deepEqual([...msgrcv(id, 100).mtext], [...new Uint8Array(new Uint16Array([0x0102]).buffer)]);
  });

  it('MSG_COPY returns a copy of the message at an index and leaves the queue as it was', () => {
    const id = newQueue();
    sendAll(id, [
      [1, 'first'],
      [2, 'second'],
    ]);
    const copy = msgrcv(id, 100, 1, MSG_COPY | IPC_NOWAIT);
    assert.deepEqual([copy.mtype, str(copy.mtext)], [2, 'second']);
    assert.equal(
      code(() => msgrcv(id, 100, 2, MSG_COPY | IPC_NOWAIT)),
      'ENOMSG',
    );
    assert.equal(
      code(() => msgrcv(id, 100, 0, MSG_COPY)),
      'EINVAL',
    );
    assert.deepEqual(receiveAll(id), [
      [1, 'first'],
      [2, 'second'],
    ]);
  });

  it('a msgrcv blocked in another process fails with EIDRM when the queue is removed', async () => {
    const id = newQueue();
    const child = runNode(
      `
      import { msgrcv } from 'SHMKIT';
      try { msgrcv(Number(process.argv[1]), 100, 0, 0); console.log(JSON.stringify({ received: true })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, syscall: e.syscall })); }
    `,
      [String(id)],
    );
    await waitFor('the child to block in msgrcv', () => readFileSync('/proc/sysvipc/msg', 'utf8').length > 0 && childWaiting(id));
    msgctl(id, IPC_RMID);
    const result = await child;
    assertExitedCleanly(result);
    assert.deepEqual(lastJson(result), { code: 'EIDRM', syscall: 'msgrcv' });
  });

  it('records who sent and received last, and what the queue holds', () => {
    const id = newQueue();
    sendAll(id, [
      [1, 'abc'],
      [2, 'de'],
    ]);
    let ds = msgctl(id, IPC_STAT);
    assert.equal(ds.msg_qnum, 2);
    assert.equal(ds.msg_cbytes, 5);
    assert.equal(ds.msg_lspid, process.pid);
    assert.equal(ds.msg_lrpid, 0);
    assert.ok(ds.msg_stime > 0 && ds.msg_rtime === 0 && ds.msg_ctime > 0);
    msgrcv(id, 10);
    ds = msgctl(id, IPC_STAT);
    assert.equal(ds.msg_qnum, 1);
    assert.equal(ds.msg_cbytes, 2);
    assert.equal(ds.msg_lrpid, process.pid);
    assert.ok(ds.msg_rtime > 0);
  });

  it('checks its arguments before any system call', () => {
    const id = newQueue();
    assert.equal(
      code(() => msgsnd(id, { mtype: 0, mtext: 'x' })),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      code(() => msgsnd(id, { mtype: 1.5, mtext: 'x' })),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      code(() => msgsnd(id, { mtype: 1, mtext: 5 as unknown as string })),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.equal(
      code(() => msgsnd(id, null as unknown as { mtype: number; mtext: string })),
      'ERR_INVALID_ARG_TYPE',
    );
    assert.equal(
      code(() => msgsnd(1.5, { mtype: 1, mtext: 'x' })),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      code(() => msgrcv(id, -1)),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      code(() => msgrcv(id, 10, 0.5)),
      'ERR_OUT_OF_RANGE',
    );
    assert.equal(
      code(() => msgrcv(id, 10, 0, -1)),
      'ERR_OUT_OF_RANGE',
    );
    const error = thrown(() => msgsnd(id, { mtype: -3, mtext: 'x' })) as RangeError;
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /"msgp\.mtype"/);
    assert.equal(msgctl(id, IPC_STAT).msg_qnum, 0);
  });
});

describe('msgctl', () => {
  it('IPC_SET changes mode and msg_qbytes and keeps what is not given', () => {
    const id = newQueue(0o600);
    msgctl(id, IPC_SET, { mode: 0o644 });
    let ds = msgctl(id, IPC_STAT);
    assert.equal(ds.msg_perm.mode & 0o777, 0o644);
    const qbytes = ds.msg_qbytes;
    // Lowering needs no privilege (raising above MSGMNB needs CAP_SYS_RESOURCE).
    msgctl(id, IPC_SET, { msg_qbytes: Math.floor(qbytes / 2) });
    ds = msgctl(id, IPC_STAT);
    assert.equal(ds.msg_qbytes, Math.floor(qbytes / 2));
    assert.equal(ds.msg_perm.mode & 0o777, 0o644);
    assert.equal(
      code(() => msgctl(id, IPC_SET, { mode: 0o1000 })),
      'ERR_OUT_OF_RANGE',
    );
  });

  it('IPC_INFO gives the limits of /proc/sys/kernel, MSG_INFO the usage', () => {
    const proc = (name: string): number => Number(readFileSync(`/proc/sys/kernel/${name}`, 'utf8'));
    const limits = msgctl(0, IPC_INFO);
    assert.equal(limits.msgmax, proc('msgmax'));
    assert.equal(limits.msgmnb, proc('msgmnb'));
    assert.equal(limits.msgmni, proc('msgmni'));
    const before = msgctl(0, MSG_INFO);
    const id = newQueue();
    sendAll(id, [
      [1, 'abcd'],
      [1, 'ef'],
    ]);
    const after = msgctl(0, MSG_INFO);
    assert.equal(after.msgpool, before.msgpool + 1);
    assert.equal(after.msgmap, before.msgmap + 2);
    assert.equal(after.msgtql, before.msgtql + 6);
  });

  it('MSG_STAT and MSG_STAT_ANY find a queue by its index in the kernel table', () => {
    const id = newQueue();
    const { highest_index } = msgctl(0, MSG_INFO);
    const found: number[] = [];
    for (let i = 0; i <= highest_index; i++) {
      for (const cmd of [MSG_STAT, MSG_STAT_ANY] as const) {
        try {
          const ds = msgctl(i, cmd);
          if (ds.id === id) found.push(cmd);
        } catch (error) {
          assert.ok(error instanceof IpcError && error.code === 'EINVAL', String(error));
        }
      }
    }
    assert.deepEqual(found, [MSG_STAT, MSG_STAT_ANY]);
  });

  it('IPC_RMID removes the queue and its messages; the id is then EINVAL', () => {
    const id = newQueue();
    sendAll(id, [[1, 'x']]);
    msgctl(id, IPC_RMID);
    const error = thrown(() => msgctl(id, IPC_STAT)) as IpcError;
    assert.equal(error.code, 'EINVAL');
    assert.equal(error.syscall, 'msgctl');
    assert.equal(
      code(() => msgsnd(id, { mtype: 1, mtext: 'x' })),
      'EINVAL',
    );
  });

  it("an unknown command is the kernel's EINVAL", () => {
    const id = newQueue();
    assert.equal(
      code(() => msgctl(id, 12345)),
      'EINVAL',
    );
  });

  // IPC_SET needs ownership, not read permission. C and shmkit, as nobody,
  // change a queue of their own with mode 0, and try root's 0600 queue.
  const C_NO_READ = `${C_AS_NOBODY}
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int stranger = atoi(argv[1]);
  if (become_nobody()) return 3;
  struct msqid_ds ds;
  int none = msgget(IPC_PRIVATE, IPC_CREAT | 0);
  const char *stat = result(msgctl(none, IPC_STAT, &ds));
  memset(&ds, 0, sizeof ds);
  ds.msg_perm.uid = 65534; ds.msg_perm.gid = 65534; ds.msg_perm.mode = 0600; ds.msg_qbytes = 1000;
  const char *ownerSet = result(msgctl(none, IPC_SET, &ds));
  const char *ownerSetAll = result(msgctl(none, IPC_SET, &ds));
  msgctl(none, IPC_STAT, &ds);
  unsigned mode = ds.msg_perm.mode & 0777;
  unsigned long qbytes = ds.msg_qbytes;
  memset(&ds, 0, sizeof ds);
  ds.msg_perm.mode = 0666; ds.msg_qbytes = 1000;
  const char *strangerSet = result(msgctl(stranger, IPC_SET, &ds));
  msgctl(none, IPC_RMID, NULL);
  printf("{\\"stat\\":\\"%s\\",\\"ownerSet\\":\\"%s\\",\\"ownerSetAll\\":\\"%s\\",\\"mode\\":%u,\\"qbytes\\":%lu,\\"strangerSet\\":\\"%s\\"}\\n",
         stat, ownerSet, ownerSetAll, mode, qbytes, strangerSet);
  return 0;
}
`;

  it('as nobody, as in C: IPC_SET by the owner of a queue it may not read, EPERM for a stranger', {
    skip: !isRoot && 'needs root to become nobody',
  }, async () => {
    const stranger = newQueue(0o600);
    const c = await run(await compileC('msg-no-read', C_NO_READ), [String(stranger)]);
    assertExitedCleanly(c, 'C as nobody');
    const js = await runNode(
      `
      import { msgctl, msgget, IPC_CREAT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT } from 'SHMKIT';
      ${JS_AS_NOBODY}
      const stranger = Number(process.argv[1]);
      // Each step's value, or the code it failed with: the output compares whole with C's.
      const none = msgget(IPC_PRIVATE, IPC_CREAT | 0);
      const out = {};
      try {
        out.stat = result(() => msgctl(none, IPC_STAT));
        out.ownerSet = result(() => msgctl(none, IPC_SET, { mode: 0o600 }));
        out.ownerSetAll = result(() => msgctl(none, IPC_SET, { uid: 65534, gid: 65534, mode: 0o600, msg_qbytes: 1000 }));
        out.mode = value(() => msgctl(none, IPC_STAT).msg_perm.mode & 0o777);
        out.qbytes = value(() => msgctl(none, IPC_STAT).msg_qbytes);
        out.strangerSet = result(() => msgctl(stranger, IPC_SET, { mode: 0o666 }));
      } finally {
        msgctl(none, IPC_RMID);
      }
      console.log(JSON.stringify(out));
    `,
      [String(stranger)],
    );
    assertExitedCleanly(js, 'shmkit as nobody');
    const expected = { stat: 'EACCES', ownerSet: 'ok', ownerSetAll: 'ok', mode: 0o600, qbytes: 1000, strangerSet: 'EPERM' };
    assert.deepEqual(lastJson(c), expected, 'C');
    assert.deepEqual(lastJson(js), expected, 'shmkit, as C');
    assert.equal(msgctl(stranger, IPC_STAT).msg_perm.mode & 0o777, 0o600, "the stranger's queue is unchanged");
  });
});

/** Whether a process waits in msgrcv on queue `id` (/proc/sysvipc/msg has no such column: ask the wchan of children). */
function childWaiting(id: number): boolean {
  // The kernel puts a waiting receiver to sleep in do_msgrcv; any process of ours there will do.
  try {
    msgctl(id, IPC_STAT);
  } catch {
    return false;
  }
  const pids = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return pids.some((pid) => {
    try {
      return readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('msgrcv');
    } catch {
      return false;
    }
  });
}
