// Argument checks done before any system call, with Node's error codes and wording.
import { isArrayBuffer } from 'node:util/types';

type CodedError = Error & { code: string };

function coded<E extends Error>(error: E, code: string): E & CodedError {
  return Object.assign(error, { code });
}

function describe(value: unknown): string {
  // Describing must never throw: the value may be anything a caller made
  // (an object with ArrayBuffer.prototype that is no ArrayBuffer, a throwing getter).
  try {
    return describeUnsafe(value);
  } catch {
    return `type ${typeof value}`;
  }
}

function describeUnsafe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return `type string ('${value}')`;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of ${value.byteLength} bytes`;
  if (isArrayBuffer(value)) return `an ArrayBuffer of ${value.byteLength} bytes`;
  return `type ${typeof value}`;
}

/** TypeError [ERR_INVALID_ARG_TYPE] naming the argument. */
export function invalidType(name: string, expected: string, value: unknown): TypeError {
  return coded(
    new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

/** RangeError [ERR_OUT_OF_RANGE] naming the argument. */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return coded(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(value)}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** TypeError [ERR_INVALID_ARG_VALUE]: the argument has the right type but cannot be used; `reason` says why. */
export function invalidValue(name: string, reason: string, value: unknown): TypeError {
  return coded(new TypeError(`The argument '${name}' is invalid: ${reason}. Received ${describe(value)}`), 'ERR_INVALID_ARG_VALUE');
}

/** A number that is an integer within [min, max]. */
export function validateInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, `an integer >= ${min} and <= ${max}`, value);
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

export function validateObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidType(name, 'of type object', value);
  }
  return value as Record<string, unknown>;
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
