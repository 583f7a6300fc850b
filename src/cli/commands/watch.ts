import { MAX_TIMER_SECONDS, parse, parseSeconds } from '../args.js';
import { CliError, type Command } from '../command.js';
import { outputWidth, paint, useColor } from '../table.js';
import { listingLines } from '../views.js';
import { KIND_OPTIONS, kinds, POSIX_OPTION, readListing } from './ls.js';

const ENTER = '\x1b[?1049h\x1b[?25l'; // alternate screen, cursor hidden
const LEAVE = '\x1b[?25h\x1b[?1049l';
const HOME = '\x1b[H';
const CLEAR_LINE = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

/** The shortest --interval, as procps watch has it. */
const MIN_INTERVAL_SECONDS = 0.1;

function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}

export const watch: Command = {
  name: 'watch',
  summary: 'the ls table, refreshed in place until q or Ctrl-C',
  help: `Usage: shmkit watch [-m] [-s] [-q] [-a] [-p] [--interval SECONDS]

Shows the table of shmkit ls on the whole terminal and refreshes it in place
every second (or --interval), until you press q or Ctrl-C. Needs a terminal.

Options:
  -m, --shm              segments (the default)
  -s, --sem              semaphore sets instead
  -q, --queue            message queues instead
  -a, --all              all three
  -p, --posix            POSIX shared memory in /dev/shm (with -m, -s, -q or -a: those too)
  -i, --interval SECONDS time between refreshes (default 1; decimals allowed;
                         from 0.1 to 2147483.647)
`,
  async run(argv, io) {
    const { values } = parse(argv, { ...KIND_OPTIONS, ...POSIX_OPTION, interval: { type: 'string', short: 'i' } });
    const want = kinds(values);
    // Past setTimeout's limit the timer would fire at once: a redraw loop, not a long wait. Below
    // 0.1 s (watch(1)'s floor) each redraw, a scan of every table, would follow the last at once.
    const interval =
      values.interval === undefined ? 1 : parseSeconds(values.interval, '--interval', MAX_TIMER_SECONDS, MIN_INTERVAL_SECONDS);
    const out = io.stdout;
    if (!out.isTTY) throw new CliError('stdout', 'ENOTTY', 'watch needs a terminal (use shmkit ls in a pipe)');
    // Fail before taking over the screen if the listing cannot be read at all.
    readListing(want);

    let wake: () => void = () => {};
    let quit = false;
    const stop = () => {
      quit = true;
      wake();
    };
    const onKey = (data: Buffer) => {
      if (data.includes(0x71) || data.includes(0x51) || data.includes(0x03)) stop(); // q, Q, Ctrl-C
    };
    const onResize = () => wake();
    const stdin = io.stdin;
    out.write(ENTER);
    if (stdin.isTTY) stdin.setRawMode?.(true);
    stdin.on('data', onKey);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    out.on('resize', onResize);
    try {
      while (!quit) {
        const color = useColor(out);
        const width = outputWidth(out);
        const title = `shmkit watch: every ${interval}s, q to quit`;
        const head = `${paint(title, 'bold', color)}${' '.repeat(Math.max(2, Math.min(width, 200) - title.length - 8))}${clock()}`;
        const body = listingLines(readListing(want), { width, color });
        let screen = [head, '', ...body];
        const rows = out.rows !== undefined && out.rows > 0 ? out.rows : 24;
        if (screen.length > rows) screen = [...screen.slice(0, rows - 1), `... ${screen.length - rows + 1} more lines`];
        out.write(HOME + screen.map((l) => l + CLEAR_LINE).join('\r\n') + CLEAR_BELOW);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, interval * 1000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      out.write(LEAVE);
      out.off('resize', onResize);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      stdin.off('data', onKey);
      if (stdin.isTTY) stdin.setRawMode?.(false);
      stdin.pause();
    }
    return 0;
  },
};
