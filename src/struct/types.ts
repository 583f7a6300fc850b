// The C types a struct is built from: scalars, char(n), array(type, n), and
// the type-level functions that turn a schema into the TypeScript types of
// its values and views.
import { invalidType, outOfRange, validateInteger } from '../core/validate.js';
import type { StructType, Fields } from './struct.js';
import { readOf, viewOf, writeOf } from './access.js';
import type { MemorySource } from './memory.js';

/** The names of the scalar types, as in `<stdint.h>` (plus `float32`, `float64`, `bool`). */
export type ScalarKind =
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'float32' | 'float64' | 'bool';

/** The kinds `atomic()` works on. */
export type AtomicKind = 'int32' | 'uint32' | 'int64' | 'uint64';

/** The JavaScript type of each scalar kind: 64-bit integers are bigint. */
export interface ScalarValues {
  int8: number;
  uint8: number;
  int16: number;
  uint16: number;
  int32: number;
  uint32: number;
  int64: bigint;
  uint64: bigint;
  float32: number;
  float64: number;
  bool: boolean;
}

// Every type object shmkit made; `instanceof` cannot tell struct types apart
// here without importing struct.ts, which imports this file.
const knownTypes = new WeakSet<object>();

/** @internal */
export function registerType(type: object): void {
  knownTypes.add(type);
}

/** @internal Whether `value` is one of shmkit's struct field types. */
export function isType(value: unknown): value is Type {
  return typeof value === 'object' && value !== null && knownTypes.has(value);
}

/**
 * A C scalar: a fixed-width integer, a float, or `_Bool`. Its size is also its
 * alignment, as in the x86-64 and AArch64 ABIs.
 */
export class ScalarType<K extends ScalarKind = ScalarKind> {
  readonly kind: K;
  /** Bytes it takes (`sizeof`). */
  readonly size: number;
  /** Its alignment (`_Alignof`). */
  readonly align: number;

  /** @internal */
  constructor(kind: K, size: number) {
    this.kind = kind;
    this.size = size;
    this.align = size;
    registerType(this);
    Object.freeze(this);
  }
}

/**
 * `char name[n]` holding a NUL-terminated UTF-8 string: at most n-1 bytes of
 * text and the NUL. Reads stop at the first NUL (or after n bytes, if a C
 * program filled them all).
 */
export class CharType {
  readonly kind = 'char' as const;
  /** n: the bytes of the array, NUL included. */
  readonly length: number;
  readonly size: number;
  readonly align = 1;

  /** @internal */
  constructor(length: number) {
    this.length = length;
    this.size = length;
    registerType(this);
    Object.freeze(this);
  }
}

/** `int8_t` */
export const int8: ScalarType<'int8'> = new ScalarType('int8', 1);
/** `uint8_t` */
export const uint8: ScalarType<'uint8'> = new ScalarType('uint8', 1);
/** `int16_t` */
export const int16: ScalarType<'int16'> = new ScalarType('int16', 2);
/** `uint16_t` */
export const uint16: ScalarType<'uint16'> = new ScalarType('uint16', 2);
/** `int32_t` (C's `int` on Linux) */
export const int32: ScalarType<'int32'> = new ScalarType('int32', 4);
/** `uint32_t` */
export const uint32: ScalarType<'uint32'> = new ScalarType('uint32', 4);
/** `int64_t`, read and written as bigint */
export const int64: ScalarType<'int64'> = new ScalarType('int64', 8);
/** `uint64_t`, read and written as bigint */
export const uint64: ScalarType<'uint64'> = new ScalarType('uint64', 8);
/** `float` */
export const float32: ScalarType<'float32'> = new ScalarType('float32', 4);
/** `double` */
export const float64: ScalarType<'float64'> = new ScalarType('float64', 8);
/** `_Bool` (`bool` of `<stdbool.h>`): one byte; reads any non-zero byte as true, writes 1 or 0 */
export const bool: ScalarType<'bool'> = new ScalarType('bool', 1);

/** Largest element count of `char(n)` and `array(type, n)`, and largest struct size (1 GiB). */
export const MAX_TYPE_SIZE = 2 ** 30;

/**
 * `char[n]`: a NUL-terminated UTF-8 string of at most n-1 bytes.
 * Writing a longer string is a RangeError that changes nothing.
 * @param n the array's length in bytes, NUL included (1 .. 2^30).
 */
export function char(n: number): CharType {
  return new CharType(validateInteger(n, 'n', 1, MAX_TYPE_SIZE));
}

/**
 * A fixed array `type[n]` of any field type, structs and arrays included.
 * @param type the element type.
 * @param n the number of elements (at least 1).
 */
export function array<E extends Type>(type: E, n: number): ArrayType<E> {
  if (!isType(type)) throw invalidType('type', 'a struct field type (int8 ... bool, char(n), array(...), struct(...))', type);
  validateInteger(n, 'n', 1, MAX_TYPE_SIZE);
  if (type.size * n > MAX_TYPE_SIZE) {
    throw outOfRange('n', `<= ${Math.floor(MAX_TYPE_SIZE / Math.max(type.size, 1))} (arrays are at most ${MAX_TYPE_SIZE} bytes)`, n);
  }
  return new ArrayType(type, n);
}

/** Any type a struct field can have. */
export type Type = ScalarType | CharType | ArrayType<any> | StructType<any>;

// ---------------------------------------------------------------------------
// Types of values (read/write) and views

declare const FIELDS: unique symbol;
declare const ELEMENT: unique symbol;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The plain value of a type, as `read()` returns it and `write()` takes it. */
export type Value<T> =
  T extends ScalarType<infer K> ? ScalarValues[K]
  : T extends CharType ? string
  : T extends ArrayType<infer E> ? Value<E>[]
  : T extends StructType<infer F> ? { -readonly [K in keyof F]: Value<F[K]> }
  : never;

/** What `write()` accepts: like {@link Value}, but arrays may be any array-like of the right length. */
export type Input<T> =
  T extends ScalarType<infer K> ? ScalarValues[K]
  : T extends CharType ? string
  : T extends ArrayType<infer E> ? ArrayLike<Input<E>>
  : T extends StructType<infer F> ? { readonly [K in keyof F]: Input<F[K]> }
  : never;

/** What a view's field gives: a value for scalars and strings, a live view for structs and arrays. */
export type View<T> =
  T extends ScalarType<infer K> ? ScalarValues[K]
  : T extends CharType ? string
  : T extends ArrayType<infer E> ? ArrayView<E>
  : T extends StructType<infer F> ? StructView<F>
  : never;

/**
 * A live view of a struct: each field a getter/setter on the memory itself.
 * Scalar and string fields are assignable; struct and array fields are views.
 */
export type StructView<F extends Fields> = Simplify<
  { -readonly [K in keyof F as F[K] extends ScalarType | CharType ? K : never]: View<F[K]> } & {
    readonly [K in keyof F as F[K] extends ScalarType | CharType ? never : K]: View<F[K]>;
  }
> & { /** @internal type-level only */ readonly [FIELDS]?: F };

/** Methods every array view has. */
export interface ArrayViewMethods<E> extends Iterable<View<E>> {
  /** n, the number of elements. */
  readonly length: number;
  /** Element `index` (a view for struct and array elements). */
  get(index: number): View<E>;
  /** Writes element `index` (a whole struct or array for such elements). */
  set(index: number, value: Input<E>): void;
  /** A plain snapshot of all elements. */
  toArray(): Value<E>[];
  /** @internal type-level only */
  readonly [ELEMENT]?: E;
}

/** A live view of a fixed array: `view[i]` reads and (for scalars and strings) writes element i in place. */
export type ArrayView<E> = E extends ScalarType | CharType
  ? ArrayViewMethods<E> & { [index: number]: View<E> }
  : ArrayViewMethods<E> & { readonly [index: number]: View<E> };

/** The memory a view or read works on. A `SharedMemory` also works when read-only. */

/** `array(type, n)`: a fixed C array `type[n]`. Made by {@link array}. */
export class ArrayType<E extends Type = Type> {
  readonly kind = 'array' as const;
  /** The element type. */
  readonly element: E;
  /** n, the number of elements. */
  readonly length: number;
  /** `sizeof`: n times the element's size. */
  readonly size: number;
  /** `_Alignof`: the element's alignment. */
  readonly align: number;

  /** @internal */
  constructor(element: E, length: number) {
    this.element = element;
    this.length = length;
    this.size = element.size * length;
    this.align = element.align;
    registerType(this);
    Object.freeze(this);
  }

  /**
   * A live view of the array at `offset` (default 0) of `source`:
   * `view[i]` reads element i from the memory itself, and for scalar and
   * string elements `view[i] = x` writes it.
   */
  view(source: MemorySource, offset = 0): ArrayView<E> {
    return viewOf(this, source, offset) as ArrayView<E>;
  }

  /** A plain snapshot of the array at `offset` (default 0). */
  read(source: MemorySource, offset = 0): Value<E>[] {
    return readOf(this, source, offset) as Value<E>[];
  }

  /** Writes every element at `offset` (default 0); checks all of `value` before writing anything. */
  write(source: MemorySource, value: ArrayLike<Input<E>>, offset = 0): void {
    writeOf(this, source, value, offset);
  }
}
