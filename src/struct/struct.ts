// struct({ ... }): declares a C struct type (StructType, in types.ts) from
// its members, checked.
import { invalidType, invalidValue, outOfRange } from '../core/errors.js';
import { optionNames, IDENTIFIER, keyName, validateObject, validateOptions } from '../core/validate.js';
import { isType, MAX_TYPE_SIZE, StructType, type Fields } from './types.js';

/** Options of {@link struct}, as gcc's `__attribute__((packed, aligned(n)))`. Any other key is refused. */
export interface StructOptions {
  /** No padding between members: each is aligned to 1 (`packed`). Default false. */
  packed?: boolean | undefined;
  /**
   * The struct's minimum alignment, a power of two up to 4096 (`aligned(n)`).
   * It raises the alignment (and the size to a multiple of it), never lowers it.
   */
  align?: number | undefined;
}

const MAX_ALIGN = 4096;
const OPTIONS = optionNames<StructOptions>()('packed', 'align');

/**
 * Declares a C struct. Members keep the order given, and the layout equals
 * gcc's for the same C declaration on this machine.
 * @param fields each member's name (a C identifier) and type: `int8 ... uint64`,
 *   `float32`, `float64`, `bool`, `char(n)`, `array(type, n)`, or another struct.
 * @param options `packed` and `align`, as gcc's `__attribute__((packed, aligned(n)))`.
 * @throws TypeError ERR_INVALID_ARG_VALUE for an unknown option, and for
 *   `fields` with a prototype other than Object.prototype or null, or with a
 *   non-enumerable member; ERR_INVALID_ARG_TYPE for a member named by a
 *   symbol or by no C identifier, or of no field type.
 * @example
 * // struct st_pid { int pid; char name[51]; };
 * const StPid = struct({ pid: int32, name: char(51) });
 * StPid.size; // 56
 */
export function struct<F extends Fields>(fields: F, options: StructOptions = {}): StructType<F> {
  validateObject(fields, 'fields');
  validateObject(options, 'options');
  // What Object.entries() would pass over silently, so that no member is lost:
  // a prototype's members (`{ __proto__: int32, a: int8 }` sets the prototype
  // in a literal), symbol keys and non-enumerable members.
  const prototype: unknown = Object.getPrototypeOf(fields);
  if (prototype !== Object.prototype && prototype !== null) {
    throw invalidValue(
      'fields',
      "its prototype is neither Object.prototype nor null, and what it inherits would be lost (in a literal, `__proto__: type` sets the prototype; `['__proto__']: type` is a member)",
      fields,
    );
  }
  for (const key of Reflect.ownKeys(fields)) {
    if (typeof key === 'symbol') throw invalidType(keyName('fields', key), 'named by a C identifier, not a symbol', key);
    if (!Object.getOwnPropertyDescriptor(fields, key)?.enumerable) {
      throw invalidValue(keyName('fields', key), 'a non-enumerable member, which Object.entries() passes over', key);
    }
  }
  validateOptions(options, OPTIONS, 'struct()');
  // Each member read once: a getter (or a Proxy) could hand the check one type
  // and the layout, whose view code is compiled from it, another.
  const members = Object.entries(fields);
  if (members.length === 0) throw outOfRange('fields', 'an object with at least one member', fields);
  for (const [name, type] of members) {
    if (!IDENTIFIER.test(name)) throw invalidType(keyName('fields', name), 'named by a C identifier', name);
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
