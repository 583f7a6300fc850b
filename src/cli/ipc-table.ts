// Walking one of the kernel's IPC tables (segments, semaphore sets, message
// queues) as ipcs does: every slot up to the highest index in use, stat'ed
// by index.
import { IpcError } from '../index.js';

/** One object of a table: its id and what its *_STAT command returned. */
export interface TableEntry<D> {
  id: number;
  ds: D;
}

/**
 * Every object of a table, in the kernel's order. `stat(index, any)` is the
 * table's *_STAT_ANY (any = true, no read permission needed) or *_STAT
 * command. Kernels before 4.17 have no *_STAT_ANY (EINVAL everywhere): when
 * it finds nothing though `inUse` objects exist, list what this user may read.
 */
export function scanTable<D>(
  highestIndex: number,
  inUse: number,
  stat: (index: number, any: boolean) => { id: number } & D,
): TableEntry<D>[] {
  const scan = (any: boolean): TableEntry<D>[] => {
    const found: TableEntry<D>[] = [];
    for (let index = 0; index <= highestIndex; index++) {
      try {
        const { id, ...ds } = stat(index, any);
        found.push({ id, ds: ds as D });
      } catch (error) {
        // An empty slot (EINVAL), one removed meanwhile (EIDRM), or (without ANY) unreadable.
        if (!(error instanceof IpcError && ['EINVAL', 'EIDRM', 'EACCES'].includes(error.code))) throw error;
      }
    }
    return found;
  };
  const all = scan(true);
  return all.length === 0 && inUse > 0 ? scan(false) : all;
}
