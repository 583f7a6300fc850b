import { GETVAL, IPC_NOWAIT, IPC_PRIVATE, SEM_UNDO } from '../sysv/constants.js';
import { semctl, trySemop } from '../sysv/sem.js';
import { createSet, openSet, type SemaphoreSetOpenOptions } from './semaphore-set.js';
import { invalidType } from '../core/errors.js';
import { optionNames, validateInteger, validateKey, validateMode, validateObject, validateOptions } from '../core/validate.js';
import { SemaphoreHandle } from './semaphore-handle.js';
import { validateWaitOptions, type WaitOptions } from '../core/wait-options.js';
import { waitOps } from './wait-queue.js';

// One unit down, packed once (the operations of every acquire and tryAcquire).
const TAKE = Int32Array.of(0, -1, 0);
const TAKE_UNDO = Int32Array.of(0, -1, SEM_UNDO);
const TRY_TAKE = Int32Array.of(0, -1, IPC_NOWAIT);
const TRY_TAKE_UNDO = Int32Array.of(0, -1, IPC_NOWAIT | SEM_UNDO);

/** Options of {@link Semaphore.create}. */
export interface SemaphoreCreateOptions {
  /** A System V key; default IPC_PRIVATE (reachable only by id). */
  key?: number | undefined;
  /** Initial value (0..SEMVMX); default 0. */
  initial?: number | undefined;
  /** Permission bits; default 0o600. */
  mode?: number | undefined;
}

const CREATE_OPTIONS = optionNames<SemaphoreCreateOptions>()('key', 'initial', 'mode');

/** Options of {@link Semaphore.acquire}. */
export interface AcquireOptions extends WaitOptions {
  /**
   * Acquire with SEM_UNDO: if this process dies holding it, the kernel gives
   * it back. Later {@link Semaphore.release} calls in this process balance
   * such acquisitions first. Default false.
   */
  undo?: boolean | undefined;
}

/**
 * Units acquired with SEM_UNDO and not yet released, per set, in this
 * thread. The kernel keeps one undo adjustment per process and set, so a
 * release must carry SEM_UNDO for as many units, or the kernel would add
 * them a second time when the process exits. Module state is per thread
 * (each worker loads its own copy): a unit acquired in one thread and
 * released in another is not balanced (the docs say so).
 */
const undoHeld = new Map<number, number>();

/**
 * A counting semaphore shared between processes (a System V set of one).
 * `acquire()` waits without blocking the event loop.
 *
 * `using sem = Semaphore.open(...)` releases this handle at the end of the
 * block (its pending acquires reject); it neither releases units nor removes
 * the semaphore, which stays until {@link remove}.
 *
 * @example
 * ```ts
 * const slots = Semaphore.create({ key: 0x5006, initial: 3 });
 * await slots.acquire({ undo: true, timeoutMs: 5000 });
 * try { work(); } finally { slots.release(); }
 * ```
 */
export class Semaphore extends SemaphoreHandle {
  private constructor(id: number, key: number) {
    super('Semaphore', id, key);
  }

  /**
   * Creates a new semaphore (EEXIST if the key is taken) with value `initial`.
   * @throws IpcError EEXIST, ENOSPC, ERANGE (initial above SEMVMX).
   */
  static create(options: SemaphoreCreateOptions = {}): Semaphore {
    const opts = validateOptions(options, CREATE_OPTIONS, 'Semaphore.create()');
    const key = opts.key === undefined ? IPC_PRIVATE : validateKey(opts.key, 'options.key');
    const initial = opts.initial === undefined ? 0 : validateInteger(opts.initial, 'options.initial', 0, 0x7fff_ffff);
    const mode = validateMode(opts.mode ?? 0o600, 'options.mode');
    const id = createSet(key, 1, mode, initial !== 0 ? { setval: initial } : undefined);
    return new Semaphore(id, key);
  }

  /**
   * Opens an existing semaphore by key or id (semaphore 0 of the set).
   * @throws IpcError ENOENT, EINVAL/EIDRM, EACCES.
   */
  static open(options: SemaphoreSetOpenOptions): Semaphore {
    const { id, key } = openSet(options, 'Semaphore.open()');
    return new Semaphore(id, key);
  }

  /** The current value (GETVAL). */
  get value(): number {
    this.assertOpen('value');
    return semctl(this.id, 0, GETVAL);
  }

  /**
   * Takes one unit, waiting (without blocking the event loop) until there is
   * one. `timeoutMs` rejects with code `'ETIMEDOUT'`, `signal` with an
   * `AbortError`; either way the value is as if acquire had never been called.
   * @throws IpcError EIDRM (removed while waiting), EINVAL, EACCES.
   */
  async acquire(options?: AcquireOptions): Promise<void> {
    this.assertOpen('acquire');
    const undo = undoOption(options);
    await waitOps(this.id, undo ? TAKE_UNDO : TAKE, validateWaitOptions(options), this.closedSignal, 'Semaphore.acquire');
    if (undo) undoHeld.set(this.id, (undoHeld.get(this.id) ?? 0) + 1);
  }

  /** Takes one unit if there is one now; never waits. */
  tryAcquire(options?: { undo?: boolean }): boolean {
    this.assertOpen('tryAcquire');
    const undo = undoOption(options);
    if (!trySemop(this.id, undo ? TRY_TAKE_UNDO : TRY_TAKE)) return false;
    if (undo) undoHeld.set(this.id, (undoHeld.get(this.id) ?? 0) + 1);
    return true;
  }

  /**
   * Gives back `n` units (default 1), waking waiters. Units this process
   * acquired with `undo` are released with SEM_UNDO, so the kernel's undo
   * record stays exact.
   * @throws IpcError ERANGE (the value would exceed SEMVMX), EIDRM, EINVAL.
   */
  release(n = 1): void {
    this.assertOpen('release');
    validateInteger(n, 'n', 1, 0x7fff);
    const held = undoHeld.get(this.id) ?? 0;
    const withUndo = Math.min(n, held);
    const ops: number[] = [];
    if (withUndo > 0) ops.push(0, withUndo, SEM_UNDO | IPC_NOWAIT);
    if (n > withUndo) ops.push(0, n - withUndo, IPC_NOWAIT);
    // IPC_NOWAIT on increments: never EAGAIN, never a wait.
    trySemop(this.id, Int32Array.from(ops));
    if (withUndo > 0) undoHeld.set(this.id, held - withUndo);
  }

  protected override onRemoved(): void {
    undoHeld.delete(this.id);
  }
}

function undoOption(options: unknown): boolean {
  if (options === undefined) return false;
  const opts = validateObject(options, 'options');
  if (opts.undo !== undefined && typeof opts.undo !== 'boolean') throw invalidType('options.undo', 'of type boolean', opts.undo);
  return opts.undo === true;
}
