// What every writer of a ring (a channel's Sender, a PubSub's Publisher) does
// when it cannot write at once: keep its waiting sends in call order, and
// back off while a live writer holds what it needs.
import { abortError, channelTimeoutError } from '../core/errors.js';
import { timeLimit } from '../core/wait-options.js';
import { type Deadline, deadlineOf } from './block.js';
import { whenAborted } from '../core/abort-listeners.js';

/** The longest back-off, in ms, of a send waiting for a claim lock held by a live process. */
const BUSY_BACKOFF_MAX_MS = 20;

/** Resolves after `ms`, or at once when `signal` aborts (the caller checks it). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    const stopListening = whenAborted(signal, done);
    function done(): void {
      clearTimeout(timer);
      stopListening();
      resolve();
    }
  });
}

/** One endpoint's waiting sends, run one after another in call order: its messages never overtake each other. */
export class SendQueue {
  #tail: Promise<void> | undefined;

  /** True while sends wait: a try* call must not go ahead of them. */
  get busy(): boolean {
    return this.#tail !== undefined;
  }

  /**
   * Runs `job` once the sends queued before it are done. Its deadline counts
   * from this call, the wait behind earlier sends included; `check` runs
   * first (the endpoint may have closed meanwhile). While it waits behind
   * them, it rejects at its deadline or on `signal`'s abort, and its job is
   * then skipped (nothing is sent); the sends after it keep their order.
   */
  enqueue(
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    what: string,
    check: () => void,
    job: (deadline: Deadline) => Promise<void>,
  ): Promise<void> {
    const deadline = deadlineOf(timeoutMs);
    const previous = this.#tail;
    const queued = previous !== undefined;
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const result = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Set once the send started or gave up: whichever comes first wins.
    let settled = false;
    let stopTimer: (() => void) | undefined;
    let stopListening = (): void => {};
    const stopWaiting = (): void => {
      stopTimer?.();
      stopListening();
    };
    const giveUp = (error: unknown): void => {
      if (settled) return;
      settled = true;
      stopWaiting();
      reject(error);
    };
    const queuedOut = (): Error => channelTimeoutError(what, deadline.timeoutMs, 'nothing was sent: earlier sends still waited');
    function onAbort(): void {
      giveUp(abortError(signal));
    }
    // Returns what the next send waits for; never rejects.
    const start = (): Promise<void> | undefined => {
      if (settled) return undefined; // it gave up while queued: skipped, nothing sent
      settled = true;
      stopWaiting();
      let running: Promise<void>;
      try {
        check();
        // Its own waits (in `job`) check these only after a first claim.
        if (signal?.aborted) throw abortError(signal);
        if (queued && performance.now() >= deadline.at) throw queuedOut();
        running = job(deadline);
      } catch (error) {
        reject(error);
        return undefined;
      }
      // The queue is free again before the caller's code after `await send()`
      // runs: a trySend there must not find it busy, or every message after
      // one wait would queue behind the last (a timer and promise hops each).
      return running.then(
        () => {
          clearTail();
          resolve();
        },
        (error: unknown) => {
          clearTail();
          reject(error);
        },
      );
    };
    let done: Promise<void> | undefined;
    const clearTail = (): void => {
      if (this.#tail === done) this.#tail = undefined;
    };
    let turn: Promise<void> | undefined;
    if (!queued) {
      // Nothing ahead: start now; the job's own waits honour the deadline and the signal.
      turn = start();
    } else {
      if (signal?.aborted) giveUp(abortError(signal));
      else {
        stopListening = whenAborted(signal, onAbort);
        // A far deadline is reached in steps (setTimeout's longest delay is 2 ** 31 - 1 ms).
        if (deadline.at !== Infinity) stopTimer = timeLimit(Math.max(0, deadline.at - performance.now()), () => giveUp(queuedOut()));
      }
      turn = previous!.then(start);
    }
    if (turn !== undefined) {
      done = turn;
      this.#tail = done;
      // A send skipped, or failed before it started, frees the queue here.
      done.then(clearTail);
    }
    return result;
  }
}

/**
 * Waits out a live writer that holds what a send needs (preempted, or
 * stopped) on a timer, not a busy loop: `busy` ms doubled, at most 20, within
 * the deadline. Returns the delay to double next time.
 * @throws AbortError; IpcError ETIMEDOUT saying `outcome`.
 */
export async function backOff(
  busy: number,
  deadline: Deadline,
  signal: AbortSignal | undefined,
  what: string,
  outcome: string,
): Promise<number> {
  if (signal?.aborted) throw abortError(signal);
  const left = deadline.at - performance.now();
  if (left <= 0) throw channelTimeoutError(what, deadline.timeoutMs, outcome);
  const next = Math.min(busy * 2 || 1, BUSY_BACKOFF_MAX_MS);
  await sleep(Math.min(next, left), signal);
  // The sleep ends early on abort: an aborted wait must not go on to claim.
  if (signal?.aborted) throw abortError(signal);
  return next;
}
