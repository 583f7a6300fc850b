import { constants as osConstants } from 'node:os';
import { bytesOf } from '../core/bytes.js';
import { abortError, invalidType, outOfRange } from '../core/errors.js';
import {
  optionNames,
  UINT32_MAX,
  validateId,
  validateInteger,
  validateKey,
  validateMode,
  validateObject,
  validateOptions,
} from '../core/validate.js';
import { closeController, validateWaitOptions, type WaitOptions } from '../core/wait-options.js';
import { IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_PRIVATE, IPC_RMID, IPC_STAT, MSG_EXCEPT } from '../sysv/constants.js';
import { ftok } from '../sysv/ftok.js';
import { spinOnCalls } from '../sysv/spin.js';
import {
  explainMsgrcv,
  explainMsgsnd,
  msgctl,
  msgget,
  msgStatForOpen,
  msgrcvError,
  msgrcvStart,
  msgsndStart,
  pollMsgrcv,
  pollMsgsnd,
  receivedMessage,
  tryMsgrcv,
  tryMsgsnd,
  validateMsgtyp,
  validateMtype,
  type Msgbuf,
  type MsqidDs,
} from '../sysv/msg.js';
import { queueClosedError, queueRemoved, queueTimeoutError, waitKind, waitOnThread, waitsOfKind } from './message-waits.js';

const { E2BIG, ENOMSG } = osConstants.errno;

/** Where a queue is: a key, or a file whose identity gives the key through ftok(path, projId). */
export interface QueueAddress {
  /** A System V key. */
  key?: number | undefined;
  /** A file whose identity gives the key through ftok(path, projId). */
  path?: string | undefined;
  /** ftok's project id, with `path`; default 1. */
  projId?: number | undefined;
}

/** Options of {@link MessageQueue.create}: a key, a path, or neither (a private queue). */
export interface MessageQueueCreateOptions extends QueueAddress {
  /** Permission bits; default 0o600 (owner only). */
  mode?: number | undefined;
}

/** Where an existing queue is found: its key, its id or a path for ftok. */
export type MessageQueueOpenOptions =
  | { key: number; id?: undefined; path?: undefined }
  | { id: number; key?: undefined; path?: undefined }
  | { path: string; projId?: number | undefined; key?: undefined; id?: undefined };

/** Options of {@link MessageQueue.openOrCreate}: a key or a path (a private queue cannot be opened). */
export interface MessageQueueOpenOrCreateOptions extends QueueAddress {
  /** Permission bits of a queue this call creates; default 0o600. */
  mode?: number | undefined;
}

const CREATE_OPTIONS = optionNames<MessageQueueCreateOptions>()('key', 'path', 'projId', 'mode');
const OPEN_OPTIONS = optionNames<MessageQueueOpenOptions>()('key', 'path', 'projId', 'id');
const OPEN_OR_CREATE_OPTIONS = optionNames<MessageQueueOpenOrCreateOptions>()('key', 'path', 'projId', 'mode');

/** Options of {@link MessageQueue.send}. */
export interface SendOptions extends WaitOptions {
  /** The message's type, an integer >= 1; default 1. */
  type?: number | undefined;
}

/** Options of {@link MessageQueue.receive}. */
export interface ReceiveOptions extends WaitOptions {
  /**
   * Which message: 0 (default) the first; > 0 the first of this type; < 0
   * the first of the lowest type up to its absolute value.
   */
  type?: number | undefined;
  /** With `type` > 0: the first message of any other type (MSG_EXCEPT). */
  except?: boolean | undefined;
}

/** A message taken off a queue. */
export interface Message {
  /** Its type (C's mtype). */
  type: number;
  /** Its bytes (a copy of its own). */
  data: Uint8Array;
}

function resolveKey(opts: Record<string, unknown>): number {
  if (opts.key !== undefined && opts.path !== undefined) throw invalidType('options', 'either key or path, not both', opts);
  if (opts.path !== undefined) {
    if (typeof opts.path !== 'string') throw invalidType('options.path', 'of type string', opts.path);
    const projId = opts.projId === undefined ? 1 : validateInteger(opts.projId, 'options.projId', 0, UINT32_MAX);
    return ftok(opts.path, projId);
  }
  // projId is ftok's: without a path it would be dropped, and the queue made or
  // opened would be another (a private one, or the key's) than the caller meant.
  if (opts.projId !== undefined) throw invalidType('options.projId', 'given only with options.path', opts.projId);
  if (opts.key !== undefined) return validateKey(opts.key, 'options.key');
  return IPC_PRIVATE;
}

/**
 * The buffer a receive offers: MSGMAX, the longest message msgsnd accepts.
 * After E2BIG (MSGMAX was lowered after a longer message was sent) it grows
 * to what the queue holds.
 */
let receiveSize = 0;

function messageMax(): number {
  if (receiveSize === 0) receiveSize = msgctl(0, IPC_INFO).msgmax;
  return receiveSize;
}

/**
 * A buffer for what the queue holds now, after E2BIG: as long as MSGMAX and
 * as the bytes on the queue, so that every message on it fits. The message
 * that did not fit may be gone by now (another receiver took it); the next
 * try then waits for the next one.
 */
function growReceiveSize(msqid: number): void {
  receiveSize = Math.max(receiveSize, msgctl(0, IPC_INFO).msgmax, msgctl(msqid, IPC_STAT).msg_cbytes);
}

/** How many times a receive grows its buffer after E2BIG before it gives up: each time, a longer message came meanwhile. */
const E2BIG_RETRIES = 16;

function receiveFlags(opts: { type?: unknown; except?: unknown }, name: string): [number, number] {
  const type = opts.type === undefined ? 0 : validateMsgtyp(opts.type, `${name}.type`);
  let flags = 0;
  if (opts.except !== undefined) {
    if (typeof opts.except !== 'boolean') throw invalidType(`${name}.except`, 'of type boolean', opts.except);
    if (opts.except) {
      if (type <= 0) throw outOfRange(`${name}.type`, 'an integer >= 1 with except (MSG_EXCEPT skips one type)', opts.type);
      flags = MSG_EXCEPT;
    }
  }
  return [type, flags];
}

function toMessage({ mtype, mtext }: Msgbuf): Message {
  return { type: mtype, data: mtext };
}

/**
 * A System V message queue: the high-level face of msgget/msgsnd/msgrcv/msgctl.
 * {@link send} and {@link receive} wait without blocking the event loop (any
 * number may be pending at once), with a time limit and an AbortSignal; a
 * wait that times out or is aborted leaves the queue exactly as it was.
 * Messages interoperate with C's msgsnd/msgrcv and Python's sysv_ipc.
 *
 * `using queue = MessageQueue.open(...)` releases this process's handle at
 * the end of the block (its pending waits reject); it never removes the
 * queue, which outlives every process until {@link remove}.
 *
 * @example
 * ```ts
 * using queue = MessageQueue.create({ key: 0x5005 });
 * await queue.send('hello', { type: 2 });
 * const { type, data } = await queue.receive({ timeoutMs: 1000 });
 * queue.remove();
 * ```
 */
export class MessageQueue implements Disposable {
  /** The queue's id (msqid). */
  readonly id: number;
  /** The key it was found or created by (0 for IPC_PRIVATE). */
  readonly key: number;
  readonly #closed = closeController();

  private constructor(id: number, key: number) {
    this.id = id;
    this.key = key;
  }

  /**
   * Creates a new queue (never reuses one: EEXIST if the key is taken),
   * with permission bits `mode` (default 0o600). Without key and path the
   * queue is private: others reach it by its id.
   * @throws IpcError EEXIST, ENOSPC (MSGMNI queues exist), ENOENT/EACCES (path).
   */
  static create(options: MessageQueueCreateOptions = {}): MessageQueue {
    const opts = validateOptions(options, CREATE_OPTIONS, 'MessageQueue.create()');
    const key = resolveKey(opts);
    const mode = validateMode(opts.mode ?? 0o600, 'options.mode');
    return new MessageQueue(msgget(key, IPC_CREAT | IPC_EXCL | mode), key);
  }

  /**
   * Opens an existing queue by key, path or id.
   * @throws IpcError ENOENT (no such key), EINVAL/EIDRM (no such id), EACCES.
   */
  static open(options: MessageQueueOpenOptions): MessageQueue {
    const opts = validateOptions(options, OPEN_OPTIONS, 'MessageQueue.open()');
    const given = [opts.id, opts.key, opts.path].filter((v) => v !== undefined).length;
    if (given !== 1) throw invalidType('options', 'an object with one of id, key or path', options);
    if (opts.id !== undefined) {
      if (opts.projId !== undefined) throw invalidType('options.projId', 'given only with options.path', opts.projId);
      const id = validateId(opts.id, 'options.id');
      // A user who may send but not read (mode 0o622) opens it too, as by key:
      // msgsnd in C needs only write permission.
      const perm = msgStatForOpen(id).msg_perm;
      return new MessageQueue(id, perm.key);
    }
    const key = resolveKey(opts);
    if (key === IPC_PRIVATE) throw outOfRange('options.key', 'a key other than IPC_PRIVATE (open a private queue by id)', key);
    return new MessageQueue(msgget(key, 0), key);
  }

  /**
   * Opens the queue for the key (or path), or creates it with `mode`
   * (default 0o600) if there is none; the kernel does both at once, so
   * processes doing the same at the same time share one queue.
   * @throws IpcError EACCES, ENOSPC.
   */
  static openOrCreate(options: MessageQueueOpenOrCreateOptions): MessageQueue {
    const opts = validateOptions(options, OPEN_OR_CREATE_OPTIONS, 'MessageQueue.openOrCreate()');
    if (opts.key === undefined && opts.path === undefined) {
      throw invalidType('options', 'a key or a path (a private queue cannot be opened)', options);
    }
    const key = resolveKey(opts);
    if (key === IPC_PRIVATE) throw outOfRange('options.key', 'a key other than IPC_PRIVATE', key);
    const mode = validateMode(opts.mode ?? 0o600, 'options.mode');
    return new MessageQueue(msgget(key, IPC_CREAT | mode), key);
  }

  #assertOpen(what: string): void {
    if (this.#closed.signal.aborted) throw queueClosedError(`MessageQueue.${what}`);
  }

  /**
   * Sends `data` (a string is sent as UTF-8) as a message of `type`
   * (default 1), waiting while the queue is full, without blocking the event
   * loop. With `timeoutMs` the promise rejects with code `'ETIMEDOUT'`, with
   * `signal` with an `AbortError`; then nothing was sent. (If the message
   * went in just as the abort came, the promise resolves: it was sent.)
   * @throws IpcError EINVAL (longer than MSGMAX), EIDRM (the queue was removed), EACCES.
   */
  send(data: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer, options?: SendOptions): Promise<void> {
    try {
      this.#assertOpen('send');
      const bytes = bytesOf(data, 'data');
      const type = options?.type === undefined ? 1 : validateMtype(validateObject(options, 'options').type, 'options.type');
      const { timeoutMs, signal, wait } = validateWaitOptions(options);
      if (signal?.aborted) return Promise.reject(abortError(signal));
      const id = this.id;
      if (tryMsgsnd(id, type, bytes)) return Promise.resolve();
      const kind = waitKind('msgsnd');
      if (!waitsOfKind(id, kind) && spinOnCalls(wait, () => tryMsgsnd(id, type, bytes), timeoutMs)) return Promise.resolve();
      if (timeoutMs === 0) return Promise.reject(queueTimeoutError('msgsnd', 'MessageQueue.send', id, 0));
      // The caller may change its buffer while the send waits for a thread.
      const copy = bytes.slice();
      return waitOnThread({
        msqid: id,
        syscall: 'msgsnd',
        kind,
        start: (t) => msgsndStart(id, type, copy, 0, t),
        poll: () => pollMsgsnd(id, type, copy, 0),
        explain: explainMsgsnd(id, type, bytes.length),
        result: () => undefined,
        timeoutMs,
        signal,
        closed: this.#closed.signal,
        what: 'MessageQueue.send',
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends `data` as a message of `type` (default 1) if the queue has room
   * now: true if it was sent, false if the queue is full.
   * @throws IpcError EINVAL (longer than MSGMAX), EIDRM, EACCES.
   */
  trySend(data: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer, options?: { type?: number | undefined }): boolean {
    this.#assertOpen('trySend');
    const bytes = bytesOf(data, 'data');
    // Options that are not an object are an error, as for send(), never silently type 1.
    const opts = options === undefined ? {} : validateObject(options, 'options');
    const type = opts.type === undefined ? 1 : validateMtype(opts.type, 'options.type');
    return tryMsgsnd(this.id, type, bytes);
  }

  /** msgrcv with IPC_NOWAIT: null when no message of the kind is there. */
  #tryReceive(type: number, flags: number): Message | null {
    for (let attempt = 1; ; attempt++) {
      const size = messageMax();
      const r = tryMsgrcv(this.id, size, type, flags);
      if (r === ENOMSG) return null;
      if (r === E2BIG && attempt < E2BIG_RETRIES) {
        growReceiveSize(this.id);
        continue;
      }
      if (typeof r === 'number') throw msgrcvError(this.id, size, type, flags, r);
      return toMessage(r);
    }
  }

  /**
   * Takes the first message (of `type`, see {@link ReceiveOptions}), waiting
   * until one comes, without blocking the event loop. With `timeoutMs` the
   * promise rejects with code `'ETIMEDOUT'`, with `signal` with an
   * `AbortError`; then no message was taken. (If one was taken just as the
   * abort came, the promise resolves with it: no message is ever lost.)
   * @throws IpcError EIDRM (the queue was removed while it waited, here or
   *   elsewhere), EINVAL (no such queue: removed before), EACCES.
   */
  receive(options?: ReceiveOptions): Promise<Message> {
    try {
      this.#assertOpen('receive');
      const opts = options === undefined ? {} : validateObject(options, 'options');
      const [type, flags] = receiveFlags(opts, 'options');
      const { timeoutMs, signal, wait } = validateWaitOptions(options);
      if (signal?.aborted) return Promise.reject(abortError(signal));
      const id = this.id;
      const kind = waitKind('msgrcv', type, flags);
      let now = this.#tryReceive(type, flags);
      if (now === null && !waitsOfKind(id, kind)) spinOnCalls(wait, () => (now = this.#tryReceive(type, flags)) !== null, timeoutMs);
      if (now !== null) return Promise.resolve(now);
      if (timeoutMs === 0) return Promise.reject(queueTimeoutError('msgrcv', 'MessageQueue.receive', id, 0));
      let growths = 0;
      return waitOnThread({
        msqid: id,
        syscall: 'msgrcv',
        kind,
        start: (t) => msgrcvStart(id, messageMax(), type, flags, t),
        poll: () => pollMsgrcv(id, messageMax(), type, flags),
        explain: (code) => explainMsgrcv(id, messageMax(), type, flags)(code),
        result: (value) => toMessage(receivedMessage(value)),
        retry: (r) => {
          if (r !== -E2BIG || ++growths >= E2BIG_RETRIES) return false;
          growReceiveSize(id);
          return true;
        },
        timeoutMs,
        signal,
        closed: this.#closed.signal,
        what: 'MessageQueue.receive',
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Takes the first message (of `type`, as {@link receive}) if there is one
   * now; null if there is none.
   * @throws IpcError EIDRM, EINVAL (no such queue), EACCES.
   */
  tryReceive(options?: { type?: number | undefined; except?: boolean | undefined }): Message | null {
    this.#assertOpen('tryReceive');
    const opts = options === undefined ? {} : validateObject(options, 'options');
    const [type, flags] = receiveFlags(opts, 'options');
    return this.#tryReceive(type, flags);
  }

  /** The kernel's view of the queue (IPC_STAT): msg_qnum messages, msg_cbytes bytes, ... */
  stat(): MsqidDs {
    this.#assertOpen('stat');
    return msgctl(this.id, IPC_STAT);
  }

  /**
   * Removes the queue (IPC_RMID) at once, with its messages, for every
   * process: pending waits, here and elsewhere, reject with EIDRM. A wait
   * whose call had completed just before (a message already taken off the
   * queue, or sent) still resolves with it: no message is ever lost.
   */
  remove(): void {
    this.#assertOpen('remove');
    msgctl(this.id, IPC_RMID);
    queueRemoved(this.id);
  }

  /** Whether `[Symbol.dispose]()` was called. */
  get closed(): boolean {
    return this.#closed.signal.aborted;
  }

  /** Releases this handle: its pending waits reject (`ERR_MSG_CLOSED`) and later calls throw it. The queue stays. */
  [Symbol.dispose](): void {
    this.#closed.abort();
  }
}
