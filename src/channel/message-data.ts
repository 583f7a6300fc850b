// What a sender accepts, measured and copied with built-ins captured at load
// time: a caller's object may override `byteLength` or patch prototypes, and
// a length that lies would let a copy run past the record it claimed.
import { types } from 'node:util';
import {
  arrayBufferByteLength,
  sharedArrayBufferByteLength,
  dataViewBuffer,
  dataViewByteLength,
  dataViewByteOffset,
  typedArrayBuffer,
  typedArrayByteLength,
  typedArrayByteOffset,
  typedArraySet,
  Uint8ArrayCtor,
} from '../core/primordials.js';
import { invalidType } from '../core/errors.js';

/** What can be sent: bytes, or a string (sent as UTF-8). */
export type MessageData = ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string;

const utf8Length = Buffer.byteLength;
const isTypedArray = types.isTypedArray;
const isDataView = types.isDataView;
const isArrayBuffer = types.isAnyArrayBuffer;
const isSharedArrayBuffer = types.isSharedArrayBuffer;
const encoder = new TextEncoder();
const encodeInto = TextEncoder.prototype.encodeInto;

/** A zero-length buffer may be a detached one: constructing a view on it tells. */
function assertAttached(buffer: ArrayBufferLike, value: unknown): void {
  try {
    new Uint8ArrayCtor(buffer, 0, 0);
  } catch {
    throw invalidType('data', 'a string, an ArrayBuffer or an ArrayBufferView whose buffer is not detached (transferred)', value);
  }
}

/** The byte length of `data`, from the object's internal slots, never its own properties. */
export function byteLengthOf(data: MessageData): number {
  // instanceof first, as the fast path: the getter then refuses anything
  // that only pretends to be a Uint8Array.
  if (data instanceof Uint8Array) {
    const length = typedArrayByteLength(data);
    if (length !== 0) return length;
  }
  return byteLengthOfOther(data);
}

function byteLengthOfOther(data: MessageData): number {
  let length: number;
  if (isTypedArray(data)) {
    length = typedArrayByteLength(data);
    if (length === 0) assertAttached(typedArrayBuffer(data as Uint8Array), data);
  } else if (typeof data === 'string') {
    return utf8Length(data, 'utf8');
  } else if (isSharedArrayBuffer(data)) {
    // ArrayBuffer's byteLength getter refuses a SharedArrayBuffer (which cannot be detached).
    length = sharedArrayBufferByteLength(data as SharedArrayBuffer);
  } else if (isArrayBuffer(data)) {
    length = arrayBufferByteLength(data as ArrayBuffer);
    if (length === 0) assertAttached(data as ArrayBuffer, data);
  } else if (isDataView(data)) {
    // A DataView's getter throws on a detached buffer (a typed array's says 0).
    assertAttached(dataViewBuffer(data), data);
    length = dataViewByteLength(data);
  } else {
    throw invalidType('data', 'a string, an ArrayBuffer, a SharedArrayBuffer or an ArrayBufferView', data);
  }
  return length;
}

/**
 * Copies `data`, measured as `length` bytes by {@link byteLengthOf}, into
 * `target` at `offset`. Never writes more than `length` bytes: a source that
 * changed size since it was measured makes the copy throw instead.
 */
export function copyInto(target: Uint8Array, offset: number, data: MessageData, length: number): void {
  // Nothing to copy, and a view out of its shrunk resizable buffer (length 0) would make the copy throw V8's "detached".
  if (length === 0) return;
  if (data instanceof Uint8Array && typedArrayByteLength(data) === length) typedArraySet(target, data, offset);
  else copyOther(target, offset, data, length);
}

function copyOther(target: Uint8Array, offset: number, data: MessageData, length: number): void {
  // Measured again: a buffer detached since (while send() waited) is refused by name.
  if (byteLengthOfOther(data) !== length) throw invalidType('data', 'a buffer that keeps its size while it is sent', data);
  if (typeof data === 'string') {
    encodeInto.call(encoder, data, new Uint8ArrayCtor(typedArrayBuffer(target), typedArrayByteOffset(target) + offset, length));
    return;
  }
  const [buffer, byteOffset] = isArrayBuffer(data)
    ? [data as ArrayBuffer, 0]
    : isDataView(data)
      ? [dataViewBuffer(data), dataViewByteOffset(data)]
      : [typedArrayBuffer(data as Uint8Array), typedArrayByteOffset(data as Uint8Array)];
  // Throws if the buffer shrank or was detached meanwhile.
  typedArraySet(target, new Uint8ArrayCtor(buffer, byteOffset, length), offset);
}
