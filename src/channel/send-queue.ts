// What every writer of a ring (a channel's Sender, a PubSub's Publisher) does
// when it cannot write at once: keep its waiting sends in call order, and
// back off while a live writer holds what it needs.
import { abortError, timeoutError } from '../core/errors.js';
import { type Deadline, deadlineOf } from './block.js';

/** The longest back-off, in ms, of a send waiting for a claim lock held by a live process. */
const BUSY_BACKOFF_MAX_MS = 20;

/** Resolves after `ms`, or at once when `signal` aborts (the caller checks it). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
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
   * first (the endpoint may have closed meanwhile).
   */
  enqueue(timeoutMs: number | undefined, check: () => void, job: (deadline: Deadline) => Promise<void>): Promise<void> {
    const deadline = deadlineOf(timeoutMs);
    const run = (): Promise<void> => {
      check();
      return job(deadline);
    };
    const previous = this.#tail;
    const done = previous ? previous.then(run, run) : run();
    this.#tail = done;
    const clear = (): void => {
      if (this.#tail === done) this.#tail = undefined;
    };
    done.then(clear, clear);
    return done;
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
  if (left <= 0) throw timeoutError('futex', what, deadline.timeoutMs, outcome);
  const next = Math.min(busy * 2 || 1, BUSY_BACKOFF_MAX_MS);
  await sleep(Math.min(next, left), signal);
  return next;
}
