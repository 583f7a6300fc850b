// char[n] as a C string: UTF-8 up to the first NUL. Writing is all or
// nothing, so a reader never sees half a string or half a character.
import { invalidType, invalidValue, outOfRange } from '../core/errors.js';
import { copyOfRange, ReflectApply, StringFromCharCode, typedArrayLength } from '../core/primordials.js';

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();
/** Kept between writes up to this size; a larger string gets a buffer of its own. */
const KEEP_MAX = 1 << 16;
let scratch = new Uint8Array(256);

/**
 * @internal The string in `bytes[offset .. offset+n)`: up to the first NUL, or
 * all n bytes if a C program left no NUL. Invalid UTF-8 decodes to U+FFFD.
 */
export function decodeChar(bytes: Uint8Array, offset: number, n: number): string {
  const end = offset + n;
  // A view whose buffer was detached has length 0: let the caller report it.
  // `bytes` may cover a read-only attachment: only captured built-ins touch it,
  // and what is decoded is a copy (src/core/primordials.ts).
  if (end > typedArrayLength(bytes)) throw new RangeError('char field lies outside its memory');
  let stop = offset;
  let ascii = true;
  for (; stop < end; stop++) {
    const byte = bytes[stop]!;
    if (byte === 0) break;
    if (byte >= 0x80) ascii = false;
  }
  if (stop === offset) return '';
  // A copy also because TextDecoder refuses views of a SharedArrayBuffer.
  const copy = copyOfRange(bytes, offset, stop);
  if (ascii && stop - offset <= 64) return ReflectApply(StringFromCharCode, null, copy as unknown as number[]);
  return decoder.decode(copy);
}

/**
 * @internal Writes `value` and a NUL into `bytes[offset .. offset+n)` and zeroes
 * the rest. Checks first: a value that does not fit changes nothing.
 * @throws TypeError for a non-string, a string with a NUL or a lone
 *   surrogate; RangeError when its UTF-8 is longer than n-1 bytes.
 */
export function encodeChar(bytes: Uint8Array, offset: number, n: number, value: unknown, name: string): void {
  const utf8 = encodeUtf8(value, n, name);
  if (offset + n > bytes.length) throw new RangeError('char field lies outside its memory');
  bytes.set(utf8, offset);
  bytes.fill(0, offset + utf8.length, offset + n);
}

/**
 * @internal Checks `value` for a char[n] and returns its UTF-8, valid until
 * the next call.
 */
export function encodeUtf8(value: unknown, n: number, name: string): Uint8Array {
  if (typeof value !== 'string') throw invalidType(name, 'of type string', value);
  if (value.includes('\0')) throw invalidType(name, 'a string without null bytes (a C string ends at the first)', value);
  // encodeInto would store a lone surrogate as U+FFFD: a string read back
  // different from the one written, with no error.
  if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw invalidValue(
      name,
      'it must be well-formed Unicode: a lone surrogate has no UTF-8, and would be stored as U+FFFD (EF BF BD)',
      value,
    );
  }
  // Room for the string, not for the field: UTF-8 takes at most 3 bytes per
  // UTF-16 unit, and a field may be 1 GiB (sizing by n kept n bytes for good).
  const room = Math.min(n - 1, 3 * value.length);
  let buffer = scratch;
  if (buffer.length < room) {
    buffer = new Uint8Array(Math.max(room, Math.min(scratch.length * 2, KEEP_MAX)));
    if (buffer.length <= KEEP_MAX) scratch = buffer;
  }
  // encodeInto stops before a character that does not fit, never inside one.
  const { read, written } = encoder.encodeInto(value, buffer.subarray(0, room));
  if (read !== value.length) {
    throw outOfRange(
      name,
      `at most ${n - 1} bytes of UTF-8 (char[${n}] keeps one byte for the NUL); it has ${Buffer.byteLength(value, 'utf8')}`,
      value,
    );
  }
  return buffer.subarray(0, written);
}
