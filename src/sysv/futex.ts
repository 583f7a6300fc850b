// Futexes (futex(2)) on words of a segment: the way one process wakes
// another that sleeps, since Atomics.wait/notify do not cross processes.
// FUTEX_WAKE is a plain call. FUTEX_WAIT must not block the event loop, so
// it is queued on the thread's io_uring (native/futex_ring.cc: the wake-up
// comes back through libuv's poll, one thread switch) where the kernel has
// it (Linux 6.7+) and io_uring is allowed, and otherwise runs on a thread of
// the addon (native/futex.cc: two switches). The only TypeScript that calls
// the addon's futex shims; when to spin, sleep or wake is the channel's
// policy (src/channel/block.ts, src/channel/ring.ts), and a program's for
// its own fields (src/struct/atomic-wait.ts).
import { constants as osConstants } from 'node:os';
import { check, errnoName } from '../core/errors.js';
import { native, type FutexWaiterHandle } from '../core/native.js';
import { timeLimit } from '../core/wait-options.js';
import { whenAborted } from '../core/abort-listeners.js';

const ECANCELED = osConstants.errno.ECANCELED;
const EINVAL = osConstants.errno.EINVAL;
const ETIMEDOUT = osConstants.errno.ETIMEDOUT;
const EBADF = osConstants.errno.EBADF;

/** Where this thread's futex waits run, and why not on io_uring if they do not. */
export type FutexEngine = { readonly kind: 'io_uring' } | { readonly kind: 'thread'; readonly reason: string };
/** This copy of the library's number on the thread's ring (another copy, a bundle beside a deep import, has its own). */
let ringClient = 0;

/** Chosen at the first wait of this thread (each worker has its own ring). */
let engine: FutexEngine | undefined;

/** Waiters with a thread wait in flight: reachable until their result comes. */
const inFlight = new Set<FutexWaiter>();
/** Waiters with an io_uring wait in flight, by token: the same, and how a result finds its waiter. */
const ringWaits = new Map<number, FutexWaiter>();

/**
 * @internal How this thread's futex waits reach the kernel. `SHMKIT_IO_URING=0`
 * in the environment asks for the waiter threads.
 */
export function futexEngine(): FutexEngine {
  engine ??= openEngine();
  return engine;
}

function openEngine(): FutexEngine {
  if (process.env.SHMKIT_IO_URING === '0') return { kind: 'thread', reason: 'SHMKIT_IO_URING=0' };
  const result = native.futexRingOpen(FutexWaiter.dispatch);
  if (result > 0) {
    ringClient = result;
    return { kind: 'io_uring' };
  }
  // ENOSYS or EPERM: no io_uring, or a seccomp profile or
  // kernel.io_uring_disabled forbids it; EOPNOTSUPP: a kernel before 6.7.
  return { kind: 'thread', reason: `io_uring: ${errnoName(-result)}` };
}

/**
 * Cancels an io_uring wait. The kernel may refuse the request for want of
 * memory (EAGAIN, EBUSY): then it is tried again, every 5 ms for a second
 * and every 100 ms after, so that a time limit or an abort is not lost. A
 * wait that ended meanwhile makes the next try a no-op.
 */
function cancelRingWait(token: number, tries = 0): void {
  const result = native.futexRingCancel(token);
  if (result >= 0 || result === -EBADF) return; // EBADF: the ring is closing, and cancels it all
  setTimeout(cancelRingWait, tries < 200 ? 5 : 100, token, tries + 1).unref();
}

/**
 * @internal FUTEX_WAKE: wakes up to `count` sleepers on the 32-bit word at
 * `byteOffset` of `buffer`; returns how many woke.
 */
export function futexWake(buffer: ArrayBuffer, byteOffset: number, count: number): number {
  return check(native.futexWake(buffer, byteOffset, count), 'futex', () => 'FUTEX_WAKE');
}

/**
 * @internal One sleeper on futex words, off the main thread's stack. At most
 * one wait at a time; a wait that was abandoned (abort) is finished before
 * the next starts.
 */
export class FutexWaiter {
  /** The waiter thread, on the thread engine. */
  #handle: FutexWaiterHandle | undefined;
  /** The pending io_uring wait's token, on the io_uring engine. */
  #token = 0;
  /** Its time limit: a timer that cancels it (cheaper than the kernel's linked timeout). */
  #stopTimer: (() => void) | undefined;
  #timedOut = false;
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

  /**
   * The io_uring engine's results, on this thread. A token whose sequence
   * (its low 40 bits) is 0 says that the kernel dropped completions (it had
   * no memory to keep them): every pending wait is taken as woken (the ring
   * has cancelled and forgotten them all).
   */
  static dispatch(token: number, result: number): void {
    if (token % 2 ** 40 === 0) {
      const pending = [...ringWaits.values()];
      ringWaits.clear();
      for (const waiter of pending) waiter.#onResult(0);
      return;
    }
    const waiter = ringWaits.get(token);
    if (waiter === undefined) return; // closed while it waited
    ringWaits.delete(token);
    waiter.#onResult(result);
  }

  #onResult(result: number): void {
    inFlight.delete(this);
    if (this.#handle) native.futexWaiterIdle(this.#handle);
    this.#token = 0;
    this.#stopTimer?.();
    this.#stopTimer = undefined;
    if (this.#timedOut && result === -ECANCELED) result = -ETIMEDOUT;
    this.#timedOut = false;
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
    this.#start(buffer, index * 4, expected >>> 0, timeoutMs);
    const inflight = new Promise<number>((resolve) => (this.#settle = resolve));
    this.#inflight = inflight;
    if (!signal) return inflight;
    // Cancels this wait, not a later one.
    const token = this.#token;
    const handle = this.#handle;
    const cancel = token !== 0 ? () => cancelRingWait(token) : () => handle && native.futexWaiterCancel(handle);
    if (signal.aborted) {
      cancel();
      return -ECANCELED;
    }
    let stopListening!: () => void;
    const aborted = new Promise<number>((resolve) => {
      stopListening = whenAborted(signal, () => {
        cancel();
        resolve(-ECANCELED);
      });
    });
    try {
      return await Promise.race([inflight, aborted]);
    } finally {
      stopListening();
    }
  }

  /** Its time limit passed: cancel the io_uring wait (the result then says ETIMEDOUT). */
  readonly #onTimeout = (): void => {
    this.#timedOut = true;
    cancelRingWait(this.#token);
  };

  /** Starts a wait on the thread's engine (#token set on io_uring, #handle on a thread). */
  #start(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): void {
    if (futexEngine().kind === 'io_uring') {
      const result = native.futexRingWait(ringClient, buffer, byteOffset, expected);
      // EINVAL is a bad word (the caller's bug, or a detached buffer): an
      // error on either engine. Anything else (EBUSY, EAGAIN, ENOMEM: the
      // kernel could not take the wait now) falls back to the thread.
      if (result > 0 || result === -EINVAL) {
        const token = check(result, 'futex', () => 'FUTEX_WAIT');
        this.#token = token;
        ringWaits.set(token, this);
        // The pending wait keeps the process alive, not its timer (cleared with the result).
        // (Chained past setTimeout's longest delay, which would otherwise fire after 1 ms.)
        if (timeoutMs >= 0) this.#stopTimer = timeLimit(timeoutMs, this.#onTimeout, true);
        return;
      }
    }
    this.#handle ??= check(
      native.futexWaiterNew(FutexWaiter.#callback(new WeakRef(this))),
      'futexWaiterNew',
      () => 'starting a waiter thread',
    );
    const handle = this.#handle;
    // The thread counts its deadline in int64 nanoseconds: a limit of more than 2^40 ms (35 years) is none.
    const limit = timeoutMs > 2 ** 40 ? -1 : timeoutMs;
    check(native.futexWaiterWait(handle, buffer, byteOffset, expected, limit), 'futex', () => 'FUTEX_WAIT');
    inFlight.add(this);
  }

  /** Wakes a pending wait (it resolves) and stops the thread. */
  close(): void {
    this.#closed = true;
    this.#timedOut = false;
    if (this.#handle) native.futexWaiterClose(this.#handle);
    this.#handle = undefined;
    if (this.#token !== 0) {
      ringWaits.delete(this.#token);
      cancelRingWait(this.#token);
    }
    this.#onResult(-ECANCELED);
  }
}
