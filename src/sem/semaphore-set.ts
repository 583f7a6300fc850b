import { GETVAL, IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_PRIVATE, SETVAL } from '../sysv/constants.js';
import { encodeSops, type FirstValues, semCreate, semctl, semget, semStatForOpen, type Sembuf } from '../sysv/sem.js';
import { invalidType, outOfRange } from '../core/errors.js';
import { optionNames, validateId, validateInteger, validateKey, validateMode, validateOptions, INT32_MAX } from '../core/validate.js';
import { SemaphoreHandle } from './semaphore-handle.js';
import { validateWaitOptions, type WaitOptions } from '../core/wait-options.js';
import { waitOps } from './wait-queue.js';

export type { WaitOptions } from '../core/wait-options.js';

/** Options of {@link SemaphoreSet.create}. */
export interface SemaphoreSetCreateOptions {
  /** A System V key; default IPC_PRIVATE (a new set reachable only by its id). */
  key?: number | undefined;
  /** Number of semaphores (1..SEMMSL). */
  count: number;
  /** Permission bits; default 0o600 (owner only). */
  mode?: number | undefined;
  /** Initial values: one number for all, or one per semaphore; default 0. */
  initial?: number | readonly number[] | undefined;
}

/**
 * sem_num is a C unsigned short: semaphores beyond the 65,536th of a set
 * could never be used, whatever SEMMSL a system allows.
 */
const MAX_ADDRESSABLE = 0x1_0000;

/**
 * Checks a set's size against the system's SEMMSL (IPC_INFO) before
 * anything is allocated for it: a size the kernel refuses anyway must not
 * first cost an array of that length.
 */
function validateCount(value: unknown): number {
  const count = validateInteger(value, 'options.count', 1, INT32_MAX);
  let semmsl = MAX_ADDRESSABLE;
  try {
    semmsl = semctl(0, 0, IPC_INFO).semmsl;
  } catch {
    // No IPC_INFO (not seen on Linux): the kernel still judges, and the addressable bound holds.
  }
  const max = Math.min(semmsl, MAX_ADDRESSABLE);
  if (count > max) {
    const why = semmsl <= MAX_ADDRESSABLE ? "SEMMSL, this system's limit of semaphores in a set" : 'sem_num is 16-bit';
    throw outOfRange('options.count', `an integer >= 1 and <= ${max} (${why})`, value);
  }
  return count;
}

/** Where an existing set is found: its key or its id. */
export type SemaphoreSetOpenOptions = { key: number; id?: undefined } | { id: number; key?: undefined };

const CREATE_OPTIONS = optionNames<SemaphoreSetCreateOptions>()('key', 'count', 'mode', 'initial');
const OPEN_OPTIONS = optionNames<SemaphoreSetOpenOptions>()('key', 'id');

/** @internal Finds the id, key and size of an existing set; `call` is the opening call, for messages. */
export function openSet(options: unknown, call: string): { id: number; key: number; count: number } {
  const opts = validateOptions(options, OPEN_OPTIONS, call);
  if ((opts.id === undefined) === (opts.key === undefined)) throw invalidType('options', 'an object with either key or id', options);
  if (opts.id !== undefined) {
    const id = validateId(opts.id, 'options.id');
    const ds = semStatForOpen(id);
    return { id, key: ds.sem_perm.key, count: ds.sem_nsems };
  }
  const key = validateKey(opts.key, 'options.key');
  if (key === IPC_PRIVATE) throw outOfRange('options.key', 'a key other than IPC_PRIVATE (open a private set by id)', key);
  const id = semget(key, 0, 0);
  return { id, key, count: semStatForOpen(id).sem_nsems };
}

/**
 * @internal Creates a set exclusively, with its first values, in one call (a
 * worker terminated part way leaves nothing half made); removes it again if
 * the values fail.
 */
export function createSet(key: number, count: number, mode: number, first?: FirstValues): number {
  return semCreate(key, count, IPC_CREAT | IPC_EXCL | mode, first);
}

/**
 * A System V semaphore set: the high-level face of semget/semop/semctl.
 * {@link op} waits without blocking the event loop (any number of waits may
 * be pending at once), with a time limit and an AbortSignal.
 *
 * `using set = SemaphoreSet.open(...)` releases this process's handle at the
 * end of the block (pending waits of this handle reject); it never removes
 * the set, which outlives every process until {@link remove}.
 *
 * @example
 * ```ts
 * using set = SemaphoreSet.create({ key: 0x5005, count: 2, initial: [1, 0] });
 * await set.op([{ sem_num: 0, sem_op: -1 }, { sem_num: 1, sem_op: 1 }], { timeoutMs: 1000 });
 * set.remove();
 * ```
 */
export class SemaphoreSet extends SemaphoreHandle {
  /** Number of semaphores in the set. */
  readonly count: number;

  private constructor(id: number, key: number, count: number) {
    super('SemaphoreSet', id, key);
    this.count = count;
  }

  /**
   * Creates a new set (never reuses an existing one: EEXIST if the key is
   * taken) with `count` semaphores set to `initial`.
   * @throws RangeError ERR_OUT_OF_RANGE when `count` is above SEMMSL (checked
   *   before anything is allocated or created).
   * @throws IpcError EEXIST, ENOSPC, ERANGE (initial above SEMVMX).
   */
  static create(options: SemaphoreSetCreateOptions): SemaphoreSet {
    const opts = validateOptions(options, CREATE_OPTIONS, 'SemaphoreSet.create()');
    const key = opts.key === undefined ? IPC_PRIVATE : validateKey(opts.key, 'options.key');
    const count = validateCount(opts.count);
    const mode = validateMode(opts.mode ?? 0o600, 'options.mode');
    let initial: number[];
    if (opts.initial === undefined || typeof opts.initial === 'number') {
      const value = opts.initial === undefined ? 0 : validateInteger(opts.initial, 'options.initial', 0, 0xffff);
      initial = new Array<number>(count).fill(value);
    } else if (Array.isArray(opts.initial)) {
      if (opts.initial.length !== count) {
        throw outOfRange('options.initial', `a number or an array of ${count} numbers (options.count)`, opts.initial);
      }
      initial = opts.initial.map((v: unknown, i: number) => validateInteger(v, `options.initial[${i}]`, 0, 0xffff));
    } else {
      throw invalidType('options.initial', 'a number or an array of numbers', opts.initial);
    }
    const id = createSet(key, count, mode, initial.some((v) => v !== 0) ? { setall: initial } : undefined);
    return new SemaphoreSet(id, key, count);
  }

  /**
   * Opens an existing set by key or id.
   * @throws IpcError ENOENT (no such key), EINVAL/EIDRM (no such id), EACCES.
   */
  static open(options: SemaphoreSetOpenOptions): SemaphoreSet {
    const { id, key, count } = openSet(options, 'SemaphoreSet.open()');
    return new SemaphoreSet(id, key, count);
  }

  #index(i: unknown, name: string): number {
    return validateInteger(i, name, 0, this.count - 1);
  }

  /**
   * Performs `ops` atomically (all or none), waiting as long as it takes
   * without blocking the event loop. Each op is `{ sem_num, sem_op, sem_flg? }`
   * as for semop: a negative sem_op waits until the value can be lowered, 0
   * waits for zero; `sem_flg` takes SEM_UNDO and IPC_NOWAIT (reject with
   * EAGAIN instead of waiting).
   *
   * With `timeoutMs` the promise rejects with code `'ETIMEDOUT'`; with
   * `signal` it rejects with an `AbortError`. In both cases no semaphore has
   * changed: if the operation completed just as the abort came, it is given
   * back (the promise resolves instead only when that is impossible, such as
   * an increment another process already consumed).
   * @throws IpcError EIDRM (the set was removed while waiting), EINVAL, EAGAIN, ERANGE, E2BIG, EACCES.
   */
  async op(ops: readonly Sembuf[], options?: WaitOptions): Promise<void> {
    this.assertOpen('op');
    const packed = encodeSops(ops, 'ops');
    if (packed.length === 0) throw outOfRange('ops', 'an array of at least one operation', ops);
    for (let i = 0; i < packed.length; i += 3) this.#index(packed[i], `ops[${i / 3}].sem_num`);
    return waitOps(this.id, packed, validateWaitOptions(options), this.closedSignal, 'SemaphoreSet.op');
  }

  /** The value of semaphore `i` (GETVAL). */
  get(i: number): number {
    this.assertOpen('get');
    return semctl(this.id, this.#index(i, 'i'), GETVAL);
  }

  /**
   * Sets semaphore `i` to `value` (SETVAL); as in C, this clears every
   * process's SEM_UNDO adjustment for it.
   * @throws IpcError ERANGE when value is above SEMVMX.
   */
  set(i: number, value: number): void {
    this.assertOpen('set');
    const index = this.#index(i, 'i');
    semctl(this.id, index, SETVAL, validateInteger(value, 'value', 0, INT32_MAX));
  }
}
