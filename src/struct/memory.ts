// Where a struct lives: the memory behind an ArrayBuffer, a typed array, an
// Attachment, a SharedMemory, a Mapping (mmap) or a PosixSharedMemory, and
// the errors for memory that went away or may not be written. A read-only
// attachment's or mapping's buffer stays inside the views: nothing here hands
// it to user code.
import { isAnyArrayBuffer } from 'node:util/types';
import { invalidType, outOfRange, stateError, type StateError } from '../core/errors.js';
import { attachmentOf, isSharedMemory, type SharedMemory } from '../shm/shared-memory.js';
import { isAttachment, memoryOf, type Attachment } from '../sysv/attachment.js';
import { isMapping, memoryOfMapping, type Mapping } from '../posix/mapping.js';
import { isPosixSharedMemory, mappingOf, type PosixSharedMemory } from '../shm/posix-shared-memory.js';
import { validateSize } from '../core/validate.js';
import { isDetachedBuffer } from '../core/bytes.js';
import { arrayBufferByteLength, dataViewByteOffset, DataViewCtor } from '../core/primordials.js';
import { isReadOnly } from '../core/mapped-memory.js';

/** Memory a struct can be viewed, read or written in. A `SharedMemory` or `PosixSharedMemory` also works when read-only. */
export type MemorySource = ArrayBuffer | SharedArrayBuffer | ArrayBufferView | SharedMemory | Attachment | PosixSharedMemory | Mapping;

/** @internal What a view remembers about its memory, for its error messages and checks. */
export interface Owner {
  readonly buffer: ArrayBufferLike;
  readonly readOnly: boolean;
  /** The attachment or mapping the memory belongs to, for its state (detached, read-only). */
  readonly attachment: Attachment | Mapping | undefined;
  /** Where the view's bytes end in `buffer`: a resizable ArrayBuffer may shrink below it. */
  readonly end: number;
}

/** @internal A struct's bytes: a DataView over exactly them, and their owner. */
export interface Region {
  readonly dv: DataView;
  readonly owner: Owner;
}

/**
 * @internal Resolves `source` and checks that `size` bytes at `offset` fit.
 * @throws StateError ERR_SHM_DETACHED for detached memory.
 */
export function regionOf(source: unknown, offset: unknown, size: number, operation: string): Region {
  let attachment: Attachment | Mapping | undefined;
  let buffer: ArrayBufferLike;
  let base = 0;
  let limit: number;
  // Brand checks: an object that only inherits a prototype has none of the private state.
  if (isSharedMemory(source)) attachment = attachmentOf(source);
  else if (isAttachment(source)) attachment = source;
  else if (isPosixSharedMemory(source)) attachment = mappingOf(source);
  else if (isMapping(source)) attachment = source;
  if (attachment !== undefined) {
    attachment.assertAttached(operation);
    // A mapped file's page this process alone now sees (native/sigbus.cc) is reported, not read or written over.
    attachment.checkIntact(operation);
    buffer = isMapping(attachment) ? memoryOfMapping(attachment) : memoryOf(attachment);
    // Captured built-ins: a read-only attachment's buffer never meets user code.
    limit = arrayBufferByteLength(buffer);
  } else if (isAnyArrayBuffer(source)) {
    // A brand check: an object that only inherits from ArrayBuffer.prototype is not memory.
    buffer = source;
    limit = buffer.byteLength;
    if (limit === 0 && isDetachedBuffer(buffer)) throw detachedError(operation);
  } else if (ArrayBuffer.isView(source)) {
    buffer = source.buffer;
    if (isDetachedBuffer(buffer)) throw detachedError(operation);
    base = source.byteOffset;
    limit = source.byteLength;
  } else {
    throw invalidType(
      'source',
      'an ArrayBuffer, a TypedArray, a DataView, a SharedMemory, an Attachment, a PosixSharedMemory or a Mapping',
      source,
    );
  }
  const start = validateSize(offset, 'offset');
  // Memory smaller than the struct is the source's fault, at any offset.
  if (size > limit) throw outOfRange('source', `at least ${size} bytes (the struct's size); it has ${limit}`, source);
  if (start + size > limit) {
    throw outOfRange('offset', `<= ${limit - size} (the memory's ${limit} bytes less the struct's ${size})`, start);
  }
  // Private state, not the public `readOnly`, which user code can redefine: a
  // writable view over read-only memory would be SIGSEGV on its first write.
  const owner: Owner = {
    buffer,
    readOnly: attachment !== undefined && isReadOnly(attachment),
    attachment,
    end: base + start + size,
  };
  return { dv: new DataViewCtor(buffer, base + start, size), owner };
}

function detachedError(operation: string): StateError {
  return stateError('ERR_SHM_DETACHED', `${operation}: the memory was detached (shmdt), so it can no longer be accessed`);
}

/**
 * @internal The error to report for `error`, thrown while a view touched its
 * memory: a StateError when the memory was detached under it, else `error`.
 */
export function fault(owner: Owner, error: unknown, operation = 'struct view'): unknown {
  if (owner.attachment !== undefined) {
    if (owner.attachment.detached) {
      try {
        owner.attachment.assertAttached(operation);
      } catch (stateError) {
        return stateError;
      }
    }
  } else if (owner.buffer.byteLength === 0) {
    return detachedError(operation);
  } else if (owner.buffer.byteLength < owner.end) {
    // A resizable ArrayBuffer shrunk under the view: V8's TypeError has no code.
    return stateError(
      'ERR_SHM_DETACHED',
      `${operation}: the memory shrank to ${owner.buffer.byteLength} bytes (ArrayBuffer resize), so the struct's bytes up to ${owner.end} are gone`,
    );
  }
  return error;
}

/**
 * @internal Before shmkit writes a struct's `size` bytes at `offset` of a
 * mapped file (a whole-value write, or a writable view made): their pages
 * are reserved first, so that a full /dev/shm is IpcError ENOSPC now.
 */
export function reserveFor(owner: Owner, operation: string, dv: DataView, size: number): void {
  const memory = owner.attachment;
  if (memory !== undefined && isMapping(memory)) memory.reserve(operation, dataViewByteOffset(dv), size);
}

/** @internal After shmkit read or wrote a mapped file: a page that faulted meanwhile is reported (Mapping.checkIntact). */
export function checkIntact(owner: Owner, operation: string): void {
  owner.attachment?.checkIntact(operation);
}

/** @internal The error for writing through a read-only attachment. */
export function readOnlyError(owner: Owner, what: string): StateError {
  const memory = owner.attachment;
  return stateError(
    'ERR_SHM_READ_ONLY',
    memory !== undefined && isMapping(memory)
      ? `${what}: ${memory.label} is mapped read-only (PROT_READ), so it cannot be written`
      : `${what}: segment ${(memory as Attachment | undefined)?.shmid} is attached read-only (SHM_RDONLY), so it cannot be written`,
  );
}
