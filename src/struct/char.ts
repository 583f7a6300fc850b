// char[n] as a C string: UTF-8 up to the first NUL. Writing is all or
// nothing, so a reader never sees half a string or half a character.
import { invalidType, outOfRange } from '../core/errors.js';
import { copyOfRange, ReflectApply, StringFromCharCode, typedArrayLength } from '../core/primordials.js';

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();
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
 * @throws TypeError for a non-string or a string with a NUL; RangeError when
 *   its UTF-8 is longer than n-1 bytes.
 */
export function encodeChar(bytes: Uint8Array, offset: number, n: number, value: unknown, name: string): void {
  const length = encodedLength(value, n, name);
  if (offset + n > bytes.length) throw new RangeError('char field lies outside its memory');
  bytes.set(scratch.subarray(0, length), offset);
  bytes.fill(0, offset + length, offset + n);
}

/**
 * @internal Checks `value` for a char[n] and leaves its UTF-8 in the scratch
 * buffer; returns its length in bytes.
 */
export function encodedLength(value: unknown, n: number, name: string): number {
  if (typeof value !== 'string') throw invalidType(name, 'of type string', value);
  if (value.includes('\0')) throw invalidType(name, 'a string without null bytes (a C string ends at the first)', value);
  if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
  // encodeInto stops before a character that does not fit, never inside one.
  const { read, written } = encoder.encodeInto(value, scratch.subarray(0, n - 1));
  if (read !== value.length) {
    throw outOfRange(
      name,
      `at most ${n - 1} bytes of UTF-8 (char[${n}] keeps one byte for the NUL); it has ${Buffer.byteLength(value, 'utf8')}`,
      value,
    );
  }
  return written;
}
