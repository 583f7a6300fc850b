// The C types a struct is built from: scalars, char(n), array(type, n) and
// struct types (made by struct(), in struct.ts), and the type-level functions
// that turn a schema into the TypeScript types of its values and views. One
// file, because each of these names the others.
import { invalidType, outOfRange, shorten } from '../core/errors.js';
import { validateInteger } from '../core/validate.js';
import { readOf, viewOf, writeOf } from './access.js';
import { layoutStruct, parsePath, type MemberLayout, type ScalarKind } from './layout.js';
import type { MemorySource } from './memory.js';

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

// Every type object shmkit made: a brand that, unlike instanceof, an object
// made with Object.create(ScalarType.prototype) cannot pass. A type's numbers
// are compiled into view code (view.ts), so only shmkit's own, frozen ones may be used.
const knownTypes = new WeakSet<object>();

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

  /** @internal The constructor is private, so that the published types offer no way to call it. */
  static make<K extends ScalarKind>(kind: K, size: number): ScalarType<K> {
    return new ScalarType(kind, size);
  }

  private constructor(kind: K, size: number) {
    this.kind = kind;
    this.size = size;
    this.align = size;
    knownTypes.add(this);
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

  /** @internal Made by {@link char}. The constructor is private, so that the published types offer no way to call it. */
  static make(length: number): CharType {
    return new CharType(length);
  }

  private constructor(length: number) {
    this.length = length;
    this.size = length;
    knownTypes.add(this);
    Object.freeze(this);
  }
}

/** `int8_t` */
export const int8: ScalarType<'int8'> = ScalarType.make('int8', 1);
/** `uint8_t` */
export const uint8: ScalarType<'uint8'> = ScalarType.make('uint8', 1);
/** `int16_t` */
export const int16: ScalarType<'int16'> = ScalarType.make('int16', 2);
/** `uint16_t` */
export const uint16: ScalarType<'uint16'> = ScalarType.make('uint16', 2);
/** `int32_t` (C's `int` on Linux) */
export const int32: ScalarType<'int32'> = ScalarType.make('int32', 4);
/** `uint32_t` */
export const uint32: ScalarType<'uint32'> = ScalarType.make('uint32', 4);
/** `int64_t`, read and written as bigint */
export const int64: ScalarType<'int64'> = ScalarType.make('int64', 8);
/** `uint64_t`, read and written as bigint */
export const uint64: ScalarType<'uint64'> = ScalarType.make('uint64', 8);
/** `float` */
export const float32: ScalarType<'float32'> = ScalarType.make('float32', 4);
/** `double` */
export const float64: ScalarType<'float64'> = ScalarType.make('float64', 8);
/** `_Bool` (`bool` of `<stdbool.h>`): one byte; reads any non-zero byte as true, writes 1 or 0 */
export const bool: ScalarType<'bool'> = ScalarType.make('bool', 1);

/** Largest element count of `char(n)` and `array(type, n)`, and largest struct size (1 GiB). */
export const MAX_TYPE_SIZE = 2 ** 30;

/**
 * `char[n]`: a NUL-terminated UTF-8 string of at most n-1 bytes.
 * Writing a longer string is a RangeError that changes nothing.
 * @param n the array's length in bytes, NUL included (1 .. 2^30).
 */
export function char(n: number): CharType {
  return CharType.make(validateInteger(n, 'n', 1, MAX_TYPE_SIZE));
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
  return ArrayType.make(type, n);
}

/** Any type a struct field can have. */
// biome-ignore lint/suspicious/noExplicitAny: the union of every instantiation of the generic types
export type Type = ScalarType | CharType | ArrayType<any> | StructType<any>;

/** A struct's members: each name (a C identifier) and its type, in declaration order. */
export type Fields = { readonly [name: string]: Type };

/** One member of a struct's layout. */
export interface FieldLayout extends MemberLayout<Type> {
  /** The member's name. */
  readonly name: string;
  /** Its type. */
  readonly type: Type;
  /** Its byte offset in the struct (`offsetof`). */
  readonly offset: number;
}

// ---------------------------------------------------------------------------
// Types of values (read/write) and views

// Type-level brands: no object has these keys. They carry a view's schema in
// its type, for inference and for atomic() to refuse what is not atomic, so
// they stay in the published declarations, unlike what is marked internal.
declare const FIELDS: unique symbol;
declare const ELEMENT: unique symbol;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The plain value of a type, as `read()` returns it and `write()` takes it. */
export type Value<T> =
  T extends ScalarType<infer K>
    ? ScalarValues[K]
    : T extends CharType
      ? string
      : T extends ArrayType<infer E>
        ? Value<E>[]
        : T extends StructType<infer F>
          ? { -readonly [K in keyof F]: Value<F[K]> }
          : never;

/** What `write()` accepts: like {@link Value}, but arrays may be any array-like of the right length. */
export type Input<T> =
  T extends ScalarType<infer K>
    ? ScalarValues[K]
    : T extends CharType
      ? string
      : T extends ArrayType<infer E>
        ? ArrayLike<Input<E>>
        : T extends StructType<infer F>
          ? { readonly [K in keyof F]: Input<F[K]> }
          : never;

/** What a view's field gives: a value for scalars and strings, a live view for structs and arrays. */
export type View<T> =
  T extends ScalarType<infer K>
    ? ScalarValues[K]
    : T extends CharType
      ? string
      : T extends ArrayType<infer E>
        ? ArrayView<E>
        : T extends StructType<infer F>
          ? StructView<F>
          : never;

/**
 * A live view of a struct: each field a getter/setter on the memory itself.
 * Scalar and string fields are assignable; struct and array fields are views.
 */
export type StructView<F extends Fields> = Simplify<
  { -readonly [K in keyof F as F[K] extends ScalarType | CharType ? K : never]: View<F[K]> } & {
    readonly [K in keyof F as F[K] extends ScalarType | CharType ? never : K]: View<F[K]>;
  }
> & { readonly [FIELDS]?: F };

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
  readonly [ELEMENT]?: E;
}

/** A live view of a fixed array: `view[i]` reads and (for scalars and strings) writes element i in place. */
export type ArrayView<E> = E extends ScalarType | CharType
  ? ArrayViewMethods<E> & { [index: number]: View<E> }
  : ArrayViewMethods<E> & { readonly [index: number]: View<E> };

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

  /** @internal Made by {@link array}. The constructor is private, so that the published types offer no way to call it. */
  static make<E extends Type>(element: E, length: number): ArrayType<E> {
    return new ArrayType(element, length);
  }

  private constructor(element: E, length: number) {
    this.element = element;
    this.length = length;
    this.size = element.size * length;
    this.align = element.align;
    knownTypes.add(this);
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

  /**
   * Writes every element at `offset` (default 0); checks all of `value` before
   * writing anything. A view of the same type is copied byte for byte, as
   * `memmove` does (overlapping included).
   */
  write(source: MemorySource, value: ArrayLike<Input<E>>, offset = 0): void {
    writeOf(this, source, value, offset);
  }
}

/**
 * A C struct type, made by {@link struct}: its layout equals gcc's for the
 * same declaration on x86-64 and AArch64 Linux.
 */
export class StructType<F extends Fields = Fields> {
  readonly kind = 'struct' as const;
  /** The members as declared. */
  readonly fields: Readonly<F>;
  /** Each member with its offset, in declaration order. */
  readonly layout: readonly FieldLayout[];
  /** `sizeof`, padding at the end included. */
  readonly size: number;
  /** `_Alignof`. */
  readonly align: number;
  /** Whether it is `packed`. */
  readonly packed: boolean;
  readonly #byName: ReadonlyMap<string, FieldLayout>;

  /** @internal Made by {@link struct}. The constructor is private, so that the published types offer no way to call it. */
  static make<F extends Fields>(fields: F, packed: boolean, align: number | undefined): StructType<F> {
    return new StructType(fields, packed, align);
  }

  private constructor(fields: F, packed: boolean, align: number | undefined) {
    // Read once, and only shmkit's own types: view code is compiled from them.
    const members = Object.entries(fields);
    for (const [name, type] of members) if (!isType(type)) throw invalidType(`fields.${name}`, 'a struct field type', type);
    const computed = layoutStruct(members, packed, align);
    this.fields = Object.freeze(Object.fromEntries(members) as F);
    this.layout = computed.layout;
    this.size = computed.size;
    this.align = computed.align;
    this.packed = packed;
    this.#byName = new Map(computed.layout.map((field) => [field.name, field]));
    knownTypes.add(this);
    Object.freeze(this);
  }

  /**
   * `offsetof(struct, path)`: the byte offset of a member. `path` is a field
   * name or, as gcc's offsetof accepts, a path into nested members such as
   * `header.size`, `items[3].id` or `name[2]` (one char of a `char(n)`).
   * @throws TypeError for a path that names no member; RangeError for an index past the end.
   */
  offsetOf(path: (keyof F & string) | (string & {})): number {
    if (typeof path !== 'string') throw invalidType('path', 'of type string', path);
    const steps = parsePath(path);
    if (steps === undefined) throw invalidType('path', 'a member name or path such as a.b[2].c', path);
    // undefined once the path names one char of a char[n]: nothing is inside it.
    let type: Type | undefined = this;
    let offset = 0;
    for (const step of steps) {
      if (type === undefined) throw invalidType('path', 'a member path (a char has no members or elements)', path);
      if ('field' in step) {
        const field: FieldLayout | undefined = type.kind === 'struct' ? type.#byName.get(step.field) : undefined;
        if (field === undefined) {
          throw invalidType('path', `a member of the struct (no member "${shorten(step.field)}" in ${describeType(type)})`, path);
        }
        offset += field.offset;
        type = field.type;
      } else {
        // char(n) is C's char name[n], an array too: offsetof(s, name[3]) is valid C.
        if (type.kind !== 'array' && type.kind !== 'char') {
          throw invalidType('path', `a member path (${describeType(type)} is not an array)`, path);
        }
        if (step.index >= type.length) throw outOfRange('path', `an index < ${type.length} in [${step.index}]`, path);
        if (type.kind === 'char') {
          offset += step.index;
          type = undefined;
        } else {
          offset += step.index * type.element.size;
          type = type.element;
        }
      }
    }
    return offset;
  }

  /**
   * A live view of the struct at `offset` (default 0) of `source`: each
   * field is a getter and setter on the memory itself, so another process
   * sees a set at once, and a get shows what is there now. Struct and array
   * members are views too. A view of a read-only SharedMemory reads in
   * place and its setters throw StateError ERR_SHM_READ_ONLY; after
   * detach, every access throws StateError ERR_SHM_DETACHED.
   * @example
   * const StPid = struct({ pid: int32, name: char(51) });
   * const st = StPid.view(shm);
   * st.pid = process.pid;
   */
  view(source: MemorySource, offset = 0): StructView<F> {
    return viewOf(this, source, offset) as StructView<F>;
  }

  /** A plain snapshot of the struct at `offset` (default 0). */
  read(source: MemorySource, offset = 0): Value<StructType<F>> {
    return readOf(this, source, offset) as Value<StructType<F>>;
  }

  /**
   * Writes a whole value at `offset` (default 0): every field must be given.
   * Checks all of it first, so an invalid value changes nothing. A view of
   * the same type (as `value`, or as a member of it) is copied byte for byte,
   * padding included, as `memmove` does (overlapping included).
   */
  write(source: MemorySource, value: Input<StructType<F>>, offset = 0): void {
    writeOf(this, source, value, offset);
  }
}

function describeType(type: Type): string {
  switch (type.kind) {
    case 'struct':
      return 'a struct';
    case 'array':
      return 'an array';
    case 'char':
      return `a char[${type.length}]`;
    default:
      // "an int8", but "a uint16" (you-int), "a float32", "a bool".
      return `${type.kind.startsWith('int') ? 'an' : 'a'} ${type.kind}`;
  }
}
