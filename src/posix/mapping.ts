import { MappedMemory, mappedBuffer } from '../core/mapped-memory.js';
import { native, type MappingHandle } from '../core/native.js';

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
 */
export class Mapping extends MappedMemory {
  /** @internal What error messages call it: "fd 7", "/name". */
  readonly label: string;
  readonly #brand = true;

  /** @internal Made by {@link mmap}. The constructor is private, so that the published types offer no way to call it. */
  static make(label: string, readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint): Mapping {
    return new Mapping(label, readOnly, buffer, handle, address);
  }

  private constructor(label: string, readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint) {
    super(readOnly, buffer, handle, address, {
      what: label,
      noun: 'mapping',
      gone: 'unmapped (munmap)',
      readOnly: `mmap: ${label} is mapped read-only (PROT_READ), so it has no writable buffer; use read()`,
    });
    this.label = label;
  }

  static {
    isMapping = (value): value is Mapping => typeof value === 'object' && value !== null && #brand in value;
  }

  /** @internal Used by munmap. */
  unmap(): void {
    const at = `0x${this.address.toString(16)}`;
    this.unmapWith(
      'munmap',
      (handle, buffer) => native.munmap(handle, buffer),
      (code) =>
        code === 'EBUSY'
          ? `the buffer of ${this.label} at ${at} was transferred to another ArrayBuffer; it is unmapped when that one is garbage-collected`
          : `${this.label} at ${at} is not mapped (already unmapped?)`,
    );
  }

  get [Symbol.toStringTag](): string {
    return `Mapping ${this.label}${this.readOnly ? ' read-only' : ''}${this.detached ? ' unmapped' : ''}`;
  }
}
