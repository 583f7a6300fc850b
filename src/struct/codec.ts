// Whole values in and out of memory: read() snapshots and write() checks the
// entire value before it writes a byte, so a bad value changes nothing.
import { endianness } from 'node:os';
import { invalidType, outOfRange } from '../core/errors.js';
import { decodeChar, encodeChar, encodeUtf8 } from './char.js';
import type { ArrayLayout, ScalarKind, StructLayout, TypeLayout } from './layout.js';
import { internalsOf } from './internals.js';
import { fault } from './memory.js';
import {
  BigInt64ArrayCtor,
  BigUint64ArrayCtor,
  copyBytes,
  dataViewBuffer,
  dataViewByteLength,
  dataViewByteOffset,
  dataViewGet,
  Float32ArrayCtor,
  Float64ArrayCtor,
  Int16ArrayCtor,
  Int32ArrayCtor,
  typedArrayLength,
  typedArraySet,
  Uint16ArrayCtor,
  Uint32ArrayCtor,
  Uint8ArrayCtor,
} from '../core/primordials.js';

/** @internal Native byte order: shared memory is read by C on this machine. */
export const LITTLE_ENDIAN = endianness() === 'LE';

/** @internal How each scalar is accessed and checked. */
export interface ScalarAccess {
  /** DataView method suffix: `get${dv}` / `set${dv}`. */
  readonly dv: string;
  /** A JavaScript expression over `v` that is true for a valid value. */
  readonly valid: string;
  readonly range: string;
  readonly type: 'number' | 'bigint' | 'boolean';
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** @internal */
export const SCALARS: Readonly<Record<ScalarKind, ScalarAccess>> = {
  int8: { dv: 'Int8', valid: `typeof v === 'number' && (v << 24 >> 24) === v`, range: 'an integer >= -128 and <= 127', type: 'number' },
  uint8: { dv: 'Uint8', valid: `typeof v === 'number' && (v & 0xff) === v`, range: 'an integer >= 0 and <= 255', type: 'number' },
  int16: {
    dv: 'Int16',
    valid: `typeof v === 'number' && (v << 16 >> 16) === v`,
    range: 'an integer >= -32768 and <= 32767',
    type: 'number',
  },
  uint16: { dv: 'Uint16', valid: `typeof v === 'number' && (v & 0xffff) === v`, range: 'an integer >= 0 and <= 65535', type: 'number' },
  int32: {
    dv: 'Int32',
    valid: `typeof v === 'number' && (v | 0) === v`,
    range: 'an integer >= -2147483648 and <= 2147483647',
    type: 'number',
  },
  uint32: { dv: 'Uint32', valid: `typeof v === 'number' && (v >>> 0) === v`, range: 'an integer >= 0 and <= 4294967295', type: 'number' },
  int64: {
    dv: 'BigInt64',
    // asIntN is much faster than two bigint comparisons in V8.
    valid: `typeof v === 'bigint' && BigInt.asIntN(64, v) === v`,
    range: `>= ${INT64_MIN}n and <= ${INT64_MAX}n`,
    type: 'bigint',
  },
  uint64: {
    dv: 'BigUint64',
    valid: `typeof v === 'bigint' && BigInt.asUintN(64, v) === v`,
    range: `>= 0n and <= ${UINT64_MAX}n`,
    type: 'bigint',
  },
  float32: { dv: 'Float32', valid: `typeof v === 'number'`, range: 'a number', type: 'number' },
  float64: { dv: 'Float64', valid: `typeof v === 'number'`, range: 'a number', type: 'number' },
  bool: { dv: 'Uint8', valid: `typeof v === 'boolean'`, range: 'a boolean', type: 'boolean' },
};

// Each compiled on first use: the eleven took 0.15 ms of every import.
const validators: Partial<Record<ScalarKind, (v: unknown) => boolean>> = {};

function validator(kind: ScalarKind): (v: unknown) => boolean {
  return (validators[kind] ??= new Function('v', `return ${SCALARS[kind].valid};`) as (v: unknown) => boolean);
}

/** @internal The error for an invalid scalar value: TypeError for the wrong type, RangeError out of range. */
export function badScalar(kind: ScalarKind, value: unknown, name: string): Error {
  const access = SCALARS[kind];
  if (typeof value !== access.type) return invalidType(name, `of type ${access.type}`, value);
  return outOfRange(name, access.range, value);
}

/** @internal Throws unless `value` is a valid value of `kind`. */
export function checkScalar(kind: ScalarKind, value: unknown, name: string): void {
  if (!validator(kind)(value)) throw badScalar(kind, value, name);
}

/**
 * @internal Reads the value of `type` at `offset` of `cells`. With `preview`
 * (util.inspect's maxArrayLength), only the first elements of each array that
 * inspect shows: it counts the rest by the array's length ("... n more items").
 */
export function readValue(type: TypeLayout, cells: Cells, offset: number, preview?: number): unknown {
  switch (type.kind) {
    case 'char':
      return decodeChar(cells.bytes(), offset, type.length);
    case 'array': {
      // One more than shown: inspect aligns numbers by the type of the one after the last shown too.
      const read = preview === undefined ? type.length : Math.min(type.length, preview + 1);
      const out = new Array<unknown>(read);
      for (let i = 0; i < read; i++) out[i] = readValue(type.element, cells, offset + i * type.element.size, preview);
      // The length by a last element far off: V8 then keeps the gap sparse
      // (new Array(length) would allocate all of it, 8 bytes an element).
      if (read < type.length) out[type.length - 1] = undefined;
      return out;
    }
    case 'struct': {
      const out: Record<string, unknown> = {};
      for (const field of type.layout) {
        // defineProperty: a field may be named like an Object.prototype member.
        Object.defineProperty(out, field.name, {
          value: readValue(field.type, cells, offset + field.offset, preview),
          writable: true,
          enumerable: true,
          configurable: true,
        });
      }
      return out;
    }
    // Captured getters: the memory may be a read-only attachment (src/core/primordials.ts).
    case 'bool':
      return dataViewGet.Uint8!(cells.dv, offset) !== 0;
    case 'int8':
    case 'uint8':
      return dataViewGet[SCALARS[type.kind].dv]!(cells.dv, offset);
    default:
      return cells.get(type.kind, type.size, offset);
  }
}

/**
 * @internal Throws unless `value` is a whole valid value of `type`; `name`
 * names it in the error. Returns what to give {@link storeValue}: every
 * member and element read once, here, so that a getter or Proxy that answers
 * differently the second time, or a view of the memory being written, cannot
 * get an unchecked value written (or half a value, then an error). A view of
 * the same type is taken as its bytes ({@link ViewBytes}).
 */
export function checkValue(type: TypeLayout, value: unknown, name: string): unknown {
  switch (type.kind) {
    case 'char':
      encodeUtf8(value, type.length, name);
      return value;
    case 'array': {
      const copy = viewBytes(type, value);
      if (copy !== undefined) return copy;
      if (typeof value !== 'object' || value === null || typeof lengthOf(value) !== 'number') {
        throw invalidType(name, 'an array', value);
      }
      const items = value as ArrayLike<unknown>;
      const length = items.length;
      if (length !== type.length) {
        throw outOfRange(`${name}.length`, `${type.length} (the array's n)`, length);
      }
      const checked = new Array<unknown>(length);
      for (let i = 0; i < length; i++) checked[i] = checkValue(type.element, items[i], `${name}[${i}]`);
      return checked;
    }
    case 'struct': {
      const copy = viewBytes(type, value);
      if (copy !== undefined) return copy;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidType(name, 'of type object', value);
      // The members' values in layout order.
      return type.layout.map((field) => {
        const path = `${name}.${field.name}`;
        return checkValue(field.type, memberOf(value, field.name, path), path);
      });
    }
    default:
      checkScalar(type.kind, value, name);
      return value;
  }
}

/** @internal Writes what {@link checkValue} returned for a value it accepted. */
export function storeValue(type: TypeLayout, cells: Cells, offset: number, checked: unknown, name: string): void {
  switch (type.kind) {
    case 'char':
      encodeChar(cells.bytes(), offset, type.length, checked, name);
      return;
    case 'array': {
      if (checked instanceof ViewBytes) {
        typedArraySet(cells.bytes(), checked.bytes, offset);
        return;
      }
      const items = checked as unknown[];
      const size = type.element.size;
      for (let i = 0; i < type.length; i++) storeValue(type.element, cells, offset + i * size, items[i], name);
      return;
    }
    case 'struct': {
      if (checked instanceof ViewBytes) {
        typedArraySet(cells.bytes(), checked.bytes, offset);
        return;
      }
      const members = checked as unknown[];
      type.layout.forEach((field, i) => {
        storeValue(field.type, cells, offset + field.offset, members[i], name);
      });
      return;
    }
    case 'bool':
      cells.dv.setUint8(offset, checked ? 1 : 0);
      return;
    case 'int8':
      cells.dv.setInt8(offset, checked as number);
      return;
    case 'uint8':
      cells.dv.setUint8(offset, checked as number);
      return;
    default:
      cells.set(type.kind, type.size, offset, checked as number | bigint);
  }
}

// A write from a view of the same type copies bytes, as C's assignment and
// memmove do: through values, a char(n) a C program filled with no NUL could
// not be written back (n bytes, where a string may have n-1), invalid UTF-8
// came back as U+FFFD, a float32 signalling NaN quieted, a bool's byte 2
// became 1, and padding was not copied. The bytes are taken when checked,
// before anything is written, so source and destination may overlap.

/** @internal The bytes of a view, copied when a value was checked, to store as they are. */
class ViewBytes {
  constructor(readonly bytes: Uint8Array) {}
}

/** A copy of `value`'s bytes if it is a view of a type laid out as `type`; else undefined. */
function viewBytes(type: StructLayout | ArrayLayout, value: unknown): ViewBytes | undefined {
  const source = internalsOf(value);
  if (source === undefined || !sameLayout(source.type, type)) return undefined;
  try {
    // Captured built-ins: the view may be of a read-only attachment.
    return new ViewBytes(copyBytes(dataViewBuffer(source.dv), dataViewByteOffset(source.dv), type.size));
  } catch (error) {
    throw fault(source.owner, error, 'write');
  }
}

/** Whether two types are the same declaration: the same members, names and offsets, at every level. */
function sameLayout(a: TypeLayout, b: TypeLayout): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind || a.size !== b.size || a.align !== b.align) return false;
  if (a.kind === 'array') return a.length === (b as ArrayLayout).length && sameLayout(a.element, (b as ArrayLayout).element);
  if (a.kind === 'struct') {
    const other = (b as StructLayout).layout;
    return (
      a.layout.length === other.length &&
      a.layout.every(
        (field, i) => field.name === other[i]!.name && field.offset === other[i]!.offset && sameLayout(field.type, other[i]!.type),
      )
    );
  }
  // Scalars of one kind, or char arrays of one size.
  return true;
}

/**
 * `record[key]`, read once, or TypeError ERR_INVALID_ARG_TYPE saying that it
 * is missing: undefined, or only what every object inherits from
 * Object.prototype (a member named `constructor` or `toString` of `{ z: 1 }`
 * was "of type number. Received type function"). Getters and prototypes other
 * than Object.prototype count, so that a view of another type can be the value.
 */
function memberOf(record: object, key: string, path: string): unknown {
  const value = (record as Record<string, unknown>)[key];
  const fromObject = key in Object.prototype && inheritedFromObject(record, key);
  if (value === undefined || fromObject) {
    throw invalidType(
      path,
      `given: a whole value has every member of the struct${fromObject ? ` (Object.prototype's ${key} is not one)` : ''}`,
      value,
    );
  }
  return value;
}

/** Whether `key` of `record` is found on Object.prototype itself, not before it. */
function inheritedFromObject(record: object, key: string): boolean {
  for (let object: object | null = record; object !== null; object = Object.getPrototypeOf(object) as object | null) {
    if (object === Object.prototype) return true;
    if (Object.hasOwn(object, key)) return false;
  }
  return false;
}

/** `value.length`, or undefined if reading it throws (a typed array's getter on an object that only inherits from one). */
function lengthOf(value: object): unknown {
  try {
    return (value as ArrayLike<unknown>).length;
  } catch {
    return undefined;
  }
}

// Multi-byte scalars. V8's DataView reads and writes byte by byte in code
// not yet optimized (the interpreter's and Sparkplug's calls to its
// builtins), and a BigInt64 as two 32-bit halves even in optimized code, so
// a C program saw half-written values, and so did Node reading C's: 324,059
// of 404 million int64 reads, and 44 million of 3.9 billion int32 reads
// under --jitless. Most code of a program is never optimized. An element of
// a typed array of the field's type is one load or store of its size on
// 64-bit targets in every tier (CSA builtins, Sparkplug, Maglev, TurboFan):
// an aligned access of 2, 4 or 8 bytes is single-copy atomic on x86-64 and
// AArch64, as C's is. Plain element access, not Atomics.load/store: those are
// builtin calls (about 8 ns, as slow as the DataView) and order more than a
// C store of an int32_t does. Only where the field is aligned to its size in
// its buffer (whose memory starts 8-aligned: page-aligned segments and
// mappings, V8's allocations): elsewhere (a packed struct, a view at an odd
// offset) the DataView stays, and C tears there too. Typed arrays are in
// native byte order, as the DataView calls are (LITTLE_ENDIAN).

/** @internal The scalar kinds of more than one byte (bool, int8 and uint8 cannot be seen half written). */
export type CellKind = 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'int64' | 'uint64' | 'float64';

/** @internal A typed array of one of them. */
export type CellArray = Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | BigInt64Array | BigUint64Array | Float64Array;

/** @internal The typed array of each, as captured at load. */
export const CELL_ARRAYS = {
  int16: Int16ArrayCtor,
  uint16: Uint16ArrayCtor,
  int32: Int32ArrayCtor,
  uint32: Uint32ArrayCtor,
  float32: Float32ArrayCtor,
  int64: BigInt64ArrayCtor,
  uint64: BigUint64ArrayCtor,
  float64: Float64ArrayCtor,
} as const;

/** @internal An empty array of each kind: it reads undefined at every index and ignores stores. */
export const EMPTY_CELLS = Object.fromEntries(Object.entries(CELL_ARRAYS).map(([kind, Ctor]) => [kind, new Ctor(0)])) as {
  readonly [K in CellKind]: CellArray;
};

/** @internal Whether `kind` is a scalar of more than one byte, read and written as a typed array's element where aligned. */
export function isCell(kind: string): kind is CellKind {
  return Object.hasOwn(CELL_ARRAYS, kind);
}

/** @internal The size of a `kind` in bytes: its alignment, where it is one access. */
export function cellSize(kind: CellKind): number {
  return CELL_ARRAYS[kind].BYTES_PER_ELEMENT;
}

/**
 * @internal How many bytes after `start` the first address aligned to `size`
 * is: where an array of cells of that size begins. `start` may be taken
 * modulo any multiple of `size`.
 */
export function cellSkip(start: number, size: number): number {
  return Math.ceil(start / size) * size - start;
}

/** @internal Where an array of cells of `size` bytes over the `length` bytes at `start` begins (cellSkip), and how many it holds. */
export function cellSpan(start: number, length: number, size: number): { skip: number; count: number } {
  const skip = cellSkip(start, size);
  return { skip, count: Math.max(0, Math.floor((length - skip) / size)) };
}

/**
 * @internal The index of the cell of `size` bytes at `offset` in an array of
 * them that begins `skip` bytes in (cellSkip); -1 where `offset` is on none
 * (not aligned to `size`).
 */
export function cellIndex(skip: number, size: number, offset: number): number {
  return (offset - skip) % size === 0 ? (offset - skip) / size : -1;
}

/**
 * An array of `kind` (of `size` bytes) over the part of `dv`'s bytes aligned
 * to its size. Made with captured built-ins only: `dv` may cover a read-only
 * attachment.
 */
function cellArray(kind: CellKind, size: number, dv: DataView): CellArray {
  const start = dataViewByteOffset(dv);
  const { skip, count } = cellSpan(start, dataViewByteLength(dv), size);
  return new CELL_ARRAYS[kind](dataViewBuffer(dv) as ArrayBuffer, start + skip, count);
}

/** @internal The error for a typed array that no longer covers its field (detached, or shrunk): fault() names the cause. */
export function outsideError(): RangeError {
  return new RangeError('struct field lies outside its memory');
}

/**
 * @internal The memory of one read or write: the DataView, and the typed
 * arrays over it, made when first needed (made over a detached or shrunk
 * buffer, they throw). A typed array whose buffer went away meanwhile reads
 * undefined and ignores stores: both are checked.
 */
export class Cells {
  readonly dv: DataView;
  readonly #start: number;
  #bytes: Uint8Array | undefined;
  readonly #arrays: { -readonly [K in CellKind]?: CellArray } = {};

  constructor(dv: DataView) {
    this.dv = dv;
    this.#start = dataViewByteOffset(dv);
  }

  /** The bytes, as a Uint8Array. */
  bytes(): Uint8Array {
    return (this.#bytes ??= new Uint8ArrayCtor(dataViewBuffer(this.dv), this.#start, dataViewByteLength(this.dv)));
  }

  /** The element of its kind's array for the field of `size` bytes at `offset`, or -1 where it is not aligned to its size in the buffer. */
  #index(size: number, offset: number): number {
    return cellIndex(cellSkip(this.#start, size), size, offset);
  }

  /** The scalar of `kind` (of `size` bytes, from its layout) at `offset`: one load where it is aligned. */
  get(kind: CellKind, size: number, offset: number): number | bigint {
    const index = this.#index(size, offset);
    if (index < 0) return dataViewGet[SCALARS[kind].dv]!(this.dv, offset, LITTLE_ENDIAN);
    const value = (this.#arrays[kind] ??= cellArray(kind, size, this.dv))[index];
    if (value === undefined) throw outsideError();
    return value;
  }

  /** Writes the scalar of `kind` (of `size` bytes) at `offset`: one store where it is aligned. */
  set(kind: CellKind, size: number, offset: number, value: number | bigint): void {
    const index = this.#index(size, offset);
    if (index < 0) {
      const method = `set${SCALARS[kind].dv}` as 'setFloat64';
      (this.dv[method] as (offset: number, value: unknown, littleEndian: boolean) => void)(offset, value, LITTLE_ENDIAN);
      return;
    }
    const array = (this.#arrays[kind] ??= cellArray(kind, size, this.dv));
    // A store out of bounds would do nothing, silently.
    if (index >= typedArrayLength(array as unknown as Uint8Array)) throw outsideError();
    (array as Float64Array)[index] = value as number;
  }
}
