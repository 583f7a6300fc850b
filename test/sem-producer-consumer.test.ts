// The textbook producer/consumer done right: a server writes records into a
// one-slot segment and a client reads each only after the server finished
// writing it, synchronised with two semaphores, empty and full. The same
// protocol runs between two Node processes and between Node and a C program
// of ours that uses semop, in both directions (semaphores interoperate with C).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SemaphoreSet, SharedMemory } from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { peer } from './helpers/peer.js';
import { join } from 'node:path';
import { assertExitedCleanly, lastJson, ROOT, run, runNode, type RunResult } from './helpers/processes.js';

/**
 * The Node server of every exchange runs in one process, in turn, where each
 * had its own (a copy of the library each); the client of the Node-Node
 * exchange has a process of its own, as the two run at once (4 processes -> 2).
 * It ends, detaching the segments, before the leak check.
 */
const servers = peer();
after(() => servers.end());

assertNoLeaks();

const RECORDS = 1000;

// struct record { uint32_t seq; uint32_t len; char payload[56]; uint32_t checksum; }
// The producer writes the payload (slowly), then len, seq and checksum; the
// consumer checks the checksum and the sequence, then spoils the checksum so
// that reading the slot again without a new record would be caught.
const C_PEER = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

struct record {
  uint32_t seq;
  uint32_t len;
  char payload[56];
  uint32_t checksum;
};

enum { EMPTY = 0, FULL = 1 };

static uint32_t fnv(const volatile char *p, uint32_t n, uint32_t seq) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) { h ^= (uint8_t)p[i]; h *= 16777619u; }
  return h ^ seq;
}

static void sem(int semid, unsigned short num, short op) {
  struct sembuf sb = { num, op, 0 };
  while (semop(semid, &sb, 1) == -1) {
    if (errno != EINTR) { perror("semop"); exit(3); }
  }
}

int main(int argc, char **argv) {
  if (argc != 5) return 2;
  int shmid = atoi(argv[2]), semid = atoi(argv[3]);
  uint32_t count = (uint32_t)atoi(argv[4]);
  volatile struct record *r = shmat(shmid, NULL, 0);
  if (r == (void *)-1) { perror("shmat"); return 3; }
  if (strcmp(argv[1], "produce") == 0) {
    for (uint32_t seq = 0; seq < count; seq++) {
      char text[56];
      int len = snprintf(text, sizeof text, "record %u from C %.*s", seq, (int)(seq % 30), "..............................");
      sem(semid, EMPTY, -1);
      for (int i = 0; i < len; i++) {
        r->payload[i] = text[i];
        if (i == 10) sched_yield();
      }
      r->len = (uint32_t)len;
      r->seq = seq;
      r->checksum = fnv(r->payload, (uint32_t)len, seq);
      sem(semid, FULL, 1);
    }
    printf("{\"sent\":%u}\n", count);
  } else {
    uint32_t bad = 0;
    char last[57] = "";
    for (uint32_t seq = 0; seq < count; seq++) {
      sem(semid, FULL, -1);
      uint32_t len = r->len, s = r->seq;
      if (s != seq || len > 56 || r->checksum != fnv(r->payload, len, s)) bad++;
      if (len <= 56) { for (uint32_t i = 0; i < len; i++) last[i] = r->payload[i]; last[len] = 0; }
      r->checksum = 0xffffffffu;
      sem(semid, EMPTY, 1);
    }
    printf("{\"received\":%u,\"bad\":%u,\"last\":\"%s\"}\n", count, bad, last);
  }
  shmdt((const void *)r);
  return 0;
}
`;

// The same peer in Node: waits are SemaphoreSet.op promises.
const NODE_PEER = `
  import { SemaphoreSet, SharedMemory } from 'SHMKIT';
  const [role, shmId, semId, countArg] = process.argv.slice(1);
  const count = Number(countArg);
  const shm = SharedMemory.open({ id: Number(shmId) });
  const set = SemaphoreSet.open({ id: Number(semId) });
  const EMPTY = 0, FULL = 1;
  const view = new DataView(shm.buffer);
  const bytes = new Uint8Array(shm.buffer);
  const down = (n) => set.op([{ sem_num: n, sem_op: -1 }], { timeoutMs: 30_000 });
  const up = (n) => set.op([{ sem_num: n, sem_op: 1 }]);
  const fnv = (b, len, seq) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < len; i++) { h ^= b[i]; h = Math.imul(h, 0x01000193) >>> 0; }
    return (h ^ seq) >>> 0;
  };
  if (role === 'produce') {
    for (let seq = 0; seq < count; seq++) {
      const text = new TextEncoder().encode('record ' + seq + ' from node ' + '.'.repeat(seq % 30));
      await down(EMPTY);
      for (let i = 0; i < text.length; i++) {
        bytes[8 + i] = text[i];
        if (i === 10) await new Promise((resolve) => setImmediate(resolve));
      }
      view.setUint32(4, text.length, true);
      view.setUint32(0, seq, true);
      view.setUint32(64, fnv(bytes.subarray(8), text.length, seq), true);
      await up(FULL);
    }
    console.log(JSON.stringify({ sent: count }));
  } else {
    let bad = 0;
    let last = '';
    for (let seq = 0; seq < count; seq++) {
      await down(FULL);
      const len = view.getUint32(4, true);
      const s = view.getUint32(0, true);
      const payload = bytes.slice(8, 8 + Math.min(len, 56));
      if (s !== seq || len > 56 || view.getUint32(64, true) !== fnv(payload, payload.length, s)) bad++;
      last = new TextDecoder().decode(payload);
      view.setUint32(64, 0xffffffff, true);
      await up(EMPTY);
    }
    console.log(JSON.stringify({ received: count, bad, last }));
  }
`;

type Peer = (role: 'produce' | 'consume', shmId: number, semId: number) => Promise<RunResult>;

let cPeerPath = '';
const nodePeer: Peer = (role, shmId, semId) =>
  (role === 'produce' ? servers.run : runNode)(NODE_PEER, [role, String(shmId), String(semId), String(RECORDS)], { timeoutMs: 60_000 });
const cPeer: Peer = (role, shmId, semId) => run(cPeerPath, [role, String(shmId), String(semId), String(RECORDS)], { timeoutMs: 60_000 });

/** Runs `producer` and `consumer` against a fresh one-slot segment and empty/full pair. */
async function exchange(producer: Peer, consumer: Peer): Promise<{ received: number; bad: number; last: string }> {
  using shm = SharedMemory.create({ size: 68 });
  const set = SemaphoreSet.create({ count: 2, initial: [1, 0] }); // empty = 1 free slot, full = 0 records
  try {
    const [produced, consumed] = await Promise.all([producer('produce', shm.id, set.id), consumer('consume', shm.id, set.id)]);
    assertExitedCleanly(produced, 'producer');
    assertExitedCleanly(consumed, 'consumer');
    assert.deepEqual(lastJson(produced), { sent: RECORDS });
    assert.deepEqual([set.get(0), set.get(1)], [1, 0], 'the slot is empty again');
    return lastJson(consumed);
  } finally {
    set.remove();
  }
}

describe('producer/consumer with empty and full semaphores', () => {
  before(async () => {
    cPeerPath = await compileC('sem-producer-consumer', C_PEER);
  });

  it('a Node client reads every record of a Node server only after it was completely written', async () => {
    const result = await exchange(nodePeer, nodePeer);
    assert.deepEqual(result, { received: RECORDS, bad: 0, last: `record ${RECORDS - 1} from node ${'.'.repeat((RECORDS - 1) % 30)}` });
  });

  it('a C client (semop) reads every record of a Node server', async () => {
    const result = await exchange(nodePeer, cPeer);
    assert.deepEqual(result, { received: RECORDS, bad: 0, last: `record ${RECORDS - 1} from node ${'.'.repeat((RECORDS - 1) % 30)}` });
  });

  it('a Node client reads every record of a C server (semop)', async () => {
    const result = await exchange(cPeer, nodePeer);
    assert.deepEqual(result, { received: RECORDS, bad: 0, last: `record ${RECORDS - 1} from C ${'.'.repeat((RECORDS - 1) % 30)}` });
  });

  it('the example (examples/producer-consumer) runs with one command, spawns its consumer and leaves nothing behind', async () => {
    const result = await run(process.execPath, [join(ROOT, 'dist/examples/producer-consumer.js'), '50'], { timeoutMs: 60_000 });
    assertExitedCleanly(result, 'the example');
    assert.match(result.stdout, /consumer \d+: record 0, written by \d+/);
    assert.match(result.stdout, /consumer \d+: record 49, written by \d+/);
    assert.match(result.stdout, /producer: wrote 50 records; consumer exited with 0/);
    // Nothing left behind: checked by assertNoLeaks for this file.
  });
});
