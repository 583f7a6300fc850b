// The machine's message queues, through the public msgctl: MSG_INFO for the
// table's extent, MSG_STAT_ANY for each slot (no read permission needed, like ipcs).
import { IPC_INFO, IPC_RMID, IpcError, MSG_INFO, MSG_STAT, MSG_STAT_ANY, msgctl, type MsgInfo, type MsqidDs } from '../index.js';
import { scanTable } from './ipc-table.js';
import { CliError, ipcCliError } from './command.js';
import { userName } from './proc.js';

export interface QueueInfo {
  id: number;
  ds: MsqidDs;
}

/** One queue, as `ls --json` prints it: the columns of ipcs -q (bytes is used-bytes). */
export interface QueueRow {
  key: number;
  id: number;
  owner: string;
  uid: number;
  perms: number;
  bytes: number;
  messages: number;
}

function msginfo(info: MsgInfo): Omit<MsgInfo, 'highest_index'> {
  const { highest_index: _, ...fields } = info;
  return fields;
}

/** `msgctl(0, IPC_INFO)`: the limits. */
export function msgLimits(): Omit<MsgInfo, 'highest_index'> {
  return msginfo(msgctl(0, IPC_INFO));
}

/** `msgctl(0, MSG_INFO)`: msgpool is the number of queues, msgmap of messages, msgtql of their bytes. */
export function msgUsage(): Omit<MsgInfo, 'highest_index'> {
  return msginfo(msgctl(0, MSG_INFO));
}

/** Every message queue in this IPC namespace, in the kernel's table order (as ipcs lists them). */
export function listQueues(): QueueInfo[] {
  const info = msgctl(0, MSG_INFO);
  return scanTable<MsqidDs>(info.highest_index, info.msgpool, (index, any) => msgctl(index, any ? MSG_STAT_ANY : MSG_STAT));
}

/** The queue with this id, or a CliError naming `arg`. */
export function findQueue(id: number, arg: string): QueueInfo {
  const queue = listQueues().find((q) => q.id === id);
  if (!queue) throw new CliError(arg, 'EINVAL', 'no such message queue');
  return queue;
}

/** The queue that has this key (parseKey refuses 0, IPC_PRIVATE), or a CliError. */
export function findQueueByKey(key: number, arg: string): QueueInfo {
  const queue = listQueues().find((q) => q.ds.msg_perm.key === key);
  if (!queue) throw new CliError(arg, 'ENOENT', 'no message queue has this key');
  return queue;
}

/** `msgctl(id, IPC_RMID)`: removes the queue and its messages at once (waiters fail with EIDRM). */
export function removeQueue(id: number): void {
  msgctl(id, IPC_RMID);
}

export function queueRow(queue: QueueInfo): QueueRow {
  const perm = queue.ds.msg_perm;
  return {
    key: perm.key,
    id: queue.id,
    owner: userName(perm.uid),
    uid: perm.uid,
    perms: perm.mode & 0o777,
    bytes: queue.ds.msg_cbytes,
    messages: queue.ds.msg_qnum,
  };
}

export function queueRows(): QueueRow[] {
  return listQueues().map(queueRow);
}

/** Runs `fn`, turning an IpcError into a CliError about `arg`. */
export function onQueue<T>(arg: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof IpcError)) throw error;
    const text: Record<string, string> = {
      EINVAL: 'no such message queue',
      EIDRM: 'the message queue was removed',
      EACCES: 'permission denied',
      EPERM: 'not permitted (only the owner, the creator or a process with CAP_SYS_ADMIN)',
    };
    throw ipcCliError(arg, error, text[error.code]);
  }
}
