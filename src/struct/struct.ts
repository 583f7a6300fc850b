// struct({ ... }): declares a C struct type (StructType, in types.ts) from
// its members, checked.
import { invalidType, outOfRange, quote } from '../core/errors.js';
import { validateObject } from '../core/validate.js';
import { isType, MAX_TYPE_SIZE, StructType, type Fields } from './types.js';

/** Options of {@link struct}, as gcc's `__attribute__((packed, aligned(n)))`. */
export interface StructOptions {
  /** No padding between members: each is aligned to 1 (`packed`). Default false. */
  packed?: boolean | undefined;
  /**
   * The struct's minimum alignment, a power of two up to 4096 (`aligned(n)`).
   * It raises the alignment (and the size to a multiple of it), never lowers it.
   */
  align?: number | undefined;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ALIGN = 4096;

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
  // Each member read once: a getter (or a Proxy) could hand the check one type
  // and the layout, whose view code is compiled from it, another.
  const members = Object.entries(fields);
  if (members.length === 0) throw outOfRange('fields', 'an object with at least one member', fields);
  for (const [name, type] of members) {
    // Quoted: a name that is no identifier may be long, or hold a NUL.
    if (!IDENTIFIER.test(name)) throw invalidType(`fields[${quote(name)}]`, 'named by a C identifier', name);
    if (!isType(type)) {
      throw invalidType(`fields.${name}`, 'a struct field type (int8 ... bool, char(n), array(...), struct(...))', type);
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
  const type = StructType.make(Object.fromEntries(members) as F, packed, align);
  if (type.size > MAX_TYPE_SIZE) throw outOfRange('fields', `members of at most ${MAX_TYPE_SIZE} bytes in all`, type.size);
  return type;
}
