import { parse } from '../args.js';
import { writeOut, type Command } from '../command.js';
import { CHUNK, oneId, region, withSegment } from './dump.js';

export const cat: Command = {
  name: 'cat',
  summary: 'copy a segment\'s bytes to stdout',
  help: `Usage: shmkit cat ID [--offset N] [--length N]

Writes the raw bytes of segment ID to stdout (all of it by default), for a
pipe or a file: "shmkit cat 5 > copy.bin", "shmkit cat 5 | sha256sum".
Attaches the segment read-only.

Options:
      --offset N   first byte (default 0); decimal or 0x, K/M/G suffixes
      --length N   number of bytes (default: to the end)
`,
  async run(argv) {
    const { values, positionals } = parse(argv, { offset: { type: 'string' }, length: { type: 'string' } }, true);
    const [id, arg] = oneId(positionals);
    return withSegment(id, arg, true, async (shm) => {
      const [offset, length] = region(shm.size, values.offset, values.length);
      for (let at = offset; at < offset + length; at += CHUNK) {
        await writeOut(shm.read(at, Math.min(CHUNK, offset + length - at)));
      }
      return 0;
    });
  },
};
