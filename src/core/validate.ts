// Argument checks done before any system call, with Node's error codes and
// wording (the errors themselves are made in errors.ts).
import { invalidType, outOfRange } from './errors.js';

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
