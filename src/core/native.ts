// Loads the addon and describes its shims. Failures come back as negative
// errno numbers; everything else about them is decided in TypeScript.
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertSupportedPlatform } from './platform.js';

assertSupportedPlatform();

/** Opaque record of one attachment, owned by the addon. */
export type MappingHandle = { readonly __mapping: unique symbol };

/** Opaque futex waiter (a thread that runs FUTEX_WAIT and reports back), owned by the addon. */
export type FutexWaiterHandle = { readonly __futexWaiter: unique symbol };

/** `struct ipc_perm`, flattened into the stat objects below. */
export interface NativeIpcPerm {
  key: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  mode: number;
  seq: number;
}

/** `struct shmid_ds` flattened, with the C field names. */
export interface NativeShmStat extends NativeIpcPerm {
  shm_segsz: number;
  shm_atime: number;
  shm_dtime: number;
  shm_ctime: number;
  shm_cpid: number;
  shm_lpid: number;
  shm_nattch: number;
}

/** `struct semid_ds` flattened, with the C field names. */
export interface NativeSemStat extends NativeIpcPerm {
  sem_otime: number;
  sem_ctime: number;
  sem_nsems: number;
}

/** `struct msqid_ds` flattened, with the C field names (msg_cbytes is glibc's __msg_cbytes). */
export interface NativeMsgStat extends NativeIpcPerm {
  msg_stime: number;
  msg_rtime: number;
  msg_ctime: number;
  msg_cbytes: number;
  msg_qnum: number;
  msg_qbytes: number;
  msg_lspid: number;
  msg_lrpid: number;
}

export interface NativeBinding {
  constants: Record<string, number>;
  ftok(path: string, projId: number): number;
  shmget(key: number, size: number, flags: number): number;
  shmat(shmid: number, addr: bigint, flags: number): [ArrayBuffer, MappingHandle, bigint] | number;
  /** shmget + shmat (+ IPC_RMID): shmat's [buffer, handle, address] and the shmid, or [-errno, failed call (0 shmget, 1 shmat, 2 shmctl), shmid]. */
  shmCreate(
    key: number,
    size: number,
    flags: number,
    shmflg: number,
    remove: boolean,
    unfinished: boolean,
  ): [ArrayBuffer, MappingHandle, bigint, number] | [number, 0 | 1 | 2, number];
  /** The segment shmCreate made `unfinished` (removed when the environment ends) is complete: it stays. */
  keepSegment(shmid: number): void;
  shmdt(handle: MappingHandle, buffer: ArrayBuffer): number;
  /** The segment attached once more as a SharedArrayBuffer (detached by its finalizer only); -ENOSYS where Node-API cannot make one. */
  shmatShared(shmid: number): SharedArrayBuffer | number;
  /**
   * Whether shmat's sweep may detach mappings whose ArrayBuffer was collected,
   * the least number of new mappings between sweeps, and how many collected
   * ones may await their finalizer before shmat says EAGAIN.
   */
  mappingPolicy(reclaimCollected: boolean, minSweep: number, maxAwaiting: number): void;
  /** [mappings registered on this thread, of which collected and awaiting their finalizer]. */
  mappingStats(): [number, number];
  /**
   * New mappings (shmat, mmap) are refused with ENOMEM once the process's
   * memory areas (/proc/self/maps) come within `margin` of `limit` (0: never);
   * they are counted only from `checkFrom` of shmkit's own.
   */
  mapCountPolicy(limit: number, margin: number, checkFrom: number): void;
  /** [shmkit's mappings and placeholders in this process, the areas counted when a mapping was last refused (0: the last count admitted)]. */
  mapCountStats(): [number, number];
  shmctlStat(id: number, cmd: number): [number, NativeShmStat] | number;
  shmctlSet(id: number, uid: number, gid: number, mode: number): number;
  shmctlCmd(id: number, cmd: number): number;
  shmctlInfo(cmd: number): [number, Record<string, number | bigint>] | number;
  strerror(errno: number): string;
  // Semaphores (native/sem.cc). Operations are (sem_num, sem_op, sem_flg) triples.
  semget(key: number, nsems: number, flags: number): number;
  /** semget + first values (how 0 none, 1 semop of packed triples, 2 SETALL, 3 SETVAL of semaphore 0): semid, or [-errno, failed call (0 semget, 1 the values), semid]. */
  semCreate(
    key: number,
    nsems: number,
    flags: number,
    how: 0 | 1 | 2 | 3,
    arg: Int32Array | Uint16Array | number,
  ): number | [number, 0 | 1, number];
  semop(semid: number, sops: Int32Array, timeoutMs: number): number;
  semop1(semid: number, semNum: number, semOp: number, semFlg: number): number;
  semctlCmd(semid: number, semnum: number, cmd: number): number;
  semctlSetVal(semid: number, semnum: number, value: number): number;
  semctlGetAll(semid: number): number[] | number;
  semctlSetAll(semid: number, values: Uint16Array): number;
  semctlStat(id: number, cmd: number): [number, NativeSemStat] | number;
  semctlSet(id: number, uid: number, gid: number, mode: number): number;
  semctlInfo(cmd: number): [number, Record<string, number>] | number;
  semWaitStart(semid: number, sops: Int32Array, timeoutMs: number): number;
  // Message queues (native/msg.cc). mtype travels as a JS number.
  msgget(key: number, flags: number): number;
  msgsnd(msqid: number, mtype: number, data: Uint8Array, flags: number): number;
  msgrcv(msqid: number, msgsz: number, msgtyp: number, flags: number): [number, ArrayBuffer] | number;
  /** Into `buf`, a struct msgbuf (a C long, then msgsz bytes): the bytes received, or -errno. */
  msgrcvInto(msqid: number, buf: Uint8Array, msgtyp: number, flags: number): number;
  msgctlCmd(msqid: number, cmd: number): number;
  msgctlStat(id: number, cmd: number): [number, NativeMsgStat] | number;
  msgctlSet(id: number, uid: number, gid: number, mode: number, qbytes: number): number;
  msgctlInfo(cmd: number): [number, Record<string, number>] | number;
  /** Results: dispatch(token, 0 | -errno). */
  msgSendStart(msqid: number, mtype: number, data: Uint8Array, flags: number, timeoutMs: number): number;
  /** Results: dispatch(token, 0, [mtype, ArrayBuffer]) or dispatch(token, -errno). */
  msgReceiveStart(msqid: number, msgsz: number, msgtyp: number, flags: number, timeoutMs: number): number;
  // The waiter threads (native/waits.cc) that semWaitStart, msgSendStart and msgReceiveStart use.
  /** `dispatch` is offered every result of this environment's waits, and says whether the token is its copy's. */
  waitInit(dispatch: (token: number, result: number, value: unknown) => boolean): void;
  waitCancel(token: number): number;
  /** Within dispatch: the result it runs with is JavaScript's; a termination then undoes nothing (native/waits.cc). */
  waitClaim(): void;
  // Futexes and liveness, for the channel (native/futex.cc).
  futexWake(buffer: ArrayBuffer, byteOffset: number, count: number): number;
  futexWaitSync(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  futexWaiterNew(callback: (result: number) => void): FutexWaiterHandle | number;
  futexWaiterWait(handle: FutexWaiterHandle, buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  futexWaiterIdle(handle: FutexWaiterHandle): void;
  futexWaiterCancel(handle: FutexWaiterHandle): void;
  futexWaiterClose(handle: FutexWaiterHandle): void;
  // The same waits through this thread's io_uring (native/futex_ring.cc): open returns a client
  // number, whose waits' results reach its dispatch(token, result).
  futexRingOpen(dispatch: (token: number, result: number) => void): number;
  futexRingWait(client: number, buffer: ArrayBuffer, byteOffset: number, expected: number): number;
  futexRingCancel(token: number): number;
  kill0(pid: number): number;
  schedYield(): void;
  // POSIX shared memory and memfd (native/posix.cc); mappings share shmat's lifetime (native/mapping.cc).
  /**
   * shm_open; `ownership` 0: the caller's descriptor, 1: owned by this
   * environment (closed when it ends unless closeOwned closed it), 2: owned,
   * and the name unlinked when the environment ends unless keepName kept it.
   */
  shmOpen(name: string, oflag: number, mode: number, ownership: 0 | 1 | 2): number;
  shmUnlink(name: string): number;
  /** memfd_create; `ownership` as for shmOpen (0 or 1). */
  memfdCreate(name: string, flags: number, ownership: 0 | 1): number;
  /** fcntl(fd, F_DUPFD_CLOEXEC, 0), the new descriptor owned by this environment. */
  dupOwned(fd: number): number;
  /** The token of this environment's record of owned descriptor `fd` (0: none), for closeOwned and ownedLive. */
  ownedToken(fd: number): number;
  /** 0 if record `token` of `fd` stands and `fd` still refers to its file, else -EBADF (the program closed it). */
  ownedLive(fd: number, token: number): number;
  /**
   * Forgets record `token` of owned descriptor `fd` and closes it; -EBADF and
   * nothing closed if that record went stale (the program closed the
   * descriptor: the number may be another file's, or another object's, now).
   */
  closeOwned(fd: number, token: number): number;
  /** The object made through owned descriptor `fd` is complete: its name stays when the environment ends. */
  keepName(fd: number): void;
  /** fcntl(fd, cmd, arg) for the integer commands: F_ADD_SEALS, F_GET_SEALS, F_GETFL, F_DUPFD_CLOEXEC. */
  fcntlInt(fd: number, cmd: number, arg: number): number;
  /** fallocate(fd, 0, 0, length): the file's pages, reserved now. */
  fallocate(fd: number, length: number): number;
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): [ArrayBuffer, MappingHandle, bigint] | number;
  munmap(handle: MappingHandle, buffer: ArrayBuffer): number;
  /** Pages the SIGBUS guard has replaced in this process (native/sigbus.cc). */
  sigbusReplacedPages(): number;
  /** Faults inside a file (not past its end) the SIGBUS guard has met in this process: when it moves, ask mappingFault. */
  sigbusInsideFaults(): number;
  /** [byte offset in the mapping, si_code] of the first fault inside the file the guard met there, or 0 for none. */
  mappingFault(handle: MappingHandle): [number, number] | 0;
  /** fallocate(FALLOC_FL_KEEP_SIZE) of the mapped file's bytes [start, start + length) of the mapping: 0 or -errno. */
  reserveRange(handle: MappingHandle, start: number, length: number): number;
  /** [st_size, st_blocks] of the mapped file, through the guard's descriptor, or -errno. */
  mappingFileStat(handle: MappingHandle): [number, number] | number;
  /** Puts the SIGBUS guard back in front if another handler replaced it (libuv, for process.on/off('SIGBUS')); whether it did. */
  sigbusGuardReinstall(): boolean;
}

const require = createRequire(import.meta.url);
// The package's root: this module runs as dist/src/core/native.js or inside the
// bundle in dist/src/bundle/, both two folders below dist/.
const root = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * The addon node-gyp-build picks first, found without loading node-gyp-build
 * (about 1.5 ms of every import): the first `*.node` file of build/Release,
 * unless SHMKIT_PREBUILD or PREBUILDS_ONLY send it elsewhere. A compiled
 * addon (a checkout, `npm rebuild`) is there; a prebuilt one is not, and
 * node-gyp-build then looks for it as before.
 */
function builtAddon(): string | undefined {
  if (process.env.SHMKIT_PREBUILD || process.env.PREBUILDS_ONLY) return undefined;
  const dir = join(root, 'build', 'Release');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const file = names.find((name) => name.endsWith('.node'));
  return file === undefined ? undefined : join(dir, file);
}

function load(): NativeBinding {
  const built = builtAddon();
  const nodeGypBuild = built === undefined ? (require('node-gyp-build') as (dir: string) => unknown) : undefined;
  try {
    return (nodeGypBuild === undefined ? require(built!) : nodeGypBuild(root)) as NativeBinding;
  } catch (cause) {
    // node-gyp-build's message runs over lines ("loaded from: ..."): one line here, the whole in the cause.
    const why = String((cause as Error).message)
      .split('\n', 1)[0]!
      .trim();
    throw new Error(
      `shmkit: no usable native addon (${why}). ` +
        'shmkit ships prebuilt ones for linux-x64 and linux-arm64 (glibc 2.34 or later); elsewhere `npm rebuild shmkit` ' +
        'compiles it, which needs python3, make and a C++ compiler (where npm skips unapproved install scripts, ' +
        '`npm install-scripts approve shmkit` first).',
      { cause },
    );
  }
}

/** The addon's shims. */
export const native: NativeBinding = load();
