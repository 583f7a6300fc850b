// A server and worker processes sharing one Channel: every worker sends its
// results, the server receives them all in one loop.
// Run: node dist/examples/channel-workers.js
// The channel's segment is created with autoRemove, so nothing is left
// behind, even if a process is killed.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Channel } from 'shmkit';

const WORKERS = 3;
const JOBS_PER_WORKER = 5;

interface Result {
  worker: number;
  job: number;
  primes: number;
}

/** Some work worth a process: counting the primes below n. */
function countPrimes(n: number): number {
  const composite = new Uint8Array(n);
  let count = 0;
  for (let i = 2; i < n; i++) {
    if (composite[i]) continue;
    count++;
    for (let j = i * i; j < n; j += i) composite[j] = 1;
  }
  return count;
}

async function worker(channelId: number, index: number): Promise<void> {
  using channel = Channel.open({ id: channelId });
  using sender = channel.sender();
  for (let job = 0; job < JOBS_PER_WORKER; job++) {
    const result: Result = { worker: index, job, primes: countPrimes(100_000 * (job + 1)) };
    // Waits (without blocking this process's event loop) if the ring is full.
    await sender.send(JSON.stringify(result), { timeoutMs: 10_000 });
  }
}

async function server(): Promise<void> {
  // 64 KiB ring; private (no key): workers open it by id.
  using channel = Channel.create({ capacity: 64 * 1024, autoRemove: true });
  const receiver = channel.receiver();
  const children = Array.from({ length: WORKERS }, (_, index) =>
    fork(fileURLToPath(import.meta.url), ['worker', String(channel.id), String(index)]),
  );
  // When every worker has exited, close the channel: the loop below still
  // receives what is in the ring, then ends.
  void Promise.all(children.map((child) => once(child, 'exit'))).then(() => receiver.close());

  const decoder = new TextDecoder();
  let total = 0;
  for await (const message of receiver) {
    const result = JSON.parse(decoder.decode(message)) as Result;
    console.log(`worker ${result.worker} job ${result.job}: ${result.primes} primes`);
    total++;
  }
  console.log(`received ${total} results from ${WORKERS} workers`);
}

if (process.argv[2] === 'worker') await worker(Number(process.argv[3]), Number(process.argv[4]));
else await server();
