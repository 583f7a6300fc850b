// Liveness that holds across PID namespaces. A process shows it is present by
// keeping attached a tiny private segment that it marked for removal at once:
// the kernel destroys that segment when its last attacher detaches, exits or
// is killed (any signal, any PID namespace), so "the segment still exists" is
// "the holder still runs". The segment lives in the IPC namespace, which is
// exactly what the processes sharing a channel have in common; pid numbers,
// which differ between PID namespaces, play no part. docs/presence.md gives
// the mechanism for C peers.
import { nodeCrypto } from '../core/builtins.js';
import { IpcError } from '../core/errors.js';
import { SharedMemory } from '../shm/shared-memory.js';
import { IPC_STAT, SHM_DEST, SHM_STAT_ANY } from '../sysv/constants.js';
import { shmctl, type ShmidDs } from '../sysv/shm.js';
import { INT32_MIN, UINT32_MAX, validateInteger } from '../core/validate.js';

// The second word packs the segment's size (1..4095, chosen at random) in its
// low 12 bits and the low 20 bits of its creation time (shm_ctime, seconds)
// above them: a segment that later gets the same id is taken for the holder's
// only if it also has the same size and was made in the same second, modulo
// about 12 days. The size is never 0, so neither is the word: 0 means "nobody".
const SIZE_BITS = 12;
const SIZE_MASK = (1 << SIZE_BITS) - 1;
const TIME_MASK = (1 << (32 - SIZE_BITS)) - 1;

/** The two 32-bit words that name a presence, as written into a channel segment. */
export type PresenceToken = readonly [word0: number, word1: number];

function secondWord(size: number, ctime: number): number {
  return ((ctime & TIME_MASK) << SIZE_BITS) | size | 0;
}

/**
 * This process's proof of life for one endpoint. While it is held, any
 * process in the same IPC namespace (whatever its PID namespace or user) gets
 * `isPresent(...token) === true`; after {@link release}, or once this process
 * (or the worker thread that claimed it) is gone by any means, false.
 *
 * Costs one page-sized private segment (counted against shmmni and shmall,
 * no memory is touched) and one mapping per claim; nothing is left behind.
 * Keep a reference for as long as the endpoint lives: once the Presence is
 * unreachable, the garbage collector detaches the segment and so ends it.
 */
export class Presence implements Disposable {
  /** Word 0: the segment's id. Word 1: its size and creation time, never 0. */
  readonly token: PresenceToken;
  readonly #segment: SharedMemory;

  private constructor(segment: SharedMemory, token: PresenceToken) {
    this.#segment = segment;
    this.token = token;
  }

  /**
   * Claims a new presence, held until {@link release} or until this process
   * or thread ends.
   * @throws IpcError ENOSPC (shmmni or shmall reached), ENOMEM.
   */
  static claim(): Presence {
    const size = nodeCrypto().randomInt(1, SIZE_MASK + 1);
    // Without a key SharedMemory marks the segment IPC_RMID right after
    // attaching it: from then on only the attachment keeps it.
    const segment = SharedMemory.create({ size, mode: 0o600 });
    try {
      return new Presence(segment, [segment.id, secondWord(size, segment.stat().shm_ctime)]);
    } catch (error) {
      segment.detach();
      throw error;
    }
  }

  /** Whether this process still holds it. */
  get held(): boolean {
    return !this.#segment.detached;
  }

  /** Ends the presence now (the segment goes with the detach). Idempotent. */
  release(): void {
    if (!this.#segment.detached) this.#segment.detach();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

// Kernels before 4.17 refuse SHM_STAT_ANY with EINVAL; once it has worked, an
// EINVAL means an empty slot and needs no second look.
let statAnyWorks = false;

/** @internal Segment `id`'s structure, whatever its permissions where the kernel allows; 'gone' if there is none. */
export function statById(id: number): ShmidDs | 'gone' | 'hidden' {
  try {
    const found = shmctl(id, SHM_STAT_ANY);
    statAnyWorks = true;
    // SHM_STAT_ANY reads the table slot id % IPCMNI: the slot may hold another segment.
    return found.id === id ? found : 'gone';
  } catch (error) {
    if (!(error instanceof IpcError)) throw error;
    if (error.code === 'EIDRM' || (error.code === 'EINVAL' && statAnyWorks)) return 'gone';
    if (error.code !== 'EINVAL' && error.code !== 'EACCES') throw error;
  }
  // Old kernel, or SHM_STAT_ANY denied by a security module: IPC_STAT needs read permission.
  try {
    return shmctl(id, IPC_STAT);
  } catch (error) {
    if (!(error instanceof IpcError)) throw error;
    if (error.code === 'EINVAL' || error.code === 'EIDRM') return 'gone';
    if (error.code === 'EACCES') return 'hidden';
    throw error;
  }
}

/**
 * Whether the presence named by `word0, word1` (a {@link Presence.token},
 * read back from shared memory, as int32 or uint32) is still held. A second
 * word of 0 names nobody. One system call; for slow paths, not per message.
 *
 * The answer is exact while the holder lives (true) and once it has died
 * (false), from any process of the IPC namespace. On a kernel older than 4.17,
 * a segment this user may not read is taken as present without the size and
 * time check.
 */
export function isPresent(word0: number, word1: number): boolean {
  const id = validateInteger(word0, 'word0', INT32_MIN, UINT32_MAX);
  const check = validateInteger(word1, 'word1', INT32_MIN, UINT32_MAX) | 0;
  return check !== 0 && held(id, (ds) => secondWord(ds.shm_segsz, ds.shm_ctime) === check);
}

/**
 * Whether a presence with segment id `word0` is held, without the check
 * word: for a registrant, whose entry names its presence by id alone until it
 * writes its token. A new segment that got the same id after the holder died
 * (the id's sequence number must have come round) passes for it while it is
 * itself attached and marked for removal, as a presence is.
 */
export function isPresentId(word0: number): boolean {
  return held(validateInteger(word0, 'word0', INT32_MIN, UINT32_MAX), () => true);
}

/** Whether segment `id` exists, attached and marked for removal as a presence is, and `matches`. */
function held(id: number, matches: (ds: ShmidDs) => boolean): boolean {
  if (id < 0 || id > 0x7fff_ffff) return false;
  const ds = statById(id);
  if (ds === 'gone') return false;
  if (ds === 'hidden') return true;
  return (ds.shm_perm.mode & SHM_DEST) !== 0 && ds.shm_nattch > 0 && matches(ds);
}
