// Every error shmkit throws, defined once, in the manner of Node's
// lib/internal/errors.js: each code with its class and the shape of its
// message (CODES), and one maker per class that the rest of shmkit throws
// through. Makers hide shmkit's internal frames, so a stack starts at the
// public call a program made. docs/api.md's table of errors is checked
// against CODES (test/error-registry.test.ts).
import { constants as osConstants } from 'node:os';
import { inspect } from 'node:util';
import { isArrayBuffer } from 'node:util/types';
import { native } from './native.js';

/**
 * Every code shmkit throws (not exported from the package root): the class of its errors and the shape
 * of its message. `errno` stands for every errno name an IpcError carries
 * (EEXIST, EACCES, ...); `AbortError` is the `name` of a DOMException, which has no string code.
 */
export const CODES = {
  errno: { class: 'IpcError', message: '<syscall>: <errno name> (<strerror>): <the argument at fault, and the usual fix>' },
  ETIMEDOUT: { class: 'IpcError', message: '<syscall>: ETIMEDOUT (<strerror>): <call>: not done within <timeoutMs> ms (<what that left>)' },
  ERR_INVALID_ARG_TYPE: { class: 'TypeError', message: 'The "<name>" argument must be <expected>. Received <value>' },
  ERR_OUT_OF_RANGE: { class: 'RangeError', message: 'The value of "<name>" is out of range. It must be <range>. Received <value>' },
  ERR_INVALID_ARG_VALUE: { class: 'TypeError', message: "The argument '<name>' is invalid: <reason>. Received <value>" },
  ERR_SHM_DETACHED: { class: 'StateError', message: '<call>: <the segment or mapping> was detached (shmdt) or unmapped (munmap) ...' },
  ERR_SHM_READ_ONLY: {
    class: 'StateError',
    message: '<call>: <the segment or mapping> is attached read-only (SHM_RDONLY) or mapped read-only (PROT_READ) ...',
  },
  ERR_SHM_TRANSFERRED: { class: 'StateError', message: '<call>: the buffer of <the segment> was transferred to another ArrayBuffer' },
  ERR_SHM_TOO_LARGE: { class: 'StateError', message: '<call>: <the segment> has <n> bytes, more than one typed array can cover ...' },
  ERR_SHM_NOT_SEALED: { class: 'StateError', message: '<call>: <the descriptor> carries <seals>, but options.seals requires <seals> ...' },
  ERR_SHM_NO_NAME: { class: 'StateError', message: '<call>: <the memory> is anonymous memory (memfd) ...' },
  ERR_SEM_CLOSED: { class: 'StateError', message: '<call>: the handle was disposed' },
  ERR_MUTEX_NOT_HELD: { class: 'StateError', message: '<call>: mutex <id> is not held by this handle' },
  ERR_MSG_CLOSED: { class: 'StateError', message: '<call>: the handle was disposed' },
  ERR_CHANNEL_CLOSED: { class: 'ChannelError', message: '<call>: the channel (or this endpoint) is closed ...' },
  ERR_CHANNEL_PEER_DEAD: { class: 'ChannelError', message: '<call>: <which peer> died without closing ...' },
  ERR_CHANNEL_FORMAT: { class: 'ChannelError', message: '<the segment> is not a channel of this format: <why>' },
  ERR_CHANNEL_BUSY: { class: 'ChannelError', message: '<call>: <what is taken or still out>' },
  ERR_CHANNEL_DECODE: {
    class: 'ChannelError',
    message: '<call>: the <codec> codec could not decode a <n>-byte message (it was consumed) ...',
  },
  ERR_SERVICE_REMOTE: {
    class: 'ServiceRemoteError',
    message: '<service>: remote <remoteName> (<remoteCode>): <remoteMessage>',
  },
  ERR_BRIDGE_NATS_MISSING: { class: 'Error', message: 'bridge: the NATS client is not installed; install it with: <command>' },
  ERR_BRIDGE_CONNECT: { class: 'Error', message: "bridge: cannot connect to <servers>: <the client's reason>" },
  ERR_BRIDGE_CREDS: { class: 'Error', message: 'bridge: cannot read the credentials file <path>: <reason>' },
  ERR_BRIDGE_STREAM: { class: 'Error', message: 'bridge: the JetStream stream <name> does not hold the subject <subject> ...' },
  ERR_BRIDGE_CONSUMER: { class: 'Error', message: 'bridge: the JetStream consumer <name> of stream <stream> was deleted, and ...' },
  AbortError: { class: 'DOMException', message: 'The operation was aborted' },
} as const;

type Codes = typeof CODES;
type CodesOf<C extends string> = { [K in keyof Codes]: Codes[K]['class'] extends C ? K : never }[keyof Codes];

/** The codes of {@link StateError}. */
export type StateErrorCode = CodesOf<'StateError'>;

/** The codes of the bridge's errors (plain Errors with a code). */
export type BridgeErrorCode = CodesOf<'Error'>;

/** The codes of {@link ChannelError}; `ETIMEDOUT` is an IpcError now (see {@link ChannelError}). */
export type ChannelErrorCode = CodesOf<'ChannelError'> | 'ETIMEDOUT';

// ---------------------------------------------------------------------------
// Stacks

// Frames of shmkit's own files (dist/src/..., the bundle included): a stack keeps only the
// outermost one, the public call the program made, as Node's own errors do.
const OWN_FILES = new URL('..', import.meta.url).href;
/** Internal frames a stack may have above the public call, beyond Error.stackTraceLimit. */
const INTERNAL_DEPTH = 16;

/** Recaptures `error`'s stack without the frames inside shmkit above the public call. */
function hideInternalFrames<E extends object>(error: E): E {
  const limit = Error.stackTraceLimit;
  if (typeof limit !== 'number' || limit <= 0) return error;
  Error.stackTraceLimit = limit + INTERNAL_DEPTH;
  try {
    Error.captureStackTrace(error, hideInternalFrames);
  } finally {
    Error.stackTraceLimit = limit;
  }
  const stack = (error as { stack?: unknown }).stack;
  // A program's own Error.prepareStackTrace may make anything: leave it be.
  if (typeof stack !== 'string') return error;
  const lines = stack.split('\n');
  const first = lines.findIndex((line) => line.startsWith('    at '));
  if (first < 0) return error;
  let end = first;
  while (end < lines.length && lines[end]!.includes(OWN_FILES)) end++;
  const entry = Math.max(first, end - 1);
  const frames = lines.slice(entry, entry + limit);
  Object.defineProperty(error, 'stack', { value: [...lines.slice(0, first), ...frames].join('\n'), writable: true, configurable: true });
  return error;
}

// ---------------------------------------------------------------------------
// Argument errors (Node's codes and wording)

function describe(value: unknown): string {
  // Describing must never throw: the value may be anything a caller made
  // (an object with ArrayBuffer.prototype that is no ArrayBuffer, a throwing getter).
  try {
    return describeUnsafe(value);
  } catch {
    return `type ${typeof value}`;
  }
}

// A value in a message is bounded and escaped, as Node's own are (ERR_INVALID_ARG_TYPE
// cuts a string at 28 characters and inspect()s it): `view.s = 'x'.repeat(1e7)`
// made a 10 MB message, and a NUL or an escape sequence in the value went into it raw.
/** Longest string shown whole; a longer one shows its first STRING_CUT characters and '...'. */
const STRING_SHOWN = 28;
const STRING_CUT = 25;
/** Bits of the largest bigint shown in digits (about 40 of them); a larger one is described by its size. */
const BIGINT_SHOWN_BITS = 128;

/** @internal `text` cut after 25 characters (and '...' added) if it is longer than 28, for a message. */
export function shorten(text: string): string {
  if (text.length <= STRING_SHOWN) return text;
  // Not between the halves of a surrogate pair.
  const cut = /[\uD800-\uDBFF]/.test(text[STRING_CUT - 1]!) ? STRING_CUT - 1 : STRING_CUT;
  return `${text.slice(0, cut)}...`;
}

/**
 * @internal `text` as an error message shows a string: {@link shorten}ed,
 * quoted, and control characters and lone surrogates escaped (util.inspect).
 */
export function quote(text: string): string {
  return inspect(shorten(text), { breakLength: Infinity });
}

function describeBigint(value: bigint): string {
  const magnitude = value < 0n ? -value : value;
  if (magnitude < 1n << BigInt(BIGINT_SHOWN_BITS)) return `${value}n`;
  // Its decimal digits would take time and room: its size instead (hex digits are linear to count).
  const hex = magnitude.toString(16);
  const bits = (hex.length - 1) * 4 + Number.parseInt(hex[0]!, 16).toString(2).length;
  return `a${value < 0n ? ' negative' : ''} bigint of ${bits} bits`;
}

function describeUnsafe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return describeBigint(value);
  if (typeof value === 'string') return `type string (${quote(value)})`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    // A subclass may be named anything.
    const name: unknown = value.constructor.name;
    return `${typeof name === 'string' && /^[\w$]{1,64}$/.test(name) ? name : 'an ArrayBufferView'} of ${value.byteLength} bytes`;
  }
  if (isArrayBuffer(value)) return `an ArrayBuffer of ${value.byteLength} bytes`;
  return `type ${typeof value}`;
}

function coded<E extends Error>(error: E, code: keyof Codes): E & { code: string } {
  return hideInternalFrames(Object.assign(error, { code }));
}

/** TypeError [ERR_INVALID_ARG_TYPE] naming the argument. */
export function invalidType(name: string, expected: string, value: unknown): TypeError {
  return coded(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`), 'ERR_INVALID_ARG_TYPE');
}

/** RangeError [ERR_OUT_OF_RANGE] naming the argument. */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return coded(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(value)}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** TypeError [ERR_INVALID_ARG_VALUE]: the argument has the right type but cannot be used; `reason` says why. */
export function invalidValue(name: string, reason: string, value: unknown): TypeError {
  return coded(new TypeError(`The argument '${name}' is invalid: ${reason}. Received ${describe(value)}`), 'ERR_INVALID_ARG_VALUE');
}

// ---------------------------------------------------------------------------
// System calls

// The first name wins: 11 is EAGAIN, not its alias EWOULDBLOCK.
const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** The symbolic name of an errno number, such as `EEXIST` for 17. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** The errno number for what IpcError's constructor was given: a number (either sign) or a name. */
function errnoOf(errno: unknown): number {
  if (typeof errno === 'string') {
    const value = (osConstants.errno as Record<string, number | undefined>)[errno];
    if (value === undefined) throw outOfRange('errno', "an errno name such as 'EEXIST' (one of os.constants.errno)", errno);
    return value;
  }
  if (typeof errno !== 'number') throw invalidType('errno', "of type number or string (an errno such as 17, -17 or 'EEXIST')", errno);
  if (!Number.isInteger(errno) || errno === 0 || Math.abs(errno) > 4095) {
    throw outOfRange('errno', 'a non-zero integer errno from -4095 to 4095', errno);
  }
  return Math.abs(errno);
}

/**
 * A failed system call, in the shape of Node's `SystemError`: `code` is the
 * errno name (`'EEXIST'`), `errno` its number **negative**, as Node's own
 * system errors have it (so `util.getSystemErrorName(err.errno)` works),
 * `syscall` the call (`'shmget'`), and the message names the call and the
 * argument at fault and, for the usual mistakes, what to do. The positive
 * number of C and `os.constants.errno` is {@link IpcError.cErrno}. Every wait
 * that runs out of time (semaphores, message queues and channel alike) is an IpcError with
 * code `'ETIMEDOUT'`.
 *
 * To make one: `new IpcError('shmget', 'EEXIST', 'key 0x1234')`; the errno
 * may also be given as a number, positive as in C or negative as in Node's
 * system errors. A fourth argument is the hint.
 */
export class IpcError extends Error {
  readonly code: string;
  /** The errno, negative as in Node's system errors: `-17` for EEXIST. */
  readonly errno: number;
  readonly syscall: string;
  /**
   * For the usual mistakes, what to do, with the facts read from the kernel
   * when it happened (the owner and mode, the real size, the limit reached);
   * it also ends the message. Absent when shmkit has none to give.
   */
  declare readonly hint?: string;

  constructor(syscall: string, errno: number | string, detail?: string, hint?: string) {
    if (typeof syscall !== 'string') throw invalidType('syscall', 'of type string', syscall);
    if (detail !== undefined && typeof detail !== 'string') throw invalidType('detail', 'of type string', detail);
    if (hint !== undefined && typeof hint !== 'string') throw invalidType('hint', 'of type string', hint);
    errno = errnoOf(errno);
    const code = errnoName(errno);
    super(`${syscall}: ${code} (${native.strerror(errno)})${detail ? `: ${detail}` : ''}${hint ? `; ${hint}` : ''}`);
    this.name = 'IpcError';
    this.code = code;
    this.errno = -errno;
    this.syscall = syscall;
    // Only an error that has a hint has the property (declare: no field of undefined on every error).
    if (hint) (this as { hint?: string }).hint = hint;
  }

  /**
   * The errno as C's `errno` and `os.constants.errno` have it, positive:
   * `err.cErrno === os.constants.errno.EEXIST`. Always `-err.errno`.
   */
  get cErrno(): number {
    return -this.errno;
  }
}

/** @internal The IpcError of `syscall` failing with `errno`; `detail` names the argument at fault, `hint` says what to do. */
export function ipcError(syscall: string, errno: number, detail?: string, hint?: string): IpcError {
  return hideInternalFrames(new IpcError(syscall, errno, detail, hint));
}

/** @internal What an `explain` callback of {@link check} says: the words naming the argument, and a hint if there is one. */
export interface Explained {
  detail: string;
  hint?: string | undefined;
}

/** @internal `detail` with `hint`, for an `explain` callback of {@link check}. */
export function withHint(detail: string, hint: string | undefined): Explained {
  return { detail, hint };
}

/** @internal `error` with its hint replaced by `hint` (a caller that knows better what to do), its words and stack kept. */
export function withOtherHint(error: IpcError, hint: string): IpcError {
  // The message is `${syscall}: ${code} (${strerror}): ${detail}; ${hint}` (the constructor above).
  const start = error.message.indexOf('): ') + 3;
  const end = error.hint === undefined ? error.message.length : error.message.length - error.hint.length - 2;
  const other = new IpcError(error.syscall, error.code, start > 2 && start <= end ? error.message.slice(start, end) : undefined, hint);
  if (error.stack !== undefined) other.stack = error.stack.replace(error.message, other.message);
  return other;
}

/** @internal The IpcError of `syscall` failing with `errno`, in the words an `explain` callback gave. */
export function explainedError(syscall: string, errno: number, explained: string | Explained | undefined): IpcError {
  return typeof explained === 'string' ? ipcError(syscall, errno, explained) : ipcError(syscall, errno, explained?.detail, explained?.hint);
}

// The words of an error are gathered after the call failed, sometimes with
// more system calls (src/sysv/hints.ts): whatever goes wrong there must not
// replace the error being explained.
function explainSafely(explain: (code: string) => string | Explained, code: string): string | Explained | undefined {
  try {
    return explain(code);
  } catch {
    return undefined;
  }
}

/**
 * @internal Turns a shim's result into its value, or throws an IpcError. `explain`
 * receives the errno name and returns the words that name the argument, or
 * those and, for the usual mistakes, a hint ({@link withHint}); should it
 * throw, the error goes without them.
 */
export function check<T>(result: T | number, syscall: string, explain: (code: string) => string | Explained): T {
  if (typeof result === 'number' && result < 0) {
    const errno = -result;
    throw explainedError(syscall, errno, explainSafely(explain, errnoName(errno)));
  }
  return result as T;
}

// Channel waits that timed out: still `instanceof ChannelError`, as they were
// before every timeout became one IpcError.
const channelTimeouts = new WeakSet<object>();

/**
 * @internal The one error of every wait whose `timeoutMs` ran out: IpcError
 * ETIMEDOUT, from `syscall` (the call that waited), saying what timed out
 * (`what`), after how long, and what that left (`outcome`: "nothing was changed").
 */
export function timeoutError(
  syscall: 'semtimedop' | 'msgsnd' | 'msgrcv' | 'futex' | 'request',
  what: string,
  timeoutMs: number,
  outcome: string,
): IpcError {
  return ipcError(syscall, osConstants.errno.ETIMEDOUT, `${what}: not done within ${timeoutMs} ms (${outcome})`);
}

/**
 * @internal {@link timeoutError} of a channel's wait (a futex; `'request'`
 * for a Service request's time limit, a timer over its whole round trip):
 * also `instanceof ChannelError`.
 */
export function channelTimeoutError(what: string, timeoutMs: number, outcome: string, syscall: 'futex' | 'request' = 'futex'): IpcError {
  const error = timeoutError(syscall, what, timeoutMs, outcome);
  channelTimeouts.add(error);
  return error;
}

// ---------------------------------------------------------------------------
// State and channel conditions

/** Use of an object in a state that forbids it: detached, read-only. */
export class StateError extends Error {
  readonly code: StateErrorCode;

  constructor(code: StateErrorCode, message: string) {
    super(message);
    this.name = 'StateError';
    this.code = code;
  }
}

/** @internal A StateError; `message` starts with the call. */
export function stateError(code: StateErrorCode, message: string): StateError {
  return hideInternalFrames(new StateError(code, message));
}

/**
 * A channel condition, with a stable `code`. A channel wait that times out
 * rejects with the IpcError `ETIMEDOUT` of every wait; for programs written
 * when it was a ChannelError, `instanceof ChannelError` still holds for it.
 */
export class ChannelError extends Error {
  readonly code: ChannelErrorCode;

  constructor(code: ChannelErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ChannelError';
    this.code = code;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      Function.prototype[Symbol.hasInstance].call(this, value) ||
      (this === ChannelError && typeof value === 'object' && value !== null && channelTimeouts.has(value))
    );
  }
}

/** @internal A ChannelError; `message` starts with the call or the segment. */
export function channelError(code: Exclude<ChannelErrorCode, 'ETIMEDOUT'>, message: string, options?: ErrorOptions): ChannelError {
  return hideInternalFrames(new ChannelError(code, message, options));
}

/**
 * A service handler's error (or the server's, about that request: a reply
 * too large or that the codec cannot encode, a request it cannot decode), as
 * the client that made the request gets it: the error's `name`, `message`
 * and `code` cross (as `remoteName`,
 * `remoteMessage` and `remoteCode`), nothing else; its stack is the client's.
 * Its own `code` is always `'ERR_SERVICE_REMOTE'` and `remote` is true, so it
 * is never taken for one of the client's own errors (a handler that throws
 * `{ code: 'ERR_CHANNEL_PEER_DEAD' }` gives a `remoteCode` of that).
 */
export class ServiceRemoteError extends Error {
  readonly code: 'ERR_SERVICE_REMOTE' = 'ERR_SERVICE_REMOTE';
  /** Always true: the error happened in the server, not here. */
  readonly remote = true as const;
  /** The handler's error's `name` (`'Error'` if it had none). */
  readonly remoteName: string;
  /** The handler's error's `message`. */
  readonly remoteMessage: string;
  /** The handler's error's `code`, if it had a string or finite number one. */
  readonly remoteCode: string | number | undefined;

  constructor(where: string, remoteName: string, remoteMessage: string, remoteCode?: string | number) {
    super(`${where}: remote ${remoteName}${remoteCode === undefined ? '' : ` (${remoteCode})`}: ${remoteMessage}`);
    this.name = 'ServiceRemoteError';
    this.remoteName = remoteName;
    this.remoteMessage = remoteMessage;
    this.remoteCode = remoteCode;
  }
}

/** @internal A ServiceRemoteError, its stack starting at the public call. */
export function serviceRemoteError(
  where: string,
  remoteName: string,
  remoteMessage: string,
  remoteCode?: string | number,
): ServiceRemoteError {
  return hideInternalFrames(new ServiceRemoteError(where, remoteName, remoteMessage, remoteCode));
}

/**
 * @internal A bridge condition: an Error with `code`; `message` starts with
 * 'bridge:'. With `causeCode`, a cause that carries a code of its own (the
 * file system's errno name, the NATS client's code) gives the error that
 * code, and `code` stands only for a cause without one.
 */
export function bridgeError(code: BridgeErrorCode, message: string, cause?: unknown, causeCode = false): Error & { code: string } {
  const own = (cause as { code?: unknown } | null | undefined)?.code;
  const error = new Error(message, cause === undefined ? undefined : { cause });
  return hideInternalFrames(Object.assign(error, { code: causeCode && typeof own === 'string' && own !== '' ? own : code }));
}

// ---------------------------------------------------------------------------
// Aborts

/** @internal The AbortError of Node's own promise APIs: a DOMException whose cause is the signal's reason. */
export function abortError(signal: AbortSignal | undefined): DOMException {
  return hideInternalFrames(new DOMException('The operation was aborted', { name: 'AbortError', cause: signal?.reason }));
}
