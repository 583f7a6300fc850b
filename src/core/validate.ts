// Argument checks done before any system call, with Node's error codes and
// wording (the errors themselves are made in errors.ts).
import { invalidType, invalidValue, outOfRange, quote, shorten } from './errors.js';

/** A number that is an integer within [min, max]. */
export function validateInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, `an integer >= ${min} and <= ${max}`, value);
  }
  return value;
}

/** How many of something: an integer >= 0, or Infinity (as many as there are). */
export function validateCount(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value);
  if (!(value >= 0) || (value !== Number.POSITIVE_INFINITY && !Number.isInteger(value))) {
    throw outOfRange(name, 'an integer >= 0, or Infinity (all)', value);
  }
  return value;
}

export const INT32_MIN = -0x8000_0000;
export const INT32_MAX = 0x7fff_ffff;
export const UINT32_MAX = 0xffff_ffff;

/** An IPC key: any 32-bit pattern, given signed (as key_t) or unsigned (as ipcs prints it). Returns key_t. */
export function validateKey(value: unknown, name = 'key'): number {
  return validateInteger(value, name, INT32_MIN, UINT32_MAX) | 0;
}

/** An IPC id or index: a C int (the kernel judges negative ones). */
export function validateId(value: unknown, name: string): number {
  return validateInteger(value, name, INT32_MIN, INT32_MAX);
}

/** Flag bits: a non-negative C int. */
export function validateFlags(value: unknown, name: string): number {
  return validateInteger(value, name, 0, INT32_MAX);
}

/** A byte count or offset. */
export function validateSize(value: unknown, name: string): number {
  return validateInteger(value, name, 0, Number.MAX_SAFE_INTEGER);
}

/** Permission bits (rwx for user, group, other). */
export function validateMode(value: unknown, name = 'mode'): number {
  return validateInteger(value, name, 0, 0o777);
}

/** An optional boolean option, false when absent. Anything else (1, 'yes') is a TypeError: it must not pass for false. */
export function validateOptionalBoolean(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidType(name, 'of type boolean', value);
  return value;
}

export function validateObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidType(name, 'of type object', value);
  }
  return value as Record<string, unknown>;
}

/** A C identifier: what a message names as `object.key` rather than `object['key']`. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How a message names member `key` of `object`: `options.a`, `options['a-b']`, `options[Symbol(x)]`. */
export function keyName(object: string, key: string | symbol): string {
  if (typeof key === 'symbol') return `${object}[${shorten(String(key))}]`;
  return IDENTIFIER.test(key) ? `${object}.${shorten(key)}` : `${object}[${quote(key)}]`;
}

/** The keys of every member of a union (`keyof` of a union has only the keys all of them share). */
type KeysOf<T> = T extends unknown ? keyof T & string : never;
/** The keys of `T` that `names` lacks. */
type Missing<T, N extends readonly string[]> = Exclude<KeysOf<T>, N[number]>;

/**
 * @internal The options a call takes, named once from its options type:
 * `optionNames<XOptions>()('a', 'b')` is a type error if it names one that
 * XOptions lacks, or lacks one it has (`missing: 'c'`), so that the list
 * cannot drift from the type. For {@link validateOptions}.
 */
export function optionNames<T>(): <const N extends readonly KeysOf<T>[]>(
  ...names: N & ([Missing<T, N>] extends [never] ? unknown : { missing: Missing<T, N> })
) => readonly string[] {
  return (...names) => names;
}

/** Edit distance of two strings (a letter added, dropped, changed, or two swapped), for {@link validateOptions}'s suggestion. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i + j));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const above = d[i - 1]!;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known option `key` most likely stands for: the same but for case, a prefix of it or it of one, or a letter or two off. */
function nearest(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  if (k === '') return undefined;
  const lower = known.map((option) => option.toLowerCase());
  const tests = [
    (option: string) => option === k,
    (option: string) => option.startsWith(k) || k.startsWith(option),
    (option: string) => distance(k, option) <= (Math.min(k.length, option.length) > 4 ? 2 : 1),
  ];
  for (const test of tests) {
    const at = lower.findIndex(test);
    if (at >= 0) return known[at];
  }
  return undefined;
}

/**
 * An options object (as {@link validateObject}) whose own keys are all among
 * `known`: any other, misspelt (`readonly`) or meant for another call, would be
 * passed over silently. Otherwise a TypeError ERR_INVALID_ARG_VALUE naming the
 * key (`options.readonly`), the options `call` takes, and the one meant when
 * one is close (`did you mean 'readOnly'?`). For the calls that create or open
 * something, before they do; not for per-message options (a hot path).
 */
export function validateOptions(value: unknown, known: readonly string[], call: string, name = 'options'): Record<string, unknown> {
  const opts = validateObject(value, name);
  for (const key of Reflect.ownKeys(opts)) {
    if (typeof key === 'string' && known.includes(key)) continue;
    const near = typeof key === 'string' ? nearest(key, known) : undefined;
    const list = known.length > 1 ? `${known.slice(0, -1).join(', ')} and ${known.at(-1)}` : known.join('');
    throw invalidValue(
      keyName(name, key),
      `not an option of ${call}, which takes ${list}${near === undefined ? '' : `; did you mean '${near}'?`}`,
      (opts as Record<PropertyKey, unknown>)[key],
    );
  }
  return opts;
}

/** An optional AbortSignal: undefined, or an AbortSignal (else ERR_INVALID_ARG_TYPE naming `name`). */
export function validateAbortSignal(value: unknown, name: string): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) throw invalidType(name, 'an instance of AbortSignal', value);
  return value;
}

/** `[offset, offset + length)` lies within a region of `size` bytes. */
export function validateRange(offset: unknown, length: unknown, size: number): [number, number] {
  const start = validateSize(offset, 'offset');
  if (start > size) throw outOfRange('offset', `<= ${size} (the size)`, start);
  const count = length === undefined ? size - start : validateSize(length, 'length');
  if (start + count > size) {
    throw outOfRange('length', `<= ${size - start} (the size ${size} less the offset ${start})`, count);
  }
  return [start, count];
}
