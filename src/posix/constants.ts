// The POSIX shared-memory, mmap and memfd constants, with the values the addon
// read from the system headers.
import { native } from '../core/native.js';

function get(name: string): number {
  const value = native.constants[name];
  if (value === undefined) throw new Error(`shmkit: the addon does not define ${name}; rebuild it`);
  return value;
}

/** shm_open: open for reading only. */
export const O_RDONLY = get('O_RDONLY');
/** shm_open: open for reading and writing. */
export const O_RDWR = get('O_RDWR');
/** shm_open: create the object if it does not exist. */
export const O_CREAT = get('O_CREAT');
/** shm_open: with O_CREAT, fail with EEXIST if it exists. */
export const O_EXCL = get('O_EXCL');
/** shm_open: truncate an existing object to size 0. */
export const O_TRUNC = get('O_TRUNC');
/** The access-mode bits of open flags (O_RDONLY, O_WRONLY, O_RDWR). */
export const O_ACCMODE = get('O_ACCMODE');
/** mmap: pages may be read. */
export const PROT_READ = get('PROT_READ');
/** mmap: pages may be written. */
export const PROT_WRITE = get('PROT_WRITE');
/** mmap: share writes with every other mapping of the object. */
export const MAP_SHARED = get('MAP_SHARED');
/** mmap: a copy-on-write mapping of this process alone. */
export const MAP_PRIVATE = get('MAP_PRIVATE');
/** mmap: fault in every page now. */
export const MAP_POPULATE = get('MAP_POPULATE');
/** memfd_create: close the descriptor on exec. */
export const MFD_CLOEXEC = get('MFD_CLOEXEC');
/** memfd_create: allow seals to be added (F_ADD_SEALS). */
export const MFD_ALLOW_SEALING = get('MFD_ALLOW_SEALING');
/** memfd_create: not executable, ever (Linux 6.3+; implies MFD_ALLOW_SEALING). */
export const MFD_NOEXEC_SEAL = get('MFD_NOEXEC_SEAL');
/** fcntl: add seals to a memfd. */
export const F_ADD_SEALS = get('F_ADD_SEALS');
/** fcntl: the seals of a memfd. */
export const F_GET_SEALS = get('F_GET_SEALS');
/** Seal: no more seals may be added. */
export const F_SEAL_SEAL = get('F_SEAL_SEAL');
/** Seal: the file may not shrink (so no mapping of it can fault past its end). */
export const F_SEAL_SHRINK = get('F_SEAL_SHRINK');
/** Seal: the file may not grow. */
export const F_SEAL_GROW = get('F_SEAL_GROW');
/** Seal: the contents may not change (needs no writable shared mapping to exist). */
export const F_SEAL_WRITE = get('F_SEAL_WRITE');
/** Seal: no new writable mapping or write(); existing writable mappings keep writing (Linux 5.1+). */
export const F_SEAL_FUTURE_WRITE = get('F_SEAL_FUTURE_WRITE');
/** Seal: the executable bits may not change (Linux 6.3+). */
export const F_SEAL_EXEC = get('F_SEAL_EXEC');

/** @internal */ export const F_GETFL = get('F_GETFL');
/** @internal */ export const F_DUPFD_CLOEXEC = get('F_DUPFD_CLOEXEC');
/** @internal */ export const PROT_EXEC = get('PROT_EXEC');
