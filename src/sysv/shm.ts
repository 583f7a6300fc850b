// The C-faithful shared-memory calls: same names, arguments and errors as
// shmget(2), shmat(2), shmdt(2) and shmctl(2). Synchronous, like C.
import { constants as bufferConstants } from 'node:buffer';
import { check, IpcError, invalidType, outOfRange, withHint, type Explained } from '../core/errors.js';
import { mapCountRefusal, maxMapCount } from '../core/map-count.js';
import { type MappingHandle, native, type NativeShmStat } from '../core/native.js';
import { validateFlags, validateId, validateInteger, validateKey, validateObject, validateSize, UINT32_MAX } from '../core/validate.js';
import { Attachment, isAttachment } from './attachment.js';
import { assertMakesNew } from './exclusive.js';
import { hint, unknownIdHint } from './hints.js';
import { stackRoom } from './stack-room.js';
import {
  IPC_CREAT,
  IPC_INFO,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
  PAGE_SIZE,
  SHM_INFO,
  SHM_NORESERVE,
  SHM_LOCK,
  SHM_RDONLY,
  SHM_REMAP,
  SHM_RND,
  SHM_STAT,
  SHM_STAT_ANY,
  SHM_UNLOCK,
  SHMLBA,
} from './constants.js';

/** `struct ipc_perm` of a segment, with the C field names. */
export interface IpcPerm {
  /** The key (key_t, signed 32-bit); 0 (IPC_PRIVATE) once marked for removal. */
  key: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  /** Permission bits, plus SHM_DEST and SHM_LOCKED. */
  mode: number;
  seq: number;
}

/** `struct shmid_ds`, with the C field names; times in seconds since the epoch. */
export interface ShmidDs {
  shm_perm: IpcPerm;
  /**
   * The size in bytes: exact up to 2^53. Past it (only a segment made with
   * SHM_NORESERVE, which shmkit refuses, can be that large) the nearest
   * double; /proc/sysvipc/shm has it exactly.
   */
  shm_segsz: number;
  shm_atime: number;
  shm_dtime: number;
  shm_ctime: number;
  shm_cpid: number;
  shm_lpid: number;
  shm_nattch: number;
}

/** What `shmctl(index, SHM_STAT)` gives: the structure and the segment's id. */
export interface ShmidDsWithId extends ShmidDs {
  /** The segment's id (C returns it as shmctl's result). */
  id: number;
}

/** `struct shminfo` (IPC_INFO): system limits. */
export interface ShmInfoLimits {
  shmmax: bigint;
  shmmin: bigint;
  shmmni: bigint;
  shmseg: bigint;
  shmall: bigint;
  /** shmctl's result: the highest index in use in the kernel's table. */
  highest_index: number;
}

/** `struct shm_info` (SHM_INFO): system usage; sizes in pages. */
export interface ShmInfoUsage {
  used_ids: number;
  shm_tot: bigint;
  shm_rss: bigint;
  shm_swp: bigint;
  swap_attempts: bigint;
  swap_successes: bigint;
  /** shmctl's result: the highest index in use in the kernel's table. */
  highest_index: number;
}

/** What IPC_SET may change. */
export interface ShmSetOptions {
  uid?: number | undefined;
  gid?: number | undefined;
  mode?: number | undefined;
}

// Node-API detaches a collected attachment only on a later event-loop turn.
// A collected ArrayBuffer does not prove its memory unused: its memory may
// have moved to another ArrayBuffer that still lives. ArrayBuffer.prototype.
// transfer() (Node 21 and later, or a V8 flag) moves it, and so do Node's own
// web streams on every version: a ReadableByteStreamController's enqueue() and
// a BYOB read move a chunk's buffer internally (Node 20 too), leaving the
// original empty. Detaching at once when the original is collected (an early
// reclaim native/mapping.cc can do) would shmdt memory the moved buffer still
// uses: SIGSEGV, or a view over whatever is mapped next at that address. So
// only the finalizer detaches, on every Node, and shmat refuses (EAGAIN) while
// a quarter of the process's map count awaits it, before the kernel's limit
// would make V8 itself abort. The throwaway memory an explicit shmdt leaves
// over a segment (native/mapping.cc) is freed by the same sweep once its
// buffer is collected, whatever this policy: a detached buffer cannot have
// been moved.
const bufferMaxLength = bufferConstants.MAX_LENGTH;
const memoryCanMove = true;
native.mappingPolicy(!memoryCanMove, 256, Math.floor(maxMapCount().value / 4));

function awaitingHint(): string | undefined {
  const [, awaiting] = native.mappingStats();
  return awaiting === 0
    ? undefined
    : `${awaiting} forgotten attachments are detached when the event loop next runs: shmdt() attachments when done with them, or let the event loop run`;
}

function hex(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * `shmget(2)`: the id of the segment for `key`, created if `flags` has
 * IPC_CREAT. The low 9 bits of `flags` are the permission bits of a new segment.
 * Unlike C, SHM_NORESERVE is refused (RangeError): touching such a segment
 * when memory is short is SIGBUS, which would kill the process.
 * @throws IpcError EEXIST, ENOENT, EINVAL (size), EACCES, ENOSPC, ENOMEM.
 */
export function shmget(key: number, size: number, flags: number): number {
  const k = validateShmget(key, size, flags);
  return check(native.shmget(k, size, flags), 'shmget', explainShmget(k, size, flags));
}

/** shmget's arguments checked: the key as a key_t. */
function validateShmget(key: number, size: number, flags: number): number {
  const k = validateKey(key);
  validateSize(size, 'size');
  validateFlags(flags, 'flags');
  if ((flags & IPC_CREAT) !== 0 && (flags & SHM_NORESERVE) !== 0) {
    // Without a reservation a later access to the memory can fail with
    // SIGBUS (huge pages, or swap, that are not there), which kills the
    // process: no JavaScript may be able to do that through shmkit.
    throw outOfRange(
      'flags',
      'without SHM_NORESERVE (a segment without reserved memory can kill the process with SIGBUS when it is touched)',
      flags,
    );
  }
  return k;
}

/** The words that explain a failed shmget. */
function explainShmget(k: number, size: number, flags: number) {
  return (code: string): string | Explained => {
    const args = `key ${hex(k)}, size ${size}`;
    const fix = hint(code, { object: 'segment', key: k, size, flags });
    switch (code) {
      case 'EEXIST':
        return withHint(`${args}: a segment with this key exists (IPC_CREAT|IPC_EXCL)`, fix);
      case 'ENOENT':
        return withHint(`${args}: no segment has this key and IPC_CREAT was not given`, fix);
      case 'EINVAL':
        return withHint(`${args}: size is out of the limits (shmmin..shmmax) or larger than the existing segment`, fix);
      case 'EACCES':
        return withHint(`${args}: the segment's permission bits deny this user`, fix);
      case 'ENOSPC':
        return withHint(`${args}: the system's segment limit (shmmni or shmall) is reached`, fix);
      case 'ENOMEM':
        return withHint(`${args}: no memory for a segment of this size`, fix);
      default:
        return args;
    }
  };
}

/**
 * @internal A new segment (`flags` has IPC_CREAT|IPC_EXCL, or `key` is
 * IPC_PRIVATE), attached with `shmflg` and, with `remove`, marked for removal:
 * shmget, shmat and shmctl(IPC_RMID) in one native call, so that a worker
 * terminated part way leaves no segment behind. Whatever fails after shmget
 * removes the segment, and throws as that call would. With `unfinished`, a
 * keyed segment not marked for removal is removed if this thread ends before
 * {@link keepSegment}: its maker has yet to initialize it.
 * @throws IpcError as shmget, shmat (EAGAIN included) and shmctl do.
 */
export function shmCreate(
  key: number,
  size: number,
  flags: number,
  shmflg: number,
  remove: boolean,
  unfinished = false,
): { id: number; attachment: Attachment } {
  const k = validateShmget(key, size, flags);
  assertMakesNew(k, flags, 'shmCreate', 'segment');
  validateFlags(shmflg, 'shmflg');
  const result = native.shmCreate(k, size, flags, shmflg, remove, unfinished);
  if (result.length === 3) {
    // After shmget the id is that of the segment made and removed again.
    const [errno, call, id] = result;
    if (call === 0) check(errno, 'shmget', explainShmget(k, size, flags));
    if (call === 1) check(errno, 'shmat', explainShmat(id, 0n, shmflg));
    check(errno, 'shmctl', explainId(id, 'IPC_RMID'));
  }
  const [buffer, handle, address, id] = result as [ArrayBuffer, MappingHandle, bigint, number];
  return { id, attachment: Attachment.make(id, (shmflg & SHM_RDONLY) !== 0, buffer, handle, address) };
}

/** @internal The keyed segment {@link shmCreate} made `unfinished` is complete: it stays when this thread ends. */
export function keepSegment(shmid: number): void {
  native.keepSegment(shmid);
}

/**
 * `shmat(2)`: attaches segment `shmid`. `shmaddr` (default: the kernel
 * chooses) must be free memory; SHM_REMAP with an address is refused, since
 * it could replace memory this process is using, and so is an address where
 * the main thread's stack may grow (RangeError). `shmflg` takes SHM_RDONLY,
 * SHM_RND, SHM_EXEC.
 * @throws IpcError EACCES, EINVAL (bad id, removed segment, bad address), EIDRM, ENOMEM;
 *   EAGAIN while too many forgotten attachments await detaching (where the
 *   garbage collector cannot detach them at once; see docs).
 */
export function shmat(shmid: number, shmaddr?: bigint | number | null, shmflg = 0): Attachment {
  validateId(shmid, 'shmid');
  validateFlags(shmflg, 'shmflg');
  let addr = 0n;
  if (typeof shmaddr === 'bigint') addr = shmaddr;
  else if (typeof shmaddr === 'number') addr = BigInt(validateSize(shmaddr, 'shmaddr'));
  else if (shmaddr !== null && shmaddr !== undefined) throw invalidType('shmaddr', 'a bigint, a number or null', shmaddr);
  if (addr < 0n || addr > 0xffff_ffff_ffff_ffffn) throw outOfRange('shmaddr', 'a 64-bit address', addr);
  if (addr !== 0n && (shmflg & SHM_REMAP) !== 0) {
    throw outOfRange('shmflg', 'without SHM_REMAP when shmaddr is given (it would unmap memory in use)', shmflg);
  }
  if (addr !== 0n && (shmflg & SHM_RND) !== 0 && addr < BigInt(SHMLBA)) {
    // Linux rounds it down to 0 and still maps there (MAP_FIXED) for a
    // privileged process: memory at the null address, which no buffer may have.
    throw outOfRange(
      'shmaddr',
      `0 (the kernel chooses) or >= SHMLBA (${SHMLBA}) with SHM_RND, which would round it down to address 0`,
      addr,
    );
  }
  if (addr !== 0n) refuseStackRoom(shmid, (shmflg & SHM_RND) !== 0 ? addr - (addr % BigInt(SHMLBA)) : addr, addr);
  const result = check(native.shmat(shmid, addr, shmflg), 'shmat', explainShmat(shmid, addr, shmflg));
  const [buffer, handle, address] = result;
  return Attachment.make(shmid, (shmflg & SHM_RDONLY) !== 0, buffer, handle, address);
}

/**
 * @internal Segment `shmid` attached once more, read-write, as a
 * SharedArrayBuffer that worker threads share (SharedMemory.sharedBuffer).
 * Only the garbage collector detaches it, once no thread holds it.
 * @throws IpcError ENOSYS where Node-API cannot make one, EACCES, EINVAL, EIDRM, ENOMEM, ENOTSUP.
 */
export function shmatShared(shmid: number): SharedArrayBuffer {
  validateId(shmid, 'shmid');
  const explain = explainShmat(shmid, 0n, 0);
  return check(native.shmatShared(shmid), 'shmat', (code) =>
    code === 'ENOSYS'
      ? `shmid ${shmid}: this Node.js (${process.version}) cannot make a SharedArrayBuffer over shared memory: ` +
        'that needs node_api_create_external_sharedarraybuffer, which the current releases of Node.js 22, 24 and 26 have'
      : explain(code),
  );
}

/** The words that explain a failed shmat of `shmid` (at `addr`, 0n: the kernel chooses). */
function explainShmat(shmid: number, addr: bigint, shmflg: number) {
  return (code: string): string | Explained => {
    switch (code) {
      case 'EACCES':
        return withHint(
          `shmid ${shmid}: the segment's permission bits deny this user`,
          hint(code, { object: 'segment', id: shmid, shmflg }),
        );
      case 'EINVAL':
        // With the kernel choosing the address (and no SHM_REMAP), only the id can be wrong.
        if (addr === 0n && (shmflg & SHM_REMAP) === 0) return withHint(`shmid ${shmid}: no such segment`, unknownIdHint('segment'));
        return `shmid ${shmid}${addr ? `, shmaddr 0x${addr.toString(16)}` : ''}: no such segment, or a bad address`;
      case 'EIDRM':
        return withHint(`shmid ${shmid}: the segment was removed`, hint(code, { object: 'segment', id: shmid }));
      case 'ENOMEM': {
        const refusal = mapCountRefusal();
        return refusal === undefined
          ? withHint(`shmid ${shmid}: no room for another mapping in this process`, awaitingHint())
          : `shmid ${shmid}: ${refusal}`;
      }
      case 'EAGAIN':
        return withHint(`shmid ${shmid}: too many attachments await detaching`, awaitingHint());
      case 'ENOTSUP':
        return `shmid ${shmid}: this runtime refuses ArrayBuffers over memory it did not allocate (a V8 sandbox, as in Electron), so a segment cannot be mapped here`;
      case 'EFBIG':
        return `shmid ${shmid}: the segment is larger than one ArrayBuffer may be in this Node.js (buffer.constants.MAX_LENGTH, ${bufferMaxLength} bytes), so it cannot be mapped here; Node.js 22 and later allow larger ones`;
      default:
        return `shmid ${shmid}`;
    }
  };
}

/**
 * Refuses an address whose mapping would lie where the main thread's stack
 * may grow (the kernel accepts it, being free memory, but the stack could
 * then no longer grow and a deep recursion would be SIGSEGV).
 */
function refuseStackRoom(shmid: number, at: bigint, given: bigint): void {
  const room = stackRoom();
  if (room === undefined) return;
  let size = BigInt(PAGE_SIZE);
  try {
    size = BigInt(shmctl(shmid, IPC_STAT).shm_segsz);
  } catch {
    // shmat itself reports a bad id or a denied segment.
  }
  const page = BigInt(PAGE_SIZE);
  const end = at + ((size + page - 1n) / page) * page;
  const [low, high] = room;
  if (at < high && end > low) {
    throw outOfRange(
      'shmaddr',
      `an address whose mapping stays clear of the main thread's stack and the room it may grow into ` +
        `(0x${low.toString(16)}-0x${high.toString(16)}: RLIMIT_STACK and the kernel's stack guard gap), since a segment there ` +
        `would make a deep recursion die with SIGSEGV instead of a RangeError; pass null to let the kernel choose`,
      given,
    );
  }
}

/**
 * `shmdt(2)`: detaches. Every buffer and view of the attachment becomes
 * empty (byteLength 0) first, so no code can touch the unmapped memory.
 * @throws IpcError EINVAL when already detached.
 */
export function shmdt(attachment: Attachment): void {
  if (!isAttachment(attachment)) throw invalidType('attachment', 'an Attachment from shmat()', attachment);
  attachment.detach();
}

function toShmidDs(s: NativeShmStat): ShmidDs {
  return {
    shm_perm: { key: s.key, uid: s.uid, gid: s.gid, cuid: s.cuid, cgid: s.cgid, mode: s.mode, seq: s.seq },
    shm_segsz: s.shm_segsz,
    shm_atime: s.shm_atime,
    shm_dtime: s.shm_dtime,
    shm_ctime: s.shm_ctime,
    shm_cpid: s.shm_cpid,
    shm_lpid: s.shm_lpid,
    shm_nattch: s.shm_nattch,
  };
}

function explainId(shmid: number, cmd: string) {
  return (code: string): string | Explained => {
    switch (code) {
      case 'EINVAL':
        return `shmid ${shmid}, ${cmd}: no such segment, or an invalid command`;
      case 'EIDRM':
        return withHint(`shmid ${shmid}, ${cmd}: the segment was removed`, hint(code, { object: 'segment', id: shmid }));
      case 'EACCES':
        return withHint(`shmid ${shmid}, ${cmd}: read permission denied`, hint(code, { object: 'segment', id: shmid }));
      case 'EPERM':
        return withHint(
          `shmid ${shmid}, ${cmd}: only the owner, the creator or a privileged user may do this`,
          hint(code, { object: 'segment', id: shmid }),
        );
      case 'ENOMEM':
        return `shmid ${shmid}, ${cmd}: the memory lock limit (RLIMIT_MEMLOCK) is exceeded`;
      default:
        return `shmid ${shmid}, ${cmd}`;
    }
  };
}

function statCall(id: number, cmd: number, name: string): [number, ShmidDs] {
  const [ret, raw] = check(native.shmctlStat(id, cmd), 'shmctl', explainId(id, name));
  return [ret, toShmidDs(raw)];
}

/**
 * The current owner and mode, for the fields an IPC_SET leaves out. IPC_STAT
 * needs read permission but IPC_SET only ownership, so when IPC_STAT is
 * refused the segment is looked up by table index with SHM_STAT_ANY (no
 * read check): the owner of a mode-0 segment can still change it, and a
 * stranger gets the kernel's EPERM from IPC_SET, as in C.
 */
function currentPerm(shmid: number): IpcPerm {
  try {
    return statCall(shmid, IPC_STAT, 'IPC_SET')[1].shm_perm;
  } catch (error) {
    if (!(error instanceof IpcError) || error.code !== 'EACCES') throw error;
    const info = native.shmctlInfo(SHM_INFO);
    if (typeof info === 'number') throw error;
    for (let index = 0; index <= info[0]; index++) {
      const entry = native.shmctlStat(index, SHM_STAT_ANY);
      if (typeof entry !== 'number' && entry[0] === shmid) return toShmidDs(entry[1]).shm_perm;
    }
    throw error;
  }
}

function infoCall(cmd: number, name: string): [number, Record<string, number | bigint>] {
  return check(native.shmctlInfo(cmd), 'shmctl', () => name);
}

/**
 * `shmctl(2)`. With IPC_STAT returns the segment's {@link ShmidDs}; with
 * SHM_STAT (or SHM_STAT_ANY) `shmid` is an index into the kernel's table and
 * the result carries the segment's `id`; IPC_INFO returns the limits, SHM_INFO
 * the usage; IPC_SET changes uid, gid and mode (what is not given stays);
 * IPC_RMID marks the segment for removal (it goes after the last detach);
 * SHM_LOCK / SHM_UNLOCK lock it in memory.
 * @throws IpcError EINVAL, EIDRM, EACCES, EPERM, ENOMEM.
 */
export function shmctl(shmid: number, cmd: typeof IPC_STAT): ShmidDs;
export function shmctl(index: number, cmd: typeof SHM_STAT | typeof SHM_STAT_ANY): ShmidDsWithId;
export function shmctl(shmid: number, cmd: typeof IPC_SET, buf: ShmSetOptions): void;
export function shmctl(shmid: number, cmd: typeof IPC_INFO): ShmInfoLimits;
export function shmctl(shmid: number, cmd: typeof SHM_INFO): ShmInfoUsage;
export function shmctl(shmid: number, cmd: typeof IPC_RMID | typeof SHM_LOCK | typeof SHM_UNLOCK): void;
export function shmctl(shmid: number, cmd: number, buf?: ShmSetOptions): ShmidDs | ShmidDsWithId | ShmInfoLimits | ShmInfoUsage | void;
export function shmctl(shmid: number, cmd: number, buf?: ShmSetOptions): ShmidDs | ShmidDsWithId | ShmInfoLimits | ShmInfoUsage | void {
  validateId(shmid, 'shmid');
  validateId(cmd, 'cmd');
  switch (cmd) {
    case IPC_STAT:
      return statCall(shmid, cmd, 'IPC_STAT')[1];
    case SHM_STAT:
    case SHM_STAT_ANY: {
      const [id, ds] = statCall(shmid, cmd, cmd === SHM_STAT ? 'SHM_STAT' : 'SHM_STAT_ANY');
      return { ...ds, id };
    }
    case IPC_SET: {
      const opts = validateObject(buf, 'buf');
      const uid = opts.uid === undefined ? undefined : validateInteger(opts.uid, 'buf.uid', 0, UINT32_MAX);
      const gid = opts.gid === undefined ? undefined : validateInteger(opts.gid, 'buf.gid', 0, UINT32_MAX);
      const mode = opts.mode === undefined ? undefined : validateInteger(opts.mode, 'buf.mode', 0, 0o777);
      const current = uid === undefined || gid === undefined || mode === undefined ? currentPerm(shmid) : undefined;
      check(
        native.shmctlSet(shmid, uid ?? current!.uid, gid ?? current!.gid, mode ?? current!.mode & 0o777),
        'shmctl',
        explainId(shmid, 'IPC_SET'),
      );
      return;
    }
    case IPC_INFO: {
      const [ret, info] = infoCall(cmd, 'IPC_INFO');
      return { ...(info as Omit<ShmInfoLimits, 'highest_index'>), highest_index: ret };
    }
    case SHM_INFO: {
      const [ret, info] = infoCall(cmd, 'SHM_INFO');
      return { ...(info as unknown as Omit<ShmInfoUsage, 'highest_index'>), highest_index: ret };
    }
    case IPC_RMID:
    case SHM_LOCK:
    case SHM_UNLOCK: {
      const name = cmd === IPC_RMID ? 'IPC_RMID' : cmd === SHM_LOCK ? 'SHM_LOCK' : 'SHM_UNLOCK';
      check(native.shmctlCmd(shmid, cmd), 'shmctl', explainId(shmid, name));
      return;
    }
    default:
      // Unknown commands go to the kernel, which answers EINVAL as in C.
      check(native.shmctlCmd(shmid, cmd), 'shmctl', explainId(shmid, `cmd ${cmd}`));
      return;
  }
}
