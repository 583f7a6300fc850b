import { MappedMemory, mappedBuffer } from '../core/mapped-memory.js';
import { native, type MappingHandle } from '../core/native.js';

/**
 * @internal The mapped memory of an attachment whatever its access mode, for
 * shmkit's own read paths (not exported from the package: a read-only
 * attachment must never hand its buffer to user code).
 */
export const memoryOf: (attachment: Attachment) => ArrayBuffer = (attachment) => mappedBuffer(attachment);

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
export class Attachment extends MappedMemory {
  /** The id of the attached segment. */
  readonly shmid: number;
  readonly #brand = true;

  /** @internal Made by {@link shmat}. The constructor is private, so that the published types offer no way to call it. */
  static make(shmid: number, readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint): Attachment {
    return new Attachment(shmid, readOnly, buffer, handle, address);
  }

  private constructor(shmid: number, readOnly: boolean, buffer: ArrayBuffer, handle: MappingHandle, address: bigint) {
    super(readOnly, buffer, handle, address, {
      what: `segment ${shmid}`,
      noun: 'segment',
      gone: 'detached (shmdt)',
      readOnly: `shmat: segment ${shmid} is attached read-only (SHM_RDONLY), so it has no writable buffer; use read()`,
    });
    this.shmid = shmid;
  }

  static {
    isAttachment = (value): value is Attachment => typeof value === 'object' && value !== null && #brand in value;
  }

  /** @internal Used by shmdt. */
  detach(): void {
    const at = `0x${this.address.toString(16)}`;
    this.unmapWith(
      'shmdt',
      (handle, buffer) => native.shmdt(handle, buffer),
      (code) =>
        code === 'EBUSY'
          ? `the buffer of segment ${this.shmid} at ${at} was transferred to another ArrayBuffer; the segment is detached when that one is garbage-collected`
          : `segment ${this.shmid} at ${at} is not attached (already detached?)`,
    );
  }

  get [Symbol.toStringTag](): string {
    return `Attachment shmid=${this.shmid}${this.readOnly ? ' read-only' : ''}${this.detached ? ' detached' : ''}`;
  }
}
