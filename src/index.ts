// shmkit: Linux System V shared memory, semaphores and message queues for Node.js.
export * from './sysv/constants.js';
export { ftok } from './sysv/ftok.js';
export { shmget, shmat, shmdt, shmctl } from './sysv/shm.js';
export type { IpcPerm, ShmidDs, ShmidDsWithId, ShmInfoLimits, ShmInfoUsage, ShmSetOptions } from './sysv/shm.js';
export { Attachment } from './sysv/attachment.js';
export { IpcError, StateError } from './core/errors.js';
export { SharedMemory } from './shm/shared-memory.js';
export type { CreateOptions, OpenOptions, OpenOrCreateOptions, SegmentAddress } from './shm/shared-memory.js';
export * from './struct/index.js';
export { semget, semop, semtimedop, semctl } from './sysv/sem.js';
export type { Sembuf, SemidDs, SemidDsWithId, SemInfo, SemSetOptions } from './sysv/sem.js';
export { SemaphoreSet } from './sem/semaphore-set.js';
export type { SemaphoreSetCreateOptions, SemaphoreSetOpenOptions } from './sem/semaphore-set.js';
export type { WaitOptions } from './core/wait-options.js';
export { Semaphore } from './sem/semaphore.js';
export type { SemaphoreCreateOptions, AcquireOptions } from './sem/semaphore.js';
export { Mutex } from './sem/mutex.js';
export type { MutexCreateOptions, MutexOpenOrCreateOptions } from './sem/mutex.js';
export * from './channel/index.js';
export { msgget, msgsnd, msgrcv, msgctl } from './sysv/msg.js';
export type { Msgbuf, MsqidDs, MsqidDsWithId, MsgInfo, MsgSetOptions } from './sysv/msg.js';
export { MessageQueue } from './msg/message-queue.js';
export type {
  Message,
  MessageQueueCreateOptions,
  MessageQueueOpenOptions,
  MessageQueueOpenOrCreateOptions,
  QueueAddress,
  ReceiveOptions,
  SendOptions,
} from './msg/message-queue.js';
