// Sleeping on an atomic 32-bit field until someone says it changed
// (atomic(view, field).wait and .notify): what Atomics.waitAsync and
// Atomics.notify do for a SharedArrayBuffer, which they cannot do for a
// segment's memory nor across processes. Both are futex(2) calls on the
// field's word, so a C program's FUTEX_WAKE wakes a wait here and notify()
// wakes a C program's FUTEX_WAIT. The wait sleeps in the kernel (on io_uring,
// or a thread of the addon): the event loop runs on.
import { constants as osConstants } from 'node:os';
import { isSharedArrayBuffer } from 'node:util/types';
import { abortError, check, invalidType, timeoutError } from '../core/errors.js';
import { validateCount, validateObject } from '../core/validate.js';
import { validateTimeLimit } from '../core/wait-options.js';
import { FutexWaiter, futexWake } from '../sysv/futex.js';
import type { Owner } from './memory.js';

const { EAGAIN, ECANCELED, ETIMEDOUT } = osConstants.errno;
/** FUTEX_WAKE's count is an int. */
const WAKE_ALL = 0x7fff_ffff;

/** Options of {@link Atomic.wait}. */
export interface AtomicWaitOptions {
  /**
   * Give up after this many milliseconds: the promise rejects with an
   * IpcError whose code is `'ETIMEDOUT'` (`syscall` `'futex'`). Default: no limit.
   */
  timeoutMs?: number | undefined;
  /** Abort the wait: the promise rejects with a DOMException named `'AbortError'` (its `cause` is `signal.reason`). */
  signal?: AbortSignal | undefined;
}

/** @internal The word of one atomic 32-bit field: where it is, and how to read it and name it. */
export interface FutexWord {
  readonly owner: Owner;
  /** The memory the field is in, and the field's byte offset there (a multiple of 4). */
  readonly memory: ArrayBufferLike;
  readonly byteOffset: number;
  /** The field's value now (StateError once its memory is detached). */
  readonly load: () => number;
  /** `field "count"`, for messages. */
  readonly label: string;
}

/**
 * Idle waiters kept for the next waits, of any field: on the thread engine
 * a waiter is a thread of the addon, and starting one per wait made a
 * ping-pong between two processes ten times slower (424 µs a round trip
 * against 40). They are this thread's, not each atomic() object's: one kept
 * per object held a thread until the object was collected, thousands of
 * them for a loop that calls atomic() each time, until thread creation
 * failed (EAGAIN).
 */
const idleWaiters: FutexWaiter[] = [];
/** Most idle waiters kept: as many waits at once as this need no new thread. */
const IDLE_WAITERS = 4;

/** Refuses memory a futex cannot be given from here. */
function assertFutexMemory(memory: ArrayBufferLike, operation: string): asserts memory is ArrayBuffer {
  if (isSharedArrayBuffer(memory)) {
    throw invalidType(
      'view',
      `a view of shared memory or of an ArrayBuffer for ${operation} (for a SharedArrayBuffer, Atomics.waitAsync waits)`,
      memory,
    );
  }
}

/** @internal atomic(...).wait(expected, options) of a 32-bit field. */
export async function waitWord(word: FutexWord, expected: number, options: unknown): Promise<'ok' | 'not-equal'> {
  const { timeoutMs, signal } = validateTimeLimit(options === undefined ? {} : validateObject(options, 'options'), 'options');
  const memory = word.memory;
  assertFutexMemory(memory, 'wait');
  if (signal?.aborted) throw abortError(signal);
  // (The kernel compares again, atomically with going to sleep: a change from here on is not missed.)
  if (word.load() !== expected) return 'not-equal';
  // (Waits at once each have a waiter of their own.)
  const waiter = idleWaiters.pop() ?? new FutexWaiter();
  let unmapped = false;
  // Nothing can wake a word of memory that is gone: the wait ends with the unmapping.
  const forget = word.owner.attachment?.beforeUnmap(() => {
    unmapped = true;
    waiter.close();
  });
  let result: number;
  try {
    result = await waiter.wait(memory, word.byteOffset >> 2, expected, timeoutMs ?? -1, signal);
  } finally {
    forget?.();
    if (unmapped || idleWaiters.length >= IDLE_WAITERS) waiter.close();
    else idleWaiters.push(waiter);
  }
  if (result === 0 || result === -EAGAIN) {
    // EAGAIN: the field changed after the check above, which is what the wait
    // was for; unless its memory went (an ArrayBuffer transferred meanwhile): then the StateError.
    word.load();
    return 'ok';
  }
  if (result === -ETIMEDOUT)
    throw timeoutError('futex', `atomic wait: ${word.label}`, timeoutMs ?? 0, `it still held ${expected}; nobody notified it`);
  if (result === -ECANCELED && signal?.aborted) throw abortError(signal);
  // Unmapped meanwhile (ECANCELED from the unmapping, or EFAULT): the StateError of every operation on it.
  word.owner.attachment?.assertAttached('atomic wait');
  word.load();
  check(result, 'futex', () => `FUTEX_WAIT on ${word.label}`);
  return 'ok';
}

/** @internal atomic(...).notify(count) of a 32-bit field: how many waiters woke, in every process. */
export function notifyWord(word: FutexWord, count: unknown): number {
  const n = count === undefined ? WAKE_ALL : Math.min(validateCount(count, 'count'), WAKE_ALL);
  const memory = word.memory;
  assertFutexMemory(memory, 'notify');
  word.load(); // StateError once detached
  // FUTEX_WAKE with a count of 0 still wakes one.
  return n === 0 ? 0 : futexWake(memory, word.byteOffset, n);
}
