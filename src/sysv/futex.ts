// Futexes (futex(2)) on words of a segment: the way one process wakes
// another that sleeps, since Atomics.wait/notify do not cross processes.
// FUTEX_WAKE is a plain call; FUTEX_WAIT runs on a thread of the addon
// (native/futex.cc) so that a sleeper never blocks the event loop. The only
// TypeScript that calls the addon's futex shims; when to spin, sleep or wake
// is the channel's policy (src/channel/block.ts, src/channel/ring.ts).
import { constants as osConstants } from 'node:os';
import { check } from '../core/errors.js';
import { native, type FutexWaiterHandle } from '../core/native.js';

const ECANCELED = osConstants.errno.ECANCELED;

/** Waiters with a wait in flight: reachable until their result comes. */
const inFlight = new Set<FutexWaiter>();

/**
 * @internal FUTEX_WAKE: wakes up to `count` sleepers on the 32-bit word at
 * `byteOffset` of `buffer`; returns how many woke.
 */
export function futexWake(buffer: ArrayBuffer, byteOffset: number, count: number): number {
  return check(native.futexWake(buffer, byteOffset, count), 'futex', () => 'FUTEX_WAKE');
}

/**
 * @internal One waiter thread of the addon, running FUTEX_WAIT off the main
 * thread. At most one wait at a time; a wait that was abandoned (abort) is
 * finished before the next starts.
 */
export class FutexWaiter {
  #handle: FutexWaiterHandle | undefined;
  #settle: ((result: number) => void) | undefined;
  #inflight: Promise<number> | undefined;
  #closed = false;

  /**
   * The addon's thread holds its callback for good, so the callback reaches
   * the waiter through a WeakRef: an idle waiter that nothing else references
   * is collected, and its handle's finalizer ends the thread. While a wait is
   * in flight, `inFlight` keeps it (and whoever awaits it) alive.
   */
  static #callback(ref: WeakRef<FutexWaiter>): (result: number) => void {
    return (result) => {
      const waiter = ref.deref();
      if (waiter) waiter.#onResult(result);
    };
  }

  #onResult(result: number): void {
    inFlight.delete(this);
    if (this.#handle) native.futexWaiterIdle(this.#handle);
    const settle = this.#settle;
    this.#settle = undefined;
    this.#inflight = undefined;
    settle?.(result);
  }

  /**
   * Sleeps while the word at `index` (of `i32`'s buffer) holds `expected`, at
   * most `timeoutMs`; resolves early (with -ECANCELED) if `signal` aborts.
   * Wake-ups may be spurious: the caller re-checks its condition.
   */
  async wait(buffer: ArrayBuffer, index: number, expected: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    while (this.#inflight) await this.#inflight;
    if (this.#closed) return -ECANCELED;
    this.#handle ??= check(
      native.futexWaiterNew(FutexWaiter.#callback(new WeakRef(this))),
      'futexWaiterNew',
      () => 'starting a waiter thread',
    );
    const handle = this.#handle;
    check(native.futexWaiterWait(handle, buffer, index * 4, expected >>> 0, timeoutMs), 'futex', () => 'FUTEX_WAIT');
    inFlight.add(this);
    const inflight = new Promise<number>((resolve) => (this.#settle = resolve));
    this.#inflight = inflight;
    if (!signal) return inflight;
    if (signal.aborted) {
      native.futexWaiterCancel(handle);
      return -ECANCELED;
    }
    let onAbort!: () => void;
    const aborted = new Promise<number>((resolve) => {
      onAbort = () => {
        native.futexWaiterCancel(handle);
        resolve(-ECANCELED);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([inflight, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Wakes a pending wait (it resolves) and stops the thread. */
  close(): void {
    this.#closed = true;
    if (this.#handle) native.futexWaiterClose(this.#handle);
    this.#handle = undefined;
    this.#onResult(-ECANCELED);
  }
}
