// The options every wait shares. `timeout` (Python's sysv_ipc spelling, and
// many JavaScript APIs') was ignored as an unknown option, so the wait went on
// without the limit its caller meant: every wait now refuses it, naming
// `timeoutMs`, before it does anything.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { atomic, Channel, MessageQueue, Mutex, Semaphore, SharedMemory, struct, uint32 } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';

const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});
assertNoLeaks();

/**
 * The error `wait` rejects or throws with, given `{ timeout: 10 }` (the
 * mistaken spelling), and a signal that ends a wait that took it after 1 s.
 */
async function refusal(wait: (options: { timeout: number; signal: AbortSignal }) => unknown): Promise<unknown> {
  try {
    await wait({ timeout: 10, signal: AbortSignal.timeout(1000) });
  } catch (error) {
    return error;
  }
  assert.fail('the wait took { timeout: 10 } and ended without an error');
}

function assertNamesTimeoutMs(error: unknown, what: string): void {
  assert.ok(error instanceof TypeError, `${what}: ${String(error)}`);
  assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARG_VALUE', what);
  assert.match(
    error.message,
    /'options\.timeout' is invalid: there is no such option: a time limit is options\.timeoutMs, in milliseconds/,
    what,
  );
}

describe('wait options', () => {
  it('{ timeout } is refused by every wait, naming timeoutMs, and nothing waits or changes', async () => {
    // Each would wait for ever: nothing releases, sends or notifies.
    const sem = Semaphore.create({ initial: 0 });
    cleanups.push(() => sem.remove());
    const mutex = Mutex.create();
    cleanups.push(() => {
      mutex.remove();
      mutex[Symbol.dispose]();
    });
    const queue = MessageQueue.create();
    cleanups.push(() => queue.remove());
    const channel = Channel.create({ capacity: 4096 });
    cleanups.push(() => {
      channel.remove();
      channel[Symbol.dispose]();
    });
    const shm = SharedMemory.create({ size: 4 });
    cleanups.push(() => {
      shm.remove();
      shm[Symbol.dispose]();
    });
    const word = atomic(struct({ word: uint32 }).view(shm), 'word');
    await mutex.lock();
    cleanups.push(() => mutex.unlock());
    const receiver = channel.receiver();
    const waits: [string, (options: { timeout: number; signal: AbortSignal }) => unknown][] = [
      ['Semaphore acquire', (o) => sem.acquire(o as never)],
      ['Mutex lock', (o) => mutex.lock(o as never)],
      ['MessageQueue receive', (o) => queue.receive(o as never)],
      ['Channel recv', (o) => receiver.recv(o as never)],
      ['atomic().wait', (o) => word.wait(0, o as never)],
    ];
    for (const [what, wait] of waits) assertNamesTimeoutMs(await refusal(wait), what);
    assert.equal(sem.value, 0);
    assert.equal(queue.stat().msg_qnum, 0);
  });

  it('a timeout beside timeoutMs is left alone (timeoutMs is the limit)', async () => {
    const sem = Semaphore.create({ initial: 0 });
    cleanups.push(() => sem.remove());
    await assert.rejects(sem.acquire({ timeoutMs: 5, timeout: 10 } as never), { code: 'ETIMEDOUT' });
  });
});
