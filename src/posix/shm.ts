// The C-faithful POSIX shared-memory calls: shm_open(3), shm_unlink(3),
// mmap(2) of a descriptor and munmap(2). Synchronous, like C. The descriptor
// shm_open returns is an ordinary one: size it with fs.ftruncateSync, ask its
// size with fs.fstatSync and close it with fs.closeSync, as C does with
// ftruncate, fstat and close.
import { Buffer, constants as bufferConstants } from 'node:buffer';
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { check, invalidType, invalidValue, ipcError, outOfRange, withHint } from '../core/errors.js';
import { mapCountRefusal } from '../core/map-count.js';
import { native } from '../core/native.js';
import { validateFlags, validateMode, validateSize, INT32_MAX, validateInteger } from '../core/validate.js';
import { MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, PROT_READ, PROT_WRITE } from './constants.js';

const { MAX_LENGTH } = bufferConstants;
const { O_WRONLY } = fsConstants;
import { accessMode, fstat } from './fd.js';
import { nameHint, unlinkHint } from './hints.js';
import { hasHoles, isMapping, Mapping } from './mapping.js';
import { keepSigbusGuard } from './sigbus-guard.js';

/**
 * The longest name shm_open takes, in bytes after the slash: NAME_MAX, the
 * kernel's limit for the file's name in /dev/shm, which glibc 2.34 and later
 * (and Python) pass on. glibc before 2.34 refuses more than 253 bytes itself,
 * with EINVAL.
 */
const NAME_MAX_BYTES = 255;

let loneSurrogate: RegExp | undefined;

/**
 * @internal Whether `value` has a UTF-16 surrogate without its pair: UTF-8
 * has no bytes for it (Node writes U+FFFD, which names another object). The
 * pattern is made on first use: a Unicode property costs 0.2 ms to compile,
 * which every process that imports shmkit paid when it was a constant.
 */
export function hasLoneSurrogate(value: string): boolean {
  loneSurrogate ??= /\p{Surrogate}/u;
  return loneSurrogate.test(value);
}

/** @internal Why a name with a lone surrogate is refused. */
export const NOT_WELL_FORMED = 'it must be well-formed Unicode: a lone surrogate would become U+FFFD, and the name another one';

/**
 * A name as shm_open takes it: a slash, then 1 to 255 bytes of UTF-8 with no
 * other slash and no NUL (`/name`; not `.` or `..`). What Python's
 * SharedMemory calls `name` is this without the slash.
 */
export function validateShmName(value: unknown, argument = 'name'): string {
  if (typeof value !== 'string') throw invalidType(argument, 'of type string (a name such as "/my-block")', value);
  if (!value.startsWith('/') || value.indexOf('/', 1) !== -1 || value.includes('\0') || value === '/.' || value === '/..') {
    throw invalidValue(
      argument,
      'a POSIX shared-memory name is one slash followed by a name without slashes or NUL, such as "/my-block" (Python\'s SharedMemory name "my-block" is "/my-block" here)',
      value,
    );
  }
  if (hasLoneSurrogate(value)) throw invalidValue(argument, NOT_WELL_FORMED, value);
  const bytes = Buffer.byteLength(value, 'utf8') - 1;
  if (bytes < 1 || bytes > NAME_MAX_BYTES)
    throw outOfRange(`${argument}.length`, `from 1 to ${NAME_MAX_BYTES} bytes after the slash`, bytes);
  return value;
}

/** A descriptor number: a non-negative C int. */
export function validateFd(value: unknown, argument = 'fd'): number {
  return validateInteger(value, argument, 0, INT32_MAX);
}

/**
 * `shm_open(3)`: opens (with O_CREAT, creates) the POSIX shared-memory object
 * `name` (`/name`, in /dev/shm) and returns a file descriptor, with
 * FD_CLOEXEC set as glibc does. `oflag` is O_RDONLY or O_RDWR, plus O_CREAT,
 * O_EXCL, O_TRUNC; `mode` (for a new object) is filtered by the umask, as in
 * C. A new object has size 0: size it with `fs.ftruncateSync(fd, size)`.
 * @throws IpcError EEXIST, ENOENT, EACCES, EINVAL, EMFILE, ENFILE,
 *   ENAMETOOLONG, ENOSPC (O_CREAT: /dev/shm has no inode left).
 */
export function shm_open(name: string, oflag: number, mode = 0): number {
  return open(name, oflag, mode, 0);
}

/**
 * @internal shm_open for a PosixSharedMemory: the descriptor belongs to this
 * thread's environment (closed when it ends, unless closeOwned closed it) and,
 * with `unlinkUntilKept`, so does the name until keepName: a worker that ends
 * half way through a create leaves neither a descriptor nor an object of size 0.
 */
export function shmOpenOwned(name: string, oflag: number, mode: number, unlinkUntilKept: boolean): number {
  return open(name, oflag, mode, unlinkUntilKept ? 2 : 1);
}

function open(name: string, oflag: number, mode: number, ownership: 0 | 1 | 2): number {
  validateShmName(name);
  validateFlags(oflag, 'oflag');
  validateMode(mode);
  const access = oflag & ~(O_CREAT | O_EXCL | O_TRUNC);
  if (access !== O_RDONLY && access !== O_RDWR) {
    throw outOfRange('oflag', 'O_RDONLY or O_RDWR, with any of O_CREAT, O_EXCL, O_TRUNC', oflag);
  }
  return check(native.shmOpen(name, oflag, mode, ownership), 'shm_open', (code) => {
    const fix = nameHint(code, name, access === O_RDWR);
    switch (code) {
      case 'EEXIST':
        return withHint(`name ${name}: the object exists (O_CREAT|O_EXCL)`, fix);
      case 'ENOENT':
        return withHint(`name ${name}: no such object and O_CREAT was not given`, fix);
      case 'EACCES':
        return withHint(`name ${name}: its permission bits deny this user (or O_TRUNC without write permission)`, fix);
      case 'EMFILE':
        return `name ${name}: this process has as many descriptors open as it may (RLIMIT_NOFILE)`;
      case 'ENFILE':
        return `name ${name}: the system has as many files open as it may`;
      case 'ENOSPC':
        return withHint(`name ${name}: /dev/shm (tmpfs) has no inode left for a new object`, fix);
      default:
        return `name ${name}`;
    }
  });
}

/**
 * `shm_unlink(3)`: removes the name. Mappings and open descriptors keep the
 * memory until they go; nobody can open the name any more.
 * @throws IpcError ENOENT, EACCES.
 */
export function shm_unlink(name: string): void {
  validateShmName(name);
  check(native.shmUnlink(name), 'shm_unlink', (code) => {
    switch (code) {
      case 'ENOENT':
        return `name ${name}: no such object`;
      case 'EACCES':
        return withHint(`name ${name}: this user may not remove it`, unlinkHint(name));
      default:
        return `name ${name}`;
    }
  });
}

function describeProt(prot: number): string {
  return prot === PROT_READ ? 'PROT_READ' : 'PROT_READ|PROT_WRITE';
}

/**
 * `mmap(2)` of a file descriptor: `mmap(null, length, prot, flags, fd,
 * offset)` as in C, where the kernel always chooses the address (`addr` must
 * be null, 0 or undefined). `prot` is PROT_READ or PROT_READ|PROT_WRITE;
 * `flags` MAP_SHARED or MAP_PRIVATE, optionally with MAP_POPULATE. Unlike C,
 * shmkit refuses a range past the end of the file (RangeError): those pages
 * would fault (SIGBUS) when touched. The descriptor may be closed afterwards;
 * the mapping stays until {@link munmap} or garbage collection.
 * @throws IpcError EACCES (fd not opened for the access asked), EBADF, EINVAL
 *   (offset not a multiple of the page size), ENODEV (not a regular file),
 *   ENOMEM, EPERM (a memfd sealed against writing), EAGAIN (too many
 *   forgotten mappings await unmapping).
 */
export function mmap(addr: null | undefined | 0 | 0n, length: number, prot: number, flags: number, fd: number, offset = 0): Mapping {
  if (addr !== null && addr !== undefined && addr !== 0 && addr !== 0n) {
    throw outOfRange('addr', 'null (shmkit lets the kernel choose the address, so no mapping can replace memory in use)', addr);
  }
  validateSize(length, 'length');
  validateFlags(prot, 'prot');
  validateFlags(flags, 'flags');
  validateFd(fd);
  validateSize(offset, 'offset');
  if (prot !== PROT_READ && prot !== (PROT_READ | PROT_WRITE)) {
    throw outOfRange(
      'prot',
      'PROT_READ or PROT_READ|PROT_WRITE (memory JavaScript cannot read would fault, and executable memory has no use here)',
      prot,
    );
  }
  const sharing = flags & ~MAP_POPULATE;
  if (sharing !== MAP_SHARED && sharing !== MAP_PRIVATE) {
    throw outOfRange('flags', 'MAP_SHARED or MAP_PRIVATE, optionally with MAP_POPULATE', flags);
  }
  return mapFile(fd, length, prot, flags, offset, `fd ${fd}`);
}

/** @internal mmap after validation; `label` names the file in messages and in the Mapping. */
export function mapFile(fd: number, length: number, prot: number, flags: number, offset: number, label: string): Mapping {
  const stats = fstat(fd, 'mmap', label === `fd ${fd}` ? '' : ` (${label})`);
  if (!stats.isFile())
    throw ipcError('mmap', osConstants.errno.ENODEV, `${label}: not a regular file (a shared-memory object, a memfd or a file)`);
  if (offset + length > stats.size) {
    throw outOfRange(
      'length',
      `<= ${Math.max(0, stats.size - offset)} (the file's ${stats.size} bytes less the offset ${offset}), since pages past the end of the file fault (SIGBUS) when touched; size it first (fs.ftruncateSync)`,
      length,
    );
  }
  const args = `${label}, length ${length}, ${describeProt(prot)}, offset ${offset}`;
  if (length > MAX_LENGTH) {
    // Refused before mmap: past 2^47 bytes (no address space) the kernel's ENOMEM would hide why.
    throw ipcError(
      'mmap',
      osConstants.errno.EFBIG,
      `${args}: larger than one ArrayBuffer may be in this Node.js (buffer.constants.MAX_LENGTH, ${MAX_LENGTH} bytes)`,
    );
  }
  const result = check(native.mmap(fd, length, prot, flags, offset), 'mmap', (code) => {
    switch (code) {
      case 'EACCES':
        return `${args}: ${accessWords(fd, prot, flags)}`;
      case 'EINVAL':
        return `${args}: length 0, or the offset is not a multiple of the page size`;
      case 'EPERM':
        return `${args}: the memfd is sealed against writing (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE); map it with PROT_READ`;
      case 'ENOMEM':
        return `${args}: ${mapCountRefusal() ?? `no room in this process's address space for ${length} bytes (or for another mapping)`}`;
      case 'EAGAIN':
        return `${args}: too many forgotten mappings await unmapping; munmap() mappings when done with them, or let the event loop run`;
      case 'ENOTSUP':
        return `${args}: this runtime refuses ArrayBuffers over memory it did not allocate (a V8 sandbox, as in Electron)`;
      case 'EFBIG':
        return `${args}: larger than one ArrayBuffer may be in this Node.js (buffer.constants.MAX_LENGTH)`;
      default:
        return args;
    }
  });
  const [buffer, handle, address] = result;
  keepSigbusGuard();
  // shmkit's writes reserve their pages first where the file has holes, so that a full /dev/shm fails them (Mapping.reserve).
  const reserve = (prot & PROT_WRITE) !== 0 && (flags & MAP_SHARED) !== 0 && hasHoles(stats.size, stats.blocks);
  return Mapping.make(label, (prot & PROT_WRITE) === 0, buffer, handle, address, reserve);
}

/** Why mmap's EACCES: what the descriptor lacks for this prot and flags. */
function accessWords(fd: number, prot: number, flags: number): string {
  let mode: number | undefined;
  try {
    mode = accessMode(fd);
  } catch {
    // gone meanwhile: the general words
  }
  // Every mapping reads the file: a descriptor opened O_WRONLY maps nothing, whatever prot asks.
  if (mode === O_WRONLY)
    return 'the descriptor is open for writing only (O_WRONLY); mmap needs one that is readable, whatever prot asks (O_RDONLY for PROT_READ, O_RDWR to write through MAP_SHARED)';
  if ((prot & PROT_WRITE) !== 0 && (flags & MAP_SHARED) !== 0)
    return 'the descriptor was not opened for this access (PROT_WRITE with MAP_SHARED needs O_RDWR; map it with PROT_READ to read it)';
  return 'the descriptor was not opened for this access';
}

/**
 * `munmap(2)`: unmaps the whole mapping. Every buffer and view of it becomes
 * empty (byteLength 0) first, so no code can touch the unmapped memory.
 * @throws IpcError EINVAL when already unmapped.
 */
export function munmap(mapping: Mapping): void {
  if (!isMapping(mapping)) throw invalidType('mapping', 'a Mapping from mmap()', mapping);
  mapping.unmap();
}
