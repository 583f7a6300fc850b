// What an attachment (shmat) and a mapping (mmap) share: an ArrayBuffer over
// memory mapped into this process, emptied when it is unmapped, never handed
// out writable when the memory is read-only.
import { constants as bufferConstants } from 'node:buffer';
import { check, outOfRange, stateError } from './errors.js';
import type { MappingHandle } from './native.js';
import { arrayBufferByteLength, copyBytes } from './primordials.js';
import { validateRange } from './validate.js';

const { MAX_LENGTH } = bufferConstants;

/** What an unmapped memory holds instead of its buffer. */
const EMPTY = new ArrayBuffer(0);

/** How a kind of mapped memory names itself in error messages (not exported from the package root). */
export interface MappedWords {
  /** The memory: `segment 5`, `/name`, `fd 7`. */
  readonly what: string;
  /** What a large one is: `segment`, `mapping`. */
  readonly noun: string;
  /** How it went: `detached (shmdt)`, `unmapped (munmap)`. */
  readonly gone: string;
  /** Why a read-only one has no buffer. */
  readonly readOnly: string;
}

/**
 * @internal The mapped memory whatever its protection, for shmkit's own read
 * paths (not exported from the package: a read-only mapping must never hand
 * its buffer to user code).
 */
export let mappedBuffer: (memory: MappedMemory) => ArrayBuffer;

/**
 * @internal Whether the memory is read-only, from state user code cannot
 * change: shmkit's own write guards ask this, never the public `readOnly`
 * getter, which a program may shadow or redefine (an own property, a patched
 * prototype). A write that got past a guard would be SIGSEGV.
 */
export let isReadOnly: (memory: MappedMemory) => boolean;

/** Base of Attachment and Mapping (not exported from the package root). */
export abstract class MappedMemory {
  /**
   * Whether the memory is mapped without write access. Private, behind a
   * getter: the buffer of read-only memory is an ordinary (writable)
   * ArrayBuffer over pages the kernel maps read-only, so the guards must not
   * rest on a property user code can set.
   */
  readonly #readOnly: boolean;
  /** Where it is mapped in this process (what C's shmat or mmap returns). */
  readonly address: bigint;
  #buffer: ArrayBuffer;
  readonly #handle: MappingHandle;
  readonly #words: MappedWords;
  #gone = false;
  /** Called when it is about to be unmapped (see beforeUnmap). */
  #onUnmap: Set<() => void> | undefined;

  constructor(readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint, words: MappedWords) {
    this.#readOnly = readOnly;
    this.#buffer = buffer;
    this.#handle = handle;
    this.address = address;
    this.#words = words;
  }

  /**
   * The mapped memory, zero-copy. Length 0 once unmapped.
   * @throws StateError ERR_SHM_READ_ONLY on read-only memory (an ArrayBuffer
   *   is always writable, and a write there would be SIGSEGV).
   */
  get buffer(): ArrayBuffer {
    if (this.#readOnly) throw stateError('ERR_SHM_READ_ONLY', this.#words.readOnly);
    if (!this.#gone) this.checkIntact('buffer');
    return this.#buffer;
  }

  /** Whether the memory is mapped without write access. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** The mapped length in bytes, 0 once unmapped. */
  get byteLength(): number {
    return arrayBufferByteLength(this.#buffer);
  }

  /** True once unmapped, or if the buffer was transferred away (ArrayBuffer.prototype.transfer). */
  get detached(): boolean {
    return this.#gone || arrayBufferByteLength(this.#buffer) === 0;
  }

  /** @internal Whether the buffer was transferred away while mapped: the memory went with it. */
  get transferred(): boolean {
    return !this.#gone && arrayBufferByteLength(this.#buffer) === 0;
  }

  /** Copies `length` bytes from `offset` (default: to the end). Works on read-only memory. */
  read(offset = 0, length?: number): Uint8Array {
    this.assertAttached('read');
    const [start, count] = validateRange(offset, length, arrayBufferByteLength(this.#buffer));
    if (count > MAX_LENGTH) {
      // Checked before copying: a copy this large could not be returned anyway.
      throw outOfRange(
        length === undefined ? 'length (default: to the end)' : 'length',
        `<= ${MAX_LENGTH}, the most one Uint8Array holds in this Node.js (buffer.constants.MAX_LENGTH); read a large ${this.#words.noun} in parts`,
        count,
      );
    }
    // Captured built-ins only: the private buffer never meets user code (src/core/primordials.ts).
    const bytes = copyBytes(this.#buffer, start, count);
    // After the copy, so that one check covers a page gone before and one the copy faulted on (a mapping of a file: see Mapping).
    this.checkIntact('read');
    return bytes;
  }

  /**
   * @internal Throws if the memory no longer is what other processes see
   * (a page of a mapped file the kernel could not supply: src/posix/mapping.ts).
   * System V memory never is: nothing to check.
   */
  checkIntact(_operation: string): void {}

  static {
    mappedBuffer = (memory) => memory.#buffer;
    isReadOnly = (memory) => memory.#readOnly;
  }

  /** @internal */
  assertAttached(operation: string): void {
    const { what, gone } = this.#words;
    if (this.#gone) throw stateError('ERR_SHM_DETACHED', `${operation}: ${what} was ${gone}`);
    if (arrayBufferByteLength(this.#buffer) === 0) {
      throw stateError('ERR_SHM_TRANSFERRED', `${operation}: the buffer of ${what} was transferred to another ArrayBuffer`);
    }
  }

  /**
   * @internal Calls `callback` when the memory is about to be unmapped (at
   * once if it is already): a futex wait on one of its words could never be
   * woken after that. Before, not after: a waiter thread is woken by a
   * FUTEX_WAKE on the word, which must still be the shared memory's (once
   * unmapped, the range holds other memory, whose futexes are other ones).
   * Returns what takes the call back.
   */
  beforeUnmap(callback: () => void): () => void {
    if (this.#gone) {
      callback();
      return () => {};
    }
    const callbacks = (this.#onUnmap ??= new Set());
    callbacks.add(callback);
    return () => callbacks.delete(callback);
  }

  /**
   * Unmaps through `unmap` (native.shmdt or native.munmap); `describe` words
   * its failure. The emptied buffer is let go of: while its object lives, the
   * address range stays reserved (native/mapping.cc), for native work that may
   * still write there.
   */
  protected unmapWith(
    syscall: string,
    unmap: (handle: MappingHandle, buffer: ArrayBuffer) => number,
    describe: (code: string) => string,
  ): void {
    const callbacks = this.#onUnmap;
    this.#onUnmap = undefined;
    if (callbacks !== undefined) for (const callback of callbacks) callback();
    check(unmap(this.#handle, this.#buffer), syscall, describe);
    this.#gone = true;
    this.#buffer = EMPTY;
  }
}
