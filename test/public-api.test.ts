// The package root's public names, values and types alike, as the TypeScript
// compiler sees src/index.ts. Moving files between layers must not change
// them; a name added or removed on purpose is added or removed here too.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';
import * as shmkit from '../src/index.js';

const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

const PUBLIC_NAMES = [
  'AcquireOptions', 'AnonymousCreateOptions', 'ArrayType', 'ArrayView', 'ArrayViewMethods', 'Atomic',
  'AtomicFieldOf', 'AtomicKind', 'AtomicValueOf', 'Attachment', 'Channel', 'ChannelCreateOptions',
  'ChannelError', 'ChannelErrorCode', 'ChannelOpenOptions', 'ChannelWaitOptions', 'CharType', 'Command',
  'CreateOptions', 'F_ADD_SEALS', 'F_GET_SEALS', 'F_SEAL_EXEC', 'F_SEAL_FUTURE_WRITE', 'F_SEAL_GROW',
  'F_SEAL_SEAL', 'F_SEAL_SHRINK', 'F_SEAL_WRITE', 'FieldLayout', 'Fields', 'FromFdOptions', 'GETALL',
  'GETNCNT', 'GETPID', 'GETVAL', 'GETZCNT', 'IPC_CREAT', 'IPC_EXCL', 'IPC_INFO', 'IPC_NOWAIT', 'IPC_PRIVATE',
  'IPC_RMID', 'IPC_SET', 'IPC_STAT', 'Input', 'IpcError', 'IpcPerm', 'MAP_POPULATE', 'MAP_PRIVATE',
  'MAP_SHARED', 'MFD_ALLOW_SEALING', 'MFD_CLOEXEC', 'MFD_NOEXEC_SEAL', 'MSG_COPY', 'MSG_EXCEPT', 'MSG_INFO',
  'MSG_NOERROR', 'MSG_STAT', 'MSG_STAT_ANY', 'Mapping', 'MemorySource', 'Message', 'MessageData',
  'MessageQueue', 'MessageQueueCreateOptions', 'MessageQueueOpenOptions', 'MessageQueueOpenOrCreateOptions',
  'MsgInfo', 'MsgSetOptions', 'Msgbuf', 'MsqidDs', 'MsqidDsWithId', 'Mutex', 'MutexCreateOptions',
  'MutexOpenOrCreateOptions', 'O_ACCMODE', 'O_CREAT', 'O_EXCL', 'O_RDONLY', 'O_RDWR', 'O_TRUNC',
  'OpenOptions', 'OpenOrCreateOptions', 'PAGE_SIZE', 'PROT_READ', 'PROT_WRITE', 'PosixCreateOptions',
  'PosixOpenOptions', 'PosixOpenOrCreateOptions', 'PosixSharedMemory', 'QueueAddress', 'ReceiveOptions',
  'ReceivedView', 'Receiver', 'SEM_INFO', 'SEM_STAT', 'SEM_STAT_ANY', 'SEM_UNDO', 'SETALL', 'SETVAL',
  'SHMLBA', 'SHM_DEST', 'SHM_EXEC', 'SHM_HUGETLB', 'SHM_INFO', 'SHM_LOCK', 'SHM_LOCKED', 'SHM_NORESERVE',
  'SHM_RDONLY', 'SHM_REMAP', 'SHM_RND', 'SHM_STAT', 'SHM_STAT_ANY', 'SHM_UNLOCK', 'ScalarKind', 'ScalarType',
  'ScalarValues', 'SegmentAddress', 'SemInfo', 'SemSetOptions', 'Semaphore', 'SemaphoreCreateOptions',
  'SemaphoreSet', 'SemaphoreSetCreateOptions', 'SemaphoreSetOpenOptions', 'Sembuf', 'SemidDs',
  'SemidDsWithId', 'SendOptions', 'Sender', 'SharedMemory', 'ShmInfoLimits', 'ShmInfoUsage', 'ShmSetOptions',
  'ShmidDs', 'ShmidDsWithId', 'StateError', 'StructOptions', 'StructType', 'StructView', 'Type', 'Value',
  'View', 'WaitMode', 'WaitOptions', 'array', 'atomic', 'bool', 'char', 'fcntl', 'float32', 'float64',
  'ftok', 'int16', 'int32', 'int64', 'int8', 'memfd_create', 'mmap', 'msgctl', 'msgget', 'msgrcv', 'msgsnd',
  'munmap', 'semctl', 'semget', 'semop', 'semtimedop', 'shm_open', 'shm_unlink', 'shmat', 'shmctl', 'shmdt',
  'shmget', 'struct', 'uint16', 'uint32', 'uint64', 'uint8',
];

function exportedNames(): string[] {
  const program = ts.createProgram([INDEX], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(INDEX)!)!;
  return checker.getExportsOfModule(module).map((symbol) => symbol.name).sort();
}

describe('the public API', () => {
  it('src/index.ts exports exactly the public names, types included', () => {
    assert.deepEqual(exportedNames(), PUBLIC_NAMES);
  });

  it('every value it exports at run time is one of them', () => {
    const missing = Object.keys(shmkit).filter((name) => !PUBLIC_NAMES.includes(name));
    assert.deepEqual(missing, []);
  });
});
