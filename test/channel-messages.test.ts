// receiver.messages({ signal, timeoutMs }): a for-await loop over a channel
// that an AbortSignal ends with an AbortError, as events.on does, whether it
// waits or works; messages it did not take stay in the ring.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Channel, ChannelError } from 'shmkit';
import { assertNoLeaks } from './helpers/ipc.js';
import { startNode } from './helpers/namespaces.js';
import { assertExitedCleanly, runNode } from './helpers/processes.js';

assertNoLeaks();

const text = (data: Uint8Array) => new TextDecoder().decode(data);
const isAbortError = (reason: unknown) => (error: unknown) =>
  error instanceof DOMException && error.name === 'AbortError' && error.cause === reason;

/** A child that opens the channel by id and sends each line it reads on stdin, printing "sent" after each. */
function sendingChild(id: number) {
  return startNode(
    `
    import { createInterface } from 'node:readline';
    import { Channel } from 'SHMKIT';
    const channel = Channel.open({ id: Number(process.argv[1]) });
    const sender = channel.sender();
    console.log('ready');
    for await (const line of createInterface({ input: process.stdin })) {
      await sender.send(line, { timeoutMs: 20000 });
      console.log('sent');
    }
    sender.close();
    channel.detach();
    `,
    [String(id)],
  );
}

describe('receiver.messages()', { timeout: 60_000 }, () => {
  it('aborting while the loop waits for another process ends it with an AbortError carrying the reason', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const child = sendingChild(channel.id);
    try {
      assert.equal(await child.line(), 'ready');
      const controller = new AbortController();
      const reason = new Error('shutting down');
      const received: string[] = [];
      child.send('one');
      child.send('two');
      const loop = (async () => {
        for await (const message of receiver.messages({ signal: controller.signal })) {
          received.push(text(message));
          // Abort only once the loop has gone back to waiting on an empty ring.
          if (received.length === 2) setTimeout(() => controller.abort(reason), 50);
        }
      })();
      await assert.rejects(loop, isAbortError(reason));
      assert.deepEqual(received, ['one', 'two']);
    } finally {
      child.process.stdin!.end();
      assertExitedCleanly(await child.exited, 'sender');
    }
  });

  it('aborting while the loop body runs throws at the next step and leaves the later messages in the ring', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const child = sendingChild(channel.id);
    try {
      assert.equal(await child.line(), 'ready');
      for (const word of ['a', 'b', 'c', 'd']) child.send(word);
      for (let i = 0; i < 4; i++) assert.equal(await child.line(), 'sent');
      const controller = new AbortController();
      const received: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const message of receiver.messages({ signal: controller.signal })) {
            received.push(text(message));
            if (received.length === 2) controller.abort('enough');
          }
        })(),
        isAbortError('enough'),
      );
      assert.deepEqual(received, ['a', 'b']);
      assert.equal(text(await receiver.recv({ timeoutMs: 5000 })), 'c', 'nothing was taken after the abort');
      assert.equal(text(receiver.tryRecv()!), 'd');
    } finally {
      child.process.stdin!.end();
      assertExitedCleanly(await child.exited, 'sender');
    }
  });

  it('an already aborted signal throws on the first step and takes nothing', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    channel.sender().trySend('kept');
    const signal = AbortSignal.abort('no');
    const iterator = receiver.messages({ signal });
    await assert.rejects(iterator.next(), isAbortError('no'));
    assert.equal(text(receiver.tryRecv()!), 'kept');
  });

  it('ends quietly when the channel is closed and drained, as plain iteration does', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    const sender = channel.sender();
    sender.trySend('x');
    sender.trySend('y');
    receiver.close();
    const received: string[] = [];
    for await (const message of receiver.messages({ signal: new AbortController().signal })) received.push(text(message));
    assert.deepEqual(received, ['x', 'y']);
  });

  it('timeoutMs limits each wait for the next message: ETIMEDOUT when none comes', async () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    channel.sender().trySend('only');
    const received: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const message of receiver.messages({ timeoutMs: 30 })) received.push(text(message));
      })(),
      (error: unknown) => error instanceof ChannelError && error.code === 'ETIMEDOUT',
    );
    assert.deepEqual(received, ['only']);
  });

  it('a process that aborted a wait and then detached exits cleanly, whether the abort ended a loop or a recv', async () => {
    for (const receive of [
      'for await (const m of receiver.messages({ signal: stop.signal }));',
      'await receiver.recv({ signal: stop.signal });',
    ]) {
      const result = await runNode(
        `
        import { Channel } from 'SHMKIT';
        const channel = Channel.create({ capacity: 4096 });
        const receiver = channel.receiver();
        const stop = new AbortController();
        setTimeout(() => stop.abort('done'), 100);
        try {
          ${receive}
        } catch (error) {
          console.log(error.name);
        }
        channel.detach();
        `,
      );
      assertExitedCleanly(result, receive);
      assert.equal(result.stdout, 'AbortError\n');
    }
  });

  it('refuses options that are wrong at once, before taking anything', () => {
    using channel = Channel.create({ capacity: 4096, autoRemove: true });
    const receiver = channel.receiver();
    channel.sender().trySend('kept');
    assert.throws(() => receiver.messages(null as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => receiver.messages({ signal: {} as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => receiver.messages({ timeoutMs: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.equal(text(receiver.tryRecv()!), 'kept');
  });
});
