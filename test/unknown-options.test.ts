// Options that no create/open call knows are refused, not passed over: a
// misspelt `readonly` must not give a writable attachment, nor `autoremove` a
// segment that stays. Each call throws a TypeError ERR_INVALID_ARG_VALUE
// naming the key (and the option meant, when one is close), and makes nothing.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  bridge,
  Channel,
  F_SEAL_GROW,
  MessageQueue,
  Mutex,
  PosixSharedMemory,
  PubSub,
  Semaphore,
  SemaphoreSet,
  Service,
  SharedMemory,
} from '../src/index.js';
import { validateOptions } from '../src/core/validate.js';
import { assertNoLeaks, uniqueKey, usedMessageQueues, usedSegments, usedSemaphoreSets } from './helpers/ipc.js';
import { cleanUpPosixNames, shmExists, uniqueName } from './helpers/posix.js';

assertNoLeaks();
cleanUpPosixNames();

/** What a call could leave: segments, semaphore sets, queues, POSIX objects, this process's descriptors. */
function made(): Record<string, number> {
  return {
    segments: usedSegments(),
    sets: usedSemaphoreSets(),
    queues: usedMessageQueues(),
    names: readdirSync('/dev/shm').length,
    fds: readdirSync('/proc/self/fd').length,
  };
}

interface Disposable {
  remove?(): void;
  unlink?(): void;
  [Symbol.dispose](): void;
}

/** Disposes of `object`, and removes it (or unlinks its name) if `remove`. */
function letGo(object: Disposable, remove: boolean): void {
  if (remove) (object.remove ?? object.unlink)?.call(object);
  object[Symbol.dispose]();
}

/** An object to open, made before the describe's tests and removed after them. */
function existing<T extends Disposable>(make: () => T, remove = true): () => T {
  let object: T | undefined;
  before(() => {
    object = make();
  });
  after(() => {
    if (object !== undefined) letGo(object, remove);
  });
  return () => object as T;
}

/**
 * Asserts that `call` throws the unknown-option error for `name` (with
 * "did you mean `near`?" when given, and no suggestion when not), and that it
 * made nothing. What a call that did not throw returned is let go (and, for a
 * call that `creates`, removed), so that a failure leaves nothing either.
 */
function refuses(call: () => unknown, name: string, near?: string, creates = false): void {
  const before = made();
  let error: unknown;
  let result: unknown;
  try {
    result = call();
  } catch (caught) {
    error = caught;
  }
  const afterCall = made();
  if (result !== undefined) letGo(result as Disposable, creates);
  assert.ok(error instanceof TypeError, `expected a TypeError naming '${name}', but the call returned ${String(result)}`);
  assert.equal((error as TypeError & { code?: string }).code, 'ERR_INVALID_ARG_VALUE');
  assert.ok(error.message.startsWith(`The argument '${name}' is invalid: not an option of `), error.message);
  if (near === undefined) assert.doesNotMatch(error.message, /did you mean/);
  else assert.ok(error.message.includes(`; did you mean '${near}'?`), error.message);
  assert.deepEqual(afterCall, before, 'the refused call made something');
}

describe('System V shared memory, message queues and semaphores refuse options they do not know', () => {
  const key = uniqueKey();
  const queueKey = uniqueKey();
  const setKey = uniqueKey();
  existing(() => SharedMemory.create({ key, size: 4096 }));
  existing(() => MessageQueue.create({ key: queueKey }));
  existing(() => SemaphoreSet.create({ key: setKey, count: 1 }));

  it('SharedMemory: create, open, openOrCreate', () => {
    const fresh = uniqueKey();
    refuses(() => SharedMemory.create({ key: fresh, size: 4096, autoremove: true } as never), 'options.autoremove', 'autoRemove', true);
    refuses(() => SharedMemory.create({ size: 4096, readOnly: true } as never), 'options.readOnly', undefined, true);
    refuses(() => SharedMemory.open({ key, readonly: true } as never), 'options.readonly', 'readOnly');
    refuses(() => SharedMemory.open({ key, size: 4096 } as never), 'options.size');
    refuses(() => SharedMemory.openOrCreate({ key, size: 4096, readonly: true } as never), 'options.readonly', 'readOnly');
    refuses(() => SharedMemory.openOrCreate({ key: uniqueKey(), size: 4096, projid: 2 } as never), 'options.projid', 'projId', true);
  });

  it('MessageQueue: create, open, openOrCreate', () => {
    refuses(() => MessageQueue.create({ mod: 0o644 } as never), 'options.mod', 'mode', true);
    refuses(() => MessageQueue.open({ key: queueKey, projid: 2 } as never), 'options.projid', 'projId');
    refuses(() => MessageQueue.openOrCreate({ key: uniqueKey(), Mode: 0o644 } as never), 'options.Mode', 'mode', true);
  });

  it('SemaphoreSet, Semaphore, Mutex: create, open, openOrCreate', () => {
    refuses(() => SemaphoreSet.create({ count: 2, initialValue: 1 } as never), 'options.initialValue', 'initial', true);
    refuses(() => SemaphoreSet.open({ key: setKey, count: 1 } as never), 'options.count');
    refuses(() => Semaphore.create({ intial: 1 } as never), 'options.intial', 'initial', true);
    refuses(() => Semaphore.open({ key: setKey, undo: true } as never), 'options.undo');
    refuses(() => Mutex.create({ mode: 0o600, timeout: 5 } as never), 'options.timeout', undefined, true);
    refuses(() => Mutex.open({ key: setKey, Key: setKey } as never), 'options.Key', 'key');
    refuses(() => Mutex.openOrCreate({ key: uniqueKey(), Mode: 0o644 } as never), 'options.Mode', 'mode', true);
  });
});

describe('POSIX shared memory refuses options it does not know', () => {
  const name = uniqueName('options');
  existing(() => PosixSharedMemory.create({ name, size: 4096 }));
  const anonymous = existing(() => PosixSharedMemory.createAnonymous({ size: 4096 }), false);

  it('create, open, openOrCreate, createAnonymous, fromFd', () => {
    const fresh = uniqueName('options-new');
    refuses(() => PosixSharedMemory.create({ name: fresh, size: 4096, Mode: 0o644 } as never), 'options.Mode', 'mode', true);
    assert.equal(shmExists(fresh), false);
    refuses(() => PosixSharedMemory.open({ name, readonly: true } as never), 'options.readonly', 'readOnly');
    refuses(() => PosixSharedMemory.openOrCreate({ name, size: 4096, readonly: true } as never), 'options.readonly', 'readOnly');
    refuses(() => PosixSharedMemory.openOrCreate({ name: fresh, size: 4096, unlink: true } as never), 'options.unlink', undefined, true);
    assert.equal(shmExists(fresh), false);
    refuses(() => PosixSharedMemory.createAnonymous({ size: 4096, seals: F_SEAL_GROW } as never), 'options.seals', 'seal', true);
    refuses(() => PosixSharedMemory.fromFd(anonymous().fd, { readonly: true } as never), 'options.readonly', 'readOnly');
    refuses(() => PosixSharedMemory.fromFd(anonymous().fd, { seal: F_SEAL_GROW } as never), 'options.seal', 'seals');
  });
});

describe('Channel, PubSub and Service refuse options they do not know', () => {
  const channelKey = uniqueKey();
  const pubsubKey = uniqueKey();
  const serviceKey = uniqueKey();
  existing(() => Channel.create({ key: channelKey, capacity: 4096 }));
  existing(() => PubSub.create({ key: pubsubKey, capacity: 4096 }));
  const service = existing(() => Service.create({ key: serviceKey, capacity: 4096 }));

  it('Channel: create, open', () => {
    refuses(() => Channel.create({ capacity: 4096, autoremove: true } as never), 'options.autoremove', 'autoRemove', true);
    refuses(() => Channel.open({ key: channelKey, codecs: 'json' } as never), 'options.codecs', 'codec');
    refuses(() => Channel.open({ key: channelKey, readOnly: true } as never), 'options.readOnly');
  });

  it('PubSub: create, and open (its locator and its options)', () => {
    refuses(() => PubSub.create({ capacity: 4096, lagPolicy: 'drop-oldest' } as never), 'options.lagPolicy', 'lag', true);
    refuses(() => PubSub.open({ key: pubsubKey, readOnly: true } as never), 'locator.readOnly');
    refuses(() => PubSub.open({ key: pubsubKey }, { waitMode: 'spin' } as never), 'options.waitMode', 'wait');
  });

  it("a channel's streams and events: readable, writable, events", () => {
    using channel = Channel.open({ key: channelKey });
    using sender = channel.sender();
    using receiver = channel.receiver();
    // A stream the call made would not be Disposable: the refusal is the point.
    refuses(() => receiver.readable({ highwatermark: 4 } as never), 'options.highwatermark', 'highWaterMark');
    refuses(() => sender.writable({ closechannel: false } as never), 'options.closechannel', 'closeChannel');
    refuses(() => receiver.events({ timeoutMs: 10 } as never), 'options.timeoutMs');
  });

  it('bridge(), and its jetstream options', async () => {
    // Refused before anything is opened or connected: no broker is needed.
    const options = { channel: { key: channelKey }, url: 'nats://127.0.0.1:1', subject: 'unknown.options' };
    const before = made();
    await assert.rejects(bridge({ ...options, direction: 'out', maxBufferedMesages: 8 } as never), {
      code: 'ERR_INVALID_ARG_VALUE',
      message:
        /^The argument 'options\.maxBufferedMesages' is invalid: not an option of bridge\(\), .*; did you mean 'maxBufferedMessages'\?/,
    });
    await assert.rejects(bridge({ ...options, direction: 'out', jetstream: { stream: 'S', ackWait: 500 } } as never), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The argument 'jetstream\.ackWait' is invalid: not an option of bridge\(\), .*; did you mean 'ackWaitMs'\?/,
    });
    assert.deepEqual(made(), before, 'the refused call made something');
  });

  it('Service: create, open (where and options), serve, client', () => {
    refuses(() => Service.create({ capacity: 4096, autoRemove: true } as never), 'options.autoRemove', undefined, true);
    refuses(() => Service.open({ key: serviceKey, projid: 1 } as never), 'where.projid', 'projId');
    refuses(() => Service.open({ key: serviceKey }, { Codec: 'bytes' } as never), 'options.Codec', 'codec');
    refuses(() => service().serve((value) => value, { concurency: 2 } as never), 'options.concurency', 'concurrency');
    refuses(() => service().client({ capacty: 4096 } as never), 'options.capacty', 'capacity');
    refuses(() => service().client({ timeoutMs: 100 } as never), 'options.timeoutMs');
  });
});

describe('validateOptions', () => {
  const known = ['readOnly', 'timeoutMs', 'autoRemove', 'size'];
  const check = (options: object) => () => validateOptions(options, known, 'f()');

  it('suggests the option a key matches whatever the case, by prefix or by a letter or two', () => {
    assert.throws(
      check({ readonly: true }),
      /'options\.readonly' is invalid: not an option of f\(\), which takes readOnly, timeoutMs, autoRemove and size; did you mean 'readOnly'\?/,
    );
    assert.throws(check({ timeout: 5 }), /'options\.timeout'.*did you mean 'timeoutMs'\?/);
    assert.throws(check({ AUTOREMOVE: true }), /did you mean 'autoRemove'\?/);
    assert.throws(check({ siez: 1 }), /did you mean 'size'\?/);
    assert.throws(check({ mode: 1 }), (error: Error) => !/did you mean/.test(error.message));
  });

  it('names keys that are no identifier, symbols and non-enumerable keys, and lets known ones through', () => {
    assert.throws(check({ 'read-only': true }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\['read-only'\]'/ });
    assert.throws(check({ [Symbol('size')]: 1 }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\[Symbol\(size\)\]'/ });
    assert.throws(check(Object.defineProperty({}, 'sizes', { value: 1 })), { message: /'options\.sizes'.*did you mean 'size'\?/ });
    const opts = { readOnly: true, size: 1 };
    assert.equal(validateOptions(opts, known, 'f()'), opts);
    assert.equal(validateOptions(Object.assign(Object.create(null), opts), known, 'f()').size, 1);
  });
});
