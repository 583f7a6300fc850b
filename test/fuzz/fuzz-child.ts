// One batch of the fuzz test (test/fuzz.test.ts, docs/fuzzing.md): random
// arguments, from a seeded generator, to every public function and method
// of the non-channel API (sysv calls, SharedMemory, Attachment,
// SemaphoreSet, Semaphore, Mutex, MessageQueue, the POSIX calls, Mapping,
// PosixSharedMemory, struct, atomic, IpcError). Run as
// `node fuzz-child.js SEED ITERATIONS` in a private IPC namespace: it may
// create and remove anything there. It prints one JSON line: how many calls
// it made, the errors it saw without a `code` (samples), and how many waits
// never settled after their sets were removed. Crashes show as the process
// dying by a signal, hangs as the parent's time limit.
//
// What it does not do, because C does the same and that is not a bug:
// call semop/semtimedop/msgsnd/msgrcv without IPC_NOWAIT (they block the
// thread, like C), read a whole segment of more than 16 MiB (a copy of that
// size is asked for, and given), or give POSIX objects valid sizes above 1 MiB
// (they are reserved in memory: the machine's, not a test of shmkit). Errors thrown by the fuzzer's own hostile objects
// (getters that throw) are expected and not counted.
import {
  array,
  atomic,
  bool,
  char,
  float32,
  float64,
  ftok,
  int16,
  int32,
  int64,
  int8,
  IpcError,
  Mutex,
  Semaphore,
  SemaphoreSet,
  semctl,
  semget,
  semop,
  semtimedop,
  SharedMemory,
  shmat,
  shmctl,
  shmdt,
  shmget,
  struct,
  uint16,
  uint32,
  uint64,
  uint8,
  Attachment,
  type StructType,
  GETALL,
  GETNCNT,
  GETPID,
  GETVAL,
  GETZCNT,
  IPC_CREAT,
  IPC_EXCL,
  IPC_INFO,
  IPC_NOWAIT,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_SET,
  IPC_STAT,
  SEM_INFO,
  SEM_STAT,
  SEM_UNDO,
  SETALL,
  SETVAL,
  SHM_INFO,
  SHM_LOCK,
  SHM_RDONLY,
  SHM_RND,
  SHM_STAT,
  SHM_UNLOCK,
  msgctl,
  msgget,
  msgrcv,
  msgsnd,
  MessageQueue,
  MSG_COPY,
  MSG_EXCEPT,
  MSG_INFO,
  MSG_NOERROR,
  MSG_STAT,
  MSG_STAT_ANY,
  fcntl,
  F_ADD_SEALS,
  F_GET_SEALS,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  type Mapping,
  memfd_create,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  mmap,
  munmap,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  PosixSharedMemory,
  PROT_READ,
  PROT_WRITE,
  shm_open,
  shm_unlink,
} from 'shmkit';

import { closeSync, ftruncateSync, writeSync } from 'node:fs';

const seed = Number(process.argv[2] ?? 1);
/** SHMKIT_FUZZ_TRACE=1: each call's number and name on stderr before it runs, to find what killed a batch. */
const trace = process.env.SHMKIT_FUZZ_TRACE === '1';
const iterations = Number(process.argv[3] ?? 500);

// mulberry32: small, seeded, good enough to pick arguments.
let state = seed >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
const chance = (p: number): boolean => random() < p;

/** Thrown by the fuzzer's own hostile objects: not shmkit's error. */
class Hostile extends Error {}

// What exists in the namespace: the fuzzer reuses real ids often, so calls
// get past argument checks and reach the kernel and the objects' states.
const segments: number[] = [];
const sets: number[] = [];
const shms: SharedMemory[] = [];
const attachments: Attachment[] = [];
const semHandles: Array<SemaphoreSet | Semaphore | Mutex> = [];
const structs: StructType<Record<string, never>>[] = [];
const views: object[] = [];
const pending: Promise<unknown>[] = [];
const queues: number[] = [];
const queueHandles: MessageQueue[] = [];
const fds: number[] = [];
const mappings: Mapping[] = [];
const posixShms: PosixSharedMemory[] = [];

const SMALL_SIZES = [1, 2, 7, 8, 64, 4095, 4096, 4097, 65536, 1 << 20];
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  2,
  3,
  7,
  8,
  255,
  256,
  4096,
  65535,
  65536,
  0x7fff,
  0x8000,
  -0x8000,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  1e8,
  1e12,
  0.5,
  1.5,
  -1.5,
  NaN,
  Infinity,
  -Infinity,
  Number.MIN_VALUE,
];
const CMDS = [
  IPC_STAT,
  IPC_SET,
  IPC_RMID,
  IPC_INFO,
  SHM_INFO,
  SHM_STAT,
  SHM_LOCK,
  SHM_UNLOCK,
  GETVAL,
  SETVAL,
  GETALL,
  SETALL,
  GETPID,
  GETNCNT,
  GETZCNT,
  SEM_INFO,
  SEM_STAT,
  99,
  -1,
  0x7fff_ffff,
];

function detached(): ArrayBuffer {
  const b = new ArrayBuffer(16);
  structuredClone(b, { transfer: [b] });
  return b;
}

function hostileObject(): object {
  return new Proxy(
    {},
    {
      get() {
        throw new Hostile('get');
      },
      has() {
        throw new Hostile('has');
      },
      ownKeys() {
        throw new Hostile('ownKeys');
      },
    },
  );
}

function anyNumber(): number {
  if (chance(0.5)) return pick(NUMBERS);
  if (chance(0.5)) return int(100);
  return (random() - 0.5) * 2 ** int(64);
}

/** Any value at all, biased to what the API takes. */
function anything(depth = 0): unknown {
  switch (int(23)) {
    case 0:
      return undefined;
    case 1:
      return null;
    case 2:
    case 3:
    case 4:
      return anyNumber();
    case 5:
      return BigInt(int(2 ** 31)) * (chance(0.5) ? -1n : 1n) * (chance(0.3) ? 2n ** 40n : 1n);
    case 6:
      return pick(['', 'x', '/tmp', '/nonexistent/file', 'é€😀', '\0', 'a'.repeat(int(5000))]);
    case 7:
      return chance(0.5);
    case 8:
      return Symbol('s');
    case 9:
      return () => 1;
    case 10:
      return depth > 2
        ? {}
        : Object.fromEntries(
            Array.from({ length: int(4) }, () => [
              pick(['key', 'id', 'size', 'count', 'mode', 'initial', 'timeoutMs', 'signal', 'undo', 'readOnly', 'path', 'projId', 'x']),
              anything(depth + 1),
            ]),
          );
    case 11:
      return depth > 2 ? [] : Array.from({ length: int(5) }, () => anything(depth + 1));
    case 12: {
      const a: unknown[] = [];
      a.length = pick([3, 2 ** 32 - 1, 2 ** 20]);
      return a;
    }
    case 13:
      return new Uint8Array(int(64));
    case 14:
      return new ArrayBuffer(int(64));
    case 15:
      return detached();
    case 16:
      return new SharedArrayBuffer(int(64));
    case 17:
      return hostileObject();
    case 18:
      return segments.length > 0 ? pick(segments) : 0;
    case 19:
      return sets.length > 0 ? pick(sets) : 0;
    case 20:
      return shms.length > 0 ? pick(shms) : new DataView(new ArrayBuffer(8));
    // Impostors: they inherit the prototype, not the private state.
    case 21:
      return Object.create(
        pick([SharedMemory.prototype, Attachment.prototype, ArrayBuffer.prototype, Uint8Array.prototype, SemaphoreSet.prototype]) as object,
      );
    default:
      return AbortSignal.abort();
  }
}

function aKey(): unknown {
  return chance(0.6) ? IPC_PRIVATE : chance(0.5) ? 0x5eed_0000 + int(64) : anything();
}

function aSize(): unknown {
  if (chance(0.7)) return pick(SMALL_SIZES);
  return chance(0.5) ? anyNumber() : anything();
}

function aSop(): unknown {
  if (chance(0.1)) return anything();
  // Always IPC_NOWAIT for the synchronous calls: without it they block the thread, as in C.
  return {
    sem_num: chance(0.8) ? int(4) : anyNumber(),
    sem_op: chance(0.8) ? int(5) - 2 : anyNumber(),
    sem_flg: IPC_NOWAIT | (chance(0.3) ? SEM_UNDO : 0),
  };
}

function waitOptions(): unknown {
  if (chance(0.1)) return anything();
  const controller = new AbortController();
  const abortIn = int(30);
  if (chance(0.5)) setTimeout(() => controller.abort(new Error('fuzz')), abortIn);
  return { timeoutMs: chance(0.8) ? int(40) : undefined, signal: chance(0.5) ? controller.signal : undefined, undo: chance(0.3) };
}

function aType(depth = 0): unknown {
  switch (int(depth > 2 ? 3 : 6)) {
    case 0:
      return pick([int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64, bool]);
    case 1:
      return chance(0.8) ? char(1 + int(20)) : char(anyNumber());
    case 2:
      return chance(0.1) ? anything() : pick([int32, int64, uint64, uint32]);
    case 3:
      return array(aType(depth + 1) as never, chance(0.8) ? int(6) : anyNumber());
    case 4:
      return struct(someFields(depth + 1) as never, chance(0.3) ? { packed: chance(0.5), align: pick([1, 2, 4, 8, 16, 3, 0]) } : {});
    default:
      return structs.length > 0 ? pick(structs) : int32;
  }
}

function someFields(depth: number): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const n = int(5) + (chance(0.9) ? 1 : 0);
  for (let i = 0; i < n; i++) fields[pick(['a', 'b', 'c', 'toJSON', '__proto__', 'constructor', `f${i}`, ''])] = aType(depth);
  return fields;
}

function aMemory(): unknown {
  if (chance(0.4) && shms.length > 0) return pick(shms);
  if (chance(0.3) && attachments.length > 0) return pick(attachments);
  if (chance(0.5)) return new ArrayBuffer(int(256));
  return anything();
}

function aValue(depth = 0): unknown {
  if (chance(0.3)) return anything(depth);
  if (depth > 2) return int(10);
  switch (int(5)) {
    case 0:
      return BigInt(int(1000)) - 500n;
    case 1:
      return 'str';
    case 2:
      return Array.from({ length: int(5) }, () => aValue(depth + 1));
    case 3:
      return { a: aValue(depth + 1), b: aValue(depth + 1), c: aValue(depth + 1) };
    default:
      return anyNumber();
  }
}

// POSIX names live in /dev/shm, which the IPC namespace does not cover: every
// name the fuzzer can create is one of a few of its own (the prefix the other
// tests' leak checks leave alone), and each is unlinked at the end, where
// test/fuzz.test.ts (this process's parent) checks. Other
// names are ones that cannot exist or are refused before any system call.
const POSIX_PREFIX = `/shmkit-test-fuzz-${process.ppid}-${seed}-`;
const posixNames = Array.from({ length: 6 }, (_, i) => `${POSIX_PREFIX}${i}`);

function aPosixName(): unknown {
  if (chance(0.85)) return pick(posixNames);
  return pick([
    '',
    '/',
    `${POSIX_PREFIX}a/b`,
    `/${'n'.repeat(300)}`,
    `${POSIX_PREFIX}\0x`,
    '.',
    '..',
    42,
    null,
    undefined,
    hostileObject(),
  ]);
}

/**
 * Sizes for what reserves or touches memory (POSIX objects are reserved with
 * fallocate, MAP_POPULATE faults every page in): small valid ones, or ones no
 * check may let through. A valid huge size would take real memory from the
 * machine, which is no test of shmkit.
 */
function aPosixSize(): unknown {
  if (chance(0.8)) return pick(SMALL_SIZES);
  return pick([-1, -0, 0, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 64, '4096', 4096n, null, undefined, hostileObject()]);
}

/** Keeps a descriptor the fuzzer opened; the oldest are closed, so a long run never runs out. */
function keepFd(fd: number): void {
  fds.push(fd);
  if (fds.length > 100) closeSync(fds.shift()!);
}

/** A descriptor: one the fuzzer opened (often), the process's pipes, or none at all. */
function anFd(): unknown {
  if (chance(0.8) && fds.length > 0) return pick(fds);
  return pick([0, 1, 2, -1, 2 ** 31, 2 ** 31 - 1, 1e6, 0.5, NaN, '3', null, hostileObject()]);
}

function aSeals(): unknown {
  if (chance(0.2)) return anything();
  let seals = 0;
  for (const seal of [F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE]) if (chance(0.3)) seals |= seal;
  return chance(0.9) ? seals : seals | (1 << int(31));
}

function aMessage(): unknown {
  return chance(0.8)
    ? pick(['', 'text', new Uint8Array(int(100)), new Uint8Array(int(9000)), new Float64Array(2), new ArrayBuffer(8), detached()])
    : anything();
}

function aQueueId(): unknown {
  return chance(0.8) && queues.length > 0 ? pick(queues) : anyNumber();
}

// The calls: each picks its arguments and may register what it made.
const calls: Array<[string, () => unknown]> = [
  ['ftok', () => ftok(pick(['/tmp', '/', '/nonexistent', anything()]) as string, anyNumber())],
  [
    'shmget',
    () => {
      const id = shmget(aKey() as number, aSize() as number, chance(0.8) ? IPC_CREAT | (chance(0.5) ? IPC_EXCL : 0) | 0o600 : anyNumber());
      if (typeof id === 'number') segments.push(id);
      return id;
    },
  ],
  [
    'shmat',
    () => {
      const a = shmat(
        chance(0.8) && segments.length > 0 ? pick(segments) : anyNumber(),
        chance(0.8) ? null : (anything() as bigint),
        chance(0.7) ? pick([0, SHM_RDONLY, SHM_RND]) : anyNumber(),
      );
      attachments.push(a);
      return a;
    },
  ],
  ['shmdt', () => shmdt((chance(0.8) && attachments.length > 0 ? pick(attachments) : anything()) as Attachment)],
  [
    'shmctl',
    () =>
      shmctl(
        chance(0.8) && segments.length > 0 ? pick(segments) : anyNumber(),
        pick(CMDS),
        chance(0.5) ? { mode: int(0o1000), uid: chance(0.1) ? anyNumber() : undefined } : (anything() as never),
      ),
  ],
  [
    'Attachment members',
    () => {
      const a = attachments.length > 0 ? pick(attachments) : undefined;
      if (a === undefined) return;
      switch (int(5)) {
        case 0:
          return a.buffer.byteLength;
        case 1:
          return a.read(chance(0.5) ? int(100) : anyNumber(), chance(0.5) ? int(100) : (anything() as number));
        case 2:
          return [a.byteLength, a.detached, a.address, a.readOnly, String(a)];
        // The fuzzer's own view: constructing one on a detached buffer is V8's TypeError, not shmkit's.
        case 3:
          return a.detached ? undefined : new Uint8Array(a.buffer, 0, Math.min(a.byteLength, 16)).fill(int(256));
        default:
          return a.read(0, Math.min(a.byteLength, 1 << 24));
      }
    },
  ],
  [
    'SharedMemory.create',
    () => {
      const size = aSize();
      const shm = SharedMemory.create(
        chance(0.9)
          ? {
              size: size as number,
              key: chance(0.3) ? (aKey() as number) : undefined,
              mode: chance(0.2) ? anyNumber() : undefined,
              autoRemove: chance(0.5),
            }
          : (anything() as never),
      );
      // Huge segments are made, and looked at, but not kept for whole reads.
      if (shm.size > 1 << 24) shm.detach();
      else shms.push(shm);
      segments.push(shm.id);
    },
  ],
  [
    'SharedMemory.open',
    () => {
      const options = chance(0.8)
        ? { id: segments.length > 0 ? pick(segments) : anyNumber(), readOnly: chance(0.5) }
        : chance(0.5)
          ? { key: aKey(), path: chance(0.2) ? '/tmp' : undefined }
          : anything();
      const shm = SharedMemory.open(options as never);
      if (shm.size > 1 << 24) shm.detach();
      else shms.push(shm);
    },
  ],
  [
    'SharedMemory.openOrCreate',
    () => {
      const shm = SharedMemory.openOrCreate({
        key: chance(0.8) ? 0x5eed_0000 + int(8) : (aKey() as number),
        size: aSize() as number,
        readOnly: chance(0.3),
      });
      if (shm.size > 1 << 24) shm.detach();
      else shms.push(shm);
    },
  ],
  [
    'SharedMemory members',
    () => {
      const shm = shms.length > 0 ? pick(shms) : undefined;
      if (shm === undefined) return;
      const which = int(10);
      if (trace)
        writeSync(
          2,
          `  case ${which} of segment ${shm.id}, ${shm.size} bytes${shm.readOnly ? ', read-only' : ''}${shm.detached ? ', detached' : ''}\n`,
        );
      switch (which) {
        case 0:
          return shm.read(chance(0.7) ? int(shm.size + 2) : anyNumber(), chance(0.7) ? int(64) : (anything() as number));
        case 1:
          return shm.write(chance(0.7) ? int(shm.size + 2) : anyNumber(), anything() as string);
        case 2:
          return shm.write(
            int(shm.size + 2),
            pick(['text', new Uint8Array(int(32)), new Float64Array(2), detached(), new DataView(new ArrayBuffer(4))]),
          );
        case 3:
          return shm.bytes.length;
        case 4:
          return [shm.buffer.byteLength, shm.size, shm.id, shm.key, shm.readOnly, shm.detached];
        case 5:
          return shm.stat();
        case 6:
          return shm.remove();
        case 7:
          return shm.detach();
        case 8:
          return shm[Symbol.dispose]();
        default:
          return shm.read();
      }
    },
  ],
  [
    'semget',
    () => {
      const id = semget(aKey() as number, chance(0.8) ? 1 + int(4) : anyNumber(), chance(0.8) ? IPC_CREAT | 0o600 : anyNumber());
      if (typeof id === 'number') sets.push(id);
    },
  ],
  [
    'semop',
    () =>
      semop(
        chance(0.8) && sets.length > 0 ? pick(sets) : anyNumber(),
        (chance(0.9) ? Array.from({ length: int(4) }, aSop) : anything()) as never,
      ),
  ],
  [
    'semtimedop',
    () =>
      semtimedop(
        chance(0.8) && sets.length > 0 ? pick(sets) : anyNumber(),
        (chance(0.9) ? Array.from({ length: int(4) }, aSop) : anything()) as never,
        chance(0.8) ? int(3) : (anything() as number),
      ),
  ],
  [
    'semctl',
    () =>
      semctl(
        chance(0.8) && sets.length > 0 ? pick(sets) : anyNumber(),
        chance(0.8) ? int(5) : anyNumber(),
        pick(CMDS),
        chance(0.5) ? pick([int(10), [1, 2, 3], { mode: 0o600 }, new Uint16Array(2)]) : (anything() as never),
      ),
  ],
  [
    'SemaphoreSet.create',
    () => {
      const set = SemaphoreSet.create(
        chance(0.9)
          ? {
              count: chance(0.8) ? 1 + int(4) : anyNumber(),
              initial: chance(0.5) ? int(3) : (anything() as number),
              key: chance(0.2) ? (aKey() as number) : undefined,
              mode: chance(0.1) ? anyNumber() : undefined,
            }
          : (anything() as never),
      );
      sets.push(set.id);
      semHandles.push(set);
    },
  ],
  [
    'Semaphore.create',
    () => {
      const sem = Semaphore.create(chance(0.9) ? { initial: chance(0.8) ? int(3) : anyNumber() } : (anything() as never));
      sets.push(sem.id);
      semHandles.push(sem);
    },
  ],
  [
    'Mutex.create',
    () => {
      const mutex = chance(0.5)
        ? Mutex.create(chance(0.9) ? {} : (anything() as never))
        : Mutex.openOrCreate({ key: chance(0.8) ? 0x5eed_1000 + int(4) : (aKey() as number) });
      sets.push(mutex.id);
      semHandles.push(mutex);
    },
  ],
  [
    'open a set',
    () => {
      const options = chance(0.8) && sets.length > 0 ? { id: pick(sets) } : chance(0.5) ? { key: aKey() } : anything();
      semHandles.push(pick([SemaphoreSet, Semaphore, Mutex]).open(options as never));
    },
  ],
  [
    'semaphore members',
    () => {
      const h = semHandles.length > 0 ? pick(semHandles) : undefined;
      if (h === undefined) return;
      const async = (p: Promise<unknown>): void => {
        pending.push(p.catch((error: unknown) => judge('wait', error)));
      };
      switch (int(12)) {
        case 0:
          return h.stat();
        case 1:
          return chance(0.2) ? h.remove() : undefined;
        case 2:
          return h[Symbol.dispose]();
        case 3:
          return [h.id, h.key, h.closed];
        default:
          if (h instanceof SemaphoreSet) {
            switch (int(4)) {
              case 0:
                return async(
                  h.op(
                    (chance(0.9)
                      ? Array.from({ length: 1 + int(3) }, () => ({
                          sem_num: int(h.count + 1),
                          sem_op: int(5) - 2,
                          sem_flg: chance(0.2) ? SEM_UNDO : 0,
                        }))
                      : anything()) as never,
                    waitOptions() as never,
                  ),
                );
              case 1:
                return h.get(chance(0.8) ? int(h.count + 1) : anyNumber());
              case 2:
                return h.set(chance(0.8) ? int(h.count) : anyNumber(), chance(0.8) ? int(4) : anyNumber());
              default:
                return h.count;
            }
          }
          if (h instanceof Semaphore) {
            switch (int(4)) {
              case 0:
                return async(h.acquire(waitOptions() as never));
              case 1:
                return h.tryAcquire(chance(0.8) ? { undo: chance(0.5) } : (anything() as never));
              case 2:
                return h.release(chance(0.8) ? 1 + int(2) : anyNumber());
              default:
                return h.value;
            }
          }
          switch (int(5)) {
            case 0:
              return async(h.lock(waitOptions() as never));
            case 1:
              return h.tryLock();
            case 2:
              return h.unlock();
            case 3:
              return async(h.withLock(chance(0.8) ? () => int(2) : (anything() as never), waitOptions() as never));
            default:
              return h.held;
          }
      }
    },
  ],
  [
    'struct',
    () => {
      const type = struct(someFields(0) as never, chance(0.2) ? (anything() as never) : {});
      structs.push(type as never);
      return [type.size, type.align];
    },
  ],
  ['type factories', () => (chance(0.5) ? char(anything() as number) : array(aType() as never, anything() as number))],
  [
    'struct members',
    () => {
      const type = structs.length > 0 ? pick(structs) : undefined;
      if (type === undefined) return;
      switch (int(5)) {
        case 0: {
          const v = type.view(aMemory() as never, chance(0.7) ? 0 : anyNumber());
          views.push(v);
          return v;
        }
        case 1:
          return type.read(aMemory() as never, chance(0.7) ? 0 : anyNumber());
        case 2:
          return type.write(aMemory() as never, aValue() as never, chance(0.7) ? 0 : anyNumber());
        case 3:
          return type.offsetOf(pick(['a', 'b', 'c', 'a.b', 'x', '', '__proto__', anything()]) as string);
        default:
          return [type.size, type.align, JSON.stringify(type)];
      }
    },
  ],
  [
    'view members',
    () => {
      const v = views.length > 0 ? (pick(views) as Record<string, unknown>) : undefined;
      if (v === undefined) return;
      const name = pick(['a', 'b', 'c', 'f0', 'f1', '0', '1', 'length', 'toJSON']);
      switch (int(9)) {
        case 7:
          // Always bounded (a time limit, or options refused at once): a wait nobody notifies would hang the run.
          return pending.push(
            Promise.resolve()
              .then(() =>
                atomic(v as never, name as never).wait(
                  (chance(0.5) ? 0 : aValue()) as never,
                  pick([
                    { timeoutMs: int(40) },
                    { timeoutMs: int(40), signal: AbortSignal.timeout(int(30)) },
                    'soon',
                    { timeoutMs: -1 },
                    { timeoutMs: 'x' },
                  ]) as never,
                ),
              )
              .catch((error: unknown) => judge('atomic wait', error)),
          );
        case 8:
          return atomic(v as never, name as never).notify(pick([undefined, 1, 0, anything()]) as never);
        case 0:
          return v[name];
        case 1:
          v[name] = aValue();
          return;
        case 2:
          return JSON.stringify(v);
        case 3:
          return String((v as { toArray?: () => unknown }).toArray?.());
        case 4:
          return atomic(v as never, name as never).add(pick([1, 1n, anything()]) as never);
        case 5:
          return atomic(v as never, name as never).compareExchange(aValue() as never, aValue() as never);
        default:
          return (v as { get?: (i: unknown) => unknown }).get?.(anything());
      }
    },
  ],
  ['IpcError', () => new (IpcError as unknown as new (...a: unknown[]) => unknown)(anything(), anything(), anything())],
  [
    'msgget',
    () => {
      const id = msgget(aKey() as number, chance(0.8) ? IPC_CREAT | (chance(0.3) ? IPC_EXCL : 0) | 0o600 : anyNumber());
      if (typeof id === 'number') queues.push(id);
    },
  ],
  [
    'msgsnd',
    () =>
      // Always IPC_NOWAIT: without it a full queue blocks the thread, as in C.
      msgsnd(
        aQueueId() as number,
        (chance(0.9) ? { mtype: chance(0.8) ? 1 + int(4) : anyNumber(), mtext: aMessage() } : anything()) as never,
        IPC_NOWAIT | (chance(0.1) ? anyNumber() : 0),
      ),
  ],
  [
    'msgrcv',
    () =>
      msgrcv(
        aQueueId() as number,
        chance(0.8) ? int(10000) : anyNumber(),
        chance(0.8) ? int(9) - 4 : anyNumber(),
        IPC_NOWAIT | (chance(0.2) ? MSG_NOERROR : 0) | (chance(0.1) ? MSG_EXCEPT : 0) | (chance(0.1) ? MSG_COPY : 0),
      ),
  ],
  [
    'msgctl',
    () =>
      msgctl(
        aQueueId() as number,
        pick([IPC_STAT, IPC_SET, IPC_RMID, IPC_INFO, MSG_INFO, MSG_STAT, MSG_STAT_ANY, 99, -1]),
        chance(0.5) ? { mode: int(0o1000), msg_qbytes: chance(0.3) ? anyNumber() : undefined } : (anything() as never),
      ),
  ],
  [
    'MessageQueue.create/open',
    () => {
      const queue = chance(0.4)
        ? MessageQueue.create(
            chance(0.9)
              ? { key: chance(0.3) ? (aKey() as number) : undefined, mode: chance(0.1) ? anyNumber() : undefined }
              : (anything() as never),
          )
        : chance(0.5)
          ? MessageQueue.open((chance(0.8) ? { id: aQueueId() } : anything()) as never)
          : MessageQueue.openOrCreate({ key: chance(0.8) ? 0x5eed_2000 + int(4) : (aKey() as number) });
      queues.push(queue.id);
      queueHandles.push(queue);
    },
  ],
  [
    'MessageQueue members',
    () => {
      const q = queueHandles.length > 0 ? pick(queueHandles) : undefined;
      if (q === undefined) return;
      const async = (p: Promise<unknown>): void => {
        pending.push(p.catch((error: unknown) => judge('queue wait', error)));
      };
      const typeOptions = () => (chance(0.8) ? { type: chance(0.8) ? int(5) - 2 : anyNumber(), except: chance(0.2) } : anything());
      switch (int(9)) {
        case 0:
          return async(
            q.send(aMessage() as never, { ...(waitOptions() as object), type: chance(0.8) ? 1 + int(3) : anyNumber() } as never),
          );
        case 1:
          return q.trySend(aMessage() as never, typeOptions() as never);
        case 2:
          return async(q.receive({ ...(waitOptions() as object), ...(typeOptions() as object) } as never));
        case 3:
          return q.tryReceive(typeOptions() as never);
        case 4:
          return q.stat();
        case 5:
          return chance(0.2) ? q.remove() : undefined;
        case 6:
          return q[Symbol.dispose]();
        default:
          return [q.id, q.key, q.closed];
      }
    },
  ],
  [
    'shm_open',
    () => {
      const access = chance(0.5) ? O_RDWR : O_RDONLY;
      const flags = chance(0.9)
        ? access | (chance(0.6) ? O_CREAT : 0) | (chance(0.2) ? O_EXCL : 0) | (chance(0.1) ? O_TRUNC : 0)
        : anyNumber();
      const name = aPosixName();
      // O_CREAT only ever with one of the fuzzer's own names.
      const fd = shm_open(
        name as string,
        posixNames.includes(name as string) ? flags : flags & ~O_CREAT,
        chance(0.8) ? 0o600 : anyNumber(),
      );
      keepFd(fd);
    },
  ],
  ['shm_unlink', () => shm_unlink(aPosixName() as string)],
  [
    'memfd_create',
    () => {
      const fd = memfd_create(
        chance(0.8) ? pick(['fuzz', '', 'é€😀', 'x'.repeat(300)]) : (anything() as string),
        chance(0.8) ? pick([0, MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_CLOEXEC | MFD_ALLOW_SEALING]) : anyNumber(),
      );
      keepFd(fd);
    },
  ],
  [
    'ftruncate (what a user does with node:fs, shrinking files under mappings)',
    () => {
      const fd = fds.length > 0 ? pick(fds) : undefined;
      if (fd === undefined) return;
      try {
        ftruncateSync(fd, pick([0, 1, 4095, 4096, 8192, 65536]));
      } catch {
        // Node's own error (a read-only descriptor, a sealed memfd): not shmkit's.
      }
    },
  ],
  ['fcntl', () => fcntl(anFd() as number, chance(0.9) ? pick([F_ADD_SEALS, F_GET_SEALS]) : anyNumber(), aSeals() as number)],
  [
    'mmap',
    () => {
      const m = mmap(
        chance(0.9) ? null : (anything() as null),
        aPosixSize() as number,
        chance(0.9) ? pick([PROT_READ, PROT_READ | PROT_WRITE]) : anyNumber(),
        chance(0.9) ? pick([MAP_SHARED, MAP_PRIVATE]) | (chance(0.2) ? MAP_POPULATE : 0) : anyNumber(),
        anFd() as number,
        chance(0.8) ? pick([0, 0, 4096, 1]) : (aPosixSize() as number),
      );
      mappings.push(m);
    },
  ],
  ['munmap', () => munmap((chance(0.8) && mappings.length > 0 ? pick(mappings) : anything()) as Mapping)],
  [
    'Mapping members',
    () => {
      const m = mappings.length > 0 ? pick(mappings) : undefined;
      if (m === undefined) return;
      switch (int(4)) {
        case 0:
          return m.read(chance(0.7) ? int(m.byteLength + 2) : anyNumber(), chance(0.7) ? int(64) : (anything() as number));
        case 1:
          return [m.byteLength, m.detached, m.address, m.readOnly, String(m)];
        // Through the fuzzer's own view, as a program would write.
        case 2:
          return m.detached || m.readOnly ? undefined : new Uint8Array(m.buffer, 0, Math.min(m.byteLength, 64)).fill(int(256));
        default:
          return m.read();
      }
    },
  ],
  [
    'PosixSharedMemory.create/open',
    () => {
      const name = aPosixName();
      let shm: PosixSharedMemory;
      switch (int(5)) {
        case 0:
          shm = posixNames.includes(name as string)
            ? PosixSharedMemory.create({ name: name as string, size: aPosixSize() as number, mode: chance(0.1) ? anyNumber() : undefined })
            : PosixSharedMemory.open({ name: name as string });
          break;
        case 1:
          shm = PosixSharedMemory.open({ name: name as string, readOnly: chance(0.5) });
          break;
        case 2:
          shm = posixNames.includes(name as string)
            ? PosixSharedMemory.openOrCreate({ name: name as string, size: aPosixSize() as number, readOnly: chance(0.3) })
            : PosixSharedMemory.open({ name: name as string });
          break;
        case 3:
          shm = PosixSharedMemory.createAnonymous({ size: aPosixSize() as number, seal: chance(0.5) ? chance(0.5) : (aSeals() as number) });
          break;
        default:
          shm = PosixSharedMemory.fromFd(
            anFd() as number,
            chance(0.8) ? { readOnly: chance(0.5), seals: chance(0.3) ? (aSeals() as number) : undefined } : (anything() as never),
          );
      }
      posixShms.push(shm);
    },
  ],
  ['PosixSharedMemory.unlink', () => PosixSharedMemory.unlink(aPosixName() as string)],
  [
    'PosixSharedMemory members',
    () => {
      const shm = posixShms.length > 0 ? pick(posixShms) : undefined;
      if (shm === undefined) return;
      switch (int(12)) {
        case 0:
          return shm.read(chance(0.7) ? int(shm.size + 2) : anyNumber(), chance(0.7) ? int(64) : (anything() as number));
        case 1:
          return shm.write(chance(0.7) ? int(shm.size + 2) : anyNumber(), aMessage() as string);
        case 2:
          return shm.bytes.length;
        case 3:
          return [shm.buffer.byteLength, shm.size, shm.fd, shm.readOnly, shm.detached, String(shm)];
        case 4:
          return shm.stat();
        case 5:
          return shm.seals;
        case 6:
          return shm.seal(aSeals() as number);
        case 7:
          return chance(0.3) ? shm.unlink() : undefined;
        case 8:
          return shm.detach();
        case 9:
          return shm[Symbol.dispose]();
        case 10:
          // Shrink the file under the mapping, as another process may; the SIGBUS guard must hold.
          try {
            ftruncateSync(shm.fd, pick([0, 1, 4096]));
          } catch {
            // Node's own error (read-only descriptor, sealed, closed): not shmkit's.
          }
          return shm.read();
        default:
          return shm.read();
      }
    },
  ],
];

const uncoded = new Map<string, number>();
const samples: string[] = [];
let errors = 0;

function judge(name: string, error: unknown): void {
  errors++;
  if (error instanceof Hostile) return;
  if (error instanceof DOMException && error.name === 'AbortError') return;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return;
  // An impostor given as an options object: reading an option runs a getter
  // it inherited, and JavaScript's own brand check refuses it (as for Node's classes).
  if (error instanceof TypeError && /^Cannot read private member #\w+ from an object whose class did not declare it$/.test(error.message))
    return;
  // A strict-mode assignment a view does not allow is JavaScript's own TypeError (documented).
  if (error instanceof TypeError && /Cannot (add|assign|set) |read only|not extensible|which has only a getter/.test(error.message)) return;
  const key = `${name}: ${(error as Error)?.name}: ${String((error as Error)?.message).slice(0, 160)}`;
  uncoded.set(key, (uncoded.get(key) ?? 0) + 1);
  if (samples.length < 20 && uncoded.get(key) === 1) samples.push(key);
}

for (let i = 0; i < iterations; i++) {
  const [name, call] = pick(calls);
  if (trace) writeSync(2, `${i} ${name}\n`);
  try {
    const result = call();
    if (result instanceof Promise) pending.push(result.catch((error: unknown) => judge(name, error)));
  } catch (error) {
    judge(name, error);
  }
  // Let timers (aborts) and the addon's results run now and then.
  if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, int(5)));
}

// End: remove every set (pending waits reject with EIDRM) and segment; every wait must settle.
for (const h of semHandles) if (!h.closed && chance(0.5)) h[Symbol.dispose]();
for (const id of sets) {
  try {
    semctl(id, 0, IPC_RMID);
  } catch {
    /* gone already */
  }
}
for (const id of segments) {
  try {
    shmctl(id, IPC_RMID);
  } catch {
    /* gone already */
  }
}
for (const q of queueHandles) if (!q.closed && chance(0.5)) q[Symbol.dispose]();
for (const id of queues) {
  try {
    msgctl(id, IPC_RMID);
  } catch {
    /* gone already */
  }
}
for (const name of posixNames) {
  try {
    shm_unlink(name);
  } catch {
    /* never made, or gone already */
  }
}
for (const fd of fds) {
  try {
    closeSync(fd);
  } catch {
    /* closed already (by a PosixSharedMemory that took it) */
  }
}
let settled = 0;
for (const p of pending) void p.finally(() => settled++);
let timer: NodeJS.Timeout | undefined;
const deadline = new Promise((resolve) => (timer = setTimeout(resolve, 10_000)));
await Promise.race([Promise.all(pending), deadline]);
clearTimeout(timer);
console.log(
  JSON.stringify({
    seed,
    iterations,
    errors,
    uncoded: [...uncoded.values()].reduce((a, b) => a + b, 0),
    samples,
    hangs: pending.length - settled,
  }),
);
