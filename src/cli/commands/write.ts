import { constants as bufferConstants } from 'node:buffer';
import { fstatSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { parse, parseBytes } from '../args.js';
import { CliError, UsageError, type Command } from '../command.js';
import { oneId, withSegment } from './dump.js';

const { MAX_LENGTH } = bufferConstants;

/**
 * Reads stdin to its end, or until more than `limit` bytes came (then
 * undefined: the data does not fit, and the rest is not worth waiting for).
 */
async function readStdin(stdin: Readable, limit: number): Promise<Uint8Array | undefined> {
  // Node reads a directory on stdin as nothing at all (cat says EISDIR): a write of nothing would succeed.
  const fd = (stdin as { fd?: unknown }).fd;
  if (typeof fd === 'number' && isDirectory(fd)) throw new CliError('stdin', 'EISDIR', 'is a directory; nothing written');
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stdin) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > limit) {
      stdin.destroy();
      return undefined;
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

export const write: Command = {
  name: 'write',
  summary: 'copy stdin into a segment',
  help: `Usage: shmkit write ID [--offset N] < data

Writes all of stdin into segment ID at offset N (default 0). All or nothing:
data that would run past the end of the segment is refused and nothing is
written. Bytes outside [offset, offset + length of stdin) are unchanged.

Options:
      --offset N   where the first byte goes; decimal or 0x, K/M/G suffixes
`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { offset: { type: 'string' } }, true);
    const [id, arg] = oneId(positionals);
    const offset = values.offset === undefined ? 0 : parseBytes(values.offset, '--offset');
    return withSegment(id, arg, false, async (shm) => {
      if (offset > shm.size)
        throw new UsageError('--offset', 'ERR_OUT_OF_RANGE', `${offset} is past the end of the ${shm.size}-byte segment`);
      const room = shm.size - offset;
      // All or nothing needs all of stdin in one buffer first, and one buffer holds at most MAX_LENGTH bytes.
      const data = await readStdin(io.stdin, Math.min(room, MAX_LENGTH));
      if (data === undefined && room > MAX_LENGTH) {
        // EFBIG, as write(2) past a file's limit: the data, not an argument, is too large (exit 1, not 2).
        throw new CliError(
          'stdin',
          'EFBIG',
          `more than ${MAX_LENGTH} bytes, the most one write can take in this Node.js (buffer.constants.MAX_LENGTH); write larger data in parts with --offset; nothing written`,
        );
      }
      if (data === undefined) {
        throw new CliError(
          'stdin',
          'EFBIG',
          `more than the ${room} bytes that fit from offset ${offset} in the ${shm.size}-byte segment; nothing written`,
        );
      }
      shm.write(offset, data);
      return 0;
    });
  },
};

function isDirectory(fd: number): boolean {
  try {
    return fstatSync(fd).isDirectory();
  } catch {
    return false;
  }
}
