// What every command is, and the errors that end one. main.ts turns a thrown
// CliError into the one-line message and exit code; commands never print errors.

import { fstatSync, writeSync } from 'node:fs';
import { type Readable, Writable } from 'node:stream';
import { isatty } from 'node:tty';
import type { IpcError } from '../index.js';

/** Exit codes: success, failure (a system call or a refused operation), bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface Command {
  name: string;
  /** One line for `shmkit help`. */
  summary: string;
  /** The full text of `shmkit help NAME` (starts with the usage line). */
  help: string;
  /** Whether `shmkit help` lists it here (default: yes). */
  offered?(): boolean;
  /**
   * Whether output nobody reads is a failure (create: the id of what it made
   * is lost) rather than a quiet end, as `shmkit cat | head` has it (default).
   */
  needsReader?: boolean;
  /** Runs with the arguments after the command's name; resolves to the exit code. */
  run(argv: string[], io: Io): Promise<number> | number;
}

/** The part of a terminal stream the commands use: TTY, size, and its `resize` event. */
export type Output = Writable & { isTTY?: boolean; columns?: number; rows?: number };

/**
 * Where a command reads and writes. The command line gives the process's own
 * streams; tests give streams of their own and run commands in their process.
 */
export interface Io {
  stdin: Readable & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  stdout: Output;
  stderr: Writable;
}

let fileStdout: Output | undefined;

/**
 * The process's stdout. Into a file or a device, Node's process.stdout
 * ignores a short write (a full disk, a file-size limit): the rest of the
 * chunk is lost and the command succeeds. There, a stream that writes the
 * rest, which meets the error; pipes and terminals keep process.stdout.
 */
function processStdout(): Output {
  if (fileStdout !== undefined) return fileStdout;
  let file: boolean;
  try {
    const stats = fstatSync(1);
    file = !isatty(1) && !stats.isFIFO() && !stats.isSocket();
  } catch {
    file = false;
  }
  if (!file) return process.stdout;
  fileStdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        for (let at = 0; at < chunk.length; ) at += writeSync(1, chunk, at);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  return fileStdout;
}

/** The process's streams, read when used: touching process.stdin opens it. */
export const PROCESS_IO: Io = {
  get stdin() {
    return process.stdin;
  },
  get stdout() {
    return processStdout();
  },
  get stderr() {
    return process.stderr;
  },
};

/**
 * A failure to report as `shmkit CMD: ARG: CODE message`. `arg` is the
 * argument at fault as the user wrote it (an id, `--key`, `stdin`...).
 */
export class CliError extends Error {
  readonly arg: string | undefined;
  readonly code: string;
  readonly exitCode: number;

  constructor(arg: string | undefined, code: string, message: string, exitCode = EXIT_FAILURE) {
    super(message);
    this.name = 'CliError';
    this.arg = arg;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/**
 * The codes whose hint a user at the command line acts on (owner and mode, sizes, limits); the other hints name library
 * calls. EINVAL only from shmget and semget (a size, a count): from shmat or IPC_STAT it is an unknown id, which the
 * command's own words say.
 */
const HINTED = new Set(['EACCES', 'EPERM', 'EINVAL', 'ENOSPC', 'ENOMEM']);
const hinted = (error: IpcError) =>
  HINTED.has(error.code) && (error.code !== 'EINVAL' || error.syscall === 'shmget' || error.syscall === 'semget');

/**
 * An IpcError's message without what the report says already: it starts
 * "shmat: EFBIG (File too large): ", and the line printed "EFBIG shmat: EFBIG ...".
 */
export function ipcMessage(error: IpcError): string {
  return error.message.replace(/^[\w.]+: [A-Z0-9_]+ \([^)]*\): /, '');
}

/**
 * An IpcError as a CliError about `arg`: the command's own words for it
 * (`text`) and its hint where that helps here, or, without words of the
 * command's own, the error's message, hint included.
 */
export function ipcCliError(arg: string | undefined, error: IpcError, text: string | undefined): CliError {
  if (text === undefined) return new CliError(arg, error.code, ipcMessage(error));
  const { hint } = error;
  return new CliError(arg, error.code, hint !== undefined && hinted(error) ? `${text}; ${hint}` : text);
}

/** Bad usage: exit code 2, and the message points at the command's help. */
export class UsageError extends CliError {
  constructor(arg: string | undefined, code: string, message: string) {
    super(arg, code, message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/**
 * Several failures of one command that went on past the first (rm of many
 * ids): each is reported on its own line; the exit code is the worst.
 */
export class CliErrors extends Error {
  readonly errors: CliError[];

  constructor(errors: CliError[]) {
    super(`${errors.length} errors`);
    this.errors = errors;
  }
}

/** Writes all of `text` to `out`, waiting for a slow pipe to drain. */
export async function writeOut(out: Writable, text: string | Uint8Array): Promise<void> {
  if (text.length === 0) return;
  if (!out.write(text)) {
    await new Promise<void>((resolve) => out.once('drain', resolve));
  }
}
