// Built-ins captured when shmkit loads, as Node core's primordials are. A
// read-only attachment's memory is mapped PROT_READ, but an ArrayBuffer is
// always writable: if a program replaced a method or getter that shmkit then
// called on such a buffer (ArrayBuffer.prototype.slice, a DataView getter,
// Atomics.load, ...), the replacement would receive the buffer and a write
// through it would be SIGSEGV. So every access to private memory goes through
// these, and never through a lookup that user code can intercept: no
// prototype method, no getter, no species constructor (slice and subarray
// ask the buffer for its `constructor`, so they are not used at all).

const { bind, call } = Function.prototype;

/** `fn` as a plain function taking its `this` first; calling it looks nothing up. */
const uncurryThis = bind.bind(call) as <T, A extends unknown[], R>(fn: (this: T, ...args: A) => R) => (self: T, ...args: A) => R;

function getter<T, R>(prototype: object, name: string): (self: T) => R {
  return uncurryThis(Object.getOwnPropertyDescriptor(prototype, name)!.get as (this: T) => R);
}

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;

/** @internal */ export const Uint8ArrayCtor = Uint8Array;
/** @internal */ export const DataViewCtor = DataView;
/** @internal */ export const Int16ArrayCtor = Int16Array;
/** @internal */ export const Uint16ArrayCtor = Uint16Array;
/** @internal */ export const Int32ArrayCtor = Int32Array;
/** @internal */ export const Uint32ArrayCtor = Uint32Array;
/** @internal */ export const Float32ArrayCtor = Float32Array;
/** @internal */ export const BigInt64ArrayCtor = BigInt64Array;
/** @internal */ export const BigUint64ArrayCtor = BigUint64Array;
/** @internal */ export const Float64ArrayCtor = Float64Array;
/** @internal */ export const ReflectApply = Reflect.apply;
/** @internal */ export const StringFromCharCode = String.fromCharCode;

/** @internal */ export const arrayBufferByteLength = getter<ArrayBufferLike, number>(ArrayBuffer.prototype, 'byteLength');
/** @internal */ export const sharedArrayBufferByteLength = getter<ArrayBufferLike, number>(SharedArrayBuffer.prototype, 'byteLength');
/** @internal */ export const typedArrayBuffer = getter<Uint8Array, ArrayBufferLike>(TypedArrayPrototype, 'buffer');
/** @internal */ export const typedArrayByteOffset = getter<Uint8Array, number>(TypedArrayPrototype, 'byteOffset');
/** @internal */ export const typedArrayByteLength = getter<ArrayBufferView, number>(TypedArrayPrototype, 'byteLength');
/** @internal */ export const typedArrayLength = getter<Uint8Array, number>(TypedArrayPrototype, 'length');
/** @internal */ export const typedArraySet = uncurryThis(
  Uint8Array.prototype.set as (this: Uint8Array, source: ArrayLike<number>, offset?: number) => void,
);
/** @internal */ export const dataViewBuffer = getter<DataView, ArrayBufferLike>(DataView.prototype, 'buffer');
/** @internal */ export const dataViewByteOffset = getter<DataView, number>(DataView.prototype, 'byteOffset');
/** @internal */ export const dataViewByteLength = getter<DataView, number>(DataView.prototype, 'byteLength');

type Getter = (self: DataView, offset: number, littleEndian?: boolean) => number | bigint;
const dv = DataView.prototype as unknown as Record<string, (this: DataView, ...args: never[]) => unknown>;

/** @internal `DataView.prototype.get<Type>`, by type name (`Int32`, `BigUint64`, ...), as captured at load. */
export const dataViewGet: Readonly<Record<string, Getter>> = Object.freeze(
  Object.fromEntries(
    ['Int8', 'Uint8', 'Int16', 'Uint16', 'Int32', 'Uint32', 'BigInt64', 'BigUint64', 'Float32', 'Float64'].map((name) => [
      name,
      uncurryThis(dv[`get${name}`]!) as unknown as Getter,
    ]),
  ),
);

/** @internal Atomics' functions as captured at load (they take no `this`). */
export const AtomicsCaptured = Object.freeze({
  load: Atomics.load,
  store: Atomics.store,
  add: Atomics.add,
  sub: Atomics.sub,
  compareExchange: Atomics.compareExchange,
});

/**
 * @internal A fresh copy of `count` bytes at `start` of `buffer`: the copy is
 * the only object user code ever sees.
 */
export function copyBytes(buffer: ArrayBufferLike, start: number, count: number): Uint8Array {
  const out = new Uint8ArrayCtor(count);
  typedArraySet(out, new Uint8ArrayCtor(buffer, start, count));
  return out;
}

/** @internal A fresh copy of `bytes[start .. end)`. */
export function copyOfRange(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return copyBytes(typedArrayBuffer(bytes), typedArrayByteOffset(bytes) + start, end - start);
}
