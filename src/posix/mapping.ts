import { constants as bufferConstants } from 'node:buffer';
import { check, outOfRange, stateError } from '../core/errors.js';
import { native, type MappingHandle } from '../core/native.js';
import { validateRange } from '../core/validate.js';
import { arrayBufferByteLength, copyBytes } from '../core/primordials.js';

const { MAX_LENGTH } = bufferConstants;

/** What an unmapped Mapping holds instead of its buffer. */
const EMPTY = new ArrayBuffer(0);

/**
 * @internal The mapped memory whatever its protection, for shmkit's own read
 * paths (not exported from the package: a read-only mapping must never hand
 * its buffer to user code).
 */
export let memoryOfMapping: (mapping: Mapping) => ArrayBuffer;

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
export class Mapping {
  /** Whether it was mapped without PROT_WRITE. */
  readonly readOnly: boolean;
  /** Where it is mapped in this process (what C's mmap returns). */
  readonly address: bigint;
  /** @internal What error messages call it: "fd 7", "/name". */
  readonly label: string;
  #buffer: ArrayBuffer;
  readonly #handle: MappingHandle;
  #unmapped = false;

  /** @internal Made by {@link mmap}. */
  constructor(label: string, readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint) {
    this.label = label;
    this.readOnly = readOnly;
    this.#buffer = buffer;
    this.#handle = handle;
    this.address = address;
  }

  /**
   * The mapped memory, zero-copy. Length 0 once unmapped.
   * @throws StateError ERR_SHM_READ_ONLY on a read-only mapping (an
   *   ArrayBuffer is always writable, and a write there would be SIGSEGV).
   */
  get buffer(): ArrayBuffer {
    if (this.readOnly) {
      throw stateError(
        'ERR_SHM_READ_ONLY',
        `mmap: ${this.label} is mapped read-only (PROT_READ), so it has no writable buffer; use read()`,
      );
    }
    return this.#buffer;
  }

  /** The mapped length in bytes, 0 once unmapped. */
  get byteLength(): number {
    return arrayBufferByteLength(this.#buffer);
  }

  /** True after munmap, or if the buffer was transferred away (ArrayBuffer.prototype.transfer). */
  get detached(): boolean {
    return this.#unmapped || arrayBufferByteLength(this.#buffer) === 0;
  }

  /** Copies `length` bytes from `offset` (default: to the end). Works on read-only mappings. */
  read(offset = 0, length?: number): Uint8Array {
    this.assertAttached('read');
    const [start, count] = validateRange(offset, length, arrayBufferByteLength(this.#buffer));
    if (count > MAX_LENGTH) {
      throw outOfRange(
        length === undefined ? 'length (default: to the end)' : 'length',
        `<= ${MAX_LENGTH}, the most one Uint8Array holds in this Node.js (buffer.constants.MAX_LENGTH); read a large mapping in parts`,
        count,
      );
    }
    // Captured built-ins only: the private buffer never meets user code (src/core/primordials.ts).
    return copyBytes(this.#buffer, start, count);
  }

  static {
    memoryOfMapping = (mapping) => mapping.#buffer;
    isMapping = (value): value is Mapping => typeof value === 'object' && value !== null && #handle in value;
  }

  /** @internal */
  assertAttached(operation: string): void {
    if (this.#unmapped) throw stateError('ERR_SHM_DETACHED', `${operation}: ${this.label} was unmapped (munmap)`);
    if (arrayBufferByteLength(this.#buffer) === 0) {
      throw stateError('ERR_SHM_TRANSFERRED', `${operation}: the buffer of ${this.label} was transferred to another ArrayBuffer`);
    }
  }

  /** @internal Used by munmap. */
  unmap(): void {
    const result = native.munmap(this.#handle, this.#buffer);
    check(result, 'munmap', (code) =>
      code === 'EBUSY'
        ? `the buffer of ${this.label} at 0x${this.address.toString(16)} was transferred to another ArrayBuffer; it is unmapped when that one is garbage-collected`
        : `${this.label} at 0x${this.address.toString(16)} is not mapped (already unmapped?)`,
    );
    this.#unmapped = true;
    // Let go of the emptied buffer: while its object lives, the address range
    // stays reserved (native/mapping.cc), for native work that may still write there.
    this.#buffer = EMPTY;
  }

  get [Symbol.toStringTag](): string {
    return `Mapping ${this.label}${this.readOnly ? ' read-only' : ''}${this.detached ? ' unmapped' : ''}`;
  }
}
