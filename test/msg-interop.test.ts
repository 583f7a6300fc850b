// Message queues shared with real peers: a C program of ours (msgsnd/msgrcv)
// and Python's sysv_ipc, each sending to and receiving from a Node
// MessageQueue; the bytes, types and the queue's bookkeeping agree.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { IPC_STAT, MessageQueue, ftok, msgctl } from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, removeQueue, uniqueKey } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, ROOT, run, SHMKIT } from './helpers/processes.js';
import { C_PRELUDE } from './helpers/shm.js';

assertNoLeaks();

const made: number[] = [];
afterEach(() => made.splice(0).forEach(removeQueue));

const dir = mkdtempSync(join(tmpdir(), 'shmkit-msg-interop-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const str = (b: Uint8Array): string => new TextDecoder().decode(b);

// msg-peer echo PATH PROJ N: opens the queue at ftok(PATH, PROJ); N times takes
// a type-1 message and answers with type 2: its bytes reversed. Then prints
// {"echoed":N,"maxlen":...}.
// msg-peer send ID: sends "three" (type 3), "one" (1), "two" (2) and 256 bytes 0..255 (type 4).
const C_MSG_PEER = `${C_PRELUDE}
#include <sys/msg.h>
struct message {
  long mtype;
  char mtext[8192];
};
int main(int argc, char **argv) {
  static struct message m;
  if (argc == 5 && strcmp(argv[1], "echo") == 0) {
    key_t key = ftok(argv[2], atoi(argv[3]));
    if (key == -1) die("ftok");
    int id = msgget(key, 0);
    if (id == -1) die("msgget");
    int n = atoi(argv[4]);
    size_t maxlen = 0;
    for (int i = 0; i < n; i++) {
      ssize_t len = msgrcv(id, &m, sizeof m.mtext, 1, 0);
      if (len == -1) die("msgrcv");
      if ((size_t)len > maxlen) maxlen = (size_t)len;
      for (ssize_t a = 0, b = len - 1; a < b; a++, b--) {
        char t = m.mtext[a];
        m.mtext[a] = m.mtext[b];
        m.mtext[b] = t;
      }
      m.mtype = 2;
      if (msgsnd(id, &m, (size_t)len, 0) == -1) die("msgsnd");
    }
    printf("{\\"echoed\\":%d,\\"maxlen\\":%zu}\\n", n, maxlen);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "send") == 0) {
    int id = atoi(argv[2]);
    const char *texts[] = {"three", "one", "two"};
    long types[] = {3, 1, 2};
    for (int i = 0; i < 3; i++) {
      m.mtype = types[i];
      memcpy(m.mtext, texts[i], strlen(texts[i]));
      if (msgsnd(id, &m, strlen(texts[i]), 0) == -1) die("msgsnd");
    }
    m.mtype = 4;
    for (int i = 0; i < 256; i++) m.mtext[i] = (char)i;
    if (msgsnd(id, &m, 256, 0) == -1) die("msgsnd");
    printf("{\\"sent\\":4,\\"pid\\":%d}\\n", getpid());
    return 0;
  }
  return 2;
}
`;

describe('a C peer', () => {
  it("answers Node's messages and Node takes its answers, both ways through one ftok-keyed queue", async () => {
    const exe = await compileC('msg-peer', C_MSG_PEER);
    const file = join(dir, 'c-echo');
    writeFileSync(file, '');
    const q = MessageQueue.create({ path: file, projId: 42 });
    made.push(q.id);
    const messages = [
      new TextEncoder().encode('hello from node'),
      Uint8Array.from({ length: 256 }, (_, i) => i),
      new Uint8Array(8192).fill(0xab),
      new Uint8Array(0),
    ];
    const peer = run(exe, ['echo', file, '42', String(messages.length)]);
    for (const m of messages) await q.send(m, { type: 1 });
    for (const m of messages) {
      const answer = await q.receive({ type: 2, timeoutMs: 20_000 });
      assert.equal(answer.type, 2);
      assert.deepEqual([...answer.data], [...m].reverse());
    }
    const result = await peer;
    assertExitedCleanly(result, 'msg-peer echo');
    assert.deepEqual(lastJson(result), { echoed: messages.length, maxlen: 8192 });
    assert.equal(q.key, ftok(file, 42));
  });

  it('sends typed messages that Node takes by type, and the queue records its pid', async () => {
    const exe = await compileC('msg-peer', C_MSG_PEER);
    const q = MessageQueue.create();
    made.push(q.id);
    const result = await run(exe, ['send', String(q.id)]);
    assertExitedCleanly(result, 'msg-peer send');
    const { pid } = lastJson<{ pid: number }>(result);
    assert.equal(msgctl(q.id, IPC_STAT).msg_lspid, pid);
    assert.deepEqual(q.stat().msg_cbytes, 5 + 3 + 3 + 256);
    const lowest = await q.receive({ type: -3 });
    assert.deepEqual([lowest.type, str(lowest.data)], [1, 'one']);
    const bytes = await q.receive({ type: 4 });
    assert.deepEqual(
      [...bytes.data],
      Array.from({ length: 256 }, (_, i) => i),
    );
    const rest = [await q.receive(), await q.receive()].map((m) => [m.type, str(m.data)]);
    assert.deepEqual(rest, [
      [3, 'three'],
      [2, 'two'],
    ]);
  });
});

describe('Python sysv_ipc', () => {
  const python = '/usr/bin/python3';

  it('receives what Node sends and answers through the same queue', async () => {
    const key = uniqueKey();
    const q = MessageQueue.create({ key });
    made.push(q.id);
    const script = `
import json, sys, sysv_ipc
mq = sysv_ipc.MessageQueue(int(sys.argv[1]))
seen = []
for _ in range(3):
    message, mtype = mq.receive(type=1)
    seen.append([mtype, list(message)])
    mq.send(b"python got " + message, type=mtype + 1)
print(json.dumps({"seen": seen, "mode": mq.mode}))
`;
    const peer = run(python, ['-c', script, String(key)]);
    await q.send('one');
    await q.send(new Uint8Array([0, 255, 10]));
    await q.send('three');
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await q.receive({ type: 2, timeoutMs: 20_000 }));
    const result = await peer;
    assertExitedCleanly(result, 'python');
    const { seen, mode } = lastJson<{ seen: Array<[number, number[]]>; mode: number }>(result);
    assert.deepEqual(seen, [
      [1, [...Buffer.from('one')]],
      [1, [0, 255, 10]],
      [1, [...Buffer.from('three')]],
    ]);
    assert.equal(mode & 0o777, 0o600);
    assert.deepEqual(
      answers.map((m) => m.data),
      [
        Buffer.from('python got one'),
        Buffer.concat([Buffer.from('python got '), Buffer.from([0, 255, 10])]),
        Buffer.from('python got three'),
      ].map((b) => new Uint8Array(b)),
    );
  });

  it("sends to a queue Node opens by key, with Python's types", async () => {
    const key = uniqueKey();
    const script = `
import json, sys, sysv_ipc
mq = sysv_ipc.MessageQueue(int(sys.argv[1]), sysv_ipc.IPC_CREX, mode=0o600)
mq.send("héllo", type=7)
mq.send(bytes(range(256)), type=3)
print(json.dumps({"id": mq.id}))
`;
    const result = await run(python, ['-c', script, String(key)]);
    assertExitedCleanly(result, 'python');
    const { id } = lastJson<{ id: number }>(result);
    made.push(id);
    const q = MessageQueue.open({ key });
    assert.equal(q.id, id);
    const first = await q.receive({ type: -7 });
    assert.deepEqual([first.type, [...first.data]], [3, Array.from({ length: 256 }, (_, i) => i)]);
    const hello = await q.receive();
    assert.deepEqual([hello.type, str(hello.data)], [7, 'héllo']);
  });

  it("runs README's Node <-> Python example", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Message queues with Python'));
    const ts = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    const py = /```python\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(ts !== undefined && py !== undefined, "README's example has a ts and a python block");
    const file = join(dir, 'readme-example.mjs');
    writeFileSync(file, ts.replaceAll("from 'shmkit'", `from ${JSON.stringify(SHMKIT)}`));
    const pyFile = join(dir, 'readme-example.py');
    writeFileSync(pyFile, py);
    const key = uniqueKey();
    const env = { ...process.env, QUEUE_KEY: String(key) };
    const node = run(process.execPath, [file], { env, timeoutMs: 30_000 });
    let python: Awaited<ReturnType<typeof run>> | undefined;
    // The Node side creates the queue; Python opens it once it exists.
    for (let i = 0; i < 200; i++) {
      python = await run('/usr/bin/python3', [pyFile], { env });
      if (python.code === 0 || !/ExistentialError/.test(python.stderr)) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const nodeResult = await node;
    assertExitedCleanly(nodeResult, 'README node example');
    assertExitedCleanly(python!, 'README python example');
    assert.equal(nodeResult.stdout.trim(), 'Python says: HELLO FROM NODE');
  });
});
