// Byte-for-byte interop with C programs of our own that use the same
// segments: struct st_pid at a key, an ftok-keyed "Hello World" writer and
// reader in both directions, ftok itself, and IPC_RMID while both attach.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IPC_STAT, IpcError, SharedMemory, SHM_DEST, ftok, shmctl, shmget } from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, removeSegment, uniqueKey, withCleanup } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, run } from './helpers/processes.js';
import { C_PRELUDE, C_PRINT_STAT, segmentExists, thrown } from './helpers/shm.js';

assertNoLeaks();

const ST_PID = `
struct st_pid {
  int pid;
  char name[51];
};
`;

// st-pid-writer KEY NAME: creates (or opens) the segment at KEY and writes its pid and NAME.
const C_ST_PID_WRITER = `${C_PRELUDE}${ST_PID}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  int id = shmget((key_t)strtol(argv[1], NULL, 0), sizeof(struct st_pid), IPC_CREAT | 0600);
  if (id == -1) die("shmget");
  struct st_pid *st = shmat(id, NULL, 0);
  if (st == (void *)-1) die("shmat");
  st->pid = getpid();
  strncpy(st->name, argv[2], sizeof st->name - 1);
  printf("{\\"pid\\":%d,\\"id\\":%d,\\"size\\":%zu,\\"nameOffset\\":%zu}\\n", getpid(), id, sizeof(struct st_pid), offsetof(struct st_pid, name));
  if (shmdt(st) == -1) die("shmdt");
  return 0;
}
`;

// st-pid-reader KEY: prints the struct at KEY.
const C_ST_PID_READER = `${C_PRELUDE}${ST_PID}
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int id = shmget((key_t)strtol(argv[1], NULL, 0), 0, 0);
  if (id == -1) die("shmget");
  const struct st_pid *st = shmat(id, NULL, SHM_RDONLY);
  if (st == (void *)-1) die("shmat");
  printf("pid=%d, name=%s\\n", st->pid, st->name);
  if (shmdt(st) == -1) die("shmdt");
  return 0;
}
`;

// ftok PATH ID...: prints ftok(PATH, ID) for each ID as a JSON array (null and errno name on failure).
const C_FTOK = `${C_PRELUDE}
int main(int argc, char **argv) {
  printf("[");
  for (int i = 2; i < argc; i++) {
    errno = 0;
    key_t key = ftok(argv[1], atoi(argv[i]));
    if (key == -1 && errno != 0) printf("%s\\"%s\\"", i > 2 ? "," : "", errno == ENOENT ? "ENOENT" : "error");
    else printf("%s%d", i > 2 ? "," : "", key);
  }
  printf("]\\n");
  return 0;
}
`;

// hello-writer PATH ID: like the textbook writer: ftok, shmget(1024, IPC_CREAT|0666), strcpy "Hello World".
const C_HELLO_WRITER = `${C_PRELUDE}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  key_t key = ftok(argv[1], atoi(argv[2]));
  if (key == -1) die("ftok");
  int id = shmget(key, 1024, 0666 | IPC_CREAT);
  if (id == -1) die("shmget");
  char *str = shmat(id, NULL, 0);
  if (str == (void *)-1) die("shmat");
  strcpy(str, "Hello World");
  printf("{\\"key\\":%d,\\"id\\":%d}\\n", key, id);
  if (shmdt(str) == -1) die("shmdt");
  return 0;
}
`;

// hello-reader PATH ID: ftok, shmget(key, 0, 0), prints the string.
const C_HELLO_READER = `${C_PRELUDE}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  key_t key = ftok(argv[1], atoi(argv[2]));
  if (key == -1) die("ftok");
  int id = shmget(key, 0, 0);
  if (id == -1) die("shmget");
  char *str = shmat(id, NULL, SHM_RDONLY);
  if (str == (void *)-1) die("shmat");
  printf("key=%d, data=%s\\n", key, str);
  if (shmdt(str) == -1) die("shmdt");
  return 0;
}
`;

// rmid-peer ID: attaches by id, prints IPC_STAT and the string at 0, writes a reply at 100, detaches, prints IPC_STAT.
const C_RMID_PEER = `${C_PRELUDE}${C_PRINT_STAT}
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int id = atoi(argv[1]);
  char *p = shmat(id, NULL, 0);
  if (p == (void *)-1) die("shmat");
  print_stat(id);
  printf("{\\"text\\":\\"%s\\"}\\n", p);
  strcpy(p + 100, "reply from C");
  if (shmdt(p) == -1) die("shmdt");
  print_stat(id);
  return 0;
}
`;

// rmid ID: shmctl(ID, IPC_RMID).  stat ID: prints IPC_STAT (fails with errno if the segment is gone).
const C_RMID = `${C_PRELUDE}
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  if (shmctl(atoi(argv[1]), IPC_RMID, NULL) == -1) die("shmctl IPC_RMID");
  return 0;
}
`;
const C_STAT = `${C_PRELUDE}${C_PRINT_STAT}
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  print_stat(atoi(argv[1]));
  return 0;
}
`;

const LE = endianness() === 'LE';

function readStPid(bytes: Uint8Array): { pid: number; name: string } {
  const pid = new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, LE);
  const name = bytes.subarray(4, 4 + 51);
  const end = name.indexOf(0);
  return { pid, name: Buffer.from(end === -1 ? name : name.subarray(0, end)).toString('utf8') };
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('utf8');
}

interface CStat {
  key: number;
  mode: number;
  shm_nattch: number;
  shm_segsz: number;
}

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shmkit-interop-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('struct st_pid shared with C', () => {
  it('a C writer at a key fills struct st_pid; JS reads the same pid and name at the same offsets', async () => {
    const writer = await compileC('st-pid-writer', C_ST_PID_WRITER);
    const key = uniqueKey();
    await withCleanup(async (defer) => {
      const result = await run(writer, [String(key), 'written by C']);
      assertExitedCleanly(result, 'st_pid writer');
      const c = lastJson<{ pid: number; id: number; size: number; nameOffset: number }>(result);
      defer(() => removeSegment(c.id));
      assert.equal(c.size, 56, 'sizeof(struct st_pid)');
      assert.equal(c.nameOffset, 4);
      const shm = SharedMemory.open({ key });
      defer(() => shm.detach());
      assert.equal(shm.id, c.id);
      assert.equal(shm.size, c.size);
      assert.deepEqual(readStPid(shm.bytes), { pid: c.pid, name: 'written by C' });
    });
  });

  it('JS writes struct st_pid into a segment it created; a C reader prints the same pid and name', async () => {
    const reader = await compileC('st-pid-reader', C_ST_PID_READER);
    const key = uniqueKey();
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ key, size: 56 });
      defer(() => shm.remove());
      defer(() => shm[Symbol.dispose]());
      const view = new DataView(shm.buffer);
      view.setInt32(0, process.pid, LE);
      shm.write(4, 'written by JS\0');
      const result = await run(reader, [String(key)]);
      assertExitedCleanly(result, 'st_pid reader');
      assert.equal(result.stdout, `pid=${process.pid}, name=written by JS\n`);
    });
  });

  it("a C writer and JS take turns on the same struct, each seeing the other's latest write", async () => {
    const writer = await compileC('st-pid-writer', C_ST_PID_WRITER);
    const reader = await compileC('st-pid-reader', C_ST_PID_READER);
    const key = uniqueKey();
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ key, size: 56 });
      defer(() => shm.remove());
      defer(() => shm[Symbol.dispose]());
      const first = await run(writer, [String(key), 'C one']); // opens the existing segment (IPC_CREAT without IPC_EXCL)
      assertExitedCleanly(first, 'writer');
      assert.deepEqual(readStPid(shm.bytes), { pid: lastJson<{ pid: number }>(first).pid, name: 'C one' });
      shm.bytes.fill(0, 4);
      shm.write(4, 'JS two');
      const seen = await run(reader, [String(key)]);
      assertExitedCleanly(seen, 'reader');
      assert.match(seen.stdout, /, name=JS two\n$/);
    });
  });
});

describe('ftok and the Hello World pair', () => {
  it("ftok gives the same key as C's ftok for the same path and project id", async () => {
    const exe = await compileC('ftok', C_FTOK);
    const file = join(dir, 'keyfile');
    writeFileSync(file, '');
    const ids = [1, 65, 127, 128, 255, 256, 0x1ff, 0];
    for (const path of [file, dir, '/']) {
      const result = await run(exe, [path, ...ids.map(String)]);
      assertExitedCleanly(result, 'C ftok');
      assert.deepEqual(
        ids.map((id) => ftok(path, id)),
        lastJson(result),
        path,
      );
    }
    assert.notEqual(ftok(file, 1), ftok(dir, 1), 'different files give different keys');
    assert.equal(ftok(file, 0x141), ftok(file, 0x41), 'only the low 8 bits of the project id count, as in C');
  });

  it("ftok of a missing file is IpcError ENOENT, as C's ftok fails", async () => {
    const exe = await compileC('ftok', C_FTOK);
    const missing = join(dir, 'missing');
    const result = await run(exe, [missing, '1']);
    assert.deepEqual(lastJson(result), ['ENOENT']);
    const error = thrown(() => ftok(missing, 1));
    assert.ok(error instanceof IpcError);
    assert.equal(error.code, 'ENOENT');
    assert.equal(error.syscall, 'ftok');
    assert.match(error.message, new RegExp(`path '${missing}'`));
  });

  it('a C writer puts "Hello World" at ftok(path, id); JS opens the same path and id and reads it', async () => {
    const writer = await compileC('hello-writer', C_HELLO_WRITER);
    const file = join(dir, 'hello-c');
    writeFileSync(file, '');
    await withCleanup(async (defer) => {
      const result = await run(writer, [file, '65']);
      assertExitedCleanly(result, 'hello writer');
      const c = lastJson<{ key: number; id: number }>(result);
      defer(() => removeSegment(c.id));
      assert.equal(ftok(file, 65), c.key);
      const shm = SharedMemory.open({ path: file, projId: 65, readOnly: true });
      defer(() => shm.detach());
      assert.equal(shm.key, c.key);
      assert.equal(shm.id, c.id);
      assert.equal(shm.size, 1024);
      assert.equal(cString(shm.read()), 'Hello World');
    });
  });

  it('JS writes "Hello World" at ftok(path, id); a C reader finds it with its own ftok', async () => {
    const reader = await compileC('hello-reader', C_HELLO_READER);
    const file = join(dir, 'hello-js');
    writeFileSync(file, '');
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ path: file, projId: 66, size: 1024 });
      defer(() => shm.remove());
      defer(() => shm[Symbol.dispose]());
      assert.equal(shm.key, ftok(file, 66));
      shm.write(0, 'Hello World\0');
      const result = await run(reader, [file, '66']);
      assertExitedCleanly(result, 'hello reader');
      assert.equal(result.stdout, `key=${shm.key}, data=Hello World\n`);
    });
  });
});

describe('IPC_RMID while JS and C are attached', () => {
  it('a segment JS removes stays usable to both, shows SHM_DEST, and goes after the last detach', async () => {
    const peer = await compileC('rmid-peer', C_RMID_PEER);
    const stat = await compileC('shm-stat-only', C_STAT);
    const key = uniqueKey();
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ key, size: 4096 });
      defer(() => shm[Symbol.dispose]());
      defer(() => removeSegment(shm.id));
      const view = shm.bytes;
      shm.write(0, 'before removal\0');
      shm.remove();
      let ds = shmctl(shm.id, IPC_STAT);
      assert.equal(ds.shm_perm.mode, SHM_DEST | 0o600);
      assert.equal(ds.shm_nattch, 1);
      assert.throws(() => shmget(key, 0, 0), { code: 'ENOENT' }, 'no one can find it by key any more');

      const result = await run(peer, [String(shm.id)]);
      assertExitedCleanly(result, 'rmid peer');
      const [whileAttached, text, afterDetach] = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as CStat & { text: string });
      assert.equal(whileAttached!.shm_nattch, 2, 'C counts itself and JS');
      assert.equal(whileAttached!.mode, SHM_DEST | 0o600, 'C sees SHM_DEST too');
      assert.equal(whileAttached!.key, 0);
      assert.equal(text!.text, 'before removal');
      assert.equal(afterDetach!.shm_nattch, 1, 'C sees only JS after its shmdt');
      // C's write is in the view JS already had.
      assert.equal(cString(view.subarray(100)), 'reply from C');
      ds = shmctl(shm.id, IPC_STAT);
      assert.equal(ds.shm_nattch, 1);

      shm.detach();
      assert.equal(segmentExists(shm.id), false, 'gone after the last detach');
      const gone = await run(stat, [String(shm.id)]);
      assert.equal(gone.code, 1, 'C IPC_STAT fails too');
      assert.match(gone.stderr, /Invalid argument/);
    });
  });

  it('a segment C removes while JS is attached stays usable in JS and goes when JS detaches', async () => {
    const rmid = await compileC('shm-rmid', C_RMID);
    await withCleanup(async (defer) => {
      const shm = SharedMemory.create({ key: uniqueKey(), size: 4096 });
      defer(() => shm[Symbol.dispose]());
      defer(() => removeSegment(shm.id));
      assertExitedCleanly(await run(rmid, [String(shm.id)]), 'C rmid');
      assert.equal(shm.stat().shm_perm.mode & SHM_DEST, SHM_DEST);
      shm.write(10, 'still here');
      assert.equal(Buffer.from(shm.read(10, 10)).toString(), 'still here');
      shm.detach();
      assert.equal(segmentExists(shm.id), false);
    });
  });
});
