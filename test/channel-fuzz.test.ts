// Seeded fuzzing of a live channel: random words and bytes written over its
// header and ring between calls of every receiving and sending method. The
// process must never die by a signal and never hang; every failure must be a
// coded error. A longer run: SHMKIT_FUZZ_ITERATIONS=1000000 SHMKIT_FUZZ_SEED=7
// npm test (or just node --test dist/test/channel-fuzz.test.js), see CONTRIBUTING.md.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertNoLeaks } from './helpers/ipc.js';
import { runFuzzer } from './helpers/fuzz-run.js';
import { noPrivateIpc } from './helpers/shm.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

// Calls. No defect of its own to find again (the loop over a ring of padding
// fixed with it, 8ac5851, has a test in channel-ring): npm test runs 30,000,
// which still caught the one mutation of the ring's checks that 100,000 caught
// (a committed record's length left unchecked: a RangeError at call ~27,500).
const ITERATIONS = Number(process.env.SHMKIT_FUZZ_ITERATIONS ?? budget(30_000, 100_000));
const SEED = Number(process.env.SHMKIT_FUZZ_SEED ?? 20261202);

const FUZZER = `
  import { Channel, SharedMemory } from 'SHMKIT';
  import { seeded } from ${JSON.stringify(new URL('./helpers/random.js', import.meta.url).href)};
  const [iterations, seed] = process.argv.slice(1).map(Number);
  const random = seeded(seed);
  const pick = (n) => Math.floor(random() * n);
  // Mostly no wait at all (a corrupt ring often looks full or empty), sometimes a real one.
  const wait = () => (random() < 0.1 ? 2 : 0);
  const channel = Channel.create({ capacity: 4096, autoRemove: true });
  const words = new Int32Array(SharedMemory.open({ id: channel.id }).buffer);
  const receiver = channel.receiver();
  const sender = channel.sender();
  const target = new Uint8Array(512);
  const interesting = [0, 1, 2, 3, 7, -1, -16, 15, 16, 32, 4095, 4096, 4112, 0x7fffffff, -0x80000000];
  const codes = {};
  let calls = 0;
  for (let i = 0; i < iterations; i++) {
    // Corrupt something: a header word (cursors, lock, flags, sender table) or a ring word.
    const where = random() < 0.3 ? pick(2048 >> 2) : (8192 >> 2) + pick(4096 >> 2);
    words[where] = random() < 0.5 ? interesting[pick(interesting.length)] : (random() * 2 ** 32) | 0;
    // The closed flag (word 7), once set, makes every later send ERR_CHANNEL_CLOSED: mostly opened again.
    if (words[7] !== 0 && random() < 0.9) words[7] = 0;
    const op = pick(8);
    try {
      calls++;
      if (op === 0) receiver.tryRecv();
      else if (op === 1) receiver.tryRecvInto(target);
      else if (op === 2) receiver.tryRecvView()?.release();
      else if (op === 3) receiver.drain(() => {}, 8);
      else if (op === 4) sender.trySend(new Uint8Array(pick(300)));
      else if (op === 5) { const view = sender.tryReserve(pick(200)); if (view) sender.commit(); }
      else if (op === 6) await receiver.recv({ timeoutMs: wait() });
      else await sender.send('x', { timeoutMs: wait() });
    } catch (error) {
      const code = error?.code;
      if (typeof code !== 'string') { console.error(error); process.exit(3); }
      codes[code] = (codes[code] ?? 0) + 1;
    }
  }
  console.log(JSON.stringify({ calls, codes }));
  channel.detach();
`;

describe('Channel fuzzing', { timeout: 300_000 }, () => {
  it(`survives ${ITERATIONS} random corruptions of a live segment (seed ${SEED}): no signal, no hang, every error coded`, {
    skip: noPrivateIpc,
  }, async (t) => {
    const { codes } = await runFuzzer(t, FUZZER, [String(ITERATIONS), String(SEED)], {
      iterations: ITERATIONS,
      timeoutMs: 240_000,
      expected: /^(ERR_CHANNEL_[A-Z_]+|ETIMEDOUT|ERR_OUT_OF_RANGE|ERR_INVALID_ARG_TYPE)$/,
    });
    assert.ok((codes['ERR_CHANNEL_FORMAT'] ?? 0) > 0, 'corruption was found and reported');
  });
});
