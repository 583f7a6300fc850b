import { IPC_RMID, IPC_STAT } from '../sysv/constants.js';
import { semctl, type SemidDs } from '../sysv/sem.js';
import { closeController, closedError } from '../core/wait-options.js';
import { semSetRemoved } from './wait-queue.js';

/**
 * What SemaphoreSet, Semaphore and Mutex share: this process's handle on one
 * kernel semaphore set. Disposing the handle rejects its pending waits
 * (`ERR_SEM_CLOSED`) and never removes the set; removal is explicit.
 */
export abstract class SemaphoreHandle implements Disposable {
  /** The set's id (semid). */
  readonly id: number;
  /** The key it was found or created by (0 for IPC_PRIVATE). */
  readonly key: number;
  readonly #closed = closeController();
  readonly #className: string;

  protected constructor(className: string, id: number, key: number) {
    this.#className = className;
    this.id = id;
    this.key = key;
  }

  /** Aborted when the handle is disposed: pending waits listen to it. */
  protected get closedSignal(): AbortSignal {
    return this.#closed.signal;
  }

  /** Throws `ERR_SEM_CLOSED` once the handle is disposed. */
  protected assertOpen(what: string): void {
    if (this.#closed.signal.aborted) throw closedError('ERR_SEM_CLOSED', `${this.#className}.${what}`);
  }

  /** Called after a successful IPC_RMID, to forget per-process state. */
  protected onRemoved(): void {}

  /** The kernel's view of the set (IPC_STAT). */
  stat(): SemidDs {
    this.assertOpen('stat');
    return semctl(this.id, 0, IPC_STAT);
  }

  /**
   * Removes the set (IPC_RMID) at once, for every process: pending waits,
   * here and elsewhere, reject with EIDRM. A wait whose operation the
   * kernel had completed just before resolves instead (the units were taken).
   */
  remove(): void {
    this.assertOpen('remove');
    semctl(this.id, 0, IPC_RMID);
    semSetRemoved(this.id);
    this.onRemoved();
  }

  /** Whether `[Symbol.dispose]()` was called. */
  get closed(): boolean {
    return this.#closed.signal.aborted;
  }

  /** Releases this handle: its pending waits reject (`ERR_SEM_CLOSED`) and later calls throw it. The set stays. */
  [Symbol.dispose](): void {
    this.#closed.abort();
  }
}
