// The C-faithful memfd calls: memfd_create(2) and the sealing commands of
// fcntl(2) (F_ADD_SEALS, F_GET_SEALS). Other fcntl commands are Node's (fs)
// business or have no use here, and are refused.
import { Buffer } from 'node:buffer';
import { constants as osConstants } from 'node:os';
import { check, invalidType, invalidValue, outOfRange } from '../core/errors.js';
import { native } from '../core/native.js';
import { validateFlags } from '../core/validate.js';
import {
  F_ADD_SEALS,
  F_GET_SEALS,
  F_SEAL_EXEC,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
} from './constants.js';
import { hasLoneSurrogate, NOT_WELL_FORMED, validateFd } from './shm.js';

/** The longest memfd name, in bytes (the kernel's limit: 249, as /proc shows it "memfd:" + name). */
const MEMFD_NAME_MAX = 249;

/** Every seal this addon knows of. */
export const ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/** @internal A memfd name: a string of at most 249 bytes of UTF-8 without NUL (only a label: /proc/PID/fd shows it). */
export function validateMemfdName(value: unknown, argument = 'name'): string {
  if (typeof value !== 'string') throw invalidType(argument, 'of type string', value);
  if (value.includes('\0')) throw invalidValue(argument, 'it must not contain NUL', value);
  if (hasLoneSurrogate(value)) throw invalidValue(argument, NOT_WELL_FORMED, value);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MEMFD_NAME_MAX) throw outOfRange(`${argument}.length`, `<= ${MEMFD_NAME_MAX} bytes`, bytes);
  return value;
}

/** Seal bits as C spells them, for messages. */
export function sealNames(seals: number): string {
  const names: string[] = [];
  for (const [bit, name] of [
    [F_SEAL_SEAL, 'F_SEAL_SEAL'],
    [F_SEAL_SHRINK, 'F_SEAL_SHRINK'],
    [F_SEAL_GROW, 'F_SEAL_GROW'],
    [F_SEAL_WRITE, 'F_SEAL_WRITE'],
    [F_SEAL_FUTURE_WRITE, 'F_SEAL_FUTURE_WRITE'],
    [F_SEAL_EXEC, 'F_SEAL_EXEC'],
  ] as const) {
    if ((seals & bit) !== 0) names.push(name);
  }
  return names.length === 0 ? 'no seals' : names.join('|');
}

/** @internal The seals of `fd` (F_GET_SEALS), 0 where the file cannot carry any (EINVAL). */
export function sealsOf(fd: number): number {
  const result = native.fcntlInt(fd, F_GET_SEALS, 0);
  if (result === -osConstants.errno.EINVAL) return 0;
  return check(result, 'fcntl', (code) => (code === 'EBADF' ? `fd ${fd}, F_GET_SEALS: not an open descriptor` : `fd ${fd}, F_GET_SEALS`));
}

/**
 * `memfd_create(2)`: anonymous memory as a file descriptor, of size 0 until
 * `fs.ftruncateSync(fd, size)`. `flags`: MFD_CLOEXEC, MFD_ALLOW_SEALING,
 * MFD_NOEXEC_SEAL (Linux 6.3+). The memory goes when the last descriptor and
 * mapping of it go. Hand the descriptor to a child with `spawn`'s `stdio`.
 * @throws IpcError EINVAL (unknown flags), EMFILE, ENFILE, ENOMEM.
 */
export function memfd_create(name: string, flags: number): number {
  return create(name, flags, 0);
}

/** @internal memfd_create for a PosixSharedMemory: the descriptor belongs to this thread's environment (closed when it ends). */
export function memfdCreateOwned(name: string, flags: number): number {
  return create(name, flags, 1);
}

function create(name: string, flags: number, ownership: 0 | 1): number {
  validateMemfdName(name);
  validateFlags(flags, 'flags');
  return check(native.memfdCreate(name, flags, ownership), 'memfd_create', (code) => {
    switch (code) {
      case 'EINVAL':
        return `name '${name}', flags 0x${flags.toString(16)}: a flag this kernel does not know (MFD_NOEXEC_SEAL needs Linux 6.3)`;
      case 'EMFILE':
        return `name '${name}': this process has as many descriptors open as it may (RLIMIT_NOFILE)`;
      default:
        return `name '${name}'`;
    }
  });
}

/**
 * `fcntl(2)` with the sealing commands: `fcntl(fd, F_ADD_SEALS, seals)`
 * adds seals (returns 0), `fcntl(fd, F_GET_SEALS)` returns them. Seals are
 * never removed; F_SEAL_WRITE needs no writable shared mapping of the file to
 * exist (F_SEAL_FUTURE_WRITE does not).
 * @throws IpcError EPERM (F_SEAL_SEAL is set, or not a memfd made with
 *   MFD_ALLOW_SEALING), EBUSY (F_SEAL_WRITE while writable mappings exist),
 *   EINVAL (the file does not support seals), EBADF.
 */
export function fcntl(fd: number, cmd: number, arg?: number): number {
  validateFd(fd);
  validateFlags(cmd, 'cmd');
  if (cmd === F_GET_SEALS) {
    return check(native.fcntlInt(fd, F_GET_SEALS, 0), 'fcntl', (code) =>
      code === 'EINVAL' ? `fd ${fd}, F_GET_SEALS: the file does not support seals` : `fd ${fd}, F_GET_SEALS`,
    );
  }
  if (cmd !== F_ADD_SEALS) throw outOfRange('cmd', 'F_ADD_SEALS or F_GET_SEALS (for other commands use node:fs)', cmd);
  const seals = validateFlags(arg, 'arg');
  if ((seals & ~ALL_SEALS) !== 0) throw outOfRange('arg', `a combination of F_SEAL_* bits (${sealNames(ALL_SEALS)})`, seals);
  return check(native.fcntlInt(fd, F_ADD_SEALS, seals), 'fcntl', (code) => {
    const args = `fd ${fd}, F_ADD_SEALS ${sealNames(seals)}`;
    switch (code) {
      case 'EPERM':
        return `${args}: F_SEAL_SEAL is set, or the file was not made with MFD_ALLOW_SEALING`;
      case 'EBUSY':
        return `${args}: a writable shared mapping exists (unmap it first, or use F_SEAL_FUTURE_WRITE)`;
      case 'EINVAL':
        return `${args}: the file does not support seals (only a memfd does)`;
      default:
        return args;
    }
  });
}
