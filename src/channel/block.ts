// How a channel endpoint waits without blocking the event loop: spin on the
// main thread for a bounded time (a hand-off between spinning processes
// takes well under a microsecond), then sleep on a futex word in the segment
// through io_uring or the addon's waiter thread (src/sysv/futex.ts; a
// wake-up costs tens of µs).
import type { FutexWaiter } from '../sysv/futex.js';
import { spin } from '../sysv/spin.js';
import { abortError, invalidType, outOfRange, channelTimeoutError } from '../core/errors.js';
import { validateAbortSignal, validateObject } from '../core/validate.js';
import { refuseTimeoutSpelling } from '../core/wait-options.js';
import type { WaitMode } from './format.js';

/** A sleeper wakes at least this often to check that its peer still lives. */
export const LIVENESS_MS = 100;

/** A futex word and its "I sleep" flag, as word indexes into the segment. */
export interface Handshake {
  readonly waiting: number;
  readonly futex: number;
}

export interface BlockOptions {
  readonly mode: WaitMode;
  readonly buffer: ArrayBuffer;
  readonly i32: Int32Array;
  readonly handshake: Handshake;
  readonly waiter: FutexWaiter;
  /** Whether to take the "I sleep" flag down once ready (only a sole waiter may). */
  readonly soleWaiter: boolean;
  readonly deadline: Deadline;
  readonly signal: AbortSignal | undefined;
  /** The call that waits, and what a timeout leaves ('nothing was sent'), for the timeout's message. */
  readonly what: string;
  readonly outcome: string;
  /** The caller spun already (synchronously, before its promise): go straight to sleep. */
  readonly spun?: boolean | undefined;
  /** Spin this much longer than the mode says (see spinForBytes). */
  readonly extraSpinMs?: number | undefined;
}

/**
 * How much longer than its mode's budget a sender that waits for `bytes` of
 * room spins: about as long as the receiver takes to copy that much out
 * (~4 GB/s, a slow copy), so that a large message does not fall asleep
 * (a wake-up costs tens of µs) just before its room comes. At most 2 ms.
 */
export function spinForBytes(bytes: number): number {
  return Math.min(2, bytes / 4e6);
}

/**
 * Waits until `ready()` returns true: bounded spin, then futex sleeps in
 * slices of at most LIVENESS_MS, calling `slow()` about once a slice (it
 * throws to end the wait, e.g. when the peer died). Rejects with AbortError on
 * abort and with the IpcError ETIMEDOUT of every wait at the deadline.
 */
export async function block(opts: BlockOptions, ready: () => boolean, slow: () => void): Promise<void> {
  const { i32, handshake, signal } = opts;
  if (signal?.aborted) throw abortError(signal);
  if (!opts.spun && spin(opts.mode, ready, { extraMs: opts.extraSpinMs, timeoutMs: opts.deadline.timeoutMs })) return;
  // Liveness checks cost system calls and /proc reads: at most one per slice.
  let checked = performance.now();
  for (;;) {
    // Read the futex word before raising the flag and checking once more: a
    // waker that comes after the check sees the flag, bumps the word, and the
    // kernel refuses to sleep on the stale value.
    const expected = Atomics.load(i32, handshake.futex);
    Atomics.store(i32, handshake.waiting, 1);
    if (ready()) break;
    if (performance.now() - checked >= LIVENESS_MS) {
      slow();
      checked = performance.now();
      if (ready()) break;
    }
    const left = opts.deadline.at - performance.now();
    if (left <= 0) throw channelTimeoutError(opts.what, opts.deadline.timeoutMs, opts.outcome);
    await opts.waiter.wait(opts.buffer, handshake.futex, expected, Math.min(left, LIVENESS_MS), signal);
    if (signal?.aborted) throw abortError(signal);
    if (ready()) break;
    // A wake-up without the condition (a spurious one, or another sender
    // took the space): spin a little again before sleeping.
    if (spin(opts.mode, ready, { extraMs: opts.extraSpinMs })) break;
  }
  // (A detached segment's views are empty: nothing to take down then.)
  if (opts.soleWaiter && i32.length > 0) Atomics.store(i32, handshake.waiting, 0);
}

/** When a wait gives up: `at` on the performance.now() scale (Infinity: never), `timeoutMs` after its start. */
export interface Deadline {
  readonly at: number;
  readonly timeoutMs: number;
}

const NEVER: Deadline = { at: Infinity, timeoutMs: Infinity };

/**
 * What every waiting send or receive checks before it does anything, even
 * when it would not have to wait: options that are an object, a valid
 * `timeoutMs` and `signal`, and a signal not yet aborted. An aborted one
 * rejects at once, with nothing sent or taken, as Node's own APIs do.
 */
export function checkWaitOptions(options: unknown): void {
  const opts = validateObject(options, 'options');
  const { timeoutMs, signal } = opts;
  // deadlineOf throws the error; a valid one costs no clock read here.
  if (timeoutMs === undefined) refuseTimeoutSpelling(opts, 'options');
  else if (!(typeof timeoutMs === 'number' && timeoutMs >= 0)) deadlineOf(timeoutMs);
  const abort = validateAbortSignal(signal, 'options.signal');
  if (abort?.aborted) throw abortError(abort);
}

/** The deadline of a wait from its `timeoutMs` option, validated (and named as the option it is). */
export function deadlineOf(timeoutMs: unknown): Deadline {
  if (timeoutMs === undefined) return NEVER;
  if (typeof timeoutMs !== 'number') throw invalidType('options.timeoutMs', 'of type number', timeoutMs);
  if (!(timeoutMs >= 0)) throw outOfRange('options.timeoutMs', '>= 0', timeoutMs);
  return { at: performance.now() + timeoutMs, timeoutMs };
}
