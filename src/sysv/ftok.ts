import { check, invalidType, withHint } from '../core/errors.js';
import { native } from '../core/native.js';
import { validateInteger } from '../core/validate.js';
import { hint } from './hints.js';

/**
 * `ftok(3)`: derives a System V key from an existing file and a project id,
 * exactly as the C library does (only the low 8 bits of `projId` are used).
 * Returns a `key_t` (a signed 32-bit number, as in C).
 * @throws IpcError ENOENT (the message names what is missing) / EACCES when the file cannot be stat'ed.
 */
export function ftok(path: string, projId: number): number {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw invalidType('path', 'a non-empty string without NUL bytes', path);
  }
  validateInteger(projId, 'projId', 0, 0xffff_ffff);
  const key = check(native.ftok(path, projId | 0), 'ftok', (code) => withHint(`path '${path}'`, hint(code, { path })));
  return key | 0;
}
