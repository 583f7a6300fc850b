// One AbortSignal handed to many waits of every kind, as a program hands its
// shutdown signal to everything pending: the signal gets one 'abort' listener
// however many waits share it (an AbortSignal warns of a leak past ten), none
// once they have ended, and every wait still ends with an AbortError.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { atomic, Channel, MessageQueue, Semaphore, Service, SharedMemory, struct, uint32 } from '../src/index.js';
import { whenAborted } from '../src/core/abort-listeners.js';
import { assertNoLeaks } from './helpers/ipc.js';

assertNoLeaks();

const WAITS = 25;

/** The MaxListenersExceededWarnings this process emits until the returned stop() is called. */
function leakWarnings(): { warnings: Error[]; stop(): void } {
  const warnings: Error[] = [];
  const record = (warning: Error): void => {
    if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning);
  };
  process.on('warning', record);
  return { warnings, stop: () => process.off('warning', record) };
}

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

/** Waits of one kind: `start(signal)` starts WAITS of them; `end()` makes them all succeed. */
interface Kind {
  start(signal: AbortSignal): Promise<unknown>[];
  end(): void | Promise<void>;
  [Symbol.dispose](): void;
}

const kinds: Record<string, () => Kind> = {
  'Semaphore.acquire': () => {
    const semaphore = Semaphore.create();
    return {
      start: (signal) => Array.from({ length: WAITS }, () => semaphore.acquire({ signal })),
      end: () => semaphore.release(WAITS),
      [Symbol.dispose]: () => semaphore.remove(),
    };
  },
  'MessageQueue.receive': () => {
    const queue = MessageQueue.create();
    return {
      start: (signal) => Array.from({ length: WAITS }, () => queue.receive({ signal })),
      end: async () => {
        for (let i = 0; i < WAITS; i++) await queue.send('m');
      },
      [Symbol.dispose]: () => queue.remove(),
    };
  },
  'atomic().wait': () => {
    const shm = SharedMemory.create({ size: 4 });
    const word = atomic(struct({ seq: uint32 }).view(shm), 'seq');
    return {
      start: (signal) => Array.from({ length: WAITS }, () => word.wait(0, { signal })),
      end: async () => {
        word.store(1);
        // A wait not yet asleep in the kernel sees the new value itself.
        while (word.notify() > 0);
      },
      [Symbol.dispose]: () => {
        shm.remove();
        shm[Symbol.dispose]();
      },
    };
  },
  'sender.send on a full channel': () => {
    const channel = Channel.create({ capacity: 4096, autoRemove: true });
    const sender = channel.sender();
    const receiver = channel.receiver();
    let full = 0;
    while (sender.trySend(new Uint8Array(256))) full++;
    return {
      start: (signal) => Array.from({ length: WAITS }, () => sender.send(new Uint8Array(256), { signal })),
      end: async () => {
        for (let i = 0; i < full + WAITS; i++) await receiver.recv();
      },
      [Symbol.dispose]: () => channel[Symbol.dispose](),
    };
  },
  'client.request': () => {
    const service = Service.create<number, number>({ capacity: 4096, codec: 'json' });
    const client = service.client();
    let server: { [Symbol.dispose](): void } | undefined;
    return {
      start: (signal) => Array.from({ length: WAITS }, (_, n) => client.request(n, { signal })),
      end: () => {
        server = service.serve((n: number) => n);
      },
      [Symbol.dispose]: () => {
        server?.[Symbol.dispose]();
        client[Symbol.dispose]();
        service[Symbol.dispose]();
      },
    };
  },
};

describe('an AbortSignal shared by many waits', () => {
  for (const [name, make] of Object.entries(kinds)) {
    test(`${name}: one listener on the signal, an AbortError for each wait, no warning`, async () => {
      using kind = make();
      const watch = leakWarnings();
      try {
        const controller = new AbortController();
        const waits = kind.start(controller.signal);
        assert.equal(listeners(controller.signal), 1);
        controller.abort();
        const outcomes = await Promise.allSettled(waits);
        for (const outcome of outcomes) {
          assert.equal(outcome.status, 'rejected');
          assert.equal((outcome as PromiseRejectedResult).reason.name, 'AbortError');
        }
        assert.equal(listeners(controller.signal), 0);
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(watch.warnings, []);
      } finally {
        watch.stop();
      }
    });

    test(`${name}: waits that end without an abort leave no listener`, async () => {
      using kind = make();
      const controller = new AbortController();
      const waits = kind.start(controller.signal);
      assert.equal(listeners(controller.signal), 1);
      await kind.end();
      await Promise.all(waits);
      assert.equal(listeners(controller.signal), 0);
    });
  }
});

describe('whenAborted', () => {
  test('a listener stopped while the abort is being dispatched is not called', () => {
    const controller = new AbortController();
    const calls: string[] = [];
    let stopSecond = (): void => {};
    whenAborted(controller.signal, () => {
      calls.push('first');
      stopSecond();
    });
    stopSecond = whenAborted(controller.signal, () => calls.push('second'));
    whenAborted(controller.signal, () => calls.push('third'));
    controller.abort();
    assert.deepEqual(calls, ['first', 'third']);
  });

  test('a listener that throws leaves the others their call, and its error is thrown on its own', () => {
    const controller = new AbortController();
    const calls: string[] = [];
    whenAborted(controller.signal, () => {
      throw new Error('from a listener');
    });
    whenAborted(controller.signal, () => calls.push('second'));
    // Thrown from a microtask of its own, as an uncaught exception: caught here instead.
    const queued: Array<() => void> = [];
    const original = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (task) => void queued.push(task);
    try {
      controller.abort();
    } finally {
      globalThis.queueMicrotask = original;
    }
    assert.deepEqual(calls, ['second']);
    assert.equal(queued.length, 1);
    assert.throws(queued[0]!, { message: 'from a listener' });
  });

  test('each registration of one function is stopped on its own', () => {
    const controller = new AbortController();
    let calls = 0;
    const listener = (): void => {
      calls++;
    };
    const stopFirst = whenAborted(controller.signal, listener);
    whenAborted(controller.signal, listener);
    stopFirst();
    stopFirst();
    assert.equal(listeners(controller.signal), 1);
    controller.abort();
    assert.equal(calls, 1);
    assert.equal(listeners(controller.signal), 0);
  });
});
