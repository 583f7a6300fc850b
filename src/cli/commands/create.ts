import type { Writable } from 'node:stream';
import { IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPC_RMID, semctl, semget, shmctl, shmget } from '../../index.js';
import { parse, parseBytes, parseCount, parseKey, parseMode } from '../args.js';
import { UsageError, type Command } from '../command.js';
import { RMID_FORCED_NOTE, shmRmidForced } from '../proc.js';
import { onSegment } from '../segments.js';
import { onSemaphoreSet, semLimits } from '../semaphores.js';

export const create: Command = {
  name: 'create',
  summary: 'create a segment (-s: a semaphore set) and print its id',
  // An id nobody reads: what was made is removed, and that is a failure.
  needsReader: true,
  help: `Usage: shmkit create --key KEY --size N [--mode MODE]
       shmkit create --private --size N [--mode MODE]
       shmkit create -s --key KEY|--private --count N [--mode MODE]

Creates a new segment (shmget with IPC_CREAT|IPC_EXCL: an existing key is an
error, never reused) and prints its id. The segment stays until removed
(shmkit rm), like one made by a C program; it is zero-filled.

With -s, creates a semaphore set of N semaphores instead (semget, as
ipcmk -S N), every value 0, and prints its id; it stays until shmkit rm -s.

When kernel.shm_rmid_forced is 1 (some container hosts set it), the kernel
removes a segment as soon as nobody is attached, so this one goes when
shmkit exits; create then says so on stderr.

Options:
      --key KEY     the key, 0x1234abcd or decimal (not 0, IPC_PRIVATE: --private)
      --private     no key (IPC_PRIVATE): reachable by id only
      --size N      bytes; decimal or 0x, with K, M, G (powers of 1024)
  -s, --sem         a semaphore set instead of a segment
      --count N     semaphores in the set (with -s), 1 to semmsl
      --mode MODE   permission bits in octal (default 600)
`,
  async run(argv, io) {
    const { values } = parse(argv, {
      key: { type: 'string' },
      private: { type: 'boolean' },
      size: { type: 'string' },
      sem: { type: 'boolean', short: 's' },
      count: { type: 'string' },
      mode: { type: 'string' },
    });
    if (values.key !== undefined && values.private) {
      throw new UsageError('--private', 'ERR_INCOMPATIBLE_OPTION_PAIR', 'both --key and --private were given: give one of them');
    }
    if (values.key === undefined && !values.private) throw new UsageError('--key', 'ERR_MISSING_ARGS', 'give --key KEY or --private');
    // parseKey refuses 0 (IPC_PRIVATE), pointing to --private.
    const key = values.key === undefined ? IPC_PRIVATE : parseKey(values.key);
    const arg = values.key === undefined ? '--private' : `--key ${values.key}`;
    if (values.sem) {
      if (values.size !== undefined)
        throw new UsageError('--size', 'ERR_INCOMPATIBLE_OPTION_PAIR', 'a semaphore set has no size; give --count N');
      if (values.count === undefined) throw new UsageError('--count', 'ERR_MISSING_ARGS', 'required with -s');
      const count = parseCount(values.count, '--count', semLimits().semmsl);
      const mode = values.mode === undefined ? 0o600 : parseMode(values.mode);
      const id = onSemaphoreSet(arg, () => semget(key, count, IPC_CREAT | IPC_EXCL | mode));
      await announce(io.stdout, id, () => semctl(id, 0, IPC_RMID));
      return 0;
    }
    if (values.count !== undefined) throw new UsageError('--count', 'ERR_INCOMPATIBLE_OPTION_PAIR', 'counts semaphores: only with -s');
    if (values.size === undefined) throw new UsageError('--size', 'ERR_MISSING_ARGS', 'required');
    const size = parseBytes(values.size, '--size');
    if (size === 0) throw new UsageError('--size', 'ERR_OUT_OF_RANGE', 'a segment has at least 1 byte');
    const mode = values.mode === undefined ? 0o600 : parseMode(values.mode);
    // What is wrong with the size is said of --size, not of the key.
    const id = onSegment(arg, () => shmget(key, size, IPC_CREAT | IPC_EXCL | mode), {
      EINVAL: ['--size', 'out of the system limits (see shmkit limits)'],
      ENOMEM: ['--size', 'no memory for a segment of this size'],
    });
    await announce(io.stdout, id, () => shmctl(id, IPC_RMID));
    if (shmRmidForced())
      io.stderr.write(`shmkit create: note: ${RMID_FORCED_NOTE}; nobody is attached to segment ${id}, so it goes as shmkit exits\n`);
    return 0;
  },
};

/**
 * Prints the new object's id. Until the id is written, the object is removed
 * if the process ends: an id that could not be printed (stdout a full disk,
 * a closed pipe) would leave an object nobody knows of.
 */
async function announce(stdout: Writable, id: number, remove: () => void): Promise<void> {
  const undo = (): void => {
    try {
      remove();
    } catch {
      // removed by someone already
    }
  };
  process.once('exit', undo);
  try {
    await new Promise<void>((resolve, reject) => stdout.write(`${id}\n`, (error) => (error ? reject(error) : resolve())));
  } catch (error) {
    undo();
    throw error;
  } finally {
    process.off('exit', undo);
  }
}
