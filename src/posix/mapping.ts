import { constants as osConstants } from 'node:os';
import { ipcError } from '../core/errors.js';
import { MappedMemory, mappedBuffer } from '../core/mapped-memory.js';
import { native, type MappingHandle } from '../core/native.js';

/** si_code of a SIGBUS for memory with a hardware error (poisoned), as the guard records it. */
const BUS_MCEERR_AR = 4;
/** How many reservations a mapping of a file with holes makes between looks at whether it still has any. */
const RESERVES_PER_LOOK = 64;
const PAGE = native.constants.PAGE_SIZE ?? 4096;

/** What the SIGBUS guard recorded for a mapping: its first page the kernel could not supply. */
interface Fault {
  readonly offset: number;
  readonly code: number;
}

/**
 * @internal The mapped memory whatever its protection, for shmkit's own read
 * paths (not exported from the package: a read-only mapping must never hand
 * its buffer to user code).
 */
export const memoryOfMapping: (mapping: Mapping) => ArrayBuffer = (mapping) => mappedBuffer(mapping);

/** @internal Whether `value` is a Mapping (a brand check: inheriting its prototype is not enough). */
export let isMapping: (value: unknown) => value is Mapping;

/**
 * A file descriptor's memory mapped into this process ({@link mmap}): a POSIX
 * shared-memory object or a memfd. Its `buffer` is an ArrayBuffer over the
 * mapped memory itself, shared with every other mapping (MAP_SHARED).
 *
 * Safety, as for an {@link Attachment}: after {@link munmap} every
 * ArrayBuffer, TypedArray and DataView of it is empty (byteLength 0); a
 * mapping that becomes unreachable is unmapped after the garbage collector
 * frees its buffer; a read-only mapping (PROT_READ) never gives out a
 * writable buffer. Should the file shrink under the mapping (another process
 * ftruncates it), the pages past its new end read as zeros here instead of
 * killing the process with SIGBUS, and what is written there stays in this
 * process: seal a memfd with F_SEAL_SHRINK to rule that out.
 *
 * A page inside the file that the kernel cannot supply when it is touched
 * (/dev/shm full under an object with holes, as Python's SharedMemory and C's
 * ftruncate make them) gets the same zeroed page of this process's own, but
 * is not taken silently: the next call on the mapping (`read`, `buffer`, a
 * struct view, write or read, `munmap`) throws IpcError ENOSPC naming the
 * offset. shmkit's own writes reserve their pages first, so that a full
 * /dev/shm fails them with nothing written.
 */
export class Mapping extends MappedMemory {
  /** @internal What error messages call it: "fd 7", "/name". */
  readonly label: string;
  readonly #brand = true;
  readonly #handle: MappingHandle;
  /** Whether shmkit's writes reserve their pages first: a writable shared mapping of a file with holes. */
  #reserving: boolean;
  #reserves = 0;
  /** sigbusInsideFaults() when this mapping last asked. */
  #seen: number;
  #fault: Fault | undefined;
  /** Whether an error has told the program of #fault. */
  #told = false;

  /**
   * @internal Made by {@link mmap}. The constructor is private, so that the
   * published types offer no way to call it. `reserve`: a writable shared
   * mapping of a file with holes, whose pages shmkit's writes reserve first.
   */
  static make(label: string, readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint, reserve: boolean): Mapping {
    return new Mapping(label, readOnly, buffer, handle, address, reserve);
  }

  private constructor(label: string, readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint, reserve: boolean) {
    super(readOnly, buffer, handle, address, {
      what: label,
      noun: 'mapping',
      gone: 'unmapped (munmap)',
      readOnly: `mmap: ${label} is mapped read-only (PROT_READ), so it has no writable buffer; use read()`,
    });
    this.label = label;
    this.#handle = handle;
    this.#reserving = reserve;
    // A range is asked for its own record only: an older count merely costs one question.
    this.#seen = native.sigbusInsideFaults();
  }

  static {
    isMapping = (value): value is Mapping => typeof value === 'object' && value !== null && #brand in value;
  }

  /** The guard's record for this mapping, asked for only when the process's count of such faults moved. */
  #faulted(): Fault | undefined {
    if (this.#fault !== undefined) return this.#fault;
    const seen = native.sigbusInsideFaults();
    if (seen === this.#seen) return undefined;
    this.#seen = seen;
    const fault = native.mappingFault(this.#handle);
    if (fault !== 0) this.#fault = { offset: fault[0], code: fault[1] };
    return this.#fault;
  }

  /**
   * @internal Throws IpcError ENOSPC (EIO for a hardware error) once the
   * SIGBUS guard has put a page of this process's own where the kernel could
   * not supply the file's (native/sigbus.cc): from then on the mapping no
   * longer shows the object there, and whatever was written there is lost.
   */
  override checkIntact(operation: string): void {
    const fault = this.#faulted();
    if (fault === undefined) return;
    this.#told = true;
    throw faultError(operation, this.label, fault);
  }

  /**
   * @internal Before shmkit itself writes `length` bytes at `start`: reserves
   * their pages in the file (fallocate), so that a full /dev/shm is IpcError
   * ENOSPC now, with nothing written, and never a page this process alone sees.
   */
  reserve(operation: string, start: number, length: number): void {
    // Only here is a mapping already at fault refused before the copy: the caller checks after it anyway (one call less on the common path).
    if (!this.#reserving || length === 0) return;
    this.checkIntact(operation);
    const result = native.reserveRange(this.#handle, start, length);
    if (result < 0) {
      const errno = -result;
      // A file system without fallocate, or a memfd sealed against growth
      // shrunk under the mapping: nothing to reserve with; the guard still reports.
      if (errno === osConstants.errno.EOPNOTSUPP || errno === osConstants.errno.ENOSYS || errno === osConstants.errno.EPERM) return;
      const range = `${this.label}, offset ${start}, length ${length}`;
      throw ipcError(
        'fallocate',
        errno,
        errno === osConstants.errno.ENOSPC
          ? `${operation}: ${range}: not enough room in /dev/shm (tmpfs) for these pages, which the object did not have yet (it has holes: sized by ftruncate alone, as Python's SharedMemory and C programs make them); nothing was written. Free room in /dev/shm or make it larger (df -h /dev/shm; in Docker, --shm-size)`
          : `${operation}: ${range}: reserving the pages before writing them; nothing was written`,
      );
    }
    // Once the file has no holes left, writes need not reserve (a hole made later still faults, and is reported).
    if (++this.#reserves % RESERVES_PER_LOOK === 0) {
      const stat = native.mappingFileStat(this.#handle);
      if (typeof stat !== 'number' && !hasHoles(stat[0], stat[1])) this.#reserving = false;
    }
  }

  /** @internal Used by munmap (and `operation`, detach): a fault no error has told of yet is thrown once the memory is unmapped. */
  unmap(operation = 'munmap'): void {
    const fault = this.#told ? undefined : this.#faulted();
    const at = `0x${this.address.toString(16)}`;
    this.unmapWith(
      'munmap',
      (handle, buffer) => native.munmap(handle, buffer),
      (code) =>
        code === 'EBUSY'
          ? `the buffer of ${this.label} at ${at} was transferred to another ArrayBuffer; it is unmapped when that one is garbage-collected`
          : `${this.label} at ${at} is not mapped (already unmapped?)`,
    );
    if (fault !== undefined) {
      this.#told = true;
      throw faultError(operation, this.label, fault);
    }
  }

  get [Symbol.toStringTag](): string {
    return `Mapping ${this.label}${this.readOnly ? ' read-only' : ''}${this.detached ? ' unmapped' : ''}`;
  }
}

/** @internal Whether a file of `size` bytes with `blocks` 512-byte blocks allocated lacks memory for some page (it has holes). */
export function hasHoles(size: number, blocks: number): boolean {
  return blocks * 512 < Math.ceil(size / PAGE) * PAGE;
}

function faultError(operation: string, label: string, fault: Fault): Error {
  const what =
    fault.code === BUS_MCEERR_AR
      ? `the memory under the page at offset ${fault.offset} has a hardware error (poisoned)`
      : `the kernel could not supply the page at offset ${fault.offset} when it was touched: /dev/shm (tmpfs) had no room for it (the object has holes, as ftruncate alone leaves; or an I/O error brought it back from swap)`;
  return ipcError(
    operation,
    fault.code === BUS_MCEERR_AR ? osConstants.errno.EIO : osConstants.errno.ENOSPC,
    `${label}: ${what}. shmkit's SIGBUS guard put a zeroed page of this process's own there instead of letting the process die: what was written there since reached no other process, and reads there show zeros, not the object. This mapping no longer shows the object: detach it and map it again once /dev/shm has room (df -h /dev/shm)`,
  );
}
