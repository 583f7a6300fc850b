// The serving end of a service: takes requests from the request channel,
// runs the handler, and sends each reply into the reply channel of the
// client that asked. A client that dies or goes away costs nothing but its
// dropped replies: its channel is detected dead and let go.
import { ChannelError, channelError, invalidType, IpcError, outOfRange } from '../../core/errors.js';
import { optionNames, validateAbortSignal, validateInteger, validateOptions } from '../../core/validate.js';
import { Channel } from '../channel.js';
import { type Codec, codecName, decodeMessage } from '../codec.js';
import { threadLiveness } from '../liveness.js';
import type { Receiver } from '../receiver.js';
import type { Sender } from '../sender.js';
import { abandonServer, clearServer, isReplyChannel, recordRefusal, recordServer, type ServiceCore } from './core.js';
import * as F from './format.js';
import { buildMessage, readU32, writeU32 } from './message.js';
import { encodeError } from './remote-error.js';
import { whenAborted } from '../../core/abort-listeners.js';

/** What a handler learns about a request besides its value. */
export interface RequestInfo {
  /** The pid of the client's process (as its own PID namespace sees it). */
  readonly clientPid: number;
}

/** Answers one request: returns the reply (or a promise of it); a throw (or rejection) becomes an error reply. */
// biome-ignore lint/suspicious/noExplicitAny: untyped unless the caller names the request and reply types
export type ServiceHandler<Req = any, Res = any> = (value: Req, info: RequestInfo) => Res | PromiseLike<Res>;

/** Options of `service.serve()`. */
export interface ServeOptions {
  /**
   * How many requests the handler may work on at once (default 1: one after
   * another, in arrival order). A handler that returns synchronously never
   * holds a place; `Infinity` takes every request as it comes.
   */
  concurrency?: number | undefined;
  /** Aborting it closes the server (as `close()`). */
  signal?: AbortSignal | undefined;
}

const SERVE_OPTIONS = optionNames<ServeOptions>()('concurrency', 'signal');

/** A client's reply channel, as this server holds it. */
interface Link {
  readonly id: number;
  readonly channel: Channel;
  readonly sender: Sender;
  readonly presence0: number;
  readonly presence1: number;
  readonly pid: number;
  /** A reply to it waited REPLY_ROOM_MS for room in vain: later ones are dropped at once while it is full. */
  stalled: boolean;
}

/**
 * How long a reply waits for room in its client's reply channel, in ms,
 * holding a place: a client that stopped reading (stopped, or busy) must not
 * stall the others for ever. The reply is then dropped.
 */
const REPLY_ROOM_MS = 1000;
/** How often the server looks for clients that died or went away, in ms. */
const SWEEP_MS = 1000;
/** A server busy with a stream of requests lets timers and I/O run at least this often, in ms. */
const YIELD_MS = 10;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** Most requests one drain takes before the loop looks around. */
const DRAIN_MAX = 256;
/** Thrown out of a drain once every place is taken: the rest of the requests wait in the ring. */
const FULL = Symbol('every place is taken');

/** This thread's servers that have not let go of their place and record. */
const running = new Set<ServiceServer>();
let exitHooked = false;

/**
 * A running server: made by `service.serve(handler)`. One server per service
 * at a time, in any process; a server whose process died is replaced by the
 * next `serve()`.
 */
export class ServiceServer implements Disposable, AsyncDisposable {
  /**
   * Settles once the server stopped and its last reply is out: resolves after
   * `close()` (or when the request channel was closed), rejects if it stopped
   * on an unexpected error (which is also a process warning,
   * `SHMKIT_SERVER_STOPPED`, never an unhandled rejection).
   */
  readonly done: Promise<void>;
  readonly #core: ServiceCore;
  readonly #handler: ServiceHandler;
  readonly #receiver: Receiver;
  readonly #concurrency: number;
  readonly #token: readonly [number, number];
  readonly #stop = new AbortController();
  readonly #links = new Map<number, Link>();
  readonly #sweep: ReturnType<typeof setInterval>;
  /** Stops listening to the options' signal. */
  #stopAbort = (): void => {};
  #inflight = 0;
  /** Resolves the loop's wait for a free place, or for the last reply when stopping. */
  #wake: (() => void) | undefined;
  #closing = false;
  /** Stopped hard (the service detached): replies still coming are dropped. */
  #gone = false;

  /** @internal Made by Service.serve(). The constructor is private, so that the published types offer no way to call it. */
  static make(core: ServiceCore, handler: ServiceHandler, options: ServeOptions): ServiceServer {
    return new ServiceServer(core, handler, options);
  }

  private constructor(core: ServiceCore, handler: ServiceHandler, options: ServeOptions) {
    if (typeof handler !== 'function') throw invalidType('handler', 'of type function', handler);
    const opts = validateOptions(options, SERVE_OPTIONS, 'service.serve()') as ServeOptions;
    const concurrency = opts.concurrency ?? 1;
    this.#concurrency = concurrency === Infinity ? Infinity : validateInteger(concurrency, 'options.concurrency', 1, 2 ** 31 - 1);
    const signal = opts.signal;
    validateAbortSignal(signal, 'options.signal');
    this.#core = core;
    this.#handler = handler;
    this.#receiver = core.requests.receiver();
    try {
      this.#token = threadLiveness.hold();
    } catch (error) {
      this.#receiver[Symbol.dispose]();
      throw error;
    }
    recordServer(core.header, this.#token);
    running.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.once('exit', () => ServiceServer.#onExit());
    }
    this.#sweep = setInterval(() => this.#sweepLinks(), SWEEP_MS).unref();
    this.#stopAbort = whenAborted(signal, this.#onAbort);
    this.done = this.#run();
    // Nobody need watch done: a server that stops on an error (say, a request
    // channel that another program corrupted) must not take the process down
    // as an unhandled rejection. It says why once, as a process warning.
    this.done.catch((error: unknown) => {
      const why = error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
      process.emitWarning(`${core.name}: the server stopped: ${why}`, { code: 'SHMKIT_SERVER_STOPPED' });
    });
    if (signal?.aborted) void this.close();
  }

  readonly #onAbort = (): void => void this.close();

  /** Whether close() was called (or the server stopped by itself). */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Stops taking requests; another server may start at once. Requests
   * already taken finish and their replies are sent; requests not taken stay
   * in the request channel for the next server. Resolves once the last reply
   * is out.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#stop.abort();
      // The place is free for the next server at once; the loop's wait ends.
      // A request whose handler called this is taken: the receiver's detach
      // releases it, so the next server does not handle it again.
      this.#receiver[Symbol.dispose]();
      this.#wakeLoop();
    }
    return this.done.catch(() => {});
  }

  [Symbol.dispose](): void {
    void this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal The service detaches: stop now, without waiting for handlers (their replies are dropped). */
  stopNow(): void {
    // Requests taken and never to be answered: counted as this server's death (as at a thread's
    // exit), so that their clients fail them instead of waiting for a reply nobody sends.
    if (this.#inflight > 0 && !this.#released) abandonServer(this.#core.header, this.#token);
    this.#gone = true;
    void this.close();
    this.#wakeLoop();
    this.#release();
  }

  async #run(): Promise<void> {
    try {
      // Not within serve(): the handler never runs before serve() returned.
      await undefined;
      await this.#loop();
      // The last replies go out before the server counts as done.
      while (this.#inflight > 0 && !this.#gone) await new Promise<void>((resolve) => (this.#wake = resolve));
    } finally {
      this.#closing = true;
      this.#release();
    }
  }

  #released = false;

  /** The thread exits: a server with requests in flight abandons them (see abandonServer). */
  static #onExit(): void {
    for (const server of running) if (server.#inflight > 0) abandonServer(server.#core.header, server.#token);
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    running.delete(this);
    clearInterval(this.#sweep);
    this.#stopAbort();
    this.#receiver[Symbol.dispose]();
    clearServer(this.#core.header, this.#token);
    threadLiveness.letGo();
    for (const link of [...this.#links.values()]) this.#drop(link);
    this.#core.forget(this);
  }

  #wakeLoop(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #loop(): Promise<void> {
    const receiver = this.#receiver;
    let since = performance.now();
    while (!this.#closing) {
      if (this.#inflight >= this.#concurrency) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      if (performance.now() - since >= YIELD_MS) {
        await yieldToLoop();
        since = performance.now();
        continue;
      }
      try {
        if (receiver.drain(this.#onRequest, DRAIN_MAX) > 0) continue;
      } catch (error) {
        if (error === FULL || this.#closing) continue;
        throw error;
      }
      let view: Awaited<ReturnType<Receiver['recvView']>>;
      try {
        view = await receiver.recvView({ signal: this.#stop.signal });
      } catch (error) {
        if (this.#closing) return;
        if (error instanceof ChannelError) {
          // Every client died with the ring empty: others may come.
          if (error.code === 'ERR_CHANNEL_PEER_DEAD') continue;
          if (error.code === 'ERR_CHANNEL_CLOSED') return;
        }
        throw error;
      }
      try {
        this.#onRequest(view.data);
      } catch (error) {
        if (error !== FULL && !this.#closing) throw error;
      } finally {
        view.release();
      }
    }
  }

  /** One request, in ring memory valid only during the call; throws FULL once every place is taken. */
  readonly #onRequest = (data: Uint8Array): void => {
    this.#take(data);
    if (this.#inflight >= this.#concurrency) throw FULL;
  };

  #take(data: Uint8Array): void {
    if (data.length < F.REQUEST_HEADER) return; // not a request of this format: nobody to answer
    const nonce = readU32(data, F.REQUEST.nonce);
    const link = this.#link(
      readU32(data, F.REQUEST.replyChannel),
      nonce,
      readU32(data, F.REQUEST.presence0) | 0,
      readU32(data, F.REQUEST.presence1) | 0,
      readU32(data, F.REQUEST.pid),
    );
    if (link === undefined) return; // the client is gone, or its channel is not ours to write
    const seq = readU32(data, F.REQUEST.seq);
    let result: unknown;
    let then: unknown;
    try {
      // A request the codec cannot read gets ERR_CHANNEL_DECODE back, as the handler's errors do.
      const value = decodeMessage(this.#core.codec, data.subarray(F.REQUEST_HEADER), `${this.#core.name}: request`);
      result = this.#handler(value, { clientPid: link.pid });
      // Read here, once: a `then` getter that throws is the handler's error, not the server's end.
      then =
        result !== null && (typeof result === 'object' || typeof result === 'function') ? (result as PromiseLike<unknown>).then : undefined;
    } catch (error) {
      this.#reply(link, nonce, seq, F.STATUS_ERROR, error);
      return;
    }
    if (typeof then !== 'function') {
      this.#reply(link, nonce, seq, F.STATUS_OK, result);
      return;
    }
    this.#inflight++;
    // The `then` read above, called as Promise.resolve would (one read of it in all).
    new Promise<unknown>((resolve, reject) => (then as PromiseLike<unknown>['then']).call(result, resolve, reject))
      .then(
        (value) => this.#reply(link, nonce, seq, F.STATUS_OK, value),
        (error: unknown) => this.#reply(link, nonce, seq, F.STATUS_ERROR, error),
      )
      .finally(() => this.#done());
  }

  #done(): void {
    this.#inflight--;
    this.#wakeLoop();
  }

  /**
   * The reply channel a request names, opened on its client's first request;
   * undefined if it is gone or not a reply channel of this service. One this
   * server's user may not open (EACCES) is recorded for its client to see,
   * and said once as a process warning.
   */
  #link(id: number, nonce: number, presence0: number, presence1: number, pid: number): Link | undefined {
    const known = this.#links.get(id);
    if (known !== undefined) {
      if (known.presence0 === presence0 && known.presence1 === presence1) return known;
      this.#drop(known);
    }
    // A request without a client's presence is not a client's: its link would never be swept.
    if (presence1 === 0) return undefined;
    let channel: Channel | undefined;
    try {
      channel = Channel.open({ id });
      // Only a reply channel of a client of this service: a request may name any channel this
      // process can open, and one its sender cannot write must not get the server's bytes.
      if (!isReplyChannel(this.#core, channel)) throw new Error('not a reply channel of this service');
      const link: Link = { id, channel, sender: channel.sender(), presence0, presence1, pid, stalled: false };
      this.#links.set(id, link);
      return link;
    } catch (error) {
      // Removed (its client died or closed), not a channel, or not ours to open.
      channel?.detach();
      if (error instanceof IpcError && error.code === 'EACCES') this.#refuse(id, nonce, pid, error);
      return undefined;
    }
  }

  /** Reply channels already said refused in a warning: said once each. */
  readonly #refused = new Set<number>();

  #refuse(id: number, nonce: number, pid: number, error: IpcError): void {
    recordRefusal(this.#core.header, id, nonce);
    if (this.#refused.has(id)) return;
    if (this.#refused.size >= 1024) this.#refused.clear();
    this.#refused.add(id);
    process.emitWarning(
      `${this.#core.name}: the server cannot open the reply channel (segment ${id}) of the client in pid ${pid}, so its requests get no reply: ${error.message}`,
      { code: 'SHMKIT_SERVICE_REPLY_REFUSED' },
    );
  }

  #drop(link: Link): void {
    if (this.#links.get(link.id) === link) this.#links.delete(link.id);
    try {
      link.sender.close();
      link.channel.detach();
    } catch {
      // detached already
    }
  }

  /** Lets go of the reply channels of clients that died or closed. */
  #sweepLinks(): void {
    for (const link of [...this.#links.values()]) {
      if (link.channel.closed || !threadLiveness.alive(link.presence0, link.presence1, link.pid)) this.#drop(link);
    }
  }

  /** Sends a reply (or, for STATUS_ERROR, the error `value`); waits for room in the background, holding a place. */
  #reply(link: Link, nonce: number, seq: number, status: number, value: unknown): void {
    if (this.#gone || this.#links.get(link.id) !== link) return;
    const max = link.sender.maxMessageSize;
    let message: Uint8Array | undefined;
    if (status === F.STATUS_OK) {
      try {
        try {
          message = buildMessage(F.REPLY_HEADER, this.#core.codec, value);
        } catch (error) {
          // The codec names its argument `value`: here that is the handler's reply, not the client's request.
          throw unencodableReply(error, this.#core.codec);
        }
        if (message.length > max) {
          // Coded as a request too large for the request channel is; the client gets it back. Short
          // enough to cross whole through the smallest reply channel (256 bytes: 208 for the error).
          throw outOfRange(
            'reply',
            `at most ${max - F.REPLY_HEADER} bytes encoded (client({ capacity }) less 48)`,
            message.length - F.REPLY_HEADER,
          );
        }
      } catch (error) {
        status = F.STATUS_ERROR;
        value = error;
        message = undefined;
      }
    }
    message ??= buildMessage(F.REPLY_HEADER, undefined, undefined, encodeError(value, max - F.REPLY_HEADER));
    writeU32(message, F.REPLY.nonce, nonce);
    writeU32(message, F.REPLY.seq, seq);
    writeU32(message, F.REPLY.status, status);
    try {
      if (link.sender.trySend(message)) {
        link.stalled = false;
        return;
      }
    } catch {
      this.#drop(link); // its client closed the channel
      return;
    }
    // Its client did not read for REPLY_ROOM_MS: this reply is dropped too, at once.
    if (link.stalled) return;
    // The client's ring is full: wait for room (the client drains it while
    // it lives; a dead one is detected and the reply dropped), but not for ever.
    this.#inflight++;
    link.sender
      .send(message.slice(), { timeoutMs: REPLY_ROOM_MS })
      .catch((error: unknown) => {
        if ((error as { code?: unknown }).code === 'ETIMEDOUT') link.stalled = true;
        else this.#drop(link);
      })
      .finally(() => this.#done());
  }
}

/** What crosses for a reply the codec could not encode: the codec's error's name and code, with a message that names the reply. */
function unencodableReply(error: unknown, codec: Codec<unknown>): { name: string; message: string; code?: unknown } {
  const { name, message, code } = (error ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
  return {
    name: typeof name === 'string' ? name : 'Error',
    message: `reply: the '${codecName(codec)}' codec could not encode the handler's reply: ${typeof message === 'string' ? message : String(error)}`,
    code,
  };
}

/** @internal Why serve() cannot start: the live server's pid. */
export function serverBusy(error: unknown, name: string): unknown {
  if (error instanceof ChannelError && error.code === 'ERR_CHANNEL_BUSY') {
    return channelError('ERR_CHANNEL_BUSY', `serve: ${name} has a live server already (${error.message.replace(/^receiver: /, '')})`);
  }
  return error;
}
