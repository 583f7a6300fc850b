// Semaphore costs, beside the same in C (a program compiled now with cc) and
// in Python's sysv_ipc (where /usr/bin/python3 has it): an uncontended Mutex
// lock+unlock, and the hand-off latency of a semaphore ping-pong between two
// processes, in the default wait mode ('adaptive': a short spin, then a
// sleep) and in 'sleep'; and the same hand-off on a word of a segment,
// atomic(...).wait/notify against C's futex(2). Run: node dist/bench/sem.js [--json]
import { pathToFileURL } from 'node:url';
import { atomic, Mutex, SemaphoreSet, SharedMemory, struct, uint32, type WaitMode } from '../src/index.js';
import { nodeRoundTrips, scaleOf, withPeers } from './peers.js';

/** How much to measure. */
export interface SemBenchOptions {
  /** Lock+unlock pairs per round (default 200,000). */
  lockIterations?: number;
  /** Ping-pong round trips (default 5,000). */
  roundTrips?: number;
  /** Rounds of the lock loop; the best counts (default 5). */
  rounds?: number;
  /** The suite's smoke run (npm run bench:smoke): a tenth of each default, to check that it all runs. */
  smoke?: boolean;
}

export interface SemBenchResult {
  lockIterations: number;
  roundTrips: number;
  /** Uncontended lock+unlock, nanoseconds per pair. */
  uncontended: {
    /** `await mutex.lock(); mutex.unlock()` (SEM_UNDO, one semop each). */
    nodeLockUnlockNs: number;
    /** `mutex.tryLock(); mutex.unlock()`: the same without the promise. */
    nodeTryLockUnlockNs: number;
    /** C: semop(-1, SEM_UNDO); semop(+1, SEM_UNDO). */
    cLockUnlockNs: number;
    /** Python's sysv_ipc: acquire(); release() with undo; null without sysv_ipc. */
    pythonLockUnlockNs: number | null;
  };
  /** Ping-pong between two processes on two semaphores, microseconds. */
  handoff: {
    /** Both processes waiting in the default mode, 'adaptive'. */
    nodeRoundTripUs: number;
    /** Half a round trip: one process's release to the other's wake-up. */
    nodeOneWayUs: number;
    /** Both waiting with `wait: 'sleep'` (straight to the kernel, on an addon thread). */
    nodeSleepRoundTripUs: number;
    cRoundTripUs: number;
    cOneWayUs: number;
    /** Python's sysv_ipc, acquire() and release() (the process blocks in semop); null without sysv_ipc. */
    pythonRoundTripUs: number | null;
    /** Node's default round trip over Python's: below 1, Node hands off faster. */
    nodeVsPython: number | null;
  };
  /** Ping-pong between two processes on one word of a segment, microseconds. */
  futex: {
    /** `atomic(view, 'turn')`: store, notify(), then wait() until the other answers. */
    nodeAtomicRoundTripUs: number;
    /** C: the same with FUTEX_WAIT and FUTEX_WAKE on a shared mapping. */
    cRoundTripUs: number;
    /** Node's over C's. */
    nodeVsC: number;
  };
}

const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void futex(uint32_t *word, int op, uint32_t value) { syscall(SYS_futex, word, op, value, NULL, NULL, 0); }

/* The futex ping-pong: store the other side's value and wake it; sleep while the word holds value. */
static void give(uint32_t *word, uint32_t value) {
  __atomic_store_n(word, value, __ATOMIC_SEQ_CST);
  futex(word, FUTEX_WAKE, INT_MAX);
}
static void await_change(uint32_t *word, uint32_t value) {
  while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == value) futex(word, FUTEX_WAIT, value);
}

static void op(int id, unsigned short num, short delta, short flg) {
  struct sembuf sb = { num, delta, flg };
  if (semop(id, &sb, 1) == -1) { perror("semop"); exit(3); }
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long n = atol(argv[2]);
  if (strcmp(argv[1], "futex") == 0) {
    uint32_t *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (word == MAP_FAILED) { perror("mmap"); return 3; }
    pid_t child = fork();
    if (child == 0) {
      for (long i = 0; i < n + 100; i++) {
        await_change(word, 0);
        give(word, 0);
      }
      _exit(0);
    }
    double t0 = 0;
    for (long i = 0; i < n + 100; i++) {
      if (i == 100) t0 = now();
      give(word, 1);
      await_change(word, 1);
    }
    double us = (now() - t0) / n * 1e6;
    waitpid(child, NULL, 0);
    printf("%.3f\n", us);
    return 0;
  }
  int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
  if (id == -1) { perror("semget"); return 3; }
  double result;
  if (strcmp(argv[1], "lock") == 0) {
    op(id, 0, 1, 0);
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
      double t0 = now();
      for (long i = 0; i < n; i++) { op(id, 0, -1, SEM_UNDO); op(id, 0, 1, SEM_UNDO); }
      double t = (now() - t0) / n;
      if (t < best) best = t;
    }
    result = best * 1e9;
  } else {
    pid_t child = fork();
    if (child == 0) {
      for (long i = 0; i < n; i++) { op(id, 0, -1, 0); op(id, 1, 1, 0); }
      _exit(0);
    }
    double t0 = now();
    for (long i = 0; i < n; i++) { op(id, 0, 1, 0); op(id, 1, -1, 0); }
    result = (now() - t0) / n * 1e6;
    waitpid(child, NULL, 0);
  }
  semctl(id, 0, IPC_RMID);
  printf("%.3f\n", result);
  return 0;
}
`;

const PYTHON_SOURCE = `
import os, sys, time, sysv_ipc
mode, n = sys.argv[1], int(sys.argv[2])
if mode == 'lock':
    sem = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, 0o600, 1)
    sem.undo = True
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            sem.acquire(); sem.release()
        best = min(best, (time.perf_counter() - t0) / n)
    sem.remove()
    print(best * 1e9)
else:
    a = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, 0o600, 0)
    b = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, 0o600, 0)
    try:
        pid = os.fork()
        if pid == 0:
            for _ in range(n + 100):
                a.acquire(30); b.release()
            os._exit(0)
        for _ in range(100):
            a.release(); b.acquire(30)
        t0 = time.perf_counter()
        for _ in range(n):
            a.release(); b.acquire(30)
        result = (time.perf_counter() - t0) / n * 1e6
        os.waitpid(pid, 0)
    finally:
        a.remove(); b.remove()
    print(result)
`;

async function nodeLock(iterations: number, rounds: number): Promise<[number, number]> {
  const mutex = Mutex.create();
  try {
    let bestAwait = Infinity;
    let bestTry = Infinity;
    for (let round = 0; round < rounds; round++) {
      let start = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) {
        await mutex.lock();
        mutex.unlock();
      }
      bestAwait = Math.min(bestAwait, Number(process.hrtime.bigint() - start) / iterations);
      start = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) {
        mutex.tryLock();
        mutex.unlock();
      }
      bestTry = Math.min(bestTry, Number(process.hrtime.bigint() - start) / iterations);
    }
    return [bestAwait, bestTry];
  } finally {
    mutex.remove();
  }
}

async function nodePingPong(roundTrips: number, wait: WaitMode): Promise<number> {
  const set = SemaphoreSet.create({ count: 2 });
  const shmkit = new URL('../src/index.js', import.meta.url).href;
  const code = `
    import { SemaphoreSet } from ${JSON.stringify(shmkit)};
    const set = SemaphoreSet.open({ id: Number(process.argv[1]) });
    const n = Number(process.argv[2]);
    const wait = process.argv[3];
    for (let i = 0; i < n; i++) {
      await set.op([{ sem_num: 0, sem_op: -1 }], { timeoutMs: 30_000, wait });
      await set.op([{ sem_num: 1, sem_op: 1 }]);
    }
  `;
  try {
    const ping = async (): Promise<void> => {
      await set.op([{ sem_num: 0, sem_op: 1 }]);
      await set.op([{ sem_num: 1, sem_op: -1 }], { timeoutMs: 30_000, wait });
    };
    return await nodeRoundTrips(code, [String(set.id), String(roundTrips + 100), wait], ping, roundTrips);
  } finally {
    set.remove();
  }
}

/** The futex ping-pong: this process hands the turn over with store + notify, the child answers the same way. */
async function nodeAtomicPingPong(roundTrips: number): Promise<number> {
  const Turn = struct({ turn: uint32 });
  const shm = SharedMemory.create({ size: Turn.size });
  const shmkit = new URL('../src/index.js', import.meta.url).href;
  const code = `
    import { SharedMemory, atomic, struct, uint32 } from ${JSON.stringify(shmkit)};
    const turn = atomic(struct({ turn: uint32 }).view(SharedMemory.open({ id: Number(process.argv[1]) })), 'turn');
    const n = Number(process.argv[2]);
    for (let i = 0; i < n; i++) {
      while (turn.load() === 0) await turn.wait(0, { timeoutMs: 30_000 });
      turn.store(0);
      turn.notify();
    }
  `;
  try {
    const turn = atomic(Turn.view(shm), 'turn');
    const ping = async (): Promise<void> => {
      turn.store(1);
      turn.notify();
      while (turn.load() === 1) await turn.wait(1, { timeoutMs: 30_000 });
    };
    return await nodeRoundTrips(code, [String(shm.id), String(roundTrips + 100)], ping, roundTrips);
  } finally {
    shm.detach();
  }
}

/** Measures and returns the numbers (nothing is left behind, even on failure). */
export async function runSemBench(options: SemBenchOptions = {}): Promise<SemBenchResult> {
  const scale = scaleOf(options);
  const lockIterations = options.lockIterations ?? 200_000 * scale;
  const roundTrips = options.roundTrips ?? 5_000 * scale;
  const rounds = options.rounds ?? 5;
  return withPeers('sem', C_SOURCE, PYTHON_SOURCE, async (peers) => {
    const [nodeLockUnlockNs, nodeTryLockUnlockNs] = await nodeLock(lockIterations, rounds);
    const nodeRoundTripUs = await nodePingPong(roundTrips, 'adaptive');
    const nodeSleepRoundTripUs = await nodePingPong(roundTrips, 'sleep');
    const cRoundTripUs = peers.c('pingpong', roundTrips);
    const pythonRoundTripUs = peers.python('pingpong', roundTrips);
    const nodeAtomicRoundTripUs = await nodeAtomicPingPong(roundTrips);
    const cFutexRoundTripUs = peers.c('futex', roundTrips);
    return {
      lockIterations,
      roundTrips,
      uncontended: {
        nodeLockUnlockNs,
        nodeTryLockUnlockNs,
        cLockUnlockNs: peers.c('lock', lockIterations),
        pythonLockUnlockNs: peers.python('lock', lockIterations),
      },
      handoff: {
        nodeRoundTripUs,
        nodeOneWayUs: nodeRoundTripUs / 2,
        nodeSleepRoundTripUs,
        cRoundTripUs,
        cOneWayUs: cRoundTripUs / 2,
        pythonRoundTripUs,
        nodeVsPython: pythonRoundTripUs === null ? null : nodeRoundTripUs / pythonRoundTripUs,
      },
      futex: {
        nodeAtomicRoundTripUs,
        cRoundTripUs: cFutexRoundTripUs,
        nodeVsC: nodeAtomicRoundTripUs / cFutexRoundTripUs,
      },
    };
  });
}

function format(r: SemBenchResult): string {
  const ns = (x: number): string => `${x.toFixed(0).padStart(7)} ns`;
  const us = (x: number): string => `${x.toFixed(1).padStart(7)} µs`;
  return [
    `uncontended lock+unlock (${r.lockIterations} pairs, best of rounds)`,
    `  Node  await lock(); unlock()   ${ns(r.uncontended.nodeLockUnlockNs)}`,
    `  Node  tryLock(); unlock()      ${ns(r.uncontended.nodeTryLockUnlockNs)}`,
    `  C     semop -1; semop +1        ${ns(r.uncontended.cLockUnlockNs)}`,
    `  Python sysv_ipc acquire; release ${r.uncontended.pythonLockUnlockNs === null ? '(no sysv_ipc)' : ns(r.uncontended.pythonLockUnlockNs)}`,
    `ping-pong hand-off between two processes (${r.roundTrips} round trips)`,
    `  Node  adaptive round trip ${us(r.handoff.nodeRoundTripUs)}   one way ${us(r.handoff.nodeOneWayUs)}`,
    `  Node  sleep    round trip ${us(r.handoff.nodeSleepRoundTripUs)}`,
    `  C     blocking round trip ${us(r.handoff.cRoundTripUs)}   one way ${us(r.handoff.cOneWayUs)}`,
    `  Python sysv_ipc round trip ${r.handoff.pythonRoundTripUs === null ? '(no sysv_ipc)' : us(r.handoff.pythonRoundTripUs)}`,
    `ping-pong on one word of a segment (futex)`,
    `  Node  atomic wait/notify round trip ${us(r.futex.nodeAtomicRoundTripUs)}`,
    `  C     FUTEX_WAIT/FUTEX_WAKE round trip ${us(r.futex.cRoundTripUs)}   Node/C ${r.futex.nodeVsC.toFixed(2)}`,
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runSemBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result) : format(result));
}
