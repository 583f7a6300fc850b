// Errors shmkit throws. System calls fail with IpcError (Node's SystemError
// shape); misuse of an object's state fails with StateError.
import { constants as osConstants } from 'node:os';
import { native } from './native.js';
import { invalidType, outOfRange } from './validate.js';

// The first name wins: 11 is EAGAIN, not its alias EWOULDBLOCK.
const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** The symbolic name of an errno number, such as `EEXIST` for 17. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** The errno number for what IpcError's constructor was given: a number (either sign) or a name. */
function errnoOf(errno: unknown): number {
  if (typeof errno === 'string') {
    const value = (osConstants.errno as Record<string, number | undefined>)[errno];
    if (value === undefined) throw outOfRange('errno', "an errno name such as 'EEXIST' (one of os.constants.errno)", errno);
    return value;
  }
  if (typeof errno !== 'number') throw invalidType('errno', "of type number or string (an errno such as 17, -17 or 'EEXIST')", errno);
  if (!Number.isInteger(errno) || errno === 0 || Math.abs(errno) > 4095) {
    throw outOfRange('errno', 'a non-zero integer errno from -4095 to 4095', errno);
  }
  return Math.abs(errno);
}

/**
 * A failed system call. `code` is the errno name (`'EEXIST'`), `errno` its
 * positive number as in C and `os.constants.errno`, `syscall` the call
 * (`'shmget'`), and the message names the call and the argument at fault.
 *
 * To make one: `new IpcError('shmget', 'EEXIST', 'key 0x1234')`; the errno
 * may also be given as a number, positive as in C or negative as in Node's
 * system errors.
 */
export class IpcError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;

  constructor(syscall: string, errno: number | string, detail?: string) {
    if (typeof syscall !== 'string') throw invalidType('syscall', 'of type string', syscall);
    if (detail !== undefined && typeof detail !== 'string') throw invalidType('detail', 'of type string', detail);
    errno = errnoOf(errno);
    const code = errnoName(errno);
    super(`${syscall}: ${code} (${native.strerror(errno)})${detail ? `: ${detail}` : ''}`);
    this.name = 'IpcError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** Use of an object in a state that forbids it: detached, read-only. */
export class StateError extends Error {
  readonly code: string;

  constructor(
    code: 'ERR_SHM_DETACHED' | 'ERR_SHM_READ_ONLY' | 'ERR_SHM_TRANSFERRED' | 'ERR_SHM_TOO_LARGE' | 'ERR_SEM_CLOSED' | 'ERR_MUTEX_NOT_HELD',
    message: string,
  ) {
    super(message);
    this.name = 'StateError';
    this.code = code;
  }
}

/**
 * Turns a shim's result into its value, or throws an IpcError. `explain`
 * receives the errno name and returns the words that name the argument.
 */
export function check<T>(result: T | number, syscall: string, explain: (code: string) => string): T {
  if (typeof result === 'number' && result < 0) {
    const errno = -result;
    throw new IpcError(syscall, errno, explain(errnoName(errno)));
  }
  return result as T;
}
