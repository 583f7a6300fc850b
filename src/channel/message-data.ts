// What a sender accepts, measured and copied with built-ins captured at load
// time: a caller's object may override `byteLength` or patch prototypes, and
// a length that lies would let a copy run past the record it claimed.
import { types } from 'node:util';
import { invalidType } from '../validate.js';

/** What can be sent: bytes, or a string (sent as UTF-8). */
export type MessageData = ArrayBufferView | ArrayBuffer | string;

function getter<T>(prototype: object, name: string): (this: T) => never {
  return Object.getOwnPropertyDescriptor(prototype, name)!.get as (this: T) => never;
}

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedByteLength = getter<ArrayBufferView>(TypedArrayPrototype, 'byteLength') as (this: ArrayBufferView) => number;
const typedByteOffset = getter<ArrayBufferView>(TypedArrayPrototype, 'byteOffset') as (this: ArrayBufferView) => number;
const typedBuffer = getter<ArrayBufferView>(TypedArrayPrototype, 'buffer') as (this: ArrayBufferView) => ArrayBufferLike;
const viewByteLength = getter<DataView>(DataView.prototype, 'byteLength') as (this: DataView) => number;
const viewByteOffset = getter<DataView>(DataView.prototype, 'byteOffset') as (this: DataView) => number;
const viewBuffer = getter<DataView>(DataView.prototype, 'buffer') as (this: DataView) => ArrayBufferLike;
const bufferByteLength = getter<ArrayBuffer>(ArrayBuffer.prototype, 'byteLength') as (this: ArrayBuffer) => number;
const utf8Length = Buffer.byteLength;
const set = Uint8Array.prototype.set;
const subarray = Uint8Array.prototype.subarray;
const isTypedArray = types.isTypedArray;
const isDataView = types.isDataView;
const isArrayBuffer = types.isAnyArrayBuffer;
const encoder = new TextEncoder();
const encodeInto = TextEncoder.prototype.encodeInto;

/** A zero-length buffer may be a detached one: constructing a view on it tells. */
function assertAttached(buffer: ArrayBufferLike, value: unknown): void {
  try {
    new Uint8Array(buffer, 0, 0);
  } catch {
    throw invalidType('data', 'a string, an ArrayBuffer or an ArrayBufferView whose buffer is not detached (transferred)', value);
  }
}

/** The byte length of `data`, from the object's internal slots, never its own properties. */
export function byteLengthOf(data: MessageData): number {
  // instanceof first, as the fast path: the getter then refuses anything
  // that only pretends to be a Uint8Array.
  if (data instanceof Uint8Array) {
    const length = typedByteLength.call(data);
    if (length !== 0) return length;
  }
  return byteLengthOfOther(data);
}

function byteLengthOfOther(data: MessageData): number {
  let length: number;
  if (isTypedArray(data)) {
    length = typedByteLength.call(data);
    if (length === 0) assertAttached(typedBuffer.call(data), data);
  } else if (typeof data === 'string') {
    return utf8Length(data, 'utf8');
  } else if (isArrayBuffer(data)) {
    length = bufferByteLength.call(data as ArrayBuffer);
    if (length === 0) assertAttached(data as ArrayBuffer, data);
  } else if (isDataView(data)) {
    // A DataView's getter throws on a detached buffer (a typed array's says 0).
    assertAttached(viewBuffer.call(data), data);
    length = viewByteLength.call(data);
  } else {
    throw invalidType('data', 'a string, an ArrayBuffer or an ArrayBufferView', data);
  }
  return length;
}

/**
 * Copies `data`, measured as `length` bytes by {@link byteLengthOf}, into
 * `target` at `offset`. Never writes more than `length` bytes: a source that
 * changed size since it was measured makes the copy throw instead.
 */
export function copyInto(target: Uint8Array, offset: number, data: MessageData, length: number): void {
  if (data instanceof Uint8Array && typedByteLength.call(data) === length) set.call(target, data, offset);
  else copyOther(target, offset, data, length);
}

function copyOther(target: Uint8Array, offset: number, data: MessageData, length: number): void {
  // Measured again: a buffer detached since (while send() waited) is refused by name.
  if (byteLengthOfOther(data) !== length) throw invalidType('data', 'a buffer that keeps its size while it is sent', data);
  if (typeof data === 'string') {
    encodeInto.call(encoder, data, subarray.call(target, offset, offset + length));
    return;
  }
  const [buffer, byteOffset] = isArrayBuffer(data)
    ? [data as ArrayBuffer, 0]
    : isDataView(data)
      ? [viewBuffer.call(data), viewByteOffset.call(data)]
      : [typedBuffer.call(data as ArrayBufferView), typedByteOffset.call(data as ArrayBufferView)];
  // Throws if the buffer shrank or was detached meanwhile.
  set.call(target, new Uint8Array(buffer, byteOffset, length), offset);
}
