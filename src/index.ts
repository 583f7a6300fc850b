// shmkit: Linux System V shared memory, semaphores and message queues, and POSIX shared memory, for Node.js.
export * from './sysv/constants.js';
export { ftok } from './sysv/ftok.js';
export { shmget, shmat, shmdt, shmctl } from './sysv/shm.js';
export type { IpcPerm, ShmidDs, ShmidDsWithId, ShmInfoLimits, ShmInfoUsage, ShmSetOptions } from './sysv/shm.js';
export { Attachment } from './sysv/attachment.js';
export { IpcError, ServiceRemoteError, StateError } from './core/errors.js';
export type { BridgeErrorCode, StateErrorCode } from './core/errors.js';
export { SharedMemory } from './shm/shared-memory.js';
export type { CreateOptions, OpenOptions, OpenOrCreateOptions, SegmentAddress, SegmentLocator } from './shm/shared-memory.js';
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
export {
  O_RDONLY,
  O_RDWR,
  O_CREAT,
  O_EXCL,
  O_TRUNC,
  O_ACCMODE,
  PROT_READ,
  PROT_WRITE,
  MAP_SHARED,
  MAP_PRIVATE,
  MAP_POPULATE,
  MFD_CLOEXEC,
  MFD_ALLOW_SEALING,
  MFD_NOEXEC_SEAL,
  F_ADD_SEALS,
  F_GET_SEALS,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_GROW,
  F_SEAL_WRITE,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_EXEC,
} from './posix/constants.js';
export { shm_open, shm_unlink, mmap, munmap } from './posix/shm.js';
export { memfd_create, fcntl } from './posix/memfd.js';
export { Mapping } from './posix/mapping.js';
export { PosixSharedMemory } from './shm/posix-shared-memory.js';
export type {
  PosixCreateOptions,
  PosixOpenOptions,
  PosixOpenOrCreateOptions,
  AnonymousCreateOptions,
  FromFdOptions,
} from './shm/posix-shared-memory.js';
export * from './bridge/index.js';
