// Node streams and events over a channel's endpoints, for code written that
// way: `stream.pipeline()` across processes, `emitter.on('message')`. Built on
// the endpoints' public calls only (no import of them: no cycle).
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { nodeStream } from '../core/builtins.js';
import { abortError, ChannelError, channelError } from '../core/errors.js';
import { whenAborted } from '../core/abort-listeners.js';

/** The wait options the endpoints' recv and send take (their own type is not imported: no cycle). */
interface WaitOptions {
  signal?: AbortSignal | undefined;
}

/** Options of `receiver.readable()`. */
export interface ReadableOptions {
  /** Messages (object mode) or bytes the stream buffers before it stops taking messages from the ring; Node's default if absent. */
  highWaterMark?: number | undefined;
  /** Destroys the stream with an AbortError; the message being waited for stays in the ring (what the stream buffered is discarded). */
  signal?: AbortSignal | undefined;
}

/** Options of `sender.writable()`. */
export interface WritableOptions {
  /** Messages (object mode) or bytes the stream buffers before write() returns false; Node's default if absent. */
  highWaterMark?: number | undefined;
  /** Destroys the stream with an AbortError; a send that waits for room gives up. */
  signal?: AbortSignal | undefined;
  /** Close the channel (for every process) when the stream finishes, which ends the receiver's Readable; default true. */
  closeChannel?: boolean | undefined;
}

/** Options of `receiver.events()`. */
export interface EventsOptions {
  /** Stops taking messages: the emitter emits 'close' and nothing more; the message waited for stays in the ring. */
  signal?: AbortSignal | undefined;
}

/** @internal What a Readable reads: a receiver. */
export interface MessageSource<T> {
  recv(options?: WaitOptions): Promise<T>;
}

/**
 * @internal What events() reads: a receiver that can hold the message at its
 * cursor without taking it (tryHold, or hold waiting), then take it
 * (takeHeld) or leave it there for whoever receives next (leaveHeld).
 */
export interface HoldingSource<T> {
  tryHold(): boolean;
  hold(options?: WaitOptions): Promise<void>;
  takeHeld(): T;
  leaveHeld(): void;
}

/** @internal What a Writable writes to: a sender, which the Writable closes when it is done. */
export interface MessageSink<T> {
  send(value: T, options?: WaitOptions): Promise<void>;
  close(): void;
  readonly maxMessageSize: number;
}

const isClosed = (error: unknown): boolean => error instanceof ChannelError && error.code === 'ERR_CHANNEL_CLOSED';

/**
 * @internal A Readable that takes a message from `source` only while its
 * buffer has room. `detached()` says whether the receiver was detached.
 */
export function readableFrom<T>(
  source: MessageSource<T>,
  objectMode: boolean,
  options: ReadableOptions,
  detached: () => boolean,
): Readable {
  const stop = new AbortController();
  let pulling = false;
  let wanted = false;
  const readable = new (nodeStream().Readable)({
    objectMode,
    highWaterMark: options.highWaterMark,
    signal: options.signal,
    read() {
      wanted = true;
      if (!pulling) void pull();
    },
    destroy(error, callback) {
      stop.abort();
      callback(error);
    },
  });

  async function pull(): Promise<void> {
    pulling = true;
    try {
      for (;;) {
        wanted = false;
        const value = await source.recv({ signal: stop.signal });
        if (readable.destroyed) return;
        if (value === null) {
          // Streams reserve null for their end: say so (a coded error, as for a message the codec cannot decode) rather than end early.
          readable.destroy(
            channelError(
              'ERR_CHANNEL_DECODE',
              'receiver.readable(): a message decoded to null, which a Node stream cannot carry (it was consumed)',
            ),
          );
          return;
        }
        // Push returns false once the buffer is full: stop taking messages until read() asks again.
        if (!readable.push(value) && !wanted) return;
      }
    } catch (error) {
      if (readable.destroyed) return;
      if (!isClosed(error)) readable.destroy(error as Error);
      // A detached receiver is not the end (the channel is open, messages may be left): a premature
      // close, as a socket destroyed here, so that pipeline() and for await reject rather than succeed.
      else if (detached()) readable.destroy();
      else readable.push(null);
    } finally {
      pulling = false;
    }
  }
  return readable;
}

/**
 * @internal A Writable whose write completes once its message is in the ring.
 * It owns `sink`: once finished or destroyed it closes it, freeing its slot in
 * the segment's sender table; the channel stays open (a destroyed stream must
 * not look, to the receiver, like a transfer that ended).
 */
export function writableTo<T>(sink: MessageSink<T>, objectMode: boolean, options: WritableOptions, closeChannel: () => void): Writable {
  const stop = new AbortController();
  const max = sink.maxMessageSize;
  const send = (value: unknown): Promise<void> => sink.send(value as T, { signal: stop.signal });
  return new (nodeStream().Writable)({
    objectMode,
    highWaterMark: options.highWaterMark,
    signal: options.signal,
    write(chunk: unknown, _encoding, callback) {
      let sent: Promise<unknown>;
      if (objectMode) sent = send(chunk);
      else {
        // A byte stream has no message boundaries: a long chunk goes as several messages, in order.
        const bytes = chunk as Uint8Array;
        const parts: Promise<void>[] = [];
        for (let at = 0; at < bytes.byteLength || at === 0; at += max) parts.push(send(bytes.subarray(at, at + max)));
        sent = Promise.all(parts);
      }
      sent.then(() => callback(), callback);
    },
    final(callback) {
      try {
        if (options.closeChannel !== false) closeChannel();
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    // Runs after 'finish' too (autoDestroy), as a file stream closes its descriptor.
    destroy(error, callback) {
      stop.abort();
      sink.close();
      callback(error);
    },
  });
}

/** @internal Whether `error` is the AbortError of a wait that `signal` ended. */
const abortedBy = (signal: AbortSignal, error: unknown): boolean => signal.aborted && (error as Error | undefined)?.name === 'AbortError';

/**
 * The emitter of `receiver.events()`: it watches its own 'newListener' and
 * 'removeListener' to start and stop taking messages, so a
 * removeAllListeners() (with or without a name) puts those two hooks back
 * and then stops taking if no 'message' listener is left.
 */
class MessageEvents extends EventEmitter {
  readonly #restore: () => void;
  /** Nested calls: without a name, Node's removeAllListeners() calls itself for each name, then clears all. */
  #depth = 0;

  constructor(restore: () => void) {
    super();
    this.#restore = restore;
  }

  override removeAllListeners(...name: [eventName?: string | symbol]): this {
    this.#depth++;
    try {
      // Spread: Node tells "all" from an explicit undefined by the argument count.
      super.removeAllListeners(...name);
    } finally {
      this.#depth--;
    }
    if (this.#depth === 0) this.#restore();
    return this;
  }
}

/**
 * @internal An EventEmitter that emits each message of `source` while it has a
 * 'message' listener: the first one starts it; once the last one is removed
 * (a `once()` listener that got its message, an `off()`, a
 * `removeAllListeners()`) it takes nothing more until another is added, so no
 * message is taken for nobody. A message is taken only once it is there and
 * someone listens, and emitted in the same turn: none is ever out of the ring
 * and not yet emitted. `detached()` says whether the receiver was detached,
 * which stops it without 'end'.
 */
export function eventsOf<T>(source: HoldingSource<T>, options: EventsOptions, detached: () => boolean): EventEmitter {
  const { signal } = options;
  const listening = (): boolean => emitter.listenerCount('message') > 0;
  /** Aborted when the last 'message' listener goes: a wait for the next message gives up, taking nothing. */
  let pause = new AbortController();
  /** Ends the wait for a 'message' listener, while there is none. */
  let resume: (() => void) | undefined;
  /** Emits messages until the channel is closed and drained ('end'), or the last listener goes ('paused'). */
  const emitWhileListened = async (): Promise<'end' | 'paused'> => {
    const current = new AbortController();
    pause = current;
    const stop = (): void => current.abort(signal?.reason);
    const stopListening = whenAborted(signal, stop);
    if (signal?.aborted) stop();
    const waitOptions = { signal: current.signal };
    try {
      for (;;) {
        if (current.signal.aborted) throw abortError(current.signal);
        if (!listening()) return 'paused';
        let now: boolean;
        try {
          now = source.tryHold();
          if (!now) await source.hold(waitOptions);
        } catch (error) {
          if (isClosed(error)) return 'end';
          throw error;
        }
        if (!now) {
          // The turns since it came may have removed the last listener, aborted or detached: then it stays in the ring.
          if (!listening() || current.signal.aborted || detached()) {
            source.leaveHeld();
            if (detached()) return 'end';
            if (current.signal.aborted) throw abortError(current.signal);
            return 'paused';
          }
        }
        // Taken and emitted in one turn: no listener can go in between.
        emitter.emit('message', source.takeHeld());
        // Its last listener went while it ran (a once() listener): take no more for nobody.
        if (!listening()) return 'paused';
        // One turn of the microtask queue per message, as an async iteration takes: the listeners' own work interleaves.
        await undefined;
      }
    } catch (error) {
      if (abortedBy(current.signal, error) && !signal?.aborted) return 'paused';
      throw error;
    } finally {
      stopListening();
    }
  };

  const run = async (): Promise<void> => {
    try {
      for (;;) {
        if (!listening()) {
          // No wait of the receiver's meanwhile: nothing is taken, nothing keeps the process alive.
          let stopListening = (): void => {};
          await new Promise<void>((resolve) => {
            resume = () => resolve();
            stopListening = whenAborted(signal, resume);
          });
          stopListening();
          resume = undefined;
        }
        if (signal?.aborted) return;
        if ((await emitWhileListened()) === 'paused') continue;
        // A detached receiver ends the loop as a closed channel does, but more may come: no 'end' then.
        if (!detached()) emitter.emit('end');
        return;
      }
    } catch (error) {
      if (!(signal !== undefined && abortedBy(signal, error))) emitter.emit('error', error);
    } finally {
      emitter.emit('close');
    }
  };

  let started = false;
  const onNewListener = (event: string | symbol): void => {
    if (event !== 'message') return;
    // (Called before the listener is added: the loop goes on in a later microtask, once it is.)
    if (!started) {
      started = true;
      queueMicrotask(() => void run());
    } else resume?.();
  };
  const onRemoveListener = (event: string | symbol): void => {
    if (event === 'message' && !listening()) pause.abort();
  };
  const hook = (): void => {
    if (!emitter.listeners('newListener').includes(onNewListener)) emitter.on('newListener', onNewListener);
    if (!emitter.listeners('removeListener').includes(onRemoveListener)) emitter.on('removeListener', onRemoveListener);
    // 'message' listeners that went while the hook was off went unseen: stop now.
    if (!listening()) pause.abort();
  };
  const emitter = new MessageEvents(hook);
  hook();
  return emitter;
}
