// The error registry (src/core/errors.ts): every code is defined once with
// its class, docs/api.md's table says the same, stacks start at the public
// call, and every wait ends the same way: one timeout error for semaphores,
// message queues and channel alike, one AbortError.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { constants as os } from 'node:os';
import { describe, it } from 'node:test';
import { Channel, ChannelError, IpcError, MessageQueue, Semaphore, SharedMemory, StateError } from '../src/index.js';
import {
  abortError,
  bridgeError,
  channelError,
  CODES,
  invalidType,
  invalidValue,
  ipcError,
  outOfRange,
  serviceRemoteError,
  stateError,
  timeoutError,
} from '../src/core/errors.js';
import { assertNoLeaks } from './helpers/ipc.js';

assertNoLeaks();

const API_MD = new URL('../../docs/api.md', import.meta.url);

/** The (class, code) rows of the table under "## Errors" in docs/api.md; an errno row is `errno`, the AbortError row `AbortError`. */
function documentedCodes(): Map<string, string> {
  const text = readFileSync(API_MD, 'utf8');
  const section = text.slice(text.indexOf('\n## Errors\n'));
  const table = section.slice(section.indexOf('\n| class |')).split('\n\n')[0]!;
  const rows = new Map<string, string>();
  for (const line of table.trim().split('\n').slice(2)) {
    const [klass, code] = line.split(' | ').map((cell) => cell.replace(/^\| /, '').trim());
    const name = /errno's name/.test(code!) ? 'errno' : /'AbortError'/.test(code!) ? 'AbortError' : code!.replaceAll('`', '');
    assert.ok(!rows.has(name), `docs/api.md lists ${name} twice`);
    rows.set(name, klass!.replaceAll('`', ''));
  }
  return rows;
}

describe('the error registry', () => {
  it("docs/api.md's error table has exactly the registry's codes, each with its class", () => {
    const registered = new Map(Object.entries(CODES).map(([code, entry]) => [code, entry.class as string]));
    const documented = documentedCodes();
    assert.deepEqual([...documented.keys()].sort(), [...registered.keys()].sort(), 'a code is in the registry or in docs/api.md, not both');
    for (const [code, klass] of registered) assert.equal(documented.get(code), klass, `the class of ${code}`);
  });

  it('every code the library throws is in the registry: no code is made outside it', () => {
    // Every 'ERR_...' literal in the library's source. The command (src/cli) prints its usage
    // codes and throws none to a program; Node's and the NATS client's codes it only compares.
    const foreign = new Set(['ERR_MODULE_NOT_FOUND']);
    const unregistered: string[] = [];
    const sources = new URL('../../src/', import.meta.url);
    for (const file of readdirSync(sources, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts') || file.startsWith('cli/')) continue;
      for (const [, code] of readFileSync(new URL(file, sources), 'utf8').matchAll(/'(ERR_[A-Z0-9_]+)'/g)) {
        if (!Object.hasOwn(CODES, code!) && !foreign.has(code!)) unregistered.push(`${file}: ${code}`);
      }
    }
    assert.deepEqual(unregistered, []);
  });

  it('each maker makes the class and code the registry says', () => {
    const made: Array<[string, { name: string; code?: unknown }]> = [
      ['errno', ipcError('shmget', os.errno.EEXIST, 'key 0x1')],
      ['ETIMEDOUT', timeoutError('semtimedop', 'op', 5, 'nothing was changed')],
      ['ERR_INVALID_ARG_TYPE', invalidType('x', 'of type number', 'a')],
      ['ERR_OUT_OF_RANGE', outOfRange('x', '>= 0', -1)],
      ['ERR_INVALID_ARG_VALUE', invalidValue('x', 'it is detached', 1)],
      ['AbortError', abortError(undefined)],
      ['ERR_SERVICE_REMOTE', serviceRemoteError('service 1', 'Error', 'why')],
    ];
    for (const [code, entry] of Object.entries(CODES)) {
      if (entry.class === 'StateError') made.push([code, stateError(code as never, 'call: why')]);
      if (entry.class === 'ChannelError') made.push([code, channelError(code as never, 'call: why')]);
      if (entry.class === 'Error') made.push([code, bridgeError(code as never, 'bridge: why')]);
    }
    assert.deepEqual(made.map(([code]) => code).sort(), Object.keys(CODES).sort(), 'every code has a maker');
    for (const [code, error] of made) {
      const klass = CODES[code as keyof typeof CODES].class;
      assert.equal(klass === 'DOMException' ? error.constructor.name : error.name, klass, code);
      if (code === 'errno') assert.equal(error.code, 'EEXIST');
      else if (code === 'AbortError') assert.equal(error.name, 'AbortError');
      else assert.equal(error.code, code);
    }
  });

  it("hides shmkit's internal frames: the stack starts at the public call, then the caller", () => {
    const limit = Error.stackTraceLimit;
    let error: Error | undefined;
    try {
      SharedMemory.create({ size: -1 });
    } catch (e) {
      error = e as Error;
    }
    assert.ok(error instanceof RangeError);
    assert.equal(Error.stackTraceLimit, limit);
    const frames = error.stack!.split('\n').filter((line) => line.startsWith('    at '));
    assert.match(frames[0]!, /SharedMemory\.create .*\/src\/shm\/shared-memory\.js/);
    assert.match(frames[1]!, /error-registry\.test\.js/);
    assert.ok(!/validate\.js|errors\.js/.test(error.stack!), error.stack);
    assert.match(error.stack!, /^RangeError: The value of "options\.size" is out of range/);
  });

  it('a stack made by a program of its own, through Error.prepareStackTrace, is left as it makes it', () => {
    const saved = Error.prepareStackTrace;
    Error.prepareStackTrace = () => ['custom'];
    try {
      assert.deepEqual(outOfRange('x', '>= 0', -1).stack, ['custom']);
    } finally {
      Error.prepareStackTrace = saved;
    }
  });
});

describe('every wait ends the same way', { timeout: 30_000 }, () => {
  it('a semaphore, a message queue and a channel that time out reject with one error: IpcError ETIMEDOUT, errno -110, the duration in the message', async () => {
    using sem = Semaphore.create();
    using queue = MessageQueue.create();
    try {
      using channel = Channel.create({ capacity: 4096, autoRemove: true });
      const receiver = channel.receiver();
      const semTimeout = await sem.acquire({ timeoutMs: 30 }).then(
        () => assert.fail('acquired'),
        (e: unknown) => e,
      );
      const queueTimeout = await queue.receive({ timeoutMs: 35 }).then(
        () => assert.fail('received'),
        (e: unknown) => e,
      );
      const channelTimeout = await receiver.recv({ timeoutMs: 40 }).then(
        () => assert.fail('received'),
        (e: unknown) => e,
      );
      for (const [error, ms, syscall] of [
        [semTimeout, 30, 'semtimedop'],
        [queueTimeout, 35, 'msgrcv'],
        [channelTimeout, 40, 'futex'],
      ] as const) {
        assert.ok(error instanceof IpcError);
        assert.equal(Object.getPrototypeOf(error), IpcError.prototype, 'the same class, no subclass');
        assert.equal(error.code, 'ETIMEDOUT');
        assert.equal(error.errno, -os.errno.ETIMEDOUT);
        assert.equal(error.syscall, syscall);
        assert.match(error.message, new RegExp(`^${syscall}: ETIMEDOUT \\(.+\\): .*not done within ${ms} ms \\(nothing was`));
        assert.ok(!/block\.js|wait-queue\.js|message-waits\.js|errors\.js/.test(error.stack!), error.stack);
      }
      assert.match((semTimeout as IpcError).message, /Semaphore\.acquire: semid \d+/);
      assert.match((queueTimeout as IpcError).message, /MessageQueue\.receive: msqid \d+/);
      assert.match((channelTimeout as IpcError).message, /: recv: /);
      // What programs written for the ChannelError ETIMEDOUT of before test still holds.
      assert.ok(channelTimeout instanceof ChannelError);
      assert.ok(!(semTimeout instanceof ChannelError));
      assert.ok(!(new IpcError('futex', 'ETIMEDOUT') instanceof ChannelError), 'only the channel’s own timeouts');
      assert.ok(!(semTimeout instanceof StateError));
      assert.ok(!(queueTimeout instanceof ChannelError));
    } finally {
      sem.remove();
      queue.remove();
    }
  });

  it('a semaphore, a message queue and a channel that are aborted reject with the one AbortError: a DOMException whose cause is the reason', async () => {
    using sem = Semaphore.create();
    using queue = MessageQueue.create();
    try {
      using channel = Channel.create({ capacity: 4096, autoRemove: true });
      const receiver = channel.receiver();
      const reason = new Error('enough');
      const late = new AbortController();
      // The late one is aborted while it waits in msgrcv, on a thread.
      const aborted = [
        sem.acquire({ signal: AbortSignal.abort(reason) }),
        queue.receive({ signal: AbortSignal.abort(reason) }),
        queue.receive({ signal: late.signal }),
        receiver.recv({ signal: AbortSignal.abort(reason) }),
      ].map((wait) =>
        wait.then(
          () => assert.fail('done'),
          (e: unknown) => e,
        ),
      );
      setTimeout(() => late.abort(reason), 20);
      for (const error of await Promise.all(aborted)) {
        assert.ok(error instanceof DOMException);
        assert.equal(error.name, 'AbortError');
        assert.equal(error.message, 'The operation was aborted');
        assert.equal(error.cause, reason);
      }
    } finally {
      sem.remove();
      queue.remove();
    }
  });
});
