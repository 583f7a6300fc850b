import { constants as bufferConstants } from 'node:buffer';
import { bytesOf } from '../core/bytes.js';
import { IpcError, invalidType, invalidValue, outOfRange, stateError } from '../core/errors.js';
import { isReadOnly } from '../core/mapped-memory.js';

const { MAX_LENGTH } = bufferConstants;
import { ftok } from '../sysv/ftok.js';
import type { Attachment } from '../sysv/attachment.js';
import { IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPC_RMID, IPC_STAT, SHM_RDONLY } from '../sysv/constants.js';
import { keepSegment, shmat, shmatShared, shmCreate, shmctl, shmdt, shmget, type ShmidDs } from '../sysv/shm.js';
import {
  optionNames,
  validateId,
  validateKey,
  validateMode,
  validateObject,
  validateOptionalBoolean,
  validateOptions,
  validateRange,
  validateSize,
} from '../core/validate.js';

/** Where a segment is found: a key, a file and project id (ftok), or (open only) an id. */
export interface SegmentAddress {
  /** A System V key. */
  key?: number | undefined;
  /** A file whose identity gives the key through ftok(path, projId). */
  path?: string | undefined;
  /** The project id for ftok (default 1). */
  projId?: number | undefined;
}

export interface CreateOptions extends SegmentAddress {
  /** Size in bytes (at least 1). */
  size: number;
  /** Permission bits; default 0o600 (owner only). */
  mode?: number | undefined;
  /**
   * Mark the segment for removal as soon as it is attached, so that it goes
   * when the last process detaches, even after kill -9. Others can still
   * attach by id meanwhile. Always on for a segment without key or path.
   */
  autoRemove?: boolean | undefined;
}

/**
 * Where an existing segment is: exactly one of a key, a path (and projId) or
 * an id. The others are typed `undefined`, so `{ id, key }` does not compile
 * (open refuses it with a TypeError). {@link SharedMemory.open} takes it, and
 * so do the `open` of `Channel`, `PubSub` and `Service`.
 */
export type SegmentLocator =
  | { key: number; path?: undefined; projId?: undefined; id?: undefined }
  | { path: string; projId?: number | undefined; key?: undefined; id?: undefined }
  | {
      /** The segment's id, instead of a key. */
      id: number;
      key?: undefined;
      path?: undefined;
      projId?: undefined;
    };

/** Options of {@link SharedMemory.open}: one of a key, a path (and projId) or an id. */
export type OpenOptions = SegmentLocator & {
  /** Attach with SHM_RDONLY: reads work, every write throws. */
  readOnly?: boolean | undefined;
};

export interface OpenOrCreateOptions extends Omit<CreateOptions, 'autoRemove'> {
  /**
   * Not offered (`true` is a TypeError): marking the segment for removal
   * frees its key at once, so the next openOrCreate of the key would make
   * another segment instead of opening this one. Use
   * `create({ autoRemove: true })` and give the others its id.
   */
  autoRemove?: false | undefined;
  readOnly?: boolean | undefined;
}

const CREATE_OPTIONS = optionNames<CreateOptions>()('key', 'path', 'projId', 'size', 'mode', 'autoRemove');
const OPEN_OPTIONS = optionNames<OpenOptions>()('key', 'path', 'projId', 'id', 'readOnly');
const OPEN_OR_CREATE_OPTIONS = optionNames<OpenOrCreateOptions>()('key', 'path', 'projId', 'size', 'mode', 'autoRemove', 'readOnly');

/** How many times openOrCreate retries when a segment vanishes between create and open. */
const OPEN_OR_CREATE_ATTEMPTS = 8;

function resolveKey(opts: SegmentAddress): number {
  if (opts.key !== undefined && opts.path !== undefined) {
    throw invalidType('options', 'either key or path, not both', opts);
  }
  if (opts.path !== undefined) return ftok(opts.path, opts.projId ?? 1);
  if (opts.key !== undefined) return validateKey(opts.key, 'options.key');
  return IPC_PRIVATE;
}

/** @internal A SharedMemory's attachment, for shmkit's own layers (not exported from the package). */
export let attachmentOf: (shm: SharedMemory) => Attachment;

/** @internal Whether `value` is a SharedMemory (a brand check: inheriting its prototype is not enough). */
export let isSharedMemory: (value: unknown) => value is SharedMemory;

/**
 * @internal {@link SharedMemory.create} of a segment its maker initializes
 * next (a channel's header): a keyed one is removed if this thread ends
 * before {@link finishCreation}, so that an end in between leaves no key
 * that nobody can open or create again.
 */
export let createUnfinished: (options: CreateOptions) => SharedMemory;

/** @internal The segment made by {@link createUnfinished} is initialized: it stays when this thread ends. */
export function finishCreation(shm: SharedMemory): void {
  keepSegment(shm.id);
}

/**
 * A System V shared-memory segment attached to this process: the high-level
 * face of shmget/shmat/shmctl with safe defaults (mode 0o600, exclusive
 * create). `using shm = SharedMemory.open(...)` detaches at the end of the
 * block; removing the segment is always explicit ({@link remove}) unless it
 * was made with `autoRemove` or without a key.
 *
 * Where the sysctl `kernel.shm_rmid_forced` is 1, the kernel removes any
 * segment, keyed or not, as soon as nobody is attached to it (at the last
 * detach, or when the creator of a never-attached one exits): keep a process
 * attached for as long as the data must live. `shmkit limits` shows it.
 */
export class SharedMemory implements Disposable {
  /** The segment's id (shmid). */
  readonly id: number;
  /** The key it was found or created by (0 for IPC_PRIVATE). */
  readonly key: number;
  readonly #attachment: Attachment;
  #bytes: Uint8Array | undefined;

  private constructor(id: number, key: number, attachment: Attachment) {
    this.id = id;
    this.key = key;
    this.#attachment = attachment;
  }

  static #attach(id: number, key: number, readOnly: boolean): SharedMemory {
    return new SharedMemory(id, key, shmat(id, null, readOnly ? SHM_RDONLY : 0));
  }

  /**
   * Creates a new segment and attaches it. Fails with EEXIST if the key is
   * taken: creating never silently reuses someone else's segment.
   * @throws IpcError EEXIST, EINVAL (size), ENOSPC, EACCES.
   */
  static create(options: CreateOptions): SharedMemory {
    validateOptions(options, CREATE_OPTIONS, 'SharedMemory.create()');
    return SharedMemory.#create(options, false);
  }

  static #create(options: CreateOptions, readOnly: boolean, unfinished = false): SharedMemory {
    const opts = validateObject(options, 'options') as unknown as CreateOptions;
    const size = validateSize(opts.size, 'options.size');
    const mode = validateMode(opts.mode ?? 0o600, 'options.mode');
    const autoRemove = validateOptionalBoolean(opts.autoRemove, 'options.autoRemove');
    const key = resolveKey(opts);
    // One call, so that a worker terminated part way leaves no segment behind.
    const { id, attachment } = shmCreate(
      key,
      size,
      IPC_CREAT | IPC_EXCL | mode,
      readOnly ? SHM_RDONLY : 0,
      autoRemove || key === IPC_PRIVATE,
      unfinished,
    );
    return new SharedMemory(id, key, attachment);
  }

  /**
   * Attaches an existing segment by key, path or id (a private segment by id
   * only: key 0, IPC_PRIVATE, is a RangeError).
   * @throws IpcError ENOENT (no such key), EINVAL/EIDRM (no such id), EACCES.
   */
  static open(options: OpenOptions): SharedMemory {
    const opts = validateOptions(options, OPEN_OPTIONS, 'SharedMemory.open()') as unknown as OpenOptions;
    const readOnly = validateOptionalBoolean(opts.readOnly, 'options.readOnly');
    if (opts.id !== undefined) {
      if (opts.key !== undefined || opts.path !== undefined) throw invalidType('options', 'exactly one of id, key or path', opts);
      const id = validateId(opts.id, 'options.id');
      const attachment = shmat(id, null, readOnly ? SHM_RDONLY : 0);
      let key: number;
      try {
        key = shmctl(id, IPC_STAT).shm_perm.key;
      } catch (error) {
        shmdt(attachment);
        throw error;
      }
      return new SharedMemory(id, key, attachment);
    }
    if (opts.key === undefined && opts.path === undefined) throw invalidType('options', 'exactly one of id, key or path', opts);
    const key = resolveKey(opts);
    // shmget(IPC_PRIVATE, 0, 0) would try to make a segment (EINVAL about its size) rather than find one.
    if (key === IPC_PRIVATE)
      throw outOfRange(
        'options.key',
        'a key other than IPC_PRIVATE (0), which finds no segment: open a private segment by its id ({ id })',
        key,
      );
    const id = shmget(key, 0, 0);
    return SharedMemory.#attach(id, key, readOnly);
  }

  /**
   * Opens the segment for the key, or creates it (mode 0o600 by default) if
   * there is none. Safe against another process doing the same at once.
   * `readOnly` applies either way; an existing segment smaller than `size`
   * is EINVAL, as with shmget(key, size, IPC_CREAT). Key 0 (IPC_PRIVATE,
   * a RangeError) and `autoRemove: true` (a TypeError) are refused: each
   * caller would get a segment of its own.
   * @throws IpcError EINVAL (size), EACCES, ENOSPC.
   */
  static openOrCreate(options: OpenOrCreateOptions): SharedMemory {
    const opts = validateOptions(options, OPEN_OR_CREATE_OPTIONS, 'SharedMemory.openOrCreate()') as unknown as OpenOrCreateOptions;
    if (opts.key === undefined && opts.path === undefined) {
      throw invalidType('options', 'a key or a path (a private segment cannot be opened)', opts);
    }
    // IPC_PRIVATE makes a new segment every time: each caller would get one of its own.
    if (resolveKey(opts) === IPC_PRIVATE) {
      throw outOfRange(
        'options.key',
        "a key other than IPC_PRIVATE (0), which makes a new segment for every caller, so none would open another's: use create() and open by id",
        opts.key ?? 0,
      );
    }
    // IPC_RMID frees the key: every caller would get a segment of its own, and none would see the others' writes.
    if (opts.autoRemove !== undefined && opts.autoRemove !== false) {
      throw invalidValue(
        'options.autoRemove',
        'openOrCreate cannot auto-remove: marking the segment for removal frees its key, so the next openOrCreate would make another segment; use create({ autoRemove: true }) and open it by id',
        opts.autoRemove,
      );
    }
    const readOnly = validateOptionalBoolean(opts.readOnly, 'options.readOnly');
    for (let attempt = 1; ; attempt++) {
      try {
        return SharedMemory.#create(opts, readOnly);
      } catch (error) {
        if (!(error instanceof IpcError) || error.code !== 'EEXIST') throw error;
      }
      try {
        // Asking for the size, as shmget(key, size, IPC_CREAT) does in C: a smaller existing segment is EINVAL.
        const key = resolveKey(opts);
        return SharedMemory.#attach(shmget(key, opts.size, 0), key, readOnly);
      } catch (error) {
        // Removed between our create and open: try again.
        if (!(error instanceof IpcError) || error.code !== 'ENOENT' || attempt >= OPEN_OR_CREATE_ATTEMPTS) throw error;
      }
    }
  }

  /** The segment's real size in bytes (shm_segsz), 0 once detached. */
  get size(): number {
    return this.#attachment.byteLength;
  }

  /** Whether it is attached read-only. */
  get readOnly(): boolean {
    return this.#attachment.readOnly;
  }

  /** Whether {@link detach} was called. */
  get detached(): boolean {
    return this.#attachment.detached;
  }

  /** The mapped segment itself (zero-copy). Throws on a read-only attachment. */
  get buffer(): ArrayBuffer {
    return this.#attachment.buffer;
  }

  /**
   * A Uint8Array over the whole segment (zero-copy). Throws on a read-only
   * attachment, and (`ERR_SHM_TOO_LARGE`) for a segment larger than a typed
   * array can be in this Node.js (`buffer.constants.MAX_LENGTH`, 4 GiB in
   * Node 20): use {@link read}, {@link write} or a view of a part,
   * `new Uint8Array(shm.buffer, offset, length)`, for those.
   */
  get bytes(): Uint8Array {
    this.#attachment.assertAttached('bytes');
    if (this.#bytes === undefined) {
      const buffer = this.#attachment.buffer;
      if (buffer.byteLength > MAX_LENGTH) {
        throw stateError(
          'ERR_SHM_TOO_LARGE',
          `bytes: segment ${this.id} has ${buffer.byteLength} bytes, more than one typed array can cover in this Node.js ` +
            `(${MAX_LENGTH}, buffer.constants.MAX_LENGTH); use read(offset, length), write(offset, data) or new Uint8Array(shm.buffer, offset, length) for a part`,
        );
      }
      this.#bytes = new Uint8Array(buffer);
    }
    return this.#bytes;
  }

  /**
   * The segment attached once more, as a SharedArrayBuffer that worker
   * threads share: `worker.postMessage(sab)` hands a worker the same memory,
   * not a copy (an ArrayBuffer of shared memory can only be copied or
   * refused). Each call is one more attachment (nattch + 1), independent of
   * this one: {@link detach} leaves it, and nothing detaches it but the
   * garbage collector, once no thread holds it (a SharedArrayBuffer's views
   * cannot be emptied, so no shmdt may take its memory away). Call it once
   * and share the result.
   *
   * Needs Node-API's `node_api_create_external_sharedarraybuffer`, still
   * experimental: the current releases of Node.js 22, 24 and 26 have it,
   * Node.js 20 does not.
   * @throws IpcError ENOSYS (this Node.js has no way to make one), EACCES
   *   (the segment's bits deny writing: a SharedArrayBuffer is always writable),
   *   EIDRM; StateError ERR_SHM_READ_ONLY on a read-only attachment,
   *   ERR_SHM_DETACHED after {@link detach}.
   */
  sharedBuffer(): SharedArrayBuffer {
    this.#attachment.assertAttached('sharedBuffer');
    if (isReadOnly(this.#attachment)) {
      throw stateError(
        'ERR_SHM_READ_ONLY',
        `sharedBuffer: segment ${this.id} is attached read-only, and a SharedArrayBuffer is always writable`,
      );
    }
    return shmatShared(this.id);
  }

  /** Copies `length` bytes from `offset` (default: to the end). */
  read(offset = 0, length?: number): Uint8Array {
    return this.#attachment.read(offset, length);
  }

  /**
   * Writes `data` (bytes, or a string as UTF-8) at `offset`. All or nothing:
   * data that would run past the end is refused with a RangeError.
   * @returns the number of bytes written.
   */
  write(offset: number, data: ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string): number {
    this.#attachment.assertAttached('write');
    // The attachment's private state, not this.readOnly (a prototype getter user code can redefine).
    if (isReadOnly(this.#attachment)) {
      throw stateError('ERR_SHM_READ_ONLY', `write: segment ${this.id} is attached read-only`);
    }
    const source = bytesOf(data, 'data');
    const [start] = validateRange(offset, source.byteLength, this.size);
    // A view of just the written range: works at any offset, also in segments larger than `bytes` can cover.
    new Uint8Array(this.#attachment.buffer, start, source.byteLength).set(source);
    return source.byteLength;
  }

  /** The kernel's view of the segment (IPC_STAT). */
  stat(): ShmidDs {
    return shmctl(this.id, IPC_STAT);
  }

  /**
   * Marks the segment for removal (IPC_RMID): it stays usable by those
   * attached and goes after the last detach; no new process can open it by key.
   */
  remove(): void {
    shmctl(this.id, IPC_RMID);
  }

  /** Detaches (shmdt). Every buffer and view of it becomes empty. */
  detach(): void {
    this.#attachment.assertAttached('detach');
    shmdt(this.#attachment);
    this.#bytes = undefined;
  }

  /** Detaches if still attached; does not remove the segment. */
  [Symbol.dispose](): void {
    if (!this.#attachment.detached) shmdt(this.#attachment);
    this.#bytes = undefined;
  }

  static {
    attachmentOf = (shm) => shm.#attachment;
    createUnfinished = (options) => SharedMemory.#create(options, false, true);
    isSharedMemory = (value): value is SharedMemory => typeof value === 'object' && value !== null && #attachment in value;
  }
}
