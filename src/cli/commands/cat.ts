import { writeOut, type Command } from '../command.js';
import { chunks, region, regionArgs, withSegment } from './dump.js';

export const cat: Command = {
  name: 'cat',
  summary: "copy a segment's bytes to stdout",
  help: `Usage: shmkit cat ID [--offset N] [--length N]

Writes the raw bytes of segment ID to stdout (all of it by default), for a
pipe or a file: "shmkit cat 5 > copy.bin", "shmkit cat 5 | sha256sum".
Attaches the segment read-only.

Options:
      --offset N   first byte (default 0); decimal or 0x, K/M/G suffixes
      --length N   number of bytes (default: to the end)
`,
  async run(argv, io) {
    const args = regionArgs(argv);
    return withSegment(args.id, args.arg, true, async (shm) => {
      const [offset, length] = region(shm.size, args.offset, args.length);
      for (const bytes of chunks(shm, offset, length)) await writeOut(io.stdout, bytes);
      return 0;
    });
  },
};
