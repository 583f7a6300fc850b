// Descriptor calls: those Node's fs already makes (fstat, ftruncate, fchmod)
// go through Node, the few it lacks (fallocate, fcntl F_DUPFD_CLOEXEC and
// F_GETFL) through the addon; failures are IpcErrors like every other call
// here, with the errno Node's own error had (negative, as Node's). The
// descriptors of PosixSharedMemory objects are owned by the addon's records
// (closed when their thread ends, whatever its JavaScript did),
// so they are duplicated and closed through it too.
import { type BigIntStats, fchmodSync, fstatSync, ftruncateSync, type Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { check, ipcError } from '../core/errors.js';
import { memoryRoom } from '../core/memory.js';
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

/** @internal fstat(2) through Node, with sizes as bigint: exact past 2^53. */
export function fstatExact(fd: number, syscall: string, what = ''): BigIntStats {
  try {
    return fstatSync(fd, { bigint: true });
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
 * @internal A descriptor a shmkit object owns (shmOpenOwned, memfdCreateOwned,
 * dupCloexec): its number, and the token of its record, by which only its
 * owner reaches it. The program may close the number itself, and the kernel
 * then gives it to the next file opened, which its owner must never touch.
 */
export interface OwnedFd {
  readonly fd: number;
  readonly token: number;
}

/** @internal The owned descriptor `fd`, just made by this thread. */
export function owned(fd: number): OwnedFd {
  return { fd, token: native.ownedToken(fd) };
}

/**
 * @internal close(2) of an owned descriptor, whose record is then forgotten;
 * never throws (EBADF: the program closed it; EINTR/EIO: Linux releases the
 * descriptor anyway). A number the program closed stays as it is now: maybe
 * another file's.
 */
export function closeQuietly(owner: OwnedFd): void {
  native.closeOwned(owner.fd, owner.token);
}

/**
 * @internal The number of owned descriptor `owner` for `call`; IpcError
 * EBADF if the program closed it (the number may name another file now).
 */
export function liveFd(owner: OwnedFd, call: string, what: string): number {
  if (native.ownedLive(owner.fd, owner.token) < 0) {
    throw ipcError(
      call,
      osConstants.errno.EBADF,
      `${what}: its descriptor ${owner.fd} was closed by the program (fs.closeSync?); the number may name another file now, so shmkit no longer uses it`,
    );
  }
  return owner.fd;
}

/** @internal The object made through owned descriptor `fd` is complete: its name outlives this thread. */
export function keepName(fd: number): void {
  native.keepName(fd);
}

/**
 * @internal Before reserving `length` bytes for `call` (create,
 * createAnonymous): a reservation past what is free would not fail, the OOM
 * killer would make room (see core/memory.ts), so shmkit refuses it itself,
 * and names the call, since no system call refused.
 */
export function checkRoom(length: number, label: string, call: string): void {
  const room = memoryRoom();
  if (room !== undefined && length > room) {
    throw ipcError(
      call,
      osConstants.errno.ENOMEM,
      `${label}, size ${length}: more memory than this machine can give now (${room} bytes, free RAM and swap, within its memory cgroup); ask for less`,
    );
  }
}

/**
 * @internal fallocate(fd, 0, 0, length): the file's pages, reserved now, so
 * that a full tmpfs is ENOSPC here and never SIGBUS at a later touch.
 */
export function fallocate(fd: number, length: number, label: string): void {
  check(native.fallocate(fd, length), 'fallocate', (code) =>
    code === 'ENOSPC'
      ? `${label}, size ${length}: not enough room in /dev/shm (tmpfs) for the memory (df -h /dev/shm); free some or make it larger (in Docker, whose default is 64 MiB: --shm-size)`
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
