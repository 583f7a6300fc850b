// The descriptor calls Node's fs already makes (fstat, ftruncate, fchmod,
// close), with failures reported as IpcError like every other call here.
import { closeSync, fchmodSync, fstatSync, ftruncateSync, type Stats } from 'node:fs';
import { IpcError } from '../errors.js';

/** Node's SystemError as an IpcError of `syscall`, with `detail` naming the argument. */
function rethrow(error: unknown, syscall: string, detail: string): never {
  const errno = (error as NodeJS.ErrnoException | null)?.errno;
  if (typeof errno === 'number' && errno !== 0) throw new IpcError(syscall, errno, detail);
  throw error;
}

function describe(code: string | undefined, fd: number, what: string): string {
  return code === 'EBADF' ? `fd ${fd}${what}: not an open descriptor` : `fd ${fd}${what}`;
}

/** @internal fstat(2) through Node. */
export function fstat(fd: number, syscall: string, what = ''): Stats {
  try {
    return fstatSync(fd);
  } catch (error) {
    rethrow(error, syscall, describe((error as NodeJS.ErrnoException).code, fd, what));
  }
}

/** @internal ftruncate(2) through Node. */
export function ftruncate(fd: number, length: number, what = ''): void {
  try {
    ftruncateSync(fd, length);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EPERM' ? ': the memfd is sealed against this size change (F_SEAL_SHRINK / F_SEAL_GROW)' : '';
    rethrow(error, 'ftruncate', `${describe(code, fd, what)}, length ${length}${reason}`);
  }
}

/** @internal fchmod(2) through Node. */
export function fchmod(fd: number, mode: number, what = ''): void {
  try {
    fchmodSync(fd, mode);
  } catch (error) {
    rethrow(error, 'fchmod', `${describe((error as NodeJS.ErrnoException).code, fd, what)}, mode 0o${mode.toString(8)}`);
  }
}

/** @internal close(2) through Node; never throws (the descriptor is gone either way on Linux). */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EBADF: already closed; EINTR/EIO: Linux releases the descriptor anyway.
  }
}
