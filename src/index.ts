// shmkit: Linux System V shared memory and semaphores for Node.js.
export * from './sysv/constants.js';
export { ftok } from './sysv/ftok.js';
export { shmget, shmat, shmdt, shmctl } from './sysv/shm.js';
export type { IpcPerm, ShmidDs, ShmidDsWithId, ShmInfoLimits, ShmInfoUsage, ShmSetOptions } from './sysv/shm.js';
export { Attachment } from './sysv/attachment.js';
export { IpcError, StateError } from './errors.js';
export { SharedMemory } from './shared-memory.js';
export type { CreateOptions, OpenOptions, OpenOrCreateOptions, SegmentAddress } from './shared-memory.js';
export * from './struct/index.js';
export { semget, semop, semtimedop, semctl } from './sysv/sem.js';
export type { Sembuf, SemidDs, SemidDsWithId, SemInfo, SemSetOptions } from './sysv/sem.js';
export { SemaphoreSet } from './semaphore-set.js';
export type { SemaphoreSetCreateOptions, SemaphoreSetOpenOptions } from './semaphore-set.js';
export type { WaitOptions } from './wait.js';
export { Semaphore } from './semaphore.js';
export type { SemaphoreCreateOptions, AcquireOptions } from './semaphore.js';
export { Mutex } from './mutex.js';
export type { MutexCreateOptions, MutexOpenOrCreateOptions } from './mutex.js';
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
