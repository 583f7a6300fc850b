// atomic(view, field): the operations, their checks, and atomicity across
// processes, with two Node children and a C peer adding to the same fields.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { array, atomic, float64, int32, int64, int8, SharedMemory, struct, uint32, uint64 } from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { assertExitedCleanly, run, runNode } from './helpers/processes.js';

const segments: SharedMemory[] = [];
after(() => {
  for (const shm of segments) shm[Symbol.dispose]();
});
assertNoLeaks();

const Counters = struct({ ready: int32, count: int32, total: int64, u: uint32, big: uint64, ratio: float64, list: array(int32, 3) });

describe('atomic()', () => {
  test('load, store, add, sub and compareExchange behave like Atomics, returning the old value', () => {
    const view = Counters.view(new ArrayBuffer(Counters.size));
    const count = atomic(view, 'count');
    count.store(5);
    assert.equal(count.add(3), 5);
    assert.equal(count.sub(1), 8);
    assert.equal(count.load(), 7);
    assert.equal(count.compareExchange(6, 100), 7, 'no exchange: returns what is there');
    assert.equal(view.count, 7);
    assert.equal(count.compareExchange(7, 100), 7);
    assert.equal(view.count, 100);
    count.store(2147483647);
    count.add(1);
    assert.equal(view.count, -2147483648, 'wraps around like C');

    const u = atomic(view, 'u');
    assert.equal(u.sub(1), 0);
    assert.equal(view.u, 4294967295);
    const total = atomic(view, 'total');
    total.store(-(2n ** 63n));
    assert.equal(total.sub(1n), -(2n ** 63n));
    assert.equal(view.total, 2n ** 63n - 1n);
    const big = atomic(view, 'big');
    assert.equal(big.compareExchange(0n, 2n ** 64n - 1n), 0n);
    assert.equal(view.big, 2n ** 64n - 1n);
    const second = atomic(view.list, 1);
    second.add(4);
    assert.deepEqual(view.list.toArray(), [0, 4, 0]);
  });

  test('refuses what it cannot do atomically, naming the argument', () => {
    const view = Counters.view(new ArrayBuffer(Counters.size));
    assert.throws(() => atomic({} as never, 'count' as never), { name: 'TypeError', message: /"view"/ });
    assert.throws(() => atomic(view, 'ratio' as never), { name: 'TypeError', message: /"field".*float64/ });
    assert.throws(() => atomic(view, 'nope' as never), { name: 'TypeError', message: /"field"/ });
    assert.throws(() => atomic(view.list, 3), { name: 'RangeError', message: /"field"/ });
    assert.throws(() => atomic(view, 'count').add(1.5), { name: 'RangeError', message: /"value"/ });
    assert.throws(() => atomic(view, 'total').add(1 as never), { name: 'TypeError', message: /"value"/ });
    const Packed = struct({ tag: int8, n: int32 }, { packed: true });
    assert.throws(() => atomic(Packed.view(new ArrayBuffer(8)), 'n'), { name: 'RangeError', message: /aligned to 4 bytes/ });
    assert.throws(() => atomic(Counters.view(new ArrayBuffer(Counters.size + 4), 4), 'total'), {
      name: 'RangeError',
      message: /aligned to 8/,
    });
  });

  test('two Node processes and a C program adding to the same fields lose no update', async () => {
    const ADDS = 200_000;
    const WORKERS = 3;
    const shm = SharedMemory.create({ size: Counters.size });
    segments.push(shm);
    const peer = await compileC(
      'struct-atomic-adder',
      `#include <stdint.h>
       #include <stdlib.h>
       #include <sys/shm.h>
       #include <stddef.h>
       #include <unistd.h>
       struct counters { int32_t ready; int32_t count; int64_t total; uint32_t u; uint64_t big; double ratio; int32_t list[3]; };
       int main(int argc, char **argv) {
         struct counters *c = shmat(atoi(argv[1]), NULL, 0);
         if (c == (void *)-1) return 2;
         int n = atoi(argv[2]), workers = atoi(argv[3]);
         __atomic_fetch_add(&c->ready, 1, __ATOMIC_SEQ_CST);
         /* Naps 1 ms between looks, as the Node adders do: it starts long before them. */
         while (__atomic_load_n(&c->ready, __ATOMIC_SEQ_CST) < workers) usleep(1000);
         for (int i = 0; i < n; i++) {
           __atomic_fetch_add(&c->count, 1, __ATOMIC_SEQ_CST);
           __atomic_fetch_sub(&c->total, 3, __ATOMIC_SEQ_CST);
         }
         shmdt(c);
         return 0;
       }`,
    );
    const node = `
      import { SharedMemory, struct, atomic, int32, int64, uint32, uint64, float64, array } from 'SHMKIT';
      const Counters = struct({ ready: int32, count: int32, total: int64, u: uint32, big: uint64, ratio: float64, list: array(int32, 3) });
      const [id, n, workers] = process.argv.slice(1).map(Number);
      const shm = SharedMemory.open({ id });
      const view = Counters.view(shm);
      const ready = atomic(view, 'ready');
      const count = atomic(view, 'count');
      const total = atomic(view, 'total');
      // Start together, so that the adds really overlap; sleep 1 ms between looks.
      ready.add(1);
      const nap = new Int32Array(new SharedArrayBuffer(4));
      while (ready.load() < workers) Atomics.wait(nap, 0, 0, 1);
      for (let i = 0; i < n; i++) {
        count.add(1);
        total.sub(3n);
      }
      shm.detach();`;
    const args = [String(shm.id), String(ADDS), String(WORKERS)];
    const results = await Promise.all([
      runNode(node, args, { timeoutMs: 120_000 }),
      runNode(node, args, { timeoutMs: 120_000 }),
      run(peer, args, { timeoutMs: 120_000 }),
    ]);
    for (const [i, result] of results.entries()) assertExitedCleanly(result, `adder ${i}`);
    const view = Counters.view(shm);
    assert.equal(view.ready, WORKERS);
    assert.equal(view.count, WORKERS * ADDS);
    assert.equal(view.total, -3n * BigInt(WORKERS * ADDS));
  });
});
