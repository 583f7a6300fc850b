// The shmkit command: finds the command, runs it, and turns what it throws
// into one line on stderr and an exit code (0 ok, 1 failure, 2 usage).
// Commands write to stdout only once they know they succeed.
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { IpcError } from '../index.js';
import { CliError, CliErrors, EXIT_FAILURE, EXIT_USAGE, type Io, ipcMessage, PROCESS_IO, UsageError, type Command } from './command.js';
import { bench } from './commands/bench.js';
import { bridge } from './commands/bridge.js';
import { cat } from './commands/cat.js';
import { create } from './commands/create.js';
import { demo } from './commands/demo.js';
import { dump } from './commands/dump.js';
import { limits } from './commands/limits.js';
import { ls } from './commands/ls.js';
import { rm } from './commands/rm.js';
import { stat } from './commands/stat.js';
import { usage } from './commands/usage.js';
import { watch } from './commands/watch.js';
import { write } from './commands/write.js';
import { CLI_DOCS, PACKAGE_JSON } from './files.js';
import { clip, printable } from './format.js';

export const COMMANDS: readonly Command[] = [ls, stat, limits, usage, rm, create, dump, cat, write, watch, demo, bench, bridge];

function version(): string {
  const pkg = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  return pkg.version;
}

function overview(): string {
  const offered = COMMANDS.filter((c) => c.offered?.() ?? true);
  const width = Math.max(...offered.map((c) => c.name.length)) + 2;
  return `Usage: shmkit COMMAND [ARGS...]

System V shared memory, semaphores and message queues of this machine (its IPC
namespace), and its POSIX shared memory (/dev/shm).

Commands:
${offered.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}help on a command: shmkit help rm

Options:
  -h, --help     this help (shmkit COMMAND --help: the command's)
  -V, --version  shmkit's version

Exit codes: 0 success, 1 failure, 2 bad usage. Listing commands take --json.
All of it, --json formats included: ${CLI_DOCS}
`;
}

const HELP_HELP = `Usage: shmkit help [COMMAND]

Prints the list of commands, or with COMMAND that command's help (the same
as shmkit COMMAND --help). All of it in one page: ${CLI_DOCS}
`;

/**
 * The error's one line. Arguments and names in it are escaped (a newline in
 * one forged a second line, an ESC reached the terminal) and an argument
 * repeated as the one at fault is clipped; messages clip what they quote.
 */
function report(stderr: Writable, command: string, error: CliError): void {
  const arg = error.arg === undefined ? '' : `${printable(clip(error.arg))}: `;
  const hint = error instanceof UsageError ? ` (see shmkit help${command === 'shmkit' ? '' : ` ${command}`})` : '';
  stderr.write(`shmkit${command === 'shmkit' ? '' : ` ${command}`}: ${arg}${error.code} ${printable(error.message)}${hint}\n`);
}

/** Whether `--help` or `-h` comes before any `--`. */
function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * Runs `shmkit ARGV...` and resolves to the exit code. `io` is the process's
 * streams for the command line; tests give their own.
 */
export async function main(argv: string[], io: Io = PROCESS_IO): Promise<number> {
  const [name, ...rest] = argv;
  const { stdout, stderr } = io;
  let command: Command | undefined;
  // A reader that goes away (shmkit cat | head) ends the command quietly, unless
  // the command needs its output read (create); any other failure to write (a
  // full disk: ENOSPC, EFBIG, EIO) is one line and exit 1.
  if (io === PROCESS_IO) {
    stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' && command?.needsReader !== true) process.exit(0);
      const text =
        error.code === 'EPIPE' ? 'broken pipe (the reader went away)' : error.message.replace(/^[A-Z0-9_]+: /, '').replace(/, write$/, '');
      report(stderr, command?.name ?? 'shmkit', new CliError('stdout', error.code ?? 'ERR_INTERNAL', `cannot write: ${text}`));
      process.exit(EXIT_FAILURE);
    });
  }
  try {
    if (name === undefined) {
      stderr.write(overview());
      return EXIT_USAGE;
    }
    if (name === '--version' || name === '-V' || name === '--help' || name === '-h') {
      // Anything after is a mistake to say, not to drop.
      if (rest[0] !== undefined) throw new UsageError(rest[0], 'ERR_UNEXPECTED_ARGUMENT', `${name} takes no argument`);
      stdout.write(name === '--version' || name === '-V' ? `${version()}\n` : overview());
      return 0;
    }
    if (name === 'help') {
      const topic = rest[0];
      if (rest[1] !== undefined) throw new UsageError(rest[1], 'ERR_UNEXPECTED_ARGUMENT', 'help takes one command name');
      if (topic === undefined) {
        stdout.write(overview());
        return 0;
      }
      if (topic === 'help' || topic === '--help' || topic === '-h') {
        stdout.write(HELP_HELP);
        return 0;
      }
      const target = COMMANDS.find((c) => c.name === topic);
      if (!target) throw new UsageError(topic, 'ERR_UNKNOWN_COMMAND', 'no such command');
      stdout.write(target.help);
      return 0;
    }
    command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(name, 'ERR_UNKNOWN_COMMAND', 'no such command');
    if (wantsHelp(rest)) {
      stdout.write(command.help);
      return 0;
    }
    return await command.run(rest, io);
  } catch (error) {
    const where = command?.name ?? 'shmkit';
    if (error instanceof CliErrors) {
      for (const e of error.errors) report(stderr, where, e);
      return Math.max(...error.errors.map((e) => e.exitCode));
    }
    if (error instanceof CliError) {
      report(stderr, where, error);
      return error.exitCode;
    }
    if (error instanceof IpcError) {
      report(stderr, where, new CliError(error.syscall, error.code, ipcMessage(error)));
      return EXIT_FAILURE;
    }
    const e = error as Error & { code?: unknown };
    report(stderr, where, new CliError(undefined, typeof e.code === 'string' ? e.code : 'ERR_INTERNAL', e.message ?? String(error)));
    return EXIT_FAILURE;
  }
}
