import { check, outOfRange, stateError } from '../core/errors.js';
import { native, type MappingHandle } from '../core/native.js';
import { constants as bufferConstants } from 'node:buffer';
import { validateRange } from '../core/validate.js';
import { arrayBufferByteLength, copyBytes } from '../core/primordials.js';

const { MAX_LENGTH } = bufferConstants;

/** What a detached attachment holds instead of its buffer. */
const EMPTY = new ArrayBuffer(0);

/**
 * @internal The mapped memory of an attachment whatever its access mode, for
 * shmkit's own read paths (not exported from the package: a read-only
 * attachment must never hand its buffer to user code).
 */
export let memoryOf: (attachment: Attachment) => ArrayBuffer;

/** @internal Whether `value` is an Attachment (a brand check: inheriting its prototype is not enough). */
export let isAttachment: (value: unknown) => value is Attachment;

/**
 * A segment attached to this process (`shmat`). Its `buffer` is an ArrayBuffer
 * over the mapped memory itself: a byte another process writes is visible
 * through any view at once, and the reverse.
 *
 * Safety: after {@link shmdt} every ArrayBuffer, TypedArray and DataView of it
 * is detached (byteLength 0) and cannot touch unmapped memory. An attachment
 * that becomes unreachable without `shmdt` is detached after the garbage
 * collector frees its buffer; a buffer the program still holds keeps its
 * mapping alive. A read-only
 * attachment never gives out a writable buffer: `buffer` throws and reading
 * goes through {@link Attachment.read}.
 */
export class Attachment {
  /** The id of the attached segment. */
  readonly shmid: number;
  /** Whether it was attached with SHM_RDONLY. */
  readonly readOnly: boolean;
  /** Where the segment is mapped in this process (what C's shmat returns). */
  readonly address: bigint;
  #buffer: ArrayBuffer;
  readonly #handle: MappingHandle;
  #detached = false;

  /** @internal Made by {@link shmat}. */
  constructor(shmid: number, readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint) {
    this.shmid = shmid;
    this.readOnly = readOnly;
    this.#buffer = buffer;
    this.#handle = handle;
    this.address = address;
  }

  /**
   * The mapped segment, zero-copy. Length 0 once detached.
   * @throws StateError ERR_SHM_READ_ONLY on a read-only attachment (an
   *   ArrayBuffer is always writable, and a write there would be SIGSEGV).
   */
  get buffer(): ArrayBuffer {
    if (this.readOnly) {
      throw stateError(
        'ERR_SHM_READ_ONLY',
        `shmat: segment ${this.shmid} is attached read-only (SHM_RDONLY), so it has no writable buffer; use read()`,
      );
    }
    return this.#buffer;
  }

  /** The segment's size in bytes (shm_segsz), 0 once detached. */
  get byteLength(): number {
    return arrayBufferByteLength(this.#buffer);
  }

  /** True after shmdt, or if the buffer was transferred away (ArrayBuffer.prototype.transfer). */
  get detached(): boolean {
    return this.#detached || arrayBufferByteLength(this.#buffer) === 0;
  }

  /** Copies `length` bytes from `offset` (default: to the end). Works on read-only attachments. */
  read(offset = 0, length?: number): Uint8Array {
    this.assertAttached('read');
    const [start, count] = validateRange(offset, length, arrayBufferByteLength(this.#buffer));
    if (count > MAX_LENGTH) {
      // Checked before copying: a copy this large could not be returned anyway.
      throw outOfRange(
        length === undefined ? 'length (default: to the end)' : 'length',
        `<= ${MAX_LENGTH}, the most one Uint8Array holds in this Node.js (buffer.constants.MAX_LENGTH); read a large segment in parts`,
        count,
      );
    }
    // Captured built-ins only: the private buffer never meets user code (src/core/primordials.ts).
    return copyBytes(this.#buffer, start, count);
  }

  static {
    memoryOf = (attachment) => attachment.#buffer;
    isAttachment = (value): value is Attachment => typeof value === 'object' && value !== null && #handle in value;
  }

  /** @internal */
  assertAttached(operation: string): void {
    if (this.#detached) {
      throw stateError('ERR_SHM_DETACHED', `${operation}: segment ${this.shmid} was detached (shmdt)`);
    }
    if (arrayBufferByteLength(this.#buffer) === 0) {
      throw stateError('ERR_SHM_TRANSFERRED', `${operation}: the buffer of segment ${this.shmid} was transferred to another ArrayBuffer`);
    }
  }

  /** @internal Used by shmdt. */
  detach(): void {
    const result = native.shmdt(this.#handle, this.#buffer);
    check(result, 'shmdt', (code) =>
      code === 'EBUSY'
        ? `the buffer of segment ${this.shmid} at 0x${this.address.toString(16)} was transferred to another ArrayBuffer; the segment is detached when that one is garbage-collected`
        : `segment ${this.shmid} at 0x${this.address.toString(16)} is not attached (already detached?)`,
    );
    this.#detached = true;
    // Let go of the emptied buffer: while its object lives, the address range
    // stays reserved (native/mapping.cc), for native work that may still write there.
    this.#buffer = EMPTY;
  }

  get [Symbol.toStringTag](): string {
    return `Attachment shmid=${this.shmid}${this.readOnly ? ' read-only' : ''}${this.detached ? ' detached' : ''}`;
  }
}
