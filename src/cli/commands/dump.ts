import { constants as bufferConstants } from 'node:buffer';
import { SharedMemory } from '../../index.js';
import { parse, parseBytes, parseId } from '../args.js';
import { CliError, UsageError, writeOut, type Command } from '../command.js';
import { HexDump } from '../hexdump.js';
import { procSegments } from '../proc.js';
import { findSegment, onSegment, segmentSize } from '../segments.js';

/** How much of a segment is copied out at once by dump and cat. */
const CHUNK = 1 << 20;

/** dump's and cat's arguments: ID [--offset N] [--length N], all parsed before the segment is touched. */
export function regionArgs(argv: string[]): { id: number; arg: string; offset?: number; length?: number } {
  const { values, positionals } = parse(argv, { offset: { type: 'string' }, length: { type: 'string' } }, true);
  const [id, arg] = oneId(positionals);
  return {
    id,
    arg,
    offset: values.offset === undefined ? undefined : parseBytes(values.offset, '--offset'),
    length: values.length === undefined ? undefined : parseBytes(values.length, '--length'),
  };
}

/** The bytes of [offset, offset + length) in copies of at most CHUNK bytes. */
export function* chunks(shm: SharedMemory, offset: number, length: number): Generator<Uint8Array> {
  for (let at = offset; at < offset + length; at += CHUNK) yield shm.read(at, Math.min(CHUNK, offset + length - at));
}

/** The id argument of dump, cat and write. */
export function oneId(positionals: string[]): [number, string] {
  if (positionals.length !== 1)
    throw new UsageError(positionals[1], positionals.length === 0 ? 'ERR_MISSING_ARGS' : 'ERR_UNEXPECTED_ARGUMENT', 'give one segment id');
  const arg = positionals[0]!;
  return [parseId(arg), arg];
}

/**
 * [offset, length] of --offset and --length in a segment of `size` bytes.
 * With `clamp` (dump, as hexdump -s -n) what there is up to the end, and
 * nothing past it; without (cat), a range past the end is refused.
 */
export function region(size: number, offsetArg: number | undefined, length: number | undefined, clamp = false): [number, number] {
  const offset = offsetArg ?? 0;
  if (clamp) {
    const start = Math.min(offset, size);
    return [start, Math.min(length ?? size, size - start)];
  }
  if (offset > size) throw new UsageError('--offset', 'ERR_OUT_OF_RANGE', `${offset} is past the end of the ${size}-byte segment`);
  if (length === undefined) return [offset, size - offset];
  if (length > size - offset)
    throw new UsageError(
      '--length',
      'ERR_OUT_OF_RANGE',
      `${length} bytes from offset ${offset} run past the end of the ${size}-byte segment`,
    );
  return [offset, length];
}

/** Attaches segment `id` read-only for the time of `fn`. */
export async function withSegment<T>(id: number, arg: string, readOnly: boolean, fn: (shm: SharedMemory) => Promise<T>): Promise<T> {
  let shm: SharedMemory;
  try {
    shm = onSegment(arg, () => SharedMemory.open({ id, readOnly }));
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    if (error.code === 'EFBIG' || error.code === 'ENOMEM') throw tooLarge(id, arg, error.code, readOnly);
    // The library's hint to attach read-only, which reading alone allows, is no help to a command that writes.
    if (readOnly || error.code !== 'EACCES') throw error;
    throw new CliError(error.arg, error.code, error.message.replace(/; or attach it read-only \([^)]*\), which reading alone allows/, ''));
  }
  try {
    return await fn(shm);
  } finally {
    shm.detach();
  }
}

/**
 * Why a segment that shmat could not map cannot be read or written at all:
 * these commands see a segment through one mapping of all of it. EFBIG: larger
 * than one buffer may be in this Node.js (4 GiB in Node 20, whatever part is
 * asked for); ENOMEM: no room in the address space (a segment past 2^47 bytes).
 */
function tooLarge(id: number, arg: string, code: 'EFBIG' | 'ENOMEM', readOnly: boolean): CliError {
  const bytes = segmentSize(findSegment(id, arg).ds, procSegments().get(id));
  const verb = readOnly ? 'read' : 'written';
  if (code === 'ENOMEM') {
    return new CliError(
      arg,
      code,
      `no room in this process's address space to attach the ${bytes}-byte segment, so no part of it can be ${verb}`,
    );
  }
  return new CliError(
    arg,
    code,
    `the ${bytes}-byte segment is larger than one buffer may be in Node.js ${process.versions.node} ` +
      `(buffer.constants.MAX_LENGTH, ${bufferConstants.MAX_LENGTH} bytes), so it cannot be attached and no part of it can be ${verb}; ` +
      'Node.js 22 and later attach it',
  );
}

export const dump: Command = {
  name: 'dump',
  summary: 'a segment in hex and ASCII, exactly as hexdump -C prints it',
  help: `Usage: shmkit dump ID [--offset N] [--length N]

Prints the bytes of segment ID in the format of hexdump -C, byte for byte:
"shmkit dump 5 --offset 64 --length 32" prints what
"shmkit cat 5 | hexdump -C -s 64 -n 32" prints, so a range past the end
prints the bytes up to it. Lines equal to the one before are collapsed into
"*". Attaches the segment read-only.

Options:
      --offset N   first byte (default 0); decimal or 0x, K/M/G suffixes
      --length N   number of bytes (default: to the end)
`,
  async run(argv, io) {
    const args = regionArgs(argv);
    return withSegment(args.id, args.arg, true, async (shm) => {
      const [offset, length] = region(shm.size, args.offset, args.length, true);
      // hexdump -n 0 prints nothing at all, not even the address (past the end it prints the end's).
      if (args.length === 0) return 0;
      const hex = new HexDump(offset);
      for (const bytes of chunks(shm, offset, length)) await writeOut(io.stdout, hex.push(bytes));
      await writeOut(io.stdout, hex.end());
      return 0;
    });
  },
};
