// struct({ ... }): a C struct's layout, and views, snapshots and writes of it
// in shared memory.
import { invalidType, outOfRange, validateObject } from '../core/validate.js';
import { readOf, viewOf, writeOf } from './access.js';
import { layoutStruct, parsePath, type FieldLayout } from './layout.js';
import type { MemorySource } from './memory.js';
import { isType, MAX_TYPE_SIZE, registerType, type Input, type StructView, type Type, type Value } from './types.js';

/** A struct's members: each name (a C identifier) and its type, in declaration order. */
export type Fields = { readonly [name: string]: Type };

/** Options of {@link struct}, as gcc's `__attribute__((packed, aligned(n)))`. */
export interface StructOptions {
  /** No padding between members: each is aligned to 1 (`packed`). Default false. */
  packed?: boolean;
  /**
   * The struct's minimum alignment, a power of two up to 4096 (`aligned(n)`).
   * It raises the alignment (and the size to a multiple of it), never lowers it.
   */
  align?: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ALIGN = 4096;

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

  /** @internal Made by {@link struct}. */
  constructor(fields: F, packed: boolean, align: number | undefined) {
    const members = Object.entries(fields);
    const computed = layoutStruct(members, packed, align);
    this.fields = Object.freeze({ ...fields });
    this.layout = computed.layout;
    this.size = computed.size;
    this.align = computed.align;
    this.packed = packed;
    this.#byName = new Map(computed.layout.map((field) => [field.name, field]));
    registerType(this);
    Object.freeze(this);
  }

  /**
   * `offsetof(struct, path)`: the byte offset of a member. `path` is a field
   * name or, as gcc's offsetof accepts, a path into nested members such as
   * `header.size` or `items[3].id`.
   * @throws TypeError for a path that names no member; RangeError for an index past the end.
   */
  offsetOf(path: (keyof F & string) | (string & {})): number {
    if (typeof path !== 'string') throw invalidType('path', 'of type string', path);
    const steps = parsePath(path);
    if (steps === undefined) throw invalidType('path', 'a member name or path such as a.b[2].c', path);
    let type: Type = this;
    let offset = 0;
    for (const step of steps) {
      if ('field' in step) {
        const field: FieldLayout | undefined = type.kind === 'struct' ? type.#byName.get(step.field) : undefined;
        if (field === undefined) {
          throw invalidType('path', `a member of the struct (no member "${step.field}" in ${describeType(type)})`, path);
        }
        offset += field.offset;
        type = field.type;
      } else {
        if (type.kind !== 'array') throw invalidType('path', `a member path (${describeType(type)} is not an array)`, path);
        if (step.index >= type.length) throw outOfRange('path', `an index < ${type.length} in [${step.index}]`, path);
        offset += step.index * type.element.size;
        type = type.element;
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
   * Checks all of it first, so an invalid value changes nothing.
   */
  write(source: MemorySource, value: Input<StructType<F>>, offset = 0): void {
    writeOf(this, source, value, offset);
  }
}

function describeType(type: Type): string {
  switch (type.kind) {
    case 'struct': return 'a struct';
    case 'array': return 'an array';
    case 'char': return `a char[${type.length}]`;
    default: return `an ${type.kind}`;
  }
}

/**
 * Declares a C struct. Members keep the order given, and the layout equals
 * gcc's for the same C declaration on this machine.
 * @param fields each member's name (a C identifier) and type: `int8 ... uint64`,
 *   `float32`, `float64`, `bool`, `char(n)`, `array(type, n)`, or another struct.
 * @param options `packed` and `align`, as gcc's `__attribute__((packed, aligned(n)))`.
 * @example
 * // struct st_pid { int pid; char name[51]; };
 * const StPid = struct({ pid: int32, name: char(51) });
 * StPid.size; // 56
 */
export function struct<F extends Fields>(fields: F, options: StructOptions = {}): StructType<F> {
  validateObject(fields, 'fields');
  validateObject(options, 'options');
  const names = Object.keys(fields);
  if (names.length === 0) throw outOfRange('fields', 'an object with at least one member', fields);
  for (const name of names) {
    if (!IDENTIFIER.test(name)) throw invalidType(`fields.${name}`, 'named by a C identifier', name);
    if (!isType(fields[name])) {
      throw invalidType(`fields.${name}`, 'a struct field type (int8 ... bool, char(n), array(...), struct(...))', fields[name]);
    }
  }
  const { packed = false, align } = options;
  if (typeof packed !== 'boolean') throw invalidType('options.packed', 'of type boolean', packed);
  if (align !== undefined) {
    if (typeof align !== 'number') throw invalidType('options.align', 'of type number', align);
    if (!Number.isInteger(align) || align < 1 || align > MAX_ALIGN || (align & (align - 1)) !== 0) {
      throw outOfRange('options.align', `a power of two from 1 to ${MAX_ALIGN}`, align);
    }
  }
  const type = new StructType(fields, packed, align);
  if (type.size > MAX_TYPE_SIZE) throw outOfRange('fields', `members of at most ${MAX_TYPE_SIZE} bytes in all`, type.size);
  return type;
}
