import { IpcError, invalidType, outOfRange, stateError } from '../core/errors.js';
import { IPC_NOWAIT, IPC_PRIVATE, SEM_UNDO } from '../sysv/constants.js';
import { semopErrno, trySemop } from '../sysv/sem.js';
import { createSet, openSet, type SemaphoreSetOpenOptions } from './semaphore-set.js';
import { optionNames, validateKey, validateMode, validateOptions } from '../core/validate.js';
import { SemaphoreHandle } from './semaphore-handle.js';
import { closedError, validateWaitOptions, type WaitOptions } from '../core/wait-options.js';
import { waitOps } from './wait-queue.js';

/** Options of {@link Mutex.create}. */
export interface MutexCreateOptions {
  /** A System V key; default IPC_PRIVATE (reachable only by id). */
  key?: number | undefined;
  /** Permission bits; default 0o600. */
  mode?: number | undefined;
}

/** Options of {@link Mutex.openOrCreate}: the key is required. */
export interface MutexOpenOrCreateOptions {
  key: number;
  mode?: number | undefined;
}

const CREATE_OPTIONS = optionNames<MutexCreateOptions>()('key', 'mode');
const OPEN_OR_CREATE_OPTIONS = optionNames<MutexOpenOrCreateOptions>()('key', 'mode');

/** How many times openOrCreate retries when the set vanishes between create and open. */
const OPEN_OR_CREATE_ATTEMPTS = 8;

// The operations, packed once: every lock and unlock carries SEM_UNDO, so a
// holder that dies, even by SIGKILL, has its lock given back by the kernel.
const LOCK = Int32Array.of(0, -1, SEM_UNDO);
const TRY_LOCK = Int32Array.of(0, -1, SEM_UNDO | IPC_NOWAIT);
const UNLOCK = Int32Array.of(0, 1, SEM_UNDO | IPC_NOWAIT);
const INITIALIZE = Int32Array.of(0, 1, 0);

/**
 * A lock shared between processes: a System V semaphore of value 1 (free)
 * or 0 (held), always taken and released with SEM_UNDO, so the kernel
 * releases it if the holding process dies. `lock()` waits without blocking
 * the event loop. Not recursive: a second `lock()` waits for the first
 * `unlock()`, in this process as in any other.
 *
 * `using mutex = Mutex.open(...)` releases this handle at the end of the
 * block: it unlocks what this handle holds and rejects its pending locks,
 * but never removes the mutex (see {@link remove}).
 *
 * @example
 * ```ts
 * using mutex = Mutex.openOrCreate({ key: 0x5007 });
 * await mutex.withLock(() => { counter.value += 1; });
 * ```
 */
export class Mutex extends SemaphoreHandle {
  #held = 0;

  private constructor(id: number, key: number) {
    super('Mutex', id, key);
  }

  /**
   * Creates a new, unlocked mutex (EEXIST if the key is taken). It is
   * unlocked with a semop, so `stat().sem_otime` is non-zero once it is
   * ready; a process that opens it earlier and locks simply waits.
   * @throws IpcError EEXIST, ENOSPC.
   */
  static create(options: MutexCreateOptions = {}): Mutex {
    const opts = validateOptions(options, CREATE_OPTIONS, 'Mutex.create()');
    const key = opts.key === undefined ? IPC_PRIVATE : validateKey(opts.key, 'options.key');
    const mode = validateMode(opts.mode ?? 0o600, 'options.mode');
    // An increment: never waits.
    const id = createSet(key, 1, mode, { semop: INITIALIZE });
    return new Mutex(id, key);
  }

  /**
   * Opens an existing mutex by key or id.
   * @throws IpcError ENOENT, EINVAL/EIDRM, EACCES.
   */
  static open(options: SemaphoreSetOpenOptions): Mutex {
    const { id, key } = openSet(options, 'Mutex.open()');
    return new Mutex(id, key);
  }

  /**
   * Opens the mutex for `key`, or creates it if there is none. Safe when
   * several processes do it at once: exactly one creates it.
   */
  static openOrCreate(options: MutexOpenOrCreateOptions): Mutex {
    const opts = validateOptions(options, OPEN_OR_CREATE_OPTIONS, 'Mutex.openOrCreate()');
    if (opts.key === undefined) throw invalidType('options.key', 'of type number', opts.key);
    const key = validateKey(opts.key, 'options.key');
    if (key === IPC_PRIVATE) throw outOfRange('options.key', 'a key other than IPC_PRIVATE', key);
    for (let attempt = 1; ; attempt++) {
      try {
        return Mutex.create({ key, mode: opts.mode as number | undefined });
      } catch (error) {
        if (!(error instanceof IpcError) || error.code !== 'EEXIST') throw error;
      }
      try {
        return Mutex.open({ key });
      } catch (error) {
        // Removed between our create and open: try again.
        if (!(error instanceof IpcError) || error.code !== 'ENOENT' || attempt >= OPEN_OR_CREATE_ATTEMPTS) throw error;
      }
    }
  }

  /** Whether this handle holds the lock. */
  get held(): boolean {
    return this.#held > 0;
  }

  /**
   * Takes the lock, waiting (without blocking the event loop) until it is
   * free. `timeoutMs` rejects with code `'ETIMEDOUT'`, `signal` with an
   * `AbortError`; either way the lock is not held, as if lock had never been called.
   * @throws IpcError EIDRM (removed while waiting), EINVAL, EACCES.
   */
  async lock(options?: WaitOptions): Promise<void> {
    this.assertOpen('lock');
    await waitOps(this.id, LOCK, validateWaitOptions(options), this.closedSignal, 'Mutex.lock');
    if (this.closed) {
      // Disposed between the kernel's grant and this line: give it back.
      semopErrno(this.id, UNLOCK);
      throw closedError('ERR_SEM_CLOSED', 'Mutex.lock');
    }
    this.#held++;
  }

  /** Takes the lock if it is free now; never waits. */
  tryLock(): boolean {
    this.assertOpen('tryLock');
    if (!trySemop(this.id, TRY_LOCK)) return false;
    this.#held++;
    return true;
  }

  /**
   * Releases the lock. Only a handle that holds it may release it (a
   * semaphore would otherwise count above 1 and admit two holders).
   * @throws StateError `ERR_MUTEX_NOT_HELD`; IpcError EIDRM, EINVAL.
   */
  unlock(): void {
    this.assertOpen('unlock');
    if (this.#held === 0) {
      throw stateError('ERR_MUTEX_NOT_HELD', `Mutex.unlock: mutex ${this.id} is not held by this handle`);
    }
    try {
      trySemop(this.id, UNLOCK);
    } catch (error) {
      // The set is gone (removed by anyone): so is the lock this handle held.
      if (isRemoved(error)) this.#held = 0;
      throw error;
    }
    this.#held--;
  }

  /**
   * Runs `fn` holding the lock and releases it afterwards, whether `fn`
   * returns, resolves, throws or rejects. A set removed while `fn` ran
   * leaves nothing to release: `fn`'s result or error stands.
   */
  async withLock<T>(fn: () => T | Promise<T>, options?: WaitOptions): Promise<T> {
    if (typeof fn !== 'function') throw invalidType('fn', 'of type function', fn);
    await this.lock(options);
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await fn() };
    } catch (error) {
      outcome = { error };
    }
    // A dispose during fn has already unlocked. An unlock that fails otherwise
    // is the caller's to know, unless fn's own error is.
    if (this.#held > 0 && !this.closed) {
      try {
        this.unlock();
      } catch (error) {
        if (!isRemoved(error) && 'value' in outcome) throw error;
      }
    }
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  protected override onRemoved(): void {
    this.#held = 0;
  }

  /**
   * Releases this handle: unlocks what it holds, rejects its pending locks
   * (`ERR_SEM_CLOSED`); the mutex stays.
   */
  override [Symbol.dispose](): void {
    if (this.closed) return;
    while (this.#held > 0) {
      // A removed set has nothing left to unlock.
      if (semopErrno(this.id, UNLOCK) !== 0) break;
      this.#held--;
    }
    this.#held = 0;
    super[Symbol.dispose]();
  }
}

/** Whether `error` says the set is gone: EIDRM, or EINVAL for an id that names nothing now. */
function isRemoved(error: unknown): boolean {
  return error instanceof IpcError && (error.code === 'EIDRM' || error.code === 'EINVAL');
}
