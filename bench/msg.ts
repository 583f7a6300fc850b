// System V message queues: the round trip of a 64-byte message between two
// processes through one queue (type 1 there, type 2 back), in the default
// wait mode ('adaptive': a short spin, then a sleep) and in 'sleep', and the
// cost of a send and a receive that need not wait (one process), beside the
// same in C (msgsnd/msgrcv) and in Python's sysv_ipc (where /usr/bin/python3
// has it). Run: node dist/bench/msg.js [--json]
import { pathToFileURL } from 'node:url';
import { MessageQueue, type WaitMode } from '../src/index.js';
import { nodeRoundTrips, scaleOf, withPeers } from './peers.js';

const BYTES = 64;

export interface MsgBenchOptions {
  /** Round trips measured (default 5,000, after 100 to warm up). */
  roundTrips?: number;
  /** Send+receive pairs in one process, per round (default 200,000; the best of 5 rounds counts). */
  pairs?: number;
  /** The suite's smoke run (npm run bench:smoke): a tenth of each default, to check that it all runs. */
  smoke?: boolean;
}

export interface MsgBenchResult {
  bytes: number;
  roundTrips: number;
  /** The mean of `roundTrips` round trips, microseconds. */
  roundTripUs: {
    /** Both processes waiting in the default mode, 'adaptive'. */
    nodeAdaptive: number;
    /** Both waiting with `wait: 'sleep'` (straight to the kernel, on an addon thread). */
    nodeSleep: number;
    /** C: msgsnd and msgrcv, blocking. */
    c: number;
    /** Python's sysv_ipc, send() and receive() (the process blocks in the call); null without sysv_ipc. */
    python: number | null;
  };
  /** Node's default round trip over C's and over Python's: below 1, Node is faster. */
  nodeVsC: number;
  nodeVsPython: number | null;
  pairs: number;
  /** One process sends a message and takes it back, nothing waits: nanoseconds per pair. */
  sendReceiveNs: {
    /** `trySend(bytes)` and `tryReceive()`. */
    node: number;
    /** msgsnd and msgrcv with IPC_NOWAIT. */
    c: number;
    /** `send(m, block=False)` and `receive(block=False)`; null without sysv_ipc. */
    python: number | null;
  };
}

const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg { long mtype; char mtext[${BYTES}]; };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void snd(int q, long type, struct msg *m) {
  m->mtype = type;
  if (msgsnd(q, m, sizeof m->mtext, 0) == -1) { perror("msgsnd"); exit(3); }
}
static void rcv(int q, long type, struct msg *m) {
  if (msgrcv(q, m, sizeof m->mtext, type, 0) == -1) { perror("msgrcv"); exit(3); }
}
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long n = atol(argv[2]);
  int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (q == -1) { perror("msgget"); return 3; }
  struct msg m;
  memset(&m, 'x', sizeof m);
  if (strcmp(argv[1], "pairs") == 0) {
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
      double t0 = now();
      for (long i = 0; i < n; i++) {
        m.mtype = 1;
        if (msgsnd(q, &m, sizeof m.mtext, IPC_NOWAIT) == -1) { perror("msgsnd"); return 3; }
        if (msgrcv(q, &m, sizeof m.mtext, 0, IPC_NOWAIT) == -1) { perror("msgrcv"); return 3; }
      }
      double t = (now() - t0) / n;
      if (t < best) best = t;
    }
    msgctl(q, IPC_RMID, NULL);
    printf("%.3f\n", best * 1e9);
    return 0;
  }
  pid_t child = fork();
  if (child == 0) {
    for (long i = 0; i < n + 100; i++) { rcv(q, 1, &m); snd(q, 2, &m); }
    _exit(0);
  }
  for (long i = 0; i < 100; i++) { snd(q, 1, &m); rcv(q, 2, &m); }
  double t0 = now();
  for (long i = 0; i < n; i++) { snd(q, 1, &m); rcv(q, 2, &m); }
  double result = (now() - t0) / n * 1e6;
  waitpid(child, NULL, 0);
  msgctl(q, IPC_RMID, NULL);
  printf("%.3f\n", result);
  return 0;
}
`;

const PYTHON_SOURCE = `
import os, sys, time, sysv_ipc
mode, n = sys.argv[1], int(sys.argv[2])
q = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, 0o600)
if mode == 'pairs':
    m = b'x' * ${BYTES}
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            q.send(m, block=False); q.receive(block=False)
        best = min(best, (time.perf_counter() - t0) / n)
    q.remove()
    print(best * 1e9)
    sys.exit(0)
try:
    pid = os.fork()
    if pid == 0:
        for _ in range(n + 100):
            m, _t = q.receive(type=1); q.send(m, type=2)
        os._exit(0)
    m = b'x' * ${BYTES}
    for _ in range(100):
        q.send(m, type=1); q.receive(type=2)
    t0 = time.perf_counter()
    for _ in range(n):
        q.send(m, type=1); q.receive(type=2)
    result = (time.perf_counter() - t0) / n * 1e6
    os.waitpid(pid, 0)
finally:
    q.remove()
print(result)
`;

async function nodePingPong(roundTrips: number, wait: WaitMode): Promise<number> {
  const queue = MessageQueue.create();
  const shmkit = new URL('../src/index.js', import.meta.url).href;
  const code = `
    import { MessageQueue } from ${JSON.stringify(shmkit)};
    const queue = MessageQueue.open({ id: Number(process.argv[1]) });
    const [n, wait] = [Number(process.argv[2]), process.argv[3]];
    for (let i = 0; i < n; i++) {
      const { data } = await queue.receive({ type: 1, wait, timeoutMs: 30_000 });
      await queue.send(data, { type: 2, wait });
    }
  `;
  try {
    const message = new Uint8Array(BYTES).fill(0x78);
    const ping = async (): Promise<void> => {
      await queue.send(message, { type: 1, wait });
      await queue.receive({ type: 2, wait, timeoutMs: 30_000 });
    };
    return await nodeRoundTrips(code, [String(queue.id), String(roundTrips + 100), wait], ping, roundTrips);
  } finally {
    queue.remove();
  }
}

/** Send and take back `pairs` messages in this process, best of 5 rounds: ns per pair. */
function nodePairs(pairs: number): number {
  const queue = MessageQueue.create();
  try {
    const message = new Uint8Array(BYTES).fill(0x78);
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < pairs; i++) {
        queue.trySend(message);
        queue.tryReceive();
      }
      best = Math.min(best, Number(process.hrtime.bigint() - start) / pairs);
    }
    return best;
  } finally {
    queue.remove();
  }
}

/** Measures and returns the numbers (nothing is left behind, even on failure). */
export async function runMsgBench(options: MsgBenchOptions = {}): Promise<MsgBenchResult> {
  const scale = scaleOf(options);
  const roundTrips = options.roundTrips ?? 5_000 * scale;
  const pairs = options.pairs ?? 200_000 * scale;
  return withPeers('msg', C_SOURCE, PYTHON_SOURCE, async (peers) => {
    const nodeAdaptive = await nodePingPong(roundTrips, 'adaptive');
    const nodeSleep = await nodePingPong(roundTrips, 'sleep');
    const c = peers.c('pingpong', roundTrips);
    const python = peers.python('pingpong', roundTrips);
    return {
      bytes: BYTES,
      roundTrips,
      roundTripUs: { nodeAdaptive, nodeSleep, c, python },
      nodeVsC: nodeAdaptive / c,
      nodeVsPython: python === null ? null : nodeAdaptive / python,
      pairs,
      sendReceiveNs: { node: nodePairs(pairs), c: peers.c('pairs', pairs), python: peers.python('pairs', pairs) },
    };
  });
}

function format(r: MsgBenchResult): string {
  const us = (x: number | null): string => (x === null ? '(no sysv_ipc)' : `${x.toFixed(1).padStart(7)} µs`);
  const ns = (x: number | null): string => (x === null ? '(no sysv_ipc)' : `${x.toFixed(0).padStart(7)} ns`);
  return [
    `message queue round trip, ${r.bytes} B each way (${r.roundTrips} round trips)`,
    `  Node  adaptive        ${us(r.roundTripUs.nodeAdaptive)}`,
    `  Node  sleep           ${us(r.roundTripUs.nodeSleep)}`,
    `  C     blocking        ${us(r.roundTripUs.c)}`,
    `  Python sysv_ipc       ${us(r.roundTripUs.python)}`,
    `send + receive in one process, nothing waits (${r.pairs} pairs, best of 5 rounds)`,
    `  Node  trySend + tryReceive   ${ns(r.sendReceiveNs.node)}`,
    `  C     msgsnd + msgrcv        ${ns(r.sendReceiveNs.c)}`,
    `  Python sysv_ipc             ${ns(r.sendReceiveNs.python)}`,
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runMsgBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result) : format(result));
}
