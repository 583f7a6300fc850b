// Presence: an endpoint's proof of life that any process of the IPC namespace
// can check, whatever its PID namespace, and that the kernel ends when the
// holder dies by any means. The file runs in its own IPC namespace (so the
// segment counts are its own) and starts holders and observers as pid 1 of
// new PID namespaces, as containers sharing --ipc are.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPC_RMID, IPC_STAT, SHM_DEST, shmctl, shmget } from '../src/index.js';
import { isPresent, Presence } from '../src/channel/presence.js';
import { compileC } from './helpers/c.js';
import { assertNoLeaks, usedSegments, usedSemaphoreSets } from './helpers/ipc.js';
import { runFileInPrivateIpc, startNode, startNodeInNewPidNamespace, type NodeChild } from './helpers/namespaces.js';
import { assertExitedCleanly, run } from './helpers/processes.js';
import { C_PRELUDE } from './helpers/shm.js';

const skip = await runFileInPrivateIpc();
assertNoLeaks();

const PRESENCE_URL = JSON.stringify(new URL('../src/channel/presence.js', import.meta.url).href);

// Claims `count` presences (argv[1], default 1), prints their tokens as one JSON line, then
// answers each stdin line "w0 w1" with isPresent, and "release" by releasing them all.
const HOLDER = `
  import { createInterface } from 'node:readline';
  import { isPresent, Presence } from ${PRESENCE_URL};
  const held = Array.from({ length: Number(process.argv[1] ?? 1) }, () => Presence.claim());
  console.log(JSON.stringify({ pid: process.pid, tokens: held.map((p) => p.token) }));
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'release') { for (const p of held) p.release(); console.log('released'); continue; }
    const [w0, w1] = line.split(' ').map(Number);
    console.log(String(isPresent(w0, w1)));
  }
`;

interface Held {
  pid: number;
  tokens: [number, number][];
}

async function holder(where: 'here' | 'new-pid-ns', count = 1): Promise<[NodeChild, Held]> {
  const child = where === 'here' ? startNode(HOLDER, [String(count)]) : startNodeInNewPidNamespace(HOLDER, [String(count)]);
  return [child, await child.json<Held>()];
}

async function childSees(child: NodeChild, [w0, w1]: readonly [number, number]): Promise<boolean> {
  child.send(`${w0} ${w1}`);
  return JSON.parse(await child.line()) as boolean;
}

describe('a presence claimed and released in this process', { skip }, () => {
  it('is present from the moment it is claimed until release, then absent for good', () => {
    const presence = Presence.claim();
    assert.equal(isPresent(...presence.token), true);
    assert.equal(presence.held, true);
    presence.release();
    assert.equal(presence.held, false);
    assert.equal(isPresent(...presence.token), false);
    presence.release();
    assert.equal(isPresent(...presence.token), false, 'a second release changes nothing');
  });

  it('is one private segment marked for removal, attached once, that goes with the release', () => {
    const before = usedSegments();
    const presence = Presence.claim();
    const [id, check] = presence.token;
    const ds = shmctl(id, IPC_STAT);
    assert.equal(ds.shm_perm.key, IPC_PRIVATE);
    assert.notEqual(ds.shm_perm.mode & SHM_DEST, 0, 'marked IPC_RMID');
    assert.equal(ds.shm_perm.mode & 0o777, 0o600);
    assert.equal(ds.shm_nattch, 1);
    assert.ok(ds.shm_segsz >= 1 && ds.shm_segsz < 4096, `size ${ds.shm_segsz}`);
    assert.notEqual(check, 0, 'the second word is never 0');
    assert.equal(usedSegments(), before + 1);
    presence.release();
    assert.equal(usedSegments(), before);
    assert.throws(() => shmctl(id, IPC_STAT), { code: 'EINVAL' });
  });

  it('using ... releases it at the end of the block', () => {
    let token: readonly [number, number];
    {
      using presence = Presence.claim();
      token = presence.token;
      assert.equal(isPresent(...token), true);
    }
    assert.equal(isPresent(...token), false);
  });

  it('is not confused with another segment that has its id', () => {
    const presence = Presence.claim();
    const [id, check] = presence.token;
    try {
      assert.equal(isPresent(id, check ^ 1), false, 'another size');
      assert.equal(isPresent(id, check ^ (1 << 12)), false, 'another creation second');
      assert.equal(isPresent(id, check >>> 0), true, 'the second word read as uint32 is the same word');
    } finally {
      presence.release();
    }
    // A keyed segment that is not marked for removal is nobody's presence, whatever its size.
    const other = shmget(0x5eed_0001, 100, IPC_CREAT | IPC_EXCL | 0o600);
    try {
      const ds = shmctl(other, IPC_STAT);
      assert.equal(isPresent(other, ((ds.shm_ctime & 0xfffff) << 12) | 100), false);
    } finally {
      shmctl(other, IPC_RMID);
    }
  });

  it('a second word of 0 names nobody; words that are not 32-bit integers are refused before any call', () => {
    assert.equal(isPresent(0, 0), false);
    assert.equal(isPresent(123, 0), false);
    assert.equal(isPresent(-1, 5), false, 'ids are never negative');
    assert.throws(() => isPresent('1' as unknown as number, 1), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /word0/ });
    assert.throws(() => isPresent(1, 2 ** 32), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /word1/ });
    assert.throws(() => isPresent(1.5, 1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /word0/ });
  });

  it('many claims and releases leave the namespace as they found it', () => {
    const segments = usedSegments();
    const sets = usedSemaphoreSets();
    for (let round = 0; round < 20; round++) {
      const held = Array.from({ length: 50 }, () => Presence.claim());
      assert.equal(usedSegments(), segments + 50);
      assert.ok(held.every((p) => isPresent(...p.token)));
      for (const p of held) p.release();
      assert.ok(held.every((p) => !isPresent(...p.token)));
    }
    assert.equal(usedSegments(), segments);
    assert.equal(usedSemaphoreSets(), sets);
  });
});

describe('across processes and PID namespaces', { skip }, () => {
  it('a holder in another PID namespace is present while it lives and absent once SIGKILLed', async () => {
    const before = usedSegments();
    const [child, held] = await holder('new-pid-ns');
    try {
      assert.equal(held.pid, 1, 'the holder is pid 1 of its own PID namespace');
      const [token] = held.tokens;
      assert.equal(isPresent(...token!), true);
      assert.equal(await childSees(child, token!), true, 'and sees itself present');
      const result = await child.kill('SIGKILL');
      assert.equal(result.signal, 'SIGKILL', 'unshare was killed, and its child with it');
      assert.equal(isPresent(...token!), false);
      assert.equal(usedSegments(), before, 'nothing left behind');
    } finally {
      await child.kill();
    }
  });

  it('a holder that exits or releases is absent; one in this PID namespace killed with SIGKILL too', async () => {
    const [quitter, q] = await holder('new-pid-ns', 2);
    const [releaser, r] = await holder('here');
    const [victim, v] = await holder('here');
    try {
      releaser.send('release');
      assert.equal(await releaser.line(), 'released');
      assert.equal(isPresent(...r.tokens[0]!), false);
      quitter.process.stdin!.end();
      assertExitedCleanly(await quitter.exited, 'holder');
      assert.deepEqual(
        q.tokens.map((t) => isPresent(...t)),
        [false, false],
      );
      assert.equal(isPresent(...v.tokens[0]!), true);
      process.kill(v.pid, 'SIGKILL');
      await victim.exited;
      assert.equal(isPresent(...v.tokens[0]!), false);
    } finally {
      await Promise.all([quitter.kill(), releaser.kill(), victim.kill()]);
    }
  });

  it('an observer in another PID namespace sees this process present, and absent after release', async () => {
    const [observer] = await holder('new-pid-ns', 0);
    const presence = Presence.claim();
    try {
      assert.equal(await childSees(observer, presence.token), true);
      presence.release();
      assert.equal(await childSees(observer, presence.token), false);
    } finally {
      presence.release();
      await observer.kill();
    }
  });

  it('holders in two PID namespaces see each other; each goes absent for the other when killed', async () => {
    const [a, heldA] = await holder('new-pid-ns');
    const [b, heldB] = await holder('new-pid-ns');
    try {
      assert.equal(heldA.pid, heldB.pid, 'both are pid 1: pids cannot tell them apart');
      assert.equal(await childSees(a, heldB.tokens[0]!), true);
      assert.equal(await childSees(b, heldA.tokens[0]!), true);
      await a.kill('SIGKILL');
      assert.equal(await childSees(b, heldA.tokens[0]!), false);
      assert.equal(await childSees(b, heldB.tokens[0]!), true);
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  });

  it('SIGKILL of every holder, in every namespace, leaves no segment and no semaphore set', async () => {
    const segments = usedSegments();
    const sets = usedSemaphoreSets();
    const holders = await Promise.all([holder('new-pid-ns', 5), holder('new-pid-ns', 5), holder('here', 5), holder('here', 5)]);
    try {
      assert.equal(usedSegments(), segments + 20);
      for (const [, held] of holders) assert.ok(held.tokens.every((t) => isPresent(...t)));
      await Promise.all(holders.map(([child]) => child.kill('SIGKILL')));
      for (const [, held] of holders) assert.ok(held.tokens.every((t) => !isPresent(...t)));
      assert.equal(usedSegments(), segments);
      assert.equal(usedSemaphoreSets(), sets);
    } finally {
      await Promise.all(holders.map(([child]) => child.kill()));
    }
  });
});

describe('worker threads', { skip }, () => {
  // The worker keeps its Presence reachable: an unreachable one is ended by
  // the garbage collector, which a busy machine can run at any moment.
  const WORKER = `
    const { parentPort } = require('node:worker_threads');
    import(${PRESENCE_URL}).then(({ Presence }) => {
      const presence = (globalThis.presence = Presence.claim());
      parentPort.postMessage(presence.token);
      parentPort.on('message', (m) => { if (m === 'exit') process.exit(0); });
    });
  `;

  async function workerPresence(): Promise<[Worker, [number, number]]> {
    const worker = new Worker(WORKER, { eval: true });
    const [token] = (await new Promise((resolve, reject) => {
      worker.once('message', (m) => resolve([m]));
      worker.once('error', reject);
    })) as [[number, number]];
    return [worker, token];
  }

  it('a presence claimed in a worker ends with the worker, terminated or exiting', async () => {
    const workers: Worker[] = [];
    try {
      const [terminated, t1] = await workerPresence();
      workers.push(terminated);
      const [exiting, t2] = await workerPresence();
      workers.push(exiting);
      assert.equal(isPresent(...t1), true);
      assert.equal(isPresent(...t2), true);
      await terminated.terminate();
      exiting.postMessage('exit');
      await new Promise((resolve) => exiting.once('exit', resolve));
      assert.equal(isPresent(...t1), false, 'after terminate()');
      assert.equal(isPresent(...t2), false, 'after process.exit() in the worker');
    } finally {
      // A failed assertion must not leave a live worker to keep the file running.
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  });
});

describe('a C peer with plain system calls', { skip }, () => {
  // Claims a presence as docs/presence.md says, prints its two words, then
  // for each "w0 w1" on stdin prints 1 or 0 (present or not).
  const C_PEER = `${C_PRELUDE}
#include <sys/random.h>
static int present(int id, unsigned check) {
  struct shmid_ds ds;
  if (check == 0 || id < 0) return 0;
  int got = shmctl(id, SHM_STAT_ANY, &ds);
  if (got == -1 || got != id) return 0;
  return (ds.shm_perm.mode & SHM_DEST) && ds.shm_nattch > 0 &&
         (((unsigned)ds.shm_ctime & 0xfffff) << 12 | (unsigned)ds.shm_segsz) == check;
}
int main(void) {
  unsigned short r;
  if (getrandom(&r, sizeof r, 0) != sizeof r) die("getrandom");
  size_t size = 1 + r % 4095;
  int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
  if (id == -1) die("shmget");
  void *at = shmat(id, NULL, SHM_RDONLY);
  if (at == (void *)-1) die("shmat");
  if (shmctl(id, IPC_RMID, NULL) == -1) die("shmctl IPC_RMID");
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) == -1) die("shmctl IPC_STAT");
  unsigned check = ((unsigned)ds.shm_ctime & 0xfffff) << 12 | (unsigned)size;
  printf("[%d,%d]\\n", id, (int)check);
  fflush(stdout);
  int w0; long long w1;
  while (scanf("%d %lld", &w0, &w1) == 2) { puts(present(w0, (unsigned)w1) ? "true" : "false"); fflush(stdout); }
  return 0;
}
`;

  it("a C process claims a presence Node sees, and sees Node's, from another PID namespace", async () => {
    const exe = await compileC('presence-peer', C_PEER);
    const before = usedSegments();
    // The peer itself is pid 1 of the new namespace (no Node in between to start it).
    const peer = startNodeInNewPidNamespace('', [], { command: [exe] });
    const presence = Presence.claim();
    try {
      const token = await peer.json<[number, number]>();
      assert.equal(isPresent(...token), true, 'Node sees the C presence');
      assert.equal(await childSees(peer, presence.token), true, 'C sees the Node presence');
      presence.release();
      assert.equal(await childSees(peer, presence.token), false, 'C sees it released');
      await peer.kill('SIGKILL');
      assert.equal(isPresent(...token), false, 'Node sees the C peer dead');
      assert.equal(usedSegments(), before);
    } finally {
      presence.release();
      await peer.kill();
    }
  });
});

describe('the helper itself', { skip }, () => {
  it('this file runs in an IPC namespace of its own', async () => {
    const host = await run('readlink', ['/proc/1/ns/ipc']);
    const mine = await run('readlink', ['/proc/self/ns/ipc']);
    assert.notEqual(mine.stdout, host.stdout);
  });
});
