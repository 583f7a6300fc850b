// What the two directions share: the connection, its state, the counters
// and the events. bridge.ts makes one; out.ts and in.ts use it.
import type { EventEmitter } from 'node:events';
import type { NatsConnection, NatsJetStream, NatsTransport } from './nats.js';
import type { BridgeStats } from './stats.js';

export interface JetStreamSettings {
  stream: string;
  durable: string | undefined;
  ackWaitMs: number;
}

export class Link {
  readonly nc: NatsConnection;
  readonly transport: NatsTransport;
  readonly jetstream: NatsJetStream;
  readonly subject: string;
  readonly js: JetStreamSettings | undefined;
  /** Aborted when the bridge closes: every wait of both directions ends. */
  readonly stop: AbortSignal;
  readonly stats: BridgeStats = { out: 0, in: 0, dropped: 0, lost: 0, duplicates: 0, reconnects: 0 };
  readonly events: EventEmitter;
  #connected = true;
  #wakeConnected: Array<() => void> = [];
  #online = new AbortController();

  constructor(init: {
    nc: NatsConnection;
    transport: NatsTransport;
    jetstream: NatsJetStream;
    subject: string;
    js: JetStreamSettings | undefined;
    stop: AbortSignal;
    events: EventEmitter;
  }) {
    this.nc = init.nc;
    this.transport = init.transport;
    this.jetstream = init.jetstream;
    this.subject = init.subject;
    this.js = init.js;
    this.stop = init.stop;
    this.events = init.events;
    this.stop.addEventListener(
      'abort',
      () => {
        this.#online.abort();
        this.#wake();
      },
      { once: true },
    );
  }

  /** Aborted when the client disconnects or the bridge stops: a wait for local messages to publish ends then. */
  get online(): AbortSignal {
    return this.#online.signal;
  }

  get connected(): boolean {
    return this.#connected;
  }

  set connected(value: boolean) {
    this.#connected = value;
    if (!value) this.#online.abort();
    else {
      if (this.#online.signal.aborted && !this.stop.aborted) this.#online = new AbortController();
      this.#wake();
    }
  }

  #wake(): void {
    for (const wake of this.#wakeConnected.splice(0)) wake();
  }

  /** Resolves once the client is connected (at once if it is), or when the bridge stops. */
  async whenConnected(): Promise<void> {
    while (!this.#connected && !this.stop.aborted) await new Promise<void>((resolve) => this.#wakeConnected.push(resolve));
  }

  /** Waits `ms`, or less if the bridge stops. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stop.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.stop.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stop.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * `promise`, or the stop's AbortError as soon as the bridge stops. A request
   * (the JetStream API's) waits for its answer until its timeout, 5 s, even
   * while the connection is down: close() leaves it, and closing the
   * connection then settles it.
   */
  untilStopped<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const stopped = () => reject(this.stop.reason);
      if (this.stop.aborted) stopped();
      else this.stop.addEventListener('abort', stopped, { once: true });
      // (What it settles to after the stop goes nowhere: no unhandled rejection.)
      promise.then(resolve, reject).finally(() => this.stop.removeEventListener('abort', stopped));
    });
  }

  /**
   * Counts `count` dropped messages and says why: the buffer was full, NATS's
   * max_payload, still buffered at close, or overwritten in a drop-oldest
   * PubSub before the bridge's subscriber took them.
   */
  drop(count: number, reason: 'buffer-full' | 'too-large' | 'closed' | 'lagged'): void {
    this.stats.dropped += count;
    this.events.emit('dropped', { count, reason });
  }

  /** Counts a gap found in an origin's sequence numbers. */
  lose(count: number): void {
    if (count <= 0) return;
    this.stats.lost += count;
    this.events.emit('lost', { count });
  }
}
