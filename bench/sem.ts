// Semaphore costs, beside the same in C (a program compiled now with cc):
// an uncontended Mutex lock+unlock, and the hand-off latency of a semaphore
// ping-pong between two processes. Run: node dist/bench/sem.js [--json]
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Mutex, SemaphoreSet } from '../src/index.js';

/** How much to measure. */
export interface SemBenchOptions {
  /** Lock+unlock pairs per round (default 200,000). */
  lockIterations?: number;
  /** Ping-pong round trips (default 5,000). */
  roundTrips?: number;
  /** Rounds of the lock loop; the best counts (default 5). */
  rounds?: number;
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
  };
  /** Ping-pong between two processes on two semaphores, microseconds. */
  handoff: {
    nodeRoundTripUs: number;
    /** Half a round trip: one process's release to the other's wake-up. */
    nodeOneWayUs: number;
    cRoundTripUs: number;
    cOneWayUs: number;
  };
}

const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void op(int id, unsigned short num, short delta, short flg) {
  struct sembuf sb = { num, delta, flg };
  if (semop(id, &sb, 1) == -1) { perror("semop"); exit(3); }
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long n = atol(argv[2]);
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

function compileC(): { exe: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-bench-sem-'));
  const src = join(dir, 'sem.c');
  const exe = join(dir, 'sem');
  writeFileSync(src, C_SOURCE);
  execFileSync('cc', ['-O2', '-std=gnu11', '-o', exe, src]);
  return { exe, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function runC(exe: string, mode: 'lock' | 'pingpong', n: number): number {
  return Number(execFileSync(exe, [mode, String(n)], { encoding: 'utf8' }).trim());
}

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

async function nodePingPong(roundTrips: number): Promise<number> {
  const set = SemaphoreSet.create({ count: 2 });
  const shmkit = new URL('../src/index.js', import.meta.url).href;
  const code = `
    import { SemaphoreSet } from ${JSON.stringify(shmkit)};
    const set = SemaphoreSet.open({ id: Number(process.argv[1]) });
    const n = Number(process.argv[2]);
    for (let i = 0; i < n; i++) {
      await set.op([{ sem_num: 0, sem_op: -1 }], { timeoutMs: 30_000 });
      await set.op([{ sem_num: 1, sem_op: 1 }]);
    }
  `;
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, '--', String(set.id), String(roundTrips + 100)], {
      stdio: 'inherit',
    });
    const exited = once(child, 'exit');
    const ping = async (): Promise<void> => {
      await set.op([{ sem_num: 0, sem_op: 1 }]);
      await set.op([{ sem_num: 1, sem_op: -1 }], { timeoutMs: 30_000 });
    };
    for (let i = 0; i < 100; i++) await ping(); // warm-up: the child has loaded and both sides are compiled
    const start = process.hrtime.bigint();
    for (let i = 0; i < roundTrips; i++) await ping();
    const us = Number(process.hrtime.bigint() - start) / roundTrips / 1000;
    const [codeOrNull] = (await exited) as [number | null];
    if (codeOrNull !== 0) throw new Error(`the ping-pong child exited with ${codeOrNull}`);
    return us;
  } finally {
    set.remove();
  }
}

/** Measures and returns the numbers (nothing is left behind, even on failure). */
export async function runSemBench(options: SemBenchOptions = {}): Promise<SemBenchResult> {
  const lockIterations = options.lockIterations ?? 200_000;
  const roundTrips = options.roundTrips ?? 5_000;
  const rounds = options.rounds ?? 5;
  const c = compileC();
  try {
    const [nodeLockUnlockNs, nodeTryLockUnlockNs] = await nodeLock(lockIterations, rounds);
    const cLockUnlockNs = runC(c.exe, 'lock', lockIterations);
    const nodeRoundTripUs = await nodePingPong(roundTrips);
    const cRoundTripUs = runC(c.exe, 'pingpong', roundTrips);
    return {
      lockIterations,
      roundTrips,
      uncontended: { nodeLockUnlockNs, nodeTryLockUnlockNs, cLockUnlockNs },
      handoff: { nodeRoundTripUs, nodeOneWayUs: nodeRoundTripUs / 2, cRoundTripUs, cOneWayUs: cRoundTripUs / 2 },
    };
  } finally {
    c.cleanup();
  }
}

function format(r: SemBenchResult): string {
  const ns = (x: number): string => `${x.toFixed(0).padStart(7)} ns`;
  const us = (x: number): string => `${x.toFixed(1).padStart(7)} µs`;
  return [
    `uncontended lock+unlock (${r.lockIterations} pairs, best of rounds)`,
    `  Node  await lock(); unlock()   ${ns(r.uncontended.nodeLockUnlockNs)}`,
    `  Node  tryLock(); unlock()      ${ns(r.uncontended.nodeTryLockUnlockNs)}`,
    `  C     semop -1; semop +1        ${ns(r.uncontended.cLockUnlockNs)}`,
    `ping-pong hand-off between two processes (${r.roundTrips} round trips)`,
    `  Node  round trip ${us(r.handoff.nodeRoundTripUs)}   one way ${us(r.handoff.nodeOneWayUs)}`,
    `  C     round trip ${us(r.handoff.cRoundTripUs)}   one way ${us(r.handoff.cOneWayUs)}`,
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runSemBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result) : format(result));
}
