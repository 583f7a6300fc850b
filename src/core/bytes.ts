// The bytes of data a caller hands in to be written or sent: strings as UTF-8,
// any ArrayBuffer, SharedArrayBuffer or view of one. One function for every
// write and send, so that each refuses the same things in the same words.
import { isAnyArrayBuffer } from 'node:util/types';
import { invalidType, invalidValue } from './errors.js';
import { typedArrayBuffer, typedArrayByteLength, Uint8ArrayCtor } from './primordials.js';

/**
 * @internal A Uint8Array over `data` (a string is encoded as UTF-8), or a
 * TypeError naming the argument `name`: not bytes, or a buffer that has
 * none any more (detached).
 */
export function bytesOf(data: unknown, name: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  try {
    // A detached view has length 0: only then is the view made again, which V8 refuses.
    if (data instanceof Uint8Array) return data.byteLength > 0 ? data : new Uint8Array(data.buffer, data.byteOffset, 0);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (isAnyArrayBuffer(data)) return new Uint8Array(data);
  } catch {
    // V8's own TypeError for a view of a detached buffer (or a DataView's length).
    throw detachedBytesError(name, data);
  }
  throw invalidType(name, 'a string, an ArrayBuffer, a SharedArrayBuffer or an ArrayBufferView (Buffer, TypedArray, DataView)', data);
}

/** @internal Whether `buffer` is detached (transferred): only an empty one can be, and V8 then refuses a view of it. */
export function isDetachedBuffer(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0) return false;
  try {
    new Uint8ArrayCtor(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** @internal Whether `view`'s buffer is detached (transferred); a view with bytes is not. */
export function isDetachedView(view: Uint8Array): boolean {
  return typedArrayByteLength(view) === 0 && isDetachedBuffer(typedArrayBuffer(view));
}

/** @internal The error for bytes whose buffer is detached: the argument `name`, in the same words wherever bytes are taken or given. */
export function detachedBytesError(name: string, data: unknown): TypeError {
  return invalidValue(name, 'its ArrayBuffer is detached (transferred, or its memory detached or unmapped), so it has no bytes', data);
}
