// The asking end of a service. Each client has a reply channel of its own
// (private, removed once its client and the server have let go of it) and
// names it in every request with a sequence number; replies are matched to
// pending requests by that number, in whatever order they come.
import { nodeCrypto } from '../../core/builtins.js';
import { abortError, ChannelError, channelError, ipcError, outOfRange, channelTimeoutError } from '../../core/errors.js';
import { IPC_SET, IPC_STAT } from '../../sysv/constants.js';
import { shmctl } from '../../sysv/shm.js';
import { constants as osConstants } from 'node:os';
import { optionNames, validateAbortSignal, validateInteger, validateObject, validateOptions } from '../../core/validate.js';
import { refuseTimeoutSpelling, timeLimit } from '../../core/wait-options.js';
import { deadlineOf } from '../block.js';
import { Channel } from '../channel.js';
import { decodeMessage } from '../codec.js';
import { threadLiveness } from '../liveness.js';
import type { Receiver } from '../receiver.js';
import type { Sender } from '../sender.js';
import { deadServer, markReplyChannel, serverDeaths, serverRecorded, takeRefusal, type ServiceCore } from './core.js';
import * as F from './format.js';
import { buildMessage, readU32, writeU32 } from './message.js';
import { decodeError } from './remote-error.js';
import { whenAborted } from '../../core/abort-listeners.js';

/** Options of `service.client()`. */
export interface ServiceClientOptions {
  /** The reply channel's capacity in bytes (default: the request channel's). A reply may be up to capacity - 48 bytes. */
  capacity?: number | undefined;
}

const CLIENT_OPTIONS = optionNames<ServiceClientOptions>()('capacity');

/** Options of `client.request()`. */
export interface RequestOptions {
  /** Reject with the IpcError `ETIMEDOUT` of every wait (its `syscall` `'request'`) if no reply came within this many ms; default: no limit. */
  timeoutMs?: number | undefined;
  /** Abort the request: it rejects with an AbortError. */
  signal?: AbortSignal | undefined;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  stopTimer: (() => void) | undefined;
  stopAbort: (() => void) | undefined;
  /** Aborts the request's send while it waits for room in the request channel. */
  sending: AbortController | undefined;
  /** The service's count of dead servers when it was sent: once it moves, the server that took it may have died. */
  deaths: number;
}

/**
 * Gives reply channel `id` the service segment's group when the service's
 * mode grants its group access: a server of another user in that group can
 * then open it (the channel is made with this process's group). The owner
 * may set any group (IPC_SET); a failure leaves the channel as it was, and a
 * server that cannot open it says so (see takeRefusal).
 */
function shareGroup(core: ServiceCore, id: number): void {
  if ((core.mode & 0o070) === 0) return;
  try {
    const { gid } = shmctl(core.id, IPC_STAT).shm_perm;
    if (shmctl(id, IPC_STAT).shm_perm.gid !== gid) shmctl(id, IPC_SET, { gid });
  } catch {
    // not ours to change: left as it is
  }
}

/** How long the client waits for a reply before it checks that the server lives, in ms. */
const LIVENESS_MS = 100;
/** How often a client with no request pending drops late replies (of requests that timed out), in ms. */
const LATE_MS = 100;
/** A client busy with a stream of replies lets timers and I/O run at least this often, in ms. */
const YIELD_MS = 10;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Sends requests to a service and resolves each with its reply. Made by
 * `service.client()`. Any number of requests may be pending at once; each
 * reply goes to the request it answers.
 */
// biome-ignore lint/suspicious/noExplicitAny: untyped unless the caller names the request and reply types
export class ServiceClient<Req = any, Res = any> implements Disposable {
  readonly #core: ServiceCore;
  readonly #channel: Channel;
  readonly #receiver: Receiver;
  readonly #token: readonly [number, number];
  /** Tells this client's replies from those meant for an earlier owner of the same channel id. */
  readonly #nonce = nodeCrypto().randomInt(1, 2 ** 32 - 1);
  readonly #pending = new Map<number, Pending>();
  readonly #stop = new AbortController();
  #seq = 0;
  /** The count of dead servers at the last check: every pending request sent before it has seen it. */
  #deathsChecked = 0;
  #pumping = false;
  #closed = false;
  #late: ReturnType<typeof setInterval> | undefined;

  /** @internal Made by Service.client(). The constructor is private, so that the published types offer no way to call it. */
  static make<Req, Res>(core: ServiceCore, options: ServiceClientOptions): ServiceClient<Req, Res> {
    return new ServiceClient<Req, Res>(core, options);
  }

  private constructor(core: ServiceCore, options: ServiceClientOptions) {
    const opts = validateOptions(options, CLIENT_OPTIONS, 'service.client()') as ServiceClientOptions;
    const capacity = opts.capacity === undefined ? core.capacity : validateInteger(opts.capacity, 'options.capacity', 1, 2 ** 30);
    this.#core = core;
    this.#channel = Channel.create({ capacity, mode: core.mode, autoRemove: true, wait: core.requests.wait });
    try {
      markReplyChannel(core, this.#channel);
      shareGroup(core, this.#channel.id);
      this.#receiver = this.#channel.receiver();
      this.#token = threadLiveness.hold();
    } catch (error) {
      this.#channel.detach();
      throw error;
    }
  }

  /** How many requests wait for their reply. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends `value` (encoded by the service's codec) and resolves to the
   * server's reply. A handler that threw rejects it with a
   * ServiceRemoteError (`code` `'ERR_SERVICE_REMOTE'`) carrying the handler's
   * error's `name`, `message` and `code` as `remoteName`, `remoteMessage`
   * and `remoteCode`.
   * @throws (rejects) IpcError ETIMEDOUT after `timeoutMs` (a reply that comes
   *   later is dropped); AbortError; ChannelError ERR_CHANNEL_PEER_DEAD if the
   *   server died before replying, ERR_CHANNEL_CLOSED if the client is (or
   *   gets) closed; TypeError/RangeError for a value the codec refuses or
   *   that is too large for the request channel, or for a bad option
   *   (`options.timeout` too: the time limit is `timeoutMs`).
   */
  request(value: Req, options: RequestOptions = {}): Promise<Res> {
    let message: Uint8Array;
    let signal: AbortSignal | undefined;
    let timeoutMs: number | undefined;
    try {
      if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED', 'request: the client is closed');
      const opts = validateObject(options, 'options') as RequestOptions;
      signal = validateAbortSignal(opts.signal, 'options.signal');
      timeoutMs = opts.timeoutMs;
      // `timeout` is not an option: ignored, it would leave the request with no time limit.
      if (timeoutMs === undefined) refuseTimeoutSpelling(opts as Record<string, unknown>, 'options');
      deadlineOf(timeoutMs);
      if (signal?.aborted) throw abortError(signal);
      message = buildMessage(F.REQUEST_HEADER, this.#core.codec, value);
      const max = this.#requestSender().maxMessageSize;
      if (message.length > max) {
        throw outOfRange('value', `at most ${max - F.REQUEST_HEADER} bytes encoded (the request channel's capacity less 56 bytes)`, value);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const seq = (this.#seq = (this.#seq + 1) >>> 0);
    writeU32(message, F.REQUEST.replyChannel, this.#channel.id);
    writeU32(message, F.REQUEST.nonce, this.#nonce);
    writeU32(message, F.REQUEST.seq, seq);
    writeU32(message, F.REQUEST.presence0, this.#token[0]);
    writeU32(message, F.REQUEST.presence1, this.#token[1]);
    writeU32(message, F.REQUEST.pid, process.pid);
    return new Promise<Res>((resolve, reject) => {
      const pending: Pending = {
        resolve: resolve as (value: unknown) => void,
        reject,
        stopTimer: undefined,
        stopAbort: undefined,
        sending: undefined,
        // Read before the send: a server that takes it and dies is counted after.
        deaths: serverDeaths(this.#core.header),
      };
      this.#pending.set(seq, pending);
      if (timeoutMs !== undefined) {
        const limit = timeoutMs;
        pending.stopTimer = timeLimit(limit, () =>
          this.#settle(
            seq,
            // Not a futex's: a timer over the whole round trip, so its syscall says what timed out.
            channelTimeoutError(
              'request',
              limit,
              'no reply came; the server may still handle the request, and its reply will be dropped',
              'request',
            ),
            true,
          ),
        );
      }
      if (signal !== undefined) {
        const from = signal;
        pending.stopAbort = whenAborted(from, () => this.#settle(seq, abortError(from), true));
      }
      const sender = this.#requestSender();
      let sent = false;
      try {
        sent = sender.trySend(message);
      } catch (error) {
        this.#settle(seq, error, false);
        return;
      }
      if (!sent) {
        // The request channel is full: wait for room with a copy (the message buffer is reused).
        pending.sending = new AbortController();
        sender.send(message.slice(), { signal: pending.sending.signal }).then(
          () => {
            pending.sending = undefined;
          },
          (error: unknown) => this.#settle(seq, error),
        );
      }
      this.#startPump();
    });
  }

  /** The request channel's sender; a channel whose every sender place is taken names the service. */
  #requestSender(): Sender {
    try {
      return this.#core.requestSender();
    } catch (error) {
      if (error instanceof ChannelError && error.code === 'ERR_CHANNEL_BUSY') {
        throw channelError(
          'ERR_CHANNEL_BUSY',
          `request: the request channel of ${this.#core.name} has 256 live senders already (one per Service object, in any process, that has sent a request): detach one`,
        );
      }
      throw error;
    }
  }

  /**
   * Ends the request `seq` (if still pending) with `error`, or with `value`
   * when `error` is undefined. A request that fails before its reply came is
   * orphaned: whatever the failure (time limit, abort, a server's death that
   * a successor may yet answer for), its reply may still come, and undrained
   * it would fill this channel and hold the server's place.
   */
  #settle(seq: number, error: unknown, orphaned = error !== undefined, value?: unknown): void {
    const pending = this.#pending.get(seq);
    if (pending === undefined) return;
    this.#pending.delete(seq);
    pending.stopTimer?.();
    pending.stopAbort?.();
    pending.sending?.abort();
    if (error === undefined) pending.resolve(value);
    else pending.reject(error);
    // Its reply may still come: drop it even if no request is pending then.
    if (orphaned && this.#late === undefined && !this.#closed) {
      this.#late = setInterval(() => {
        if (this.#pumping || this.#closed) return;
        try {
          this.#receiver.drain(this.#onReply);
        } catch {
          // A reply channel that another program corrupted: a throw from a
          // timer would end the process. The next request's wait reports it.
          clearInterval(this.#late);
          this.#late = undefined;
        }
      }, LATE_MS).unref();
    }
  }

  #failAll(error: unknown): void {
    for (const seq of [...this.#pending.keys()]) this.#settle(seq, error);
  }

  #startPump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    // After the current task: a burst of requests is all sent before the first wait.
    queueMicrotask(() => void this.#pump());
  }

  /** Receives replies while requests are pending. */
  async #pump(): Promise<void> {
    const receiver = this.#receiver;
    let since = performance.now();
    let checked = since;
    try {
      while (this.#pending.size > 0 && !this.#closed) {
        receiver.drain(this.#onReply);
        if (this.#pending.size === 0) break;
        // Even while other replies keep coming (from a server that replaced
        // a dead one), requests the dead one took must fail.
        if (performance.now() - checked >= LIVENESS_MS) {
          this.#checkServer();
          checked = performance.now();
          continue;
        }
        if (performance.now() - since >= YIELD_MS) {
          await yieldToLoop();
          since = performance.now();
          continue;
        }
        let view: Awaited<ReturnType<Receiver['recvView']>>;
        try {
          view = await receiver.recvView({ timeoutMs: LIVENESS_MS, signal: this.#stop.signal });
        } catch (error) {
          if (this.#closed) break;
          if ((error as { code?: unknown }).code === 'ETIMEDOUT') {
            this.#checkServer();
            checked = performance.now();
            continue;
          }
          if (error instanceof ChannelError && error.code === 'ERR_CHANNEL_PEER_DEAD') {
            // The server had sent on this channel and died.
            this.#failAll(channelError('ERR_CHANNEL_PEER_DEAD', `request: the server of ${this.#core.name} died without replying`));
            continue;
          }
          this.#failAll(error);
          break;
        }
        try {
          this.#onReply(view.data);
        } finally {
          view.release();
        }
      }
    } catch (error) {
      // Nothing above should throw; if it does, no request may be left waiting for ever.
      this.#failAll(error);
    } finally {
      this.#pumping = false;
    }
  }

  #checkServer(): void {
    if (takeRefusal(this.#core.header, this.#channel.id, this.#nonce)) {
      this.#failAll(
        ipcError(
          'shmat',
          osConstants.errno.EACCES,
          `request: the server of ${this.#core.name} may not attach this client's reply channel (segment ${this.#channel.id}), so no reply can come`,
          "give the service a mode whose group bits (the reply channel gets the service segment's group) or other bits let the server's user attach it",
        ),
      );
      return;
    }
    const pid = deadServer(this.#core.header);
    if (pid !== 0) {
      this.#failAll(channelError('ERR_CHANNEL_PEER_DEAD', `request: the server of ${this.#core.name} (pid ${pid}) died without replying`));
      return;
    }
    // A server that died may have been replaced before this check saw its
    // record: the requests sent before its death was counted may have been
    // taken by it, and no reply will come for them.
    const deaths = serverDeaths(this.#core.header);
    if (deaths === this.#deathsChecked) return;
    this.#deathsChecked = deaths;
    // A server that exited with requests unanswered counts its own death: nobody may have taken its place.
    const why = serverRecorded(this.#core.header)
      ? `request: the server of ${this.#core.name} died without replying, and another took its place`
      : `request: the server of ${this.#core.name} died without replying`;
    for (const [seq, pending] of [...this.#pending]) {
      if (pending.deaths !== deaths) this.#settle(seq, channelError('ERR_CHANNEL_PEER_DEAD', why));
    }
  }

  /** One reply, in ring memory valid only during the call. */
  readonly #onReply = (data: Uint8Array): void => {
    if (data.length < F.REPLY_HEADER || readU32(data, F.REPLY.nonce) !== this.#nonce) return;
    const seq = readU32(data, F.REPLY.seq);
    if (!this.#pending.has(seq)) return; // timed out or aborted: dropped
    const body = data.subarray(F.REPLY_HEADER);
    if (readU32(data, F.REPLY.status) !== F.STATUS_OK) {
      this.#settle(seq, decodeError(body, this.#core.name), false);
      return;
    }
    let value: unknown;
    try {
      value = decodeMessage(this.#core.codec, body, `${this.#core.name}: reply`);
    } catch (error) {
      this.#settle(seq, error, false);
      return;
    }
    this.#settle(seq, undefined, false, value);
  };

  /**
   * Closes the client: pending requests reject with ERR_CHANNEL_CLOSED, its
   * reply channel is closed and let go (the server drops replies to it).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    this.#failAll(channelError('ERR_CHANNEL_CLOSED', 'request: the client was closed'));
    if (this.#late !== undefined) clearInterval(this.#late);
    try {
      this.#channel.close();
      this.#channel.detach();
    } catch {
      // detached already (the process is exiting)
    }
    threadLiveness.letGo();
    this.#core.forget(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
