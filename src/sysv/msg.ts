// The C-faithful message-queue calls: same names, arguments and errors as
// msgget(2), msgsnd(2), msgrcv(2) and msgctl(2). Synchronous, like C: a
// msgsnd to a full queue or a msgrcv with nothing to take blocks the whole
// thread (and so Node's event loop) unless IPC_NOWAIT is given. The
// high-level MessageQueue waits without blocking: it tries at once here
// (tryMsgsnd, tryMsgrcv) and waits on the addon's waiter threads
// (msgsndStart, msgrcvStart, run by wait-threads.ts).
import { constants as osConstants } from 'node:os';
import { check, errnoName, ipcError, withHint, type Explained, type IpcError } from '../core/errors.js';
import { bytesForAddon } from '../core/addon-arrays.js';
import { bytesOf } from '../core/bytes.js';
import { native, type NativeMsgStat } from '../core/native.js';
import { validateFlags, validateId, validateInteger, validateKey, validateObject, validateSize, UINT32_MAX } from '../core/validate.js';
import { IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT, MSG_COPY, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY } from './constants.js';
import type { IpcPerm } from './shm.js';
import { statWithoutRead } from './access.js';
import { unknownIdHint } from './hints.js';

/**
 * A message, `struct msgbuf`: its type (`mtype`, > 0) and its bytes
 * (`mtext`). Types travel as C longs; JavaScript numbers hold them exactly up
 * to 2^53 - 1.
 */
export interface Msgbuf {
  mtype: number;
  mtext: Uint8Array;
}

/** `struct msqid_ds`, with the C field names; times in seconds since the epoch. */
export interface MsqidDs {
  /** Owner, creator and permission bits; `key` is the queue's key_t. */
  msg_perm: IpcPerm;
  /** Time of the last msgsnd (0: none yet). */
  msg_stime: number;
  /** Time of the last msgrcv (0: none yet). */
  msg_rtime: number;
  /** Time of creation or of the last IPC_SET. */
  msg_ctime: number;
  /** Bytes of all messages now on the queue (glibc's `__msg_cbytes`). */
  msg_cbytes: number;
  /** Number of messages on the queue. */
  msg_qnum: number;
  /** Most bytes the queue may hold (msgsnd waits, or EAGAIN, beyond it). */
  msg_qbytes: number;
  /** Pid of the last msgsnd. */
  msg_lspid: number;
  /** Pid of the last msgrcv. */
  msg_lrpid: number;
}

/** What `msgctl(index, MSG_STAT)` gives: the structure and the queue's id. */
export interface MsqidDsWithId extends MsqidDs {
  /** The queue's id (C returns it as msgctl's result). */
  id: number;
}

/**
 * `struct msginfo`, with the C field names. From IPC_INFO these are the
 * system's limits; from MSG_INFO the same, except that `msgpool` is the
 * number of queues in use, `msgmap` the number of messages in all queues and
 * `msgtql` the bytes of all of them.
 */
export interface MsgInfo {
  msgpool: number;
  msgmap: number;
  /** Largest message, MSGMAX (bigger: msgsnd says EINVAL). */
  msgmax: number;
  /** Default msg_qbytes of a new queue, MSGMNB. */
  msgmnb: number;
  /** Maximum number of queues, MSGMNI. */
  msgmni: number;
  msgssz: number;
  msgtql: number;
  msgseg: number;
  /** msgctl's result: the highest index in use in the kernel's table. */
  highest_index: number;
}

/** What IPC_SET may change. */
export interface MsgSetOptions {
  uid?: number | undefined;
  gid?: number | undefined;
  mode?: number | undefined;
  /** The queue's capacity in bytes; raising it above MSGMNB needs CAP_SYS_RESOURCE (EPERM). */
  msg_qbytes?: number | undefined;
}

function hex(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/** @internal A message type to send: C's mtype must be > 0. */
export function validateMtype(value: unknown, name: string): number {
  return validateInteger(value, name, 1, Number.MAX_SAFE_INTEGER);
}

/** @internal A type to receive: 0 (any), > 0 (that type), < 0 (the lowest type up to |msgtyp|). */
export function validateMsgtyp(value: unknown, name: string): number {
  return validateInteger(value, name, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
}

/** @internal The words that explain a msgsnd error. */
export function explainMsgsnd(msqid: number, mtype: number, size: number) {
  return (code: string): string => {
    const args = `msqid ${msqid}, mtype ${mtype}, msgsz ${size}`;
    switch (code) {
      case 'EAGAIN':
        return `${args}: the queue is full (msg_qbytes) and IPC_NOWAIT was given (nothing was sent)`;
      case 'EINVAL':
        return `${args}: no such queue, or msgsz is more than MSGMAX (msgctl IPC_INFO says msgmax)`;
      case 'EIDRM':
        return `${args}: the queue was removed`;
      case 'EACCES':
        return `${args}: the queue's permission bits deny writing`;
      case 'EINTR':
        return `${args}: interrupted by a signal (nothing was sent)`;
      case 'ENOMEM':
        return `${args}: no memory for the message`;
      default:
        return args;
    }
  };
}

/** @internal The words that explain a msgrcv error. */
export function explainMsgrcv(msqid: number, size: number, msgtyp: number, flags: number) {
  return (code: string): string => {
    const args = `msqid ${msqid}, msgsz ${size}, msgtyp ${msgtyp}`;
    switch (code) {
      case 'E2BIG':
        return `${args}: the message is longer than msgsz and MSG_NOERROR was not given (it stays on the queue)`;
      case 'ENOMSG':
        return (flags & MSG_COPY) !== 0
          ? `${args}: no message at index ${msgtyp} (MSG_COPY)`
          : `${args}: no message of the wanted type and IPC_NOWAIT was given`;
      case 'EINVAL':
        return (flags & MSG_COPY) !== 0 && (flags & IPC_NOWAIT) === 0
          ? `${args}: MSG_COPY needs IPC_NOWAIT`
          : (flags & MSG_COPY) !== 0
            ? `${args}: no such queue, or MSG_COPY together with MSG_EXCEPT`
            : `${args}: no such queue (removed, here or by another process?)`;
      case 'EIDRM':
        return `${args}: the queue was removed`;
      case 'EACCES':
        return `${args}: the queue's permission bits deny reading`;
      case 'EINTR':
        return `${args}: interrupted by a signal (nothing was taken)`;
      case 'ENOSYS':
        return `${args}: MSG_COPY needs a kernel built with CONFIG_CHECKPOINT_RESTORE`;
      case 'ENOMEM':
        return `${args}: no memory for a buffer of msgsz bytes`;
      default:
        return args;
    }
  };
}

/**
 * `msgget(2)`: the id of the message queue for `key`, created if `flags` has
 * IPC_CREAT (the low 9 bits of `flags` are its permission bits).
 * @throws IpcError EEXIST, ENOENT, EACCES, ENOSPC.
 */
export function msgget(key: number, flags: number): number {
  const k = validateKey(key);
  validateFlags(flags, 'flags');
  return check(native.msgget(k, flags), 'msgget', (code) => {
    const args = `key ${hex(k)}`;
    switch (code) {
      case 'EEXIST':
        return `${args}: a queue with this key exists (IPC_CREAT|IPC_EXCL)`;
      case 'ENOENT':
        return `${args}: no queue has this key and IPC_CREAT was not given`;
      case 'EACCES':
        return `${args}: the queue's permission bits deny this user`;
      case 'ENOSPC':
        return `${args}: the system's limit of queues (MSGMNI) is reached`;
      default:
        return args;
    }
  });
}

/**
 * `msgsnd(2)`: appends message `msgp` to queue `msqid` (msgsz is the length
 * of `msgp.mtext`; a string is sent as UTF-8). **Synchronous, like C**: when
 * the queue is full it blocks the thread, and Node's event loop, until there
 * is room, unless `msgflg` has IPC_NOWAIT (then EAGAIN). Use
 * {@link MessageQueue.send} to wait without blocking.
 * @throws IpcError EAGAIN, EINVAL (no such queue, or longer than MSGMAX), EIDRM, EACCES, EINTR.
 */
export function msgsnd(
  msqid: number,
  msgp: { mtype: number; mtext: Uint8Array | ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string },
  msgflg = 0,
): void {
  validateId(msqid, 'msqid');
  const m = validateObject(msgp, 'msgp');
  const mtype = validateMtype(m.mtype, 'msgp.mtype');
  const bytes = bytesOf(m.mtext, 'msgp.mtext');
  validateFlags(msgflg, 'msgflg');
  check(native.msgsnd(msqid, mtype, bytesForAddon(bytes), msgflg), 'msgsnd', explainMsgsnd(msqid, mtype, bytes.length));
}

/**
 * `msgrcv(2)`: takes a message off queue `msqid` and returns it. `msgtyp`
 * 0 takes the first message; > 0 the first of that type (with MSG_EXCEPT,
 * the first of any other type); < 0 the first of the lowest type up to
 * |msgtyp|. A message longer than `msgsz` bytes fails with E2BIG and stays
 * on the queue, unless `msgflg` has MSG_NOERROR (then it is cut to `msgsz`).
 * With MSG_COPY (and IPC_NOWAIT) it returns a copy of the message at index
 * `msgtyp` and leaves it there. **Synchronous, like C**: with nothing to
 * take it blocks the thread, and Node's event loop, unless `msgflg` has
 * IPC_NOWAIT (then ENOMSG). Use {@link MessageQueue.receive} to wait without blocking.
 * @throws IpcError ENOMSG, E2BIG, EIDRM, EINVAL, EACCES, EINTR.
 */
export function msgrcv(msqid: number, msgsz: number, msgtyp = 0, msgflg = 0): Msgbuf {
  validateId(msqid, 'msqid');
  validateSize(msgsz, 'msgsz');
  validateMsgtyp(msgtyp, 'msgtyp');
  validateFlags(msgflg, 'msgflg');
  const [mtype, data] = check(native.msgrcv(msqid, msgsz, msgtyp, msgflg), 'msgrcv', explainMsgrcv(msqid, msgsz, msgtyp, msgflg));
  return { mtype, mtext: new Uint8Array(data) };
}

/**
 * @internal msgsnd with IPC_NOWAIT on checked arguments, for the high level:
 * true when sent, false when the queue is full (EAGAIN); other failures throw.
 */
export function tryMsgsnd(msqid: number, mtype: number, bytes: Uint8Array): boolean {
  const r = native.msgsnd(msqid, mtype, bytesForAddon(bytes), IPC_NOWAIT);
  if (r === -osConstants.errno.EAGAIN) return false;
  check(r, 'msgsnd', explainMsgsnd(msqid, mtype, bytes.length));
  return true;
}

/**
 * @internal msgrcv with IPC_NOWAIT on checked arguments, for the high level:
 * the message, or the errno (positive) of ENOMSG (none of the kind) or
 * E2BIG (longer than `msgsz`), which the caller answers; other failures throw.
 */
export function tryMsgrcv(msqid: number, msgsz: number, msgtyp: number, msgflg: number): Msgbuf | number {
  const [r, buf] = msgrcvNow(msqid, msgsz, msgtyp, msgflg);
  if (r === -osConstants.errno.ENOMSG || r === -osConstants.errno.E2BIG) return -r;
  const n = check(r, 'msgrcv', explainMsgrcv(msqid, msgsz, msgtyp, msgflg));
  return { mtype: mtypeOf(buf), mtext: buf.slice(MTEXT_OFFSET, MTEXT_OFFSET + n) };
}

/**
 * msgrcv with IPC_NOWAIT: its result, and the buffer it wrote. Most tries
 * find nothing, and most messages are short: they need no buffer of msgsz
 * bytes (MSGMAX, which may be many MiB, allocated anew past 1 MiB), only a
 * message too long for the reused one does, which is then taken with one
 * of at most what the queue holds (msg_cbytes).
 */
function msgrcvNow(msqid: number, msgsz: number, msgtyp: number, msgflg: number): [number, Uint8Array] {
  const small = msgsz > FIRST_RECEIVE_MAX && (msgflg & MSG_NOERROR) === 0;
  const buf = receiveBuffer(small ? FIRST_RECEIVE_MAX : msgsz);
  const r = native.msgrcvInto(msqid, buf, msgtyp, msgflg | IPC_NOWAIT);
  if (!small || r !== -osConstants.errno.E2BIG) return [r, buf];
  // No message is longer than all the queue holds (without read permission: msgsz).
  const stat = native.msgctlStat(msqid, IPC_STAT);
  const holds = typeof stat === 'number' ? msgsz : Math.min(msgsz, stat[1].msg_cbytes);
  const whole = receiveBuffer(holds);
  const again = native.msgrcvInto(msqid, whole, msgtyp, msgflg | IPC_NOWAIT);
  // Another receiver took it, and a longer one came, between the two: the full size then.
  if (again !== -osConstants.errno.E2BIG || holds === msgsz) return [again, whole];
  const full = receiveBuffer(msgsz);
  return [native.msgrcvInto(msqid, full, msgtyp, msgflg | IPC_NOWAIT), full];
}

/** Where mtext starts in struct msgbuf: after a C long. */
const MTEXT_OFFSET = 8;
/** Receives of the high level (msgsz is MSGMAX, or a little more) reuse one buffer up to this size. */
const REUSED_RECEIVE_MAX = 1 << 20;
/**
 * The mtext a receive without waiting first tries in the reused buffer; a
 * longer message is tried again with its full size. A receive on a waiter
 * thread waits with as much (kWaitBytes in native/msg.cc).
 */
const FIRST_RECEIVE_MAX = 64 * 1024;
let reusedReceive = new Uint8Array(MTEXT_OFFSET + 8192);

/** The mtype a receive wrote at the start of `buf`: a C long, little-endian on every platform shmkit runs on. */
function mtypeOf(buf: Uint8Array): number {
  let mtype = 0;
  for (let i = MTEXT_OFFSET - 1; i >= 0; i--) mtype = mtype * 256 + buf[i]!;
  return mtype;
}

/** A struct msgbuf for msgsz bytes of mtext: the reused one (or a view of it) when it is small enough. */
function receiveBuffer(msgsz: number): Uint8Array {
  const bytes = MTEXT_OFFSET + msgsz;
  if (bytes > REUSED_RECEIVE_MAX) return new Uint8Array(bytes);
  if (bytes > reusedReceive.length) reusedReceive = new Uint8Array(bytes);
  return bytes === reusedReceive.length ? reusedReceive : reusedReceive.subarray(0, bytes);
}

/** @internal The IpcError of a msgrcv that failed with `errno` (positive). */
export function msgrcvError(msqid: number, msgsz: number, msgtyp: number, msgflg: number, errno: number): IpcError {
  return ipcError('msgrcv', errno, explainMsgrcv(msqid, msgsz, msgtyp, msgflg)(errnoName(errno)));
}

/**
 * @internal Starts msgsnd(msqid, { mtype, bytes }, msgflg) on a waiter
 * thread of the addon, ended by ETIMEDOUT after timeoutMs (-1: no limit):
 * its token (> 0), or the negative errno of pthread_create. Its result (0
 * or a negative errno) reaches wait-threads.ts. The addon copies `bytes`
 * before this returns.
 */
export function msgsndStart(msqid: number, mtype: number, bytes: Uint8Array, msgflg: number, timeoutMs: number): number {
  return native.msgSendStart(msqid, mtype, bytesForAddon(bytes), msgflg, timeoutMs);
}

/**
 * @internal Starts msgrcv(msqid, msgsz, msgtyp, msgflg) on a waiter thread
 * of the addon, as {@link msgsndStart}; a message taken reaches
 * wait-threads.ts as the value `[mtype, ArrayBuffer]` (see {@link receivedMessage}).
 * As {@link msgrcvNow}, the thread waits with a buffer of at most
 * FIRST_RECEIVE_MAX bytes (without MSG_NOERROR), not of msgsz, and takes a
 * longer message with one of what the queue holds, then msgsz with
 * `msgflg` as given (native/msg.cc, ReceiveCall): the result is one msgrcv
 * of msgsz bytes.
 */
export function msgrcvStart(msqid: number, msgsz: number, msgtyp: number, msgflg: number, timeoutMs: number): number {
  return native.msgReceiveStart(msqid, msgsz, msgtyp, msgflg, timeoutMs);
}

/**
 * @internal {@link msgsndStart}'s call once, with IPC_NOWAIT: its result as
 * the waiter thread would report it, or undefined if it would have to wait.
 */
export function pollMsgsnd(msqid: number, mtype: number, bytes: Uint8Array, msgflg: number): { result: number } | undefined {
  const r = native.msgsnd(msqid, mtype, bytesForAddon(bytes), msgflg | IPC_NOWAIT);
  return r === -osConstants.errno.EAGAIN ? undefined : { result: Math.min(r, 0) };
}

/**
 * @internal {@link msgrcvStart}'s call once, with IPC_NOWAIT: its result and
 * message as the waiter thread would report them, or undefined if it would
 * have to wait (ENOMSG).
 */
export function pollMsgrcv(msqid: number, msgsz: number, msgtyp: number, msgflg: number): { result: number; value?: unknown } | undefined {
  const [r, buf] = msgrcvNow(msqid, msgsz, msgtyp, msgflg);
  if (r === -osConstants.errno.ENOMSG) return undefined;
  if (r < 0) return { result: r };
  const start = buf.byteOffset + MTEXT_OFFSET;
  return { result: 0, value: [mtypeOf(buf), buf.buffer.slice(start, start + r)] };
}

/** @internal The message a completed {@link msgrcvStart} delivered. */
export function receivedMessage(value: unknown): Msgbuf {
  const [mtype, data] = value as [number, ArrayBuffer];
  return { mtype, mtext: new Uint8Array(data) };
}

const msgStat = (id: number, cmd: number): [number, NativeMsgStat] | number => native.msgctlStat(id, cmd);

/**
 * @internal The record of queue `msqid` for an open by the high level: also
 * for a process that may send to the queue but not read it, which C lets
 * find it (msgget with flags 0) and msgsnd to it; one with neither gets
 * IPC_STAT's EACCES.
 */
export function msgStatForOpen(msqid: number): MsqidDs {
  return toMsqidDs(check(statWithoutRead(msqid, msgStat, MSG_STAT_ANY, true), 'msgctl', explainCtl(msqid, 'IPC_STAT'))[1]);
}

function toMsqidDs(s: NativeMsgStat): MsqidDs {
  return {
    msg_perm: { key: s.key, uid: s.uid, gid: s.gid, cuid: s.cuid, cgid: s.cgid, mode: s.mode, seq: s.seq },
    msg_stime: s.msg_stime,
    msg_rtime: s.msg_rtime,
    msg_ctime: s.msg_ctime,
    msg_cbytes: s.msg_cbytes,
    msg_qnum: s.msg_qnum,
    msg_qbytes: s.msg_qbytes,
    msg_lspid: s.msg_lspid,
    msg_lrpid: s.msg_lrpid,
  };
}

function explainCtl(msqid: number, cmd: string) {
  return (code: string): string | Explained => {
    switch (code) {
      case 'EINVAL':
        if (cmd === 'IPC_STAT') return withHint(`msqid ${msqid}, ${cmd}: no such queue`, unknownIdHint('queue'));
        return `msqid ${msqid}, ${cmd}: no such queue (or index), or an invalid command`;
      case 'EIDRM':
        return `msqid ${msqid}, ${cmd}: the queue was removed`;
      case 'EACCES':
        return `msqid ${msqid}, ${cmd}: the queue's permission bits deny reading`;
      case 'EPERM':
        return cmd === 'IPC_SET'
          ? `msqid ${msqid}, ${cmd}: only the owner, the creator or a privileged user may do this, and raising msg_qbytes above MSGMNB needs CAP_SYS_RESOURCE`
          : `msqid ${msqid}, ${cmd}: only the owner, the creator or a privileged user may do this`;
      default:
        return `msqid ${msqid}, ${cmd}`;
    }
  };
}

/**
 * `msgctl(2)`, with each command's result:
 * - IPC_STAT: the queue's {@link MsqidDs}; MSG_STAT / MSG_STAT_ANY: the same
 *   for the queue at index `msqid` of the kernel's table, with its `id`;
 * - IPC_SET: changes uid, gid, mode and msg_qbytes from `buf` (what is not given stays);
 * - IPC_RMID: removes the queue at once, its messages with it; every waiting
 *   msgsnd and msgrcv fails with EIDRM;
 * - IPC_INFO / MSG_INFO: `struct msginfo` (`msqid` ignored).
 *
 * Synchronous, like C (no msgctl command waits).
 * @throws IpcError EINVAL, EIDRM, EACCES, EPERM.
 */
export function msgctl(msqid: number, cmd: typeof IPC_STAT): MsqidDs;
export function msgctl(index: number, cmd: typeof MSG_STAT | typeof MSG_STAT_ANY): MsqidDsWithId;
export function msgctl(msqid: number, cmd: typeof IPC_SET, buf: MsgSetOptions): void;
export function msgctl(msqid: number, cmd: typeof IPC_RMID): void;
export function msgctl(msqid: number, cmd: typeof IPC_INFO | typeof MSG_INFO): MsgInfo;
export function msgctl(msqid: number, cmd: number, buf?: unknown): number | MsqidDs | MsqidDsWithId | MsgInfo | void;
export function msgctl(msqid: number, cmd: number, buf?: unknown): number | MsqidDs | MsqidDsWithId | MsgInfo | void {
  validateId(msqid, 'msqid');
  validateId(cmd, 'cmd');
  switch (cmd) {
    case IPC_RMID:
      check(native.msgctlCmd(msqid, cmd), 'msgctl', explainCtl(msqid, 'IPC_RMID'));
      return;
    case IPC_STAT:
      return toMsqidDs(check(native.msgctlStat(msqid, cmd), 'msgctl', explainCtl(msqid, 'IPC_STAT'))[1]);
    case MSG_STAT:
    case MSG_STAT_ANY: {
      const name = cmd === MSG_STAT ? 'MSG_STAT' : 'MSG_STAT_ANY';
      const [id, raw] = check(native.msgctlStat(msqid, cmd), 'msgctl', explainCtl(msqid, name));
      return { ...toMsqidDs(raw), id };
    }
    case IPC_SET: {
      const opts = validateObject(buf, 'buf');
      const uid = opts.uid === undefined ? undefined : validateInteger(opts.uid, 'buf.uid', 0, UINT32_MAX);
      const gid = opts.gid === undefined ? undefined : validateInteger(opts.gid, 'buf.gid', 0, UINT32_MAX);
      const mode = opts.mode === undefined ? undefined : validateInteger(opts.mode, 'buf.mode', 0, 0o777);
      const qbytes = opts.msg_qbytes === undefined ? undefined : validateInteger(opts.msg_qbytes, 'buf.msg_qbytes', 0, UINT32_MAX);
      // C's IPC_SET sets all four: what is not given keeps its current value,
      // read without IPC_STAT's read check (IPC_SET needs ownership only), so
      // that the owner of a queue it may not read can change it and a
      // stranger gets the kernel's EPERM, as in C.
      const current =
        uid === undefined || gid === undefined || mode === undefined || qbytes === undefined
          ? check(statWithoutRead(msqid, msgStat, MSG_STAT_ANY), 'msgctl', explainCtl(msqid, 'IPC_SET'))[1]
          : undefined;
      check(
        native.msgctlSet(msqid, uid ?? current!.uid, gid ?? current!.gid, mode ?? current!.mode & 0o777, qbytes ?? current!.msg_qbytes),
        'msgctl',
        explainCtl(msqid, 'IPC_SET'),
      );
      return;
    }
    case IPC_INFO:
    case MSG_INFO: {
      const [ret, info] = check(native.msgctlInfo(cmd), 'msgctl', () => (cmd === IPC_INFO ? 'IPC_INFO' : 'MSG_INFO'));
      return { ...(info as unknown as Omit<MsgInfo, 'highest_index'>), highest_index: ret };
    }
    default:
      // Unknown commands go to the kernel, which answers EINVAL as in C.
      return check(native.msgctlCmd(msqid, cmd), 'msgctl', explainCtl(msqid, `cmd ${cmd}`));
  }
}
