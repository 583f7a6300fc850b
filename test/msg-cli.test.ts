// shmkit ls -q, stat -q, rm -q, limits -q and usage -q agree with ipcs -q,
// ipcs -q -i, ipcrm and ipcs -q -l / -u on the same queues. The whole file
// runs in a private IPC namespace: it lists and removes every queue it sees.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { IPC_STAT, MessageQueue, msgctl } from 'shmkit';
import { assertNoLeaks, removeQueue } from './helpers/ipc.js';
import { runFileInPrivateIpc } from './helpers/namespaces.js';
import { shmkitHere } from './helpers/cli.js';
import { assertExitedCleanly, run } from './helpers/processes.js';

await runFileInPrivateIpc();

assertNoLeaks();

const made: number[] = [];
afterEach(() => made.splice(0).forEach(removeQueue));

function newQueue(options: { key?: number; mode?: number } = {}): MessageQueue {
  const q = MessageQueue.create(options);
  made.push(q.id);
  return q;
}

async function json<T>(args: string[]): Promise<T> {
  const result = await shmkitHere(args);
  assertExitedCleanly(result, `shmkit ${args.join(' ')}`);
  return JSON.parse(result.stdout) as T;
}

/** ipcs's "name = value" lines as a map. */
async function ipcsFields(args: string[]): Promise<Map<string, string>> {
  const result = await run('ipcs', args);
  assertExitedCleanly(result, `ipcs ${args.join(' ')}`);
  const fields = new Map<string, string>();
  // "name = value" one a line (-l, -u), or "name=value" several a line, tab-separated (-i).
  for (const piece of result.stdout.split(/[\n\t]/)) {
    const m = /^(.*?)\s*=\s*(\S+)/.exec(piece);
    if (m) fields.set(m[1]!.trim(), m[2]!);
  }
  return fields;
}

interface QueueRow {
  key: number;
  id: number;
  owner: string;
  uid: number;
  perms: number;
  bytes: number;
  messages: number;
}

describe('shmkit and ipcs on the same message queues', () => {
  it('ls -q lists what ipcs -q lists: key, msqid, owner, perms, used-bytes, messages', async () => {
    const a = newQueue({ key: 0x7401, mode: 0o640 });
    const b = newQueue();
    const c = newQueue({ key: 0x7403, mode: 0o604 });
    await a.send('hello');
    await a.send('world!', { type: 2 });
    await c.send(new Uint8Array(100));
    const ipcs = await run('ipcs', ['-q']);
    assertExitedCleanly(ipcs, 'ipcs -q');
    const expected = ipcs.stdout
      .split('\n')
      .filter((line) => /^0x[0-9a-f]{8}\s/.test(line))
      .map((line) => {
        const [key, msqid, owner, perms, bytes, messages] = line.trim().split(/\s+/);
        return {
          key: Number.parseInt(key!, 16) | 0,
          id: Number(msqid),
          owner,
          perms: Number.parseInt(perms!, 8),
          bytes: Number(bytes),
          messages: Number(messages),
        };
      });
    assert.equal(expected.length, 3);
    const { queues } = await json<{ queues: QueueRow[] }>(['ls', '-q', '--json']);
    assert.deepEqual(
      queues.map(({ uid: _, ...row }) => row),
      expected,
    );
    // Both list in table-slot order, which is creation order only until the
    // kernel's ids wrap around its table (a machine that made many queues).
    const byId = new Map(queues.map((q) => [q.id, q]));
    assert.deepEqual(
      [...byId.keys()].sort((x, y) => x - y),
      [a.id, b.id, c.id].sort((x, y) => x - y),
    );
    assert.deepEqual(
      [a, b, c].map(({ id }) => [byId.get(id)?.bytes, byId.get(id)?.messages]),
      [
        [11, 2],
        [0, 0],
        [100, 1],
      ],
    );

    const text = await shmkitHere(['ls', '-q']);
    assertExitedCleanly(text, 'shmkit ls -q');
    const lines = text.stdout.trim().split('\n');
    assert.deepEqual(lines[0]!.trim().split(/\s+/), ['key', 'msqid', 'owner', 'perms', 'used-bytes', 'messages']);
    assert.deepEqual(
      lines.slice(1).map((l) => l.trim().split(/\s+/)),
      ipcs.stdout
        .split('\n')
        .filter((l) => /^0x/.test(l))
        .map((l) => l.trim().split(/\s+/)),
    );
    const all = await json<Record<string, unknown>>(['ls', '-a', '--json']);
    assert.deepEqual(Object.keys(all), ['segments', 'semaphores', 'queues']);
    const segmentsOnly = await json<Record<string, unknown>>(['ls', '--json']);
    assert.deepEqual(Object.keys(segmentsOnly), ['segments']);
  });

  it('stat -q prints msqid_ds with its C field names, as ipcs -q -i', async () => {
    const q = newQueue({ key: 0x7404 });
    await q.send('abc', { type: 3 });
    const byId = await json<Record<string, unknown>>(['stat', '-q', String(q.id), '--json']);
    assert.deepEqual(byId, { id: q.id, ...msgctl(q.id, IPC_STAT) });
    assert.deepEqual(await json(['stat', '-q', '--key', '0x7404', '--json']), byId);
    const fields = await ipcsFields(['-q', '-i', String(q.id)]);
    assert.equal(Number(fields.get('cbytes')), byId.msg_cbytes);
    assert.equal(Number(fields.get('qbytes')), byId.msg_qbytes);
    assert.equal(Number(fields.get('qnum')), byId.msg_qnum);
    assert.equal(Number(fields.get('lspid')), process.pid);
    const missing = await shmkitHere(['stat', '-q', '999999']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such message queue/);
  });

  it('rm -q removes by id, by key and --all, as ipcrm -q does', async () => {
    const a = newQueue({ key: 0x7405 });
    const b = newQueue();
    const c = newQueue();
    assertExitedCleanly(await shmkitHere(['rm', '-q', String(b.id)]), 'rm -q id');
    assertExitedCleanly(await shmkitHere(['rm', '-q', '--key', '0x7405']), 'rm -q --key');
    const left = (await json<{ queues: QueueRow[] }>(['ls', '-q', '--json'])).queues.map((q) => q.id);
    assert.ok(!left.includes(a.id) && !left.includes(b.id) && left.includes(c.id));
    const dry = await json<{ queues: QueueRow[] }>(['rm', '-q', '--all', '--dry-run', '--json']);
    assert.deepEqual(
      dry.queues.map((q) => q.id),
      left,
    );
    assertExitedCleanly(await shmkitHere(['rm', '-q', '--all']), 'rm -q --all');
    const ipcs = await run('ipcs', ['-q']);
    assert.equal(ipcs.stdout.split('\n').filter((l) => /^0x/.test(l)).length, 0);
    const again = await shmkitHere(['rm', '-q', String(b.id)]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no such message queue/);
  });

  it('limits -q and usage -q agree with ipcs -q -l and ipcs -q -u', async () => {
    const q = newQueue();
    await q.send('12345');
    await q.send('678');
    const limits = await json<{ msg: Record<string, number> }>(['limits', '-q', '--json']);
    const l = await ipcsFields(['-q', '-l']);
    assert.equal(limits.msg.msgmni, Number(l.get('max queues system wide')));
    assert.equal(limits.msg.msgmax, Number(l.get('max size of message (bytes)')));
    assert.equal(limits.msg.msgmnb, Number(l.get('default max size of queue (bytes)')));
    const usage = await json<{ msg: Record<string, number> }>(['usage', '-q', '--json']);
    const u = await ipcsFields(['-q', '-u']);
    assert.equal(usage.msg.msgpool, Number(u.get('allocated queues')));
    assert.equal(usage.msg.msgmap, Number(u.get('used headers')));
    assert.equal(usage.msg.msgtql, Number(u.get('used space')));
    assert.equal(usage.msg.msgmap, 2);
    assert.equal(usage.msg.msgtql, 8);
    const both = await json<Record<string, unknown>>(['limits', '--json']);
    assert.deepEqual(Object.keys(both), ['shm', 'sem', 'msg']);
  });
});
