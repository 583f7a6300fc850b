// Seeded fuzzing of a live publish/subscribe segment, as test/channel-fuzz.ts
// does for the channel: random words written over its header (cursors, claim
// lock, tables, flags) and its ring between calls of every publishing and
// subscribing method, in both lag modes. The process must never die by a
// signal and never hang; every failure must be a coded error. A longer run:
// SHMKIT_FUZZ_ITERATIONS=1000000 SHMKIT_FUZZ_SEED=7 node scripts/run-tests.mjs dist/test/pubsub-fuzz.test.js
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { runFuzzer } from './helpers/fuzz-run.js';
import { noPrivateIpc } from './helpers/shm.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

// Calls per lag mode. With this seed, the defects this fuzzer found (27ac1ed)
// came at call ~305 (drop-oldest: a subscriber spinning for ever) and ~8,470
// (block: a record length near 2^31 passing the check, V8's RangeError).
const ITERATIONS = Number(process.env.SHMKIT_FUZZ_ITERATIONS ?? budget(10_000, 20_000));
const SEED = Number(process.env.SHMKIT_FUZZ_SEED ?? 20261203);

const FUZZER = `
  import { PubSub, SharedMemory } from 'SHMKIT';
  import { seeded } from ${JSON.stringify(new URL('./helpers/random.js', import.meta.url).href)};
  const [iterations, seed] = process.argv.slice(1, 3).map(Number);
  const lag = process.argv[3];
  const random = seeded(seed);
  const pick = (n) => Math.floor(random() * n);
  // Mostly no wait at all (a corrupt ring often looks full or empty), sometimes a real one.
  const wait = () => (random() < 0.1 ? 1 : 0);
  const pubsub = PubSub.create({ capacity: 4096, lag, autoRemove: true });
  const words = new Int32Array(SharedMemory.open({ id: pubsub.id }).buffer);
  // The header is the first 16 KiB (4096 words), the ring the next 4 KiB.
  const HEADER_WORDS = 16384 >> 2;
  const subscribers = [pubsub.subscriber(), pubsub.subscriber()];
  let publisher = pubsub.publisher();
  const interesting = [0, 1, 2, 3, 7, -1, -16, 15, 16, 32, 4095, 4096, 4112, 16384, 0x7fffffff, -0x80000000];
  const codes = {};
  let calls = 0;
  for (let i = 0; i < iterations; i++) {
    // Corrupt something: mostly the first cache lines and the tables' first entries, where the state is.
    const r = random();
    const where = r < 0.3 ? pick(128) : r < 0.5 ? pick(HEADER_WORDS) : HEADER_WORDS + pick(4096 >> 2);
    words[where] = random() < 0.5 ? interesting[pick(interesting.length)] : (random() * 2 ** 32) | 0;
    // The closed flag (word 9), once set, makes every later call ERR_CHANNEL_CLOSED: mostly opened again.
    if (words[9] !== 0 && random() < 0.9) words[9] = 0;
    const op = pick(10);
    const s = subscribers[pick(subscribers.length)];
    try {
      calls++;
      if (op === 0) s.tryRecv();
      else if (op === 1) s.drain(() => {}, 8);
      else if (op === 2) await s.recv({ timeoutMs: wait() });
      else if (op === 3) publisher.trySend(new Uint8Array(pick(300)));
      else if (op === 4) await publisher.send(new Uint8Array(pick(100)), { timeoutMs: wait() });
      else if (op === 5) [pubsub.subscribers, s.missed, s.closed, publisher.closed, publisher.maxMessageSize];
      else if (op === 6) {
        // A subscriber leaves and another comes: the table and the cursors.
        const k = pick(subscribers.length);
        subscribers[k].close();
        subscribers[k] = pubsub.subscriber();
      } else if (op === 7) {
        publisher.close();
        publisher = pubsub.publisher();
      } else if (op === 8) {
        const it = s.messages({ timeoutMs: wait() });
        await it.next();
        await it.return?.();
      } else publisher.trySend(new Uint8Array(pick(4096)));
    } catch (error) {
      const code = error?.code;
      if (typeof code !== 'string') { console.error(error); process.exit(3); }
      codes[code] = (codes[code] ?? 0) + 1;
    }
  }
  console.log(JSON.stringify({ calls, codes }));
  pubsub.detach();
`;

describe('PubSub fuzzing', { timeout: Math.max(300_000, ITERATIONS * 10) }, () => {
  for (const lag of ['block', 'drop-oldest'] as const) {
    it(`survives ${ITERATIONS} random corruptions of a live segment (${lag}, seed ${SEED}): no signal, no hang, every error coded`, {
      skip: noPrivateIpc,
    }, async (t) => {
      const { codes } = await runFuzzer(t, FUZZER, [String(ITERATIONS), String(SEED), lag], {
        iterations: ITERATIONS,
        // About 1 s per 20,000 calls here: the limit only catches a hang.
        timeoutMs: Math.max(60_000, ITERATIONS * 3),
        expected: /^(ERR_CHANNEL_[A-Z_]+|ETIMEDOUT|ERR_OUT_OF_RANGE)$/,
      });
      assert.ok((codes['ERR_CHANNEL_FORMAT'] ?? 0) > 0, 'corruption was found and reported');
    });
  }
});
