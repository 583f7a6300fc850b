// bridge(): a local channel or PubSub forwarded to a NATS subject and a NATS
// subject into a local channel or PubSub, so that processes on different
// hosts talk through a broker with the same API. Bytes pass unchanged (codecs too).
import { EventEmitter } from 'node:events';
import { abortError, bridgeError } from '../core/errors.js';
import { receiveCore, receiveJetStream } from './in.js';
import { ensureConsumer, ensureStream, type StreamPlace } from './jetstream.js';
import { Link } from './link.js';
import { type Attachment, type InSink, type OutSource, openSink, openSource } from './local.js';
import { hostOf, newOrigin, SequenceTracker } from './message-id.js';
import { loadNats, type NatsConnection, type NatsJetStream } from './nats.js';
import { validateOptions, type BridgeDirection, type BridgeOptions, type ValidOptions } from './options.js';
import { forwardCore, forwardJetStream } from './out.js';

import type { BridgeStats } from './stats.js';
import { whenAborted } from '../core/abort-listeners.js';

export type { BridgeStats } from './stats.js';

function isChannelClosed(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === 'ERR_CHANNEL_CLOSED';
}

/** The bridge's wait between attempts to connect, where `nats.reconnectTimeWait` does not say. */
const RECONNECT_WAIT_MS = 500;

async function connect(nats: Awaited<ReturnType<typeof loadNats>>, o: ValidOptions): Promise<{ nc: NatsConnection; where: string }> {
  const split = o.servers;
  const where = split.map((s) => s.server).join(',');
  const credentials: Record<string, unknown> = {};
  for (const { user, pass, token } of split) {
    if (user !== undefined) Object.assign(credentials, { user, pass });
    if (token !== undefined) credentials['token'] = token;
  }
  if (o.creds !== undefined) {
    // Loaded here: only a bridge with a credentials file needs it.
    const { readFile } = await import('node:fs/promises');
    const file = await readFile(o.creds).catch((error: NodeJS.ErrnoException) => {
      throw bridgeError(
        'ERR_BRIDGE_CREDS',
        `bridge: cannot read the credentials file ${o.creds}: ${error.code ?? error.message}`,
        error,
        true,
      );
    });
    credentials['authenticator'] = nats.transport.credsAuthenticator(file);
  }
  const givenDelay = o.nats?.['reconnectDelayHandler'];
  try {
    const nc = await nats.transport.connect({
      servers: split.map((s) => s.server),
      name: 'shmkit bridge',
      // A bridge that goes both ways must not get its own messages back.
      noEcho: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      // Otherwise every request (each JetStream publish) captures a stack trace up
      // front for its possible error: about a fifth of the client's CPU per publish.
      // The bridge's errors say where they come from without it.
      noAsyncTraces: true,
      ...credentials,
      ...o.nats,
      // (One that is not a function is left for the client to refuse.)
      ...(o.signal &&
        (givenDelay === undefined || typeof givenDelay === 'function') && {
          reconnectDelayHandler: delayUntilAborted(o.signal, o.nats),
        }),
    });
    return { nc, where };
  } catch (error) {
    throw bridgeError('ERR_BRIDGE_CONNECT', `bridge: cannot connect to ${where}: ${(error as Error).message}`, error, true);
  }
}

/**
 * The client's wait between two attempts to connect, as it would be without
 * this function (`nats.reconnectDelayHandler`, or `reconnectTimeWait` and a
 * random jitter), until `signal` aborts: then it throws, which ends the
 * client's attempts. Its connect() takes no signal, and with
 * `waitOnFirstConnect` and no server it tries for good.
 */
function delayUntilAborted(signal: AbortSignal, nats: Record<string, unknown> | undefined): () => number {
  const given = nats?.['reconnectDelayHandler'];
  const wait = typeof nats?.['reconnectTimeWait'] === 'number' ? nats['reconnectTimeWait'] : RECONNECT_WAIT_MS;
  const jitter = nats?.['tls'] ? (nats['reconnectJitterTLS'] ?? 1000) : (nats?.['reconnectJitter'] ?? 100);
  return () => {
    if (signal.aborted) throw abortError(signal);
    if (typeof given === 'function') return given() as number;
    return wait + (typeof jitter === 'number' && jitter > 0 ? Math.floor(Math.random() * (jitter + 1)) : 0);
  };
}

/**
 * The stream that holds the subject (created if absent) and, for 'in', the
 * durable consumer (likewise): where 'in' starts, and what it needs to make
 * them again as they were if they are deleted while it runs.
 */
async function prepareJetStream(jetstream: NatsJetStream, nc: NatsConnection, o: ValidOptions): Promise<StreamPlace | undefined> {
  const js = o.jetstream;
  if (!js) return undefined;
  const jsm = await jetstream.jetstreamManager(nc);
  const { created } = await ensureStream(jetstream, jsm, o.subject, js);
  if (o.in === undefined || js.durable === undefined) return undefined;
  const { acked } = await ensureConsumer(jetstream, jsm, o.subject, { ...js, durable: js.durable });
  return { created, position: acked };
}

/** @internal What {@link bridge} hands the Bridge it makes. */
export interface BridgeInit {
  link: Link;
  stop: AbortController;
  attachments: Attachment[];
  o: ValidOptions;
  where: string;
  run: (b: Bridge) => Promise<void>;
}

/**
 * A running bridge. Its events: `'disconnect'` and `'reconnect'` (the NATS
 * connection), `'dropped'` (`{ count, reason }`: 'buffer-full', 'too-large',
 * 'closed', or 'lagged': a drop-oldest PubSub overwrote them before the bridge took them), `'lost'` (`{ count }`: a gap in a sending bridge's sequence
 * numbers), `'recreated'` (`{ what: 'stream' | 'consumer', name }`: JetStream 'in', one
 * deleted while it ran was made again), `'stalled'` (`{ error }`: JetStream 'out', a
 * publish failed and the message is being sent again, `ERR_BRIDGE_STREAM` if no stream
 * takes the subject; once, until `'resumed'`: one went through). It ends when closed, when a channel or PubSub it
 * serves is closed (`done` resolves), or on a failure (`done` rejects with it: the server
 * refusing to make a deleted stream or consumer again is `ERR_BRIDGE_STREAM` or `ERR_BRIDGE_CONSUMER`).
 */
export class Bridge extends EventEmitter implements AsyncDisposable, Disposable {
  /** The subject it forwards to and from. */
  readonly subject: string;
  readonly direction: BridgeDirection;
  /** Whether it goes through JetStream (at least once) rather than core NATS (at most once). */
  readonly jetstream: boolean;
  /** The server(s), without credentials. */
  readonly server: string;
  /** Settles when the bridge has stopped: resolves after close() or a closed channel or PubSub, rejects with what stopped it otherwise. */
  readonly done: Promise<void>;
  readonly #link: Link;
  readonly #stop: AbortController;
  readonly #attachments: Attachment[];
  #closing: Promise<void> | undefined;

  /** @internal Made by {@link bridge}. The constructor is private, so that the published types offer no way to call it. */
  static make(init: BridgeInit): Bridge {
    return new Bridge(init);
  }

  private constructor(init: BridgeInit) {
    super();
    this.subject = init.o.subject;
    this.direction = init.o.direction;
    this.jetstream = init.o.jetstream !== undefined;
    this.server = init.where;
    this.#link = init.link;
    this.#stop = init.stop;
    this.#attachments = init.attachments;
    this.done = init.run(this).then(
      () => this.#shutdown(),
      async (error: unknown) => {
        await this.#shutdown();
        if (!isChannelClosed(error)) throw error;
      },
    );
    // Nobody has to await done for a failure to be safe; it is still there for those who do.
    this.done.catch(() => {});
  }

  /** A snapshot of the counters: out, in, dropped, lost, duplicates, reconnects. */
  get stats(): BridgeStats {
    return { ...this.#link.stats };
  }

  /** Whether the bridge has stopped or is stopping. */
  get closed(): boolean {
    return this.#stop.signal.aborted;
  }

  /**
   * Stops forwarding, sends what core NATS still buffers (flush; not while
   * disconnected, when nothing buffered can reach the server), closes the
   * connection and detaches its channels or PubSubs (they stay, for the
   * application). Resolves once all of it is done, without waiting for
   * requests the connection still has out; never rejects.
   */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.done.catch(() => {});
  }

  #shutdown(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort();
      const nc = this.#link.nc;
      if (!nc.isClosed()) {
        // What 'out' published is sent before the connection closes. Not while
        // disconnected: the client empties its buffer at each attempt to connect,
        // so the flush would only wait for the next attempt (reconnectTimeWait).
        if (this.#link.connected) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([nc.flush().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))]);
          clearTimeout(timer);
        }
        await nc.close().catch(() => {});
      }
      for (const attachment of this.#attachments) {
        try {
          attachment.detach();
        } catch {
          // detached already
        }
      }
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Starts closing without waiting (`using`); `await using` waits. */
  [Symbol.dispose](): void {
    void this.close();
  }
}

/**
 * Bridges a local channel (or, with `pubsub`, a PubSub) and a NATS subject:
 * `direction: 'out'` publishes every message of the channel (the bridge is
 * its receiver; of a PubSub, one of its subscribers), `'in'` sends every
 * message of the subject into it (as one of its senders or publishers),
 * `'both'` does both with two of them. Bytes are forwarded unchanged;
 * order per sender is kept. Core NATS (default) is at most once, with the
 * loss counted; `jetstream` is at least once, de-duplicated by message id.
 * Needs the optional dependency `@nats-io/transport-node` (and
 * `@nats-io/jetstream`), loaded on the first call.
 *
 * ```ts
 * await using b = await bridge({ channel: { key: 0x5348 }, url: 'nats://127.0.0.1:4222', subject: 'orders', direction: 'out' });
 * ```
 * @throws TypeError/RangeError for bad options, before anything else;
 *   `ERR_BRIDGE_NATS_MISSING` without the client; the channel's or PubSub's errors
 *   (ENOENT, ERR_CHANNEL_FORMAT, ERR_CHANNEL_BUSY: another receiver, or 128 subscribers); a connection error naming the server (never its credentials).
 */
export async function bridge(options: BridgeOptions): Promise<Bridge> {
  const o = validateOptions(options);
  o.signal?.throwIfAborted();
  const nats = await loadNats();
  const attachments: Attachment[] = [];
  let receiver: OutSource | undefined;
  let sender: InSink | undefined;
  let nc: NatsConnection | undefined;
  try {
    if (o.out !== undefined) {
      const opened = openSource(o.out);
      attachments.push(opened.attachment);
      receiver = opened.source;
    }
    if (o.in !== undefined) {
      const opened = openSink(o.in);
      attachments.push(opened.attachment);
      sender = opened.sink;
    }
    // An abort ends the wait for a server (the client's own timeout is 20 s, or never); a connection made after is closed.
    const connected = await unlessAborted(connect(nats, o), o.signal, (late) => void late.nc.close().catch(() => {}));
    nc = connected.nc;
    const place = await unlessAborted(prepareJetStream(nats.jetstream, nc, o), o.signal, () => {});
    const stop = new AbortController();
    const events = new EventEmitter();
    const link = new Link({
      nc,
      transport: nats.transport,
      jetstream: nats.jetstream,
      subject: o.subject,
      js: o.jetstream,
      stop: stop.signal,
      events,
    });
    // Both ways with a durable consumer: a host part kept across runs, so that a restarted bridge knows its own.
    const host =
      receiver !== undefined && sender !== undefined && o.jetstream?.durable !== undefined ? hostOf(o.jetstream.durable) : undefined;
    const origin = newOrigin(host);
    const run = async (b: Bridge): Promise<void> => {
      for (const name of ['dropped', 'lost', 'recreated', 'stalled', 'resumed'] as const) events.on(name, (e) => b.emit(name, e));
      const stopAbort = whenAborted(o.signal, () => stop.abort());
      if (o.signal?.aborted) stop.abort(); // aborted while it connected
      void watchStatus(link, b);
      const ended = link.nc.closed().then((error) => {
        if (stop.signal.aborted) return;
        const why = error === undefined ? '' : `: ${(error as Error).message}`;
        throw bridgeError('ERR_BRIDGE_CONNECT', `bridge: the connection to ${connected.where} closed for good${why}`, error);
      });
      const tasks: Promise<void>[] = [];
      if (receiver)
        tasks.push(o.jetstream ? forwardJetStream(link, receiver, origin) : forwardCore(link, receiver, origin, o.maxPendingBytes));
      if (sender) {
        const tracker = new SequenceTracker(origin, host);
        tasks.push(
          o.jetstream
            ? receiveJetStream(link, sender, tracker, place)
            : receiveCore(link, sender, tracker, { maxMessages: o.maxBufferedMessages, maxBytes: o.maxBufferedBytes }),
        );
      }
      try {
        // The first direction to end (a closed channel or PubSub, a failure) ends the bridge.
        await Promise.race([...tasks, ended]).catch((error: unknown) => {
          if (!(stop.signal.aborted && (error as Error)?.name === 'AbortError')) throw error;
        });
      } finally {
        stop.abort();
        stopAbort();
        await Promise.allSettled(tasks);
      }
    };
    const b = Bridge.make({ link, stop, attachments, o, where: connected.where, run });
    // The core subscription is sent as the bridge starts: once the server has it, what is
    // published from now on reaches this bridge.
    if (sender && !o.jetstream) await nc.flush().catch(() => {});
    return b;
  } catch (error) {
    await nc?.close().catch(() => {});
    for (const attachment of attachments) attachment.detach();
    throw error;
  }
}

/**
 * `work`, or an AbortError as soon as `signal` aborts; `discard` gets what
 * `work` gives after that.
 */
async function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, discard: (late: T) => void): Promise<T> {
  if (signal === undefined) return work;
  let stopListening = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    stopListening = whenAborted(signal, () => reject(abortError(signal)));
  });
  try {
    return await Promise.race([work, aborted]);
  } catch (error) {
    if (signal.aborted) work.then(discard, () => {});
    throw error;
  } finally {
    stopListening();
  }
}

async function watchStatus(link: Link, b: Bridge): Promise<void> {
  for await (const status of link.nc.status()) {
    if (status.type === 'disconnect') {
      link.connected = false;
      b.emit('disconnect');
    } else if (status.type === 'reconnect') {
      link.stats.reconnects++;
      link.connected = true;
      b.emit('reconnect');
    }
  }
}
