import { constants as bufferConstants } from 'node:buffer';
import type { Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { invalidType, IpcError, ipcError, outOfRange, stateError } from '../core/errors.js';
import { isReadOnly } from '../core/mapped-memory.js';
import {
  optionNames,
  validateFlags,
  validateInteger,
  validateMode,
  validateObject,
  validateOptionalBoolean,
  validateOptions,
  validateRange,
} from '../core/validate.js';
import {
  F_ADD_SEALS,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  MAP_SHARED,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_NOEXEC_SEAL,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from '../posix/constants.js';
import {
  accessMode,
  checkRoom,
  closeQuietly,
  dupCloexec,
  fallocate,
  fchmod,
  fstat,
  fstatExact,
  ftruncate,
  keepName,
  liveFd,
  owned,
  type OwnedFd,
} from '../posix/fd.js';
import { memoryOfMapping, type Mapping } from '../posix/mapping.js';
import { ALL_SEALS, fcntl, memfdCreateOwned, sealNames, sealsOf, validateMemfdName } from '../posix/memfd.js';
import { mapFile, shmOpenOwned, shm_unlink, validateFd, validateShmName } from '../posix/shm.js';
import { bytesOf } from '../core/bytes.js';

const { MAX_LENGTH } = bufferConstants;

export interface PosixCreateOptions {
  /** The name, as shm_open takes it: `/name` (one slash). */
  name: string;
  /** Size in bytes (at least 1). */
  size: number;
  /** Permission bits; default 0o600 (owner only). Applied as given, not filtered by the umask. */
  mode?: number | undefined;
}

export interface PosixOpenOptions {
  /** The name, as shm_open takes it: `/name` (one slash). */
  name: string;
  /** Map with PROT_READ from an O_RDONLY descriptor: reads work, every write throws. */
  readOnly?: boolean | undefined;
}

export interface PosixOpenOrCreateOptions extends PosixCreateOptions {
  readOnly?: boolean | undefined;
}

export interface AnonymousCreateOptions {
  /** Size in bytes (at least 1). */
  size: number;
  /** A label for the memfd (shown in /proc/PID/fd as `/memfd:NAME`); default 'shmkit'. It names nothing others can open. */
  name?: string | undefined;
  /**
   * Seals to add once the memory is sized: `true` for F_SEAL_SHRINK |
   * F_SEAL_GROW (the size can never change, so a receiver can trust it), or
   * the F_SEAL_* bits to add. Default: none (add them later with {@link PosixSharedMemory.seal}).
   */
  seal?: boolean | number | undefined;
}

export interface FromFdOptions {
  /**
   * Map read-only. Default: read-only when the descriptor was opened
   * O_RDONLY or the memfd is sealed against writing, else read-write.
   */
  readOnly?: boolean | undefined;
  /**
   * F_SEAL_* bits the descriptor must carry, checked before mapping: for a
   * size the sender cannot change under the receiver, F_SEAL_SHRINK (and
   * F_SEAL_GROW). Missing seals throw StateError ERR_SHM_NOT_SEALED.
   */
  seals?: number | undefined;
}

const CREATE_OPTIONS = optionNames<PosixCreateOptions>()('name', 'size', 'mode');
const OPEN_OPTIONS = optionNames<PosixOpenOptions>()('name', 'readOnly');
const OPEN_OR_CREATE_OPTIONS = optionNames<PosixOpenOrCreateOptions>()('name', 'size', 'mode', 'readOnly');
const ANONYMOUS_OPTIONS = optionNames<AnonymousCreateOptions>()('size', 'name', 'seal');
const FROM_FD_OPTIONS = optionNames<FromFdOptions>()('readOnly', 'seals');

/** How many times openOrCreate retries when the object vanishes between create and open. */
const OPEN_OR_CREATE_ATTEMPTS = 8;
/** How long open waits in all for a just-created object to be given its size (by its creator's ftruncate). */
const SIZE_WAIT_MS = 100;

/** Closes the descriptor of a PosixSharedMemory the program forgot (its mapping goes with its buffer). */
const forgotten = new FinalizationRegistry<OwnedFd>((owner) => closeQuietly(owner));

/** @internal A PosixSharedMemory's mapping, for shmkit's own layers (not exported from the package). */
export let mappingOf: (shm: PosixSharedMemory) => Mapping;

/** @internal Whether `value` is a PosixSharedMemory (a brand check). */
export let isPosixSharedMemory: (value: unknown) => value is PosixSharedMemory;

/** Removes the name of an object that failed to come about; its failure would hide the error that says why. */
function unlinkQuietly(name: string): void {
  try {
    shm_unlink(name);
  } catch {
    // gone already (someone removed it), or it cannot be: the caller's error is the one to report
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A POSIX shared-memory object (`shm_open`, in /dev/shm) or anonymous memory
 * from `memfd_create`, mapped into this process: the high-level face of
 * shm_open/mmap with safe defaults (mode 0o600, exclusive create). The same
 * memory that Python's `multiprocessing.shared_memory.SharedMemory`, C's
 * shm_open and Boost.Interprocess use.
 *
 * Safety, as for {@link SharedMemory}: after {@link detach} every buffer and
 * view of it is empty; a read-only mapping gives out nothing writable
 * (`buffer` and `bytes` throw, `read` copies); a forgotten one is unmapped
 * (and its descriptor closed) after the garbage collector frees it. If
 * another process shrinks the object under the mapping, the pages past its
 * new end read as zeros in this process instead of killing it (SIGBUS).
 *
 * The object holds a descriptor (`fd`) until {@link detach}. Removing the
 * name is always explicit ({@link unlink}); anonymous memory goes when its
 * last descriptor and mapping go.
 */
export class PosixSharedMemory implements Disposable {
  /** The name (`/name`), or null for anonymous memory (memfd). */
  readonly name: string | null;
  readonly #mapping: Mapping;
  /** Its descriptor, until it is closed (detach, dispose). */
  #owner: OwnedFd | undefined;
  #bytes: Uint8Array | undefined;

  private constructor(name: string | null, owner: OwnedFd, mapping: Mapping) {
    this.name = name;
    this.#owner = owner;
    this.#mapping = mapping;
    forgotten.register(this, owner, this);
  }

  /** Maps all of `owner`'s file (the new object then owns the descriptor), closing it on failure. */
  static #map(name: string | null, owner: OwnedFd, size: number, readOnly: boolean, label: string): PosixSharedMemory {
    let mapping: Mapping;
    try {
      mapping = mapFile(owner.fd, size, readOnly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, 0, label);
    } catch (error) {
      closeQuietly(owner);
      throw error;
    }
    return new PosixSharedMemory(name, owner, mapping);
  }

  /** Sizes a new object or memfd and reserves its pages, so a full /dev/shm is ENOSPC now and never SIGBUS later. */
  static #size(fd: number, size: number, label: string, call: string): void {
    checkRoom(size, label, call);
    ftruncate(fd, size, ` (${label})`);
    fallocate(fd, size, label);
  }

  /**
   * Creates a new object, sizes it, reserves its memory and maps it. Fails
   * with EEXIST if the name is taken: creating never silently reuses someone
   * else's object.
   * @throws IpcError EEXIST, EACCES, ENOSPC (/dev/shm is full, or out of
   *   inodes), ENOMEM (more than the machine or the memory cgroup can give:
   *   syscall 'create'), EMFILE.
   */
  static create(options: PosixCreateOptions): PosixSharedMemory {
    validateOptions(options, CREATE_OPTIONS, 'PosixSharedMemory.create()');
    return PosixSharedMemory.#create(options, false, 'create');
  }

  static #create(options: PosixCreateOptions, readOnly: boolean, call: string): PosixSharedMemory {
    const opts = validateObject(options, 'options') as unknown as PosixCreateOptions;
    const name = validateShmName(opts.name, 'options.name');
    const size = positiveSize(opts.size);
    const mode = validateMode(opts.mode ?? 0o600, 'options.mode');
    // Owned, name included, until the object is complete: see shmOpenOwned.
    const owner = owned(shmOpenOwned(name, O_RDWR | O_CREAT | O_EXCL, mode, true));
    try {
      fchmod(owner.fd, mode, ` (${name})`);
      PosixSharedMemory.#size(owner.fd, size, name, call);
    } catch (error) {
      // Nobody else can be using it yet: do not leave it behind.
      closeQuietly(owner);
      unlinkQuietly(name);
      throw error;
    }
    let shm: PosixSharedMemory;
    try {
      shm = PosixSharedMemory.#map(name, owner, size, readOnly, name);
    } catch (error) {
      unlinkQuietly(name);
      throw error;
    }
    keepName(owner.fd);
    return shm;
  }

  /**
   * Maps an existing object by name, all of it (its size is the object's).
   * An object whose creator has not yet sized it is waited for briefly, then
   * EINVAL.
   * @throws IpcError ENOENT, EACCES, EINVAL (size 0), EMFILE.
   */
  static open(options: PosixOpenOptions): PosixSharedMemory {
    const opts = validateOptions(options, OPEN_OPTIONS, 'PosixSharedMemory.open()') as unknown as PosixOpenOptions;
    const name = validateShmName(opts.name, 'options.name');
    return PosixSharedMemory.#open(name, validateOptionalBoolean(opts.readOnly, 'options.readOnly'), 0);
  }

  /** Opens `name`; for openOrCreate, `atLeast` the size asked for (an existing object smaller than that is EINVAL). */
  static #open(name: string, readOnly: boolean, atLeast: number): PosixSharedMemory {
    const owner = owned(shmOpenOwned(name, readOnly ? O_RDONLY : O_RDWR, 0, false));
    let size: number;
    try {
      size = sizeOf(owner.fd, name);
      if (atLeast > size) {
        // shm_open succeeded: the refusal is openOrCreate's own.
        throw ipcError(
          'openOrCreate',
          osConstants.errno.EINVAL,
          `name ${name}: the existing object has ${size} bytes, fewer than the size ${atLeast} asked for`,
        );
      }
    } catch (error) {
      closeQuietly(owner);
      throw error;
    }
    return PosixSharedMemory.#map(name, owner, size, readOnly, name);
  }

  /**
   * Opens the object of that name, or creates it (mode 0o600 by default) if
   * there is none. Safe against another process doing the same at once.
   * `readOnly` applies either way; an existing object smaller than `size` is
   * EINVAL.
   * @throws IpcError EINVAL, EACCES, ENOSPC, ENOMEM, EMFILE; ENOENT if
   *   another process removed the name between each create and open, eight times.
   */
  static openOrCreate(options: PosixOpenOrCreateOptions): PosixSharedMemory {
    const opts = validateOptions(
      options,
      OPEN_OR_CREATE_OPTIONS,
      'PosixSharedMemory.openOrCreate()',
    ) as unknown as PosixOpenOrCreateOptions;
    const name = validateShmName(opts.name, 'options.name');
    const size = positiveSize(opts.size);
    if (opts.mode !== undefined) validateMode(opts.mode, 'options.mode');
    const readOnly = validateOptionalBoolean(opts.readOnly, 'options.readOnly');
    for (let attempt = 1; ; attempt++) {
      try {
        return PosixSharedMemory.#create(opts, readOnly, 'openOrCreate');
      } catch (error) {
        if (!(error instanceof IpcError) || error.code !== 'EEXIST') throw error;
      }
      try {
        return PosixSharedMemory.#open(name, readOnly, size);
      } catch (error) {
        // Unlinked between our create and open: try again.
        if (!(error instanceof IpcError) || error.code !== 'ENOENT' || attempt >= OPEN_OR_CREATE_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Creates anonymous memory (`memfd_create`): no name anyone can open, only
   * the descriptor {@link fd}, which a child receives through `spawn`'s
   * `stdio` and maps with {@link fromFd}. Made with MFD_ALLOW_SEALING (and
   * MFD_NOEXEC_SEAL where the kernel has it), sized and reserved; `seal`
   * then fixes the size for receivers.
   * @throws IpcError ENOSPC, EMFILE, ENOMEM.
   */
  static createAnonymous(options: AnonymousCreateOptions): PosixSharedMemory {
    const opts = validateOptions(options, ANONYMOUS_OPTIONS, 'PosixSharedMemory.createAnonymous()') as unknown as AnonymousCreateOptions;
    const size = positiveSize(opts.size);
    const label = validateMemfdName(opts.name ?? 'shmkit', 'options.name');
    let seals = 0;
    if (opts.seal === true) seals = F_SEAL_SHRINK | F_SEAL_GROW;
    else if (typeof opts.seal === 'number') seals = validateSeals(opts.seal, 'options.seal');
    else if (opts.seal !== undefined && opts.seal !== false)
      throw invalidType('options.seal', 'a boolean or a number of F_SEAL_* bits', opts.seal);
    let fd: number;
    try {
      fd = memfdCreateOwned(label, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    } catch (error) {
      // A kernel before 6.3 does not know MFD_NOEXEC_SEAL.
      if (!(error instanceof IpcError) || error.code !== 'EINVAL') throw error;
      fd = memfdCreateOwned(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    }
    const what = `memfd '${label}'`;
    const owner = owned(fd);
    try {
      PosixSharedMemory.#size(fd, size, what, 'createAnonymous');
    } catch (error) {
      closeQuietly(owner);
      throw error;
    }
    // F_SEAL_WRITE refuses every shared mapping of a writable descriptor,
    // read-only ones too (EBUSY): it goes on before the mapping, which is
    // then read-only. The others go on after, so that F_SEAL_FUTURE_WRITE
    // leaves this mapping writable.
    const writeSealed = (seals & F_SEAL_WRITE) !== 0;
    if (writeSealed) {
      try {
        fcntl(owner.fd, F_ADD_SEALS, seals);
      } catch (error) {
        closeQuietly(owner);
        throw error;
      }
    }
    const shm = PosixSharedMemory.#map(null, owner, size, writeSealed, what);
    if (seals !== 0 && !writeSealed) {
      try {
        shm.seal(seals);
      } catch (error) {
        shm.detach();
        throw error;
      }
    }
    return shm;
  }

  /**
   * Maps all of the memory behind a descriptor: a memfd received from a
   * parent (`stdio`), or a descriptor from shm_open. The object keeps a
   * duplicate of `fd` (closed by {@link detach}); the caller's stays theirs.
   * @throws StateError ERR_SHM_NOT_SEALED when `seals` asks for seals the
   *   memory lacks; IpcError EBADF, ENODEV (not shared memory or a file),
   *   EINVAL (size 0), EACCES or EPERM (readOnly: false on a read-only
   *   descriptor or a write-sealed memfd).
   */
  static fromFd(fd: number, options: FromFdOptions = {}): PosixSharedMemory {
    validateFd(fd);
    const opts = validateOptions(options, FROM_FD_OPTIONS, 'PosixSharedMemory.fromFd()') as unknown as FromFdOptions;
    if (opts.readOnly !== undefined && typeof opts.readOnly !== 'boolean')
      throw invalidType('options.readOnly', 'of type boolean', opts.readOnly);
    const required = opts.seals === undefined ? 0 : validateSeals(opts.seals, 'options.seals');
    const own = owned(dupCloexec(fd));
    const label = `fd ${fd}`;
    let readOnly: boolean;
    let size: number;
    try {
      const seals = sealsOf(own.fd);
      if ((seals & required) !== required) {
        throw stateError(
          'ERR_SHM_NOT_SEALED',
          `fromFd: ${label} carries ${sealNames(seals)}, but options.seals requires ${sealNames(required)}: the sender has not fixed what this receiver relies on`,
        );
      }
      const access = accessMode(own.fd, label);
      readOnly = opts.readOnly ?? (access === O_RDONLY || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) !== 0);
      size = sizeOf(own.fd, label, true);
    } catch (error) {
      closeQuietly(own);
      throw error;
    }
    return PosixSharedMemory.#map(null, own, size, readOnly, label);
  }

  /**
   * Removes the name `name` (`shm_unlink`): mappings keep the memory until
   * they go; nobody can open the name any more.
   * @throws IpcError ENOENT, EACCES.
   */
  static unlink(name: string): void {
    shm_unlink(validateShmName(name, 'name'));
  }

  /** The descriptor this object holds (a memfd's is what to hand to a child). Throws once detached. */
  get fd(): number {
    this.#mapping.assertAttached('fd');
    return this.#liveFd('fstat', 'fd');
  }

  /** The mapped size in bytes, 0 once detached. */
  get size(): number {
    return this.#mapping.byteLength;
  }

  /** Whether it is mapped read-only. */
  get readOnly(): boolean {
    return this.#mapping.readOnly;
  }

  /** Whether {@link detach} was called. */
  get detached(): boolean {
    return this.#mapping.detached;
  }

  /** The mapped memory itself (zero-copy). Throws on a read-only mapping. */
  get buffer(): ArrayBuffer {
    return this.#mapping.buffer;
  }

  /** A Uint8Array over all of it (zero-copy). Throws on a read-only mapping and (ERR_SHM_TOO_LARGE) beyond buffer.constants.MAX_LENGTH. */
  get bytes(): Uint8Array {
    this.#mapping.assertAttached('bytes');
    this.#mapping.checkIntact('bytes');
    if (this.#bytes === undefined) {
      const buffer = this.#mapping.buffer;
      if (buffer.byteLength > MAX_LENGTH) {
        throw stateError(
          'ERR_SHM_TOO_LARGE',
          `bytes: ${this.#mapping.label} has ${buffer.byteLength} bytes, more than one typed array can cover in this Node.js (${MAX_LENGTH}); use read(offset, length), write(offset, data) or new Uint8Array(shm.buffer, offset, length)`,
        );
      }
      this.#bytes = new Uint8Array(buffer);
    }
    return this.#bytes;
  }

  /** Copies `length` bytes from `offset` (default: to the end). Works read-only. */
  read(offset = 0, length?: number): Uint8Array {
    return this.#mapping.read(offset, length);
  }

  /**
   * Writes `data` (bytes, or a string as UTF-8) at `offset`. All or nothing:
   * data that would run past the end is refused with a RangeError.
   * @returns the number of bytes written.
   */
  write(offset: number, data: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string): number {
    this.#mapping.assertAttached('write');
    // The mapping's private state, not this.readOnly (a prototype getter user code can redefine).
    if (isReadOnly(this.#mapping)) throw stateError('ERR_SHM_READ_ONLY', `write: ${this.#mapping.label} is mapped read-only`);
    const source = bytesOf(data, 'data');
    const [start] = validateRange(offset, source.byteLength, this.size);
    // Its pages first: a full /dev/shm under an object with holes is ENOSPC here, nothing written.
    this.#mapping.reserve('write', start, source.byteLength);
    new Uint8Array(memoryOfMapping(this.#mapping), start, source.byteLength).set(source);
    // A page may still have faulted (a hole made since, by another process): not a silent success.
    this.#mapping.checkIntact('write');
    return source.byteLength;
  }

  /** The object's fstat: size, mode, uid, gid, times. */
  stat(): Stats {
    this.#mapping.assertAttached('stat');
    return fstat(this.#liveFd('fstat', 'stat'), 'fstat', ` (${this.#mapping.label})`);
  }

  /** The seals on the memory (F_GET_SEALS); F_SEAL_SEAL alone for memory that takes no seals (an object from shm_open). */
  get seals(): number {
    this.#mapping.assertAttached('seals');
    return sealsOf(this.#liveFd('fcntl', 'seals'));
  }

  /**
   * Adds seals (F_ADD_SEALS): F_SEAL_SHRINK | F_SEAL_GROW fix the size,
   * F_SEAL_FUTURE_WRITE lets no one else write (this mapping still may),
   * F_SEAL_SEAL forbids further seals. Only anonymous memory can be sealed.
   * @throws IpcError EPERM (F_SEAL_SEAL set, or not a memfd), EBUSY (F_SEAL_WRITE while mapped writable).
   */
  seal(seals: number): void {
    validateSeals(seals, 'seals');
    this.#mapping.assertAttached('seal');
    fcntl(this.#liveFd('fcntl', 'seal'), F_ADD_SEALS, seals);
  }

  /**
   * Removes this object's name (`shm_unlink`); the memory stays mapped here
   * and wherever else it is until those mappings go.
   * @throws StateError ERR_SHM_NO_NAME for anonymous memory; IpcError ENOENT, EACCES.
   */
  unlink(): void {
    if (this.name === null) {
      throw stateError(
        'ERR_SHM_NO_NAME',
        `unlink: ${this.#mapping.label} is anonymous memory (memfd); it goes when its last descriptor and mapping go`,
      );
    }
    shm_unlink(this.name);
  }

  /**
   * Unmaps and closes the descriptor. Every buffer and view of it becomes
   * empty. A buffer transferred away (ERR_SHM_TRANSFERRED) keeps the memory,
   * which goes with it; the descriptor is closed all the same.
   */
  detach(): void {
    if (this.#mapping.transferred) this.#closeFd();
    this.#mapping.assertAttached('detach');
    this.#release();
  }

  /** Its descriptor's number for `call` (EBADF if the program closed it: the number may be another file's by now). */
  #liveFd(syscall: string, call: string): number {
    return liveFd(this.#owner!, syscall, `${call} (${this.#mapping.label})`);
  }

  #closeFd(): void {
    if (this.#owner === undefined) return;
    forgotten.unregister(this);
    closeQuietly(this.#owner);
    this.#owner = undefined;
  }

  #release(): void {
    try {
      if (!this.#mapping.detached) this.#mapping.unmap('detach');
    } finally {
      this.#closeFd();
      this.#bytes = undefined;
    }
  }

  /** Unmaps and closes if still mapped (only closes if its buffer was transferred away); never unlinks the name. */
  [Symbol.dispose](): void {
    this.#release();
  }

  get [Symbol.toStringTag](): string {
    return `PosixSharedMemory ${this.#mapping.label}${this.readOnly ? ' read-only' : ''}${this.detached ? ' detached' : ''}`;
  }

  static {
    mappingOf = (shm) => shm.#mapping;
    isPosixSharedMemory = (value): value is PosixSharedMemory => typeof value === 'object' && value !== null && #mapping in value;
  }
}

/** A size of at least one byte: -1 and 0 get the same words. */
function positiveSize(value: unknown): number {
  return validateInteger(value, 'options.size', 1, Number.MAX_SAFE_INTEGER);
}

function validateSeals(value: unknown, argument: string): number {
  const seals = validateFlags(value, argument);
  if ((seals & ~ALL_SEALS) !== 0) throw outOfRange(argument, `a combination of F_SEAL_* bits (${sealNames(ALL_SEALS)})`, seals);
  return seals;
}

/**
 * The size of the memory behind `fd`: a regular file of at least one byte.
 * A creator sizes its object just after creating it, so a size of 0 is
 * waited for a moment (SIZE_WAIT_MS) before it is an error.
 */
function sizeOf(fd: number, label: string, once = false): number {
  const deadline = Date.now() + (once ? 0 : SIZE_WAIT_MS);
  for (;;) {
    // bigint: a size past 2^53 is printed exactly, not rounded.
    const stats = fstatExact(fd, 'fstat', label.startsWith('fd ') ? '' : ` (${label})`);
    if (!stats.isFile())
      throw ipcError('mmap', osConstants.errno.ENODEV, `${label}: not shared memory (a shared-memory object, a memfd or a regular file)`);
    if (stats.size > BigInt(MAX_LENGTH)) {
      // Checked before mapping: past 2^47 bytes the kernel's ENOMEM (no address space) would hide why.
      throw ipcError(
        'mmap',
        osConstants.errno.EFBIG,
        `${label}, length ${stats.size}: larger than one ArrayBuffer may be in this Node.js (buffer.constants.MAX_LENGTH, ${MAX_LENGTH} bytes), so it cannot be mapped whole here`,
      );
    }
    if (stats.size > 0n) return Number(stats.size);
    if (Date.now() >= deadline) {
      throw ipcError(
        'mmap',
        osConstants.errno.EINVAL,
        `${label} has size 0, so there is nothing to map (its creator has not sized it: ftruncate)`,
      );
    }
    sleepSync(2);
  }
}
