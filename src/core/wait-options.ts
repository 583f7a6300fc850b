// What every wait of a semaphore or a message queue shares: its options
// ({ timeoutMs, signal, wait }) and the handle it belongs to, whose disposal ends
// it (ERR_SEM_CLOSED, ERR_MSG_CLOSED). Here because sem/ and msg/ may not
// import each other. How waits run is in sysv/wait-threads.ts; their time
// limit and abort errors are everyone's (errors.ts). The wait modes (spin,
// then sleep) are these waits' and the channel's (sysv/spin.ts).
import { setMaxListeners } from 'node:events';
import { invalidType, invalidValue, outOfRange, stateError, type StateError, type StateErrorCode } from './errors.js';
import { validateAbortSignal, validateObject } from './validate.js';

/**
 * How a wait spends the time before what it waits for comes: `'adaptive'`
 * spins on the calling thread for about 50 µs, then sleeps; `'spin'` spins
 * for up to 2 ms first (the lowest latency, and a CPU kept busy meanwhile);
 * `'sleep'` sleeps at once (in the kernel, on a thread of the addon: the
 * event loop never blocks, and a wake-up costs tens of µs).
 */
export type WaitMode = 'adaptive' | 'spin' | 'sleep';

/** @internal The wait modes; their order is the channel's on-segment encoding (channel/format.ts). */
export const WAIT_MODES: readonly WaitMode[] = ['adaptive', 'spin', 'sleep'];

/** @internal Checks a wait mode: undefined, or one of WAIT_MODES (TypeError ERR_INVALID_ARG_VALUE naming `name`). */
export function validateWaitMode(value: unknown, name: string): WaitMode | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !WAIT_MODES.includes(value as WaitMode)) {
    throw invalidValue(name, "it must be 'adaptive', 'spin' or 'sleep'", value);
  }
  return value as WaitMode;
}

/** Options of every wait (semaphores and message queues): a time limit, a cancellation signal, and how to wait. */
export interface WaitOptions {
  /**
   * Give up after this many milliseconds: the promise rejects with an
   * IpcError whose code is `'ETIMEDOUT'` (`syscall` the call that waited:
   * `'semtimedop'`, `'msgsnd'` or `'msgrcv'`), and nothing has changed (no
   * semaphore, no message sent or taken). 0 means: only if possible at once.
   * Default: no limit.
   */
  timeoutMs?: number | undefined;
  /**
   * Abort the wait: the promise rejects with a DOMException named
   * `'AbortError'` (its `cause` is `signal.reason`), and nothing has changed.
   */
  signal?: AbortSignal | undefined;
  /**
   * How to wait when the call cannot be done at once: `'adaptive'` (default)
   * tries it again for about 50 µs on this thread, then sleeps in the kernel
   * on a thread of the addon; `'spin'` tries for up to 2 ms first (the lowest
   * latency when the other process answers quickly; a CPU busy meanwhile);
   * `'sleep'` goes to the kernel at once. The event loop waits no longer than
   * the spin; a time limit shorter than the spin skips it.
   */
  wait?: WaitMode | undefined;
}

/** @internal Checked wait options. */
export interface ValidWaitOptions {
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  wait: WaitMode;
}

const DEFAULT_OPTIONS: ValidWaitOptions = Object.freeze({ timeoutMs: undefined, signal: undefined, wait: 'adaptive' });

/** @internal Checks `{ timeoutMs?, signal?, wait? }`. */
export function validateWaitOptions(options: unknown, name = 'options'): ValidWaitOptions {
  if (options === undefined) return DEFAULT_OPTIONS;
  const opts = validateObject(options, name);
  return { ...validateTimeLimit(opts, name), wait: validateWaitMode(opts.wait, `${name}.wait`) ?? 'adaptive' };
}

/** @internal Checks the `timeoutMs` and `signal` of options object `opts` (named `name`). */
export function validateTimeLimit(
  opts: Record<string, unknown>,
  name: string,
): { timeoutMs: number | undefined; signal: AbortSignal | undefined } {
  let timeoutMs: number | undefined;
  if (opts.timeoutMs === undefined) refuseTimeoutSpelling(opts, name);
  else {
    if (typeof opts.timeoutMs !== 'number') throw invalidType(`${name}.timeoutMs`, 'of type number', opts.timeoutMs);
    if (!(opts.timeoutMs >= 0) || !Number.isFinite(opts.timeoutMs)) {
      throw outOfRange(`${name}.timeoutMs`, 'a finite number >= 0', opts.timeoutMs);
    }
    timeoutMs = opts.timeoutMs;
  }
  return { timeoutMs, signal: validateAbortSignal(opts.signal, `${name}.signal`) };
}

/**
 * @internal Throws if `opts` has a `timeout`: the spelling of Python's
 * sysv_ipc and of many JavaScript APIs, which would otherwise be ignored and
 * leave the wait without the limit its caller meant. For options without a
 * `timeoutMs` only.
 */
export function refuseTimeoutSpelling(opts: Record<string, unknown>, name: string): void {
  if (opts.timeout !== undefined) {
    throw invalidValue(`${name}.timeout`, `there is no such option: a time limit is ${name}.timeoutMs, in milliseconds`, opts.timeout);
  }
}

/**
 * @internal The controller a handle aborts when disposed. Each pending wait
 * of the handle listens to it, so it may have any number of listeners.
 */
export function closeController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** setTimeout's longest delay: Node fires a longer one (Infinity too) after 1 ms, with a TimeoutOverflowWarning. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * @internal Calls `expire` once `ms` milliseconds have passed, for any `ms` >= 0 (a long one is
 * reached in steps of setTimeout's longest delay; Infinity never comes). Returns what stops it.
 * `unref`: the timer does not keep the process alive (what it limits does, if anything).
 */
export function timeLimit(ms: number, expire: () => void, unref = false): () => void {
  const at = performance.now() + ms;
  let timer: NodeJS.Timeout;
  // A timer counts from the event loop's cached time, so it may fire a
  // millisecond or two before `at`: then it waits for the rest.
  const check = (): void => {
    const left = at - performance.now();
    if (left > 0) arm(left);
    else expire();
  };
  const arm = (left: number): void => {
    timer = setTimeout(check, Math.min(Math.max(0, Math.ceil(left)), MAX_TIMER_MS));
    if (unref) timer.unref();
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** @internal The error of a handle used, or waited on, after its `[Symbol.dispose]()`. */
export function closedError(code: Extract<StateErrorCode, 'ERR_SEM_CLOSED' | 'ERR_MSG_CLOSED'>, what: string): StateError {
  return stateError(code, `${what}: the handle was disposed`);
}
