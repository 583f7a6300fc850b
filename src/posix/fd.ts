// Descriptor calls: those Node's fs already makes (fstat, ftruncate, fchmod)
// go through Node, the few it lacks (fallocate, fcntl F_DUPFD_CLOEXEC and
// F_GETFL) through the addon; failures are IpcErrors like every other call
// here, with the errno Node's own error had (negative, as Node's). The
// descriptors of PosixSharedMemory objects are owned by the addon's record
// of this thread (closed when the thread ends, whatever its JavaScript did),
// so they are duplicated and closed through it too.
import { fchmodSync, fstatSync, ftruncateSync, type Stats } from 'node:fs';
import { check, ipcError } from '../core/errors.js';
import { native } from '../core/native.js';
import { F_GETFL, O_ACCMODE } from './constants.js';

/** Node's SystemError as an IpcError of `syscall`, with `detail` naming the argument. */
function rethrow(error: unknown, syscall: string, detail: string): never {
  const errno = (error as NodeJS.ErrnoException | null)?.errno;
  if (typeof errno === 'number' && errno !== 0) throw ipcError(syscall, errno, detail);
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
    // `| 0`: a mode of -0 passes every check (an integer from 0 to 0o777), but Node's binding
    // asserts that it is an Int32 and aborts the process on -0 (Node 20 to 26).
    fchmodSync(fd, mode | 0);
  } catch (error) {
    rethrow(error, 'fchmod', `${describe((error as NodeJS.ErrnoException).code, fd, what)}, mode 0o${mode.toString(8)}`);
  }
}

/**
 * @internal close(2) of an owned descriptor (any descriptor, in fact), which
 * the thread's record then forgets; never throws (EBADF: already closed;
 * EINTR/EIO: Linux releases the descriptor anyway). An owned number that
 * the program closed itself and that now names another file stays open.
 */
export function closeQuietly(fd: number): void {
  native.closeOwned(fd);
}

/** @internal The object made through owned descriptor `fd` is complete: its name outlives this thread. */
export function keepName(fd: number): void {
  native.keepName(fd);
}

/**
 * @internal fallocate(fd, 0, 0, length): the file's pages, reserved now, so
 * that a full tmpfs is ENOSPC here and never SIGBUS at a later touch.
 */
export function fallocate(fd: number, length: number, label: string): void {
  check(native.fallocate(fd, length), 'fallocate', (code) =>
    code === 'ENOSPC'
      ? `${label}, size ${length}: not enough room in /dev/shm (tmpfs) for the memory; free some or make it larger`
      : `${label}, size ${length}`,
  );
}

/** @internal fcntl(fd, F_DUPFD_CLOEXEC, 0): a descriptor of this process's own for the same file, owned (see closeQuietly). */
export function dupCloexec(fd: number): number {
  return check(native.dupOwned(fd), 'fcntl', (code) =>
    code === 'EBADF' ? `fd ${fd}, F_DUPFD_CLOEXEC: not an open descriptor` : `fd ${fd}, F_DUPFD_CLOEXEC`,
  );
}

/** @internal The access mode `fd` was opened with (fcntl F_GETFL & O_ACCMODE): O_RDONLY, O_WRONLY or O_RDWR. */
export function accessMode(fd: number, label = `fd ${fd}`): number {
  return check(native.fcntlInt(fd, F_GETFL, 0), 'fcntl', () => `${label}, F_GETFL`) & O_ACCMODE;
}
