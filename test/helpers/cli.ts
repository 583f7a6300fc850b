// The shmkit command run in the test's own process: main() with streams of
// the test's. For what the command prints and returns (help, usage errors,
// listings); the tests of what a process does (exit codes set by the
// launcher, pipes, signals, lifetimes) spawn the real command.
import { Readable, Writable } from 'node:stream';
import type { RunResult } from './processes.js';

/**
 * main() of the bundle bin/shmkit.js loads: the separate modules of src/cli
 * took about 60 ms more CPU to load, and the files that use the public API
 * load the bundle ('shmkit') already, whose modules this one shares. Loaded
 * as this module is (helpers/as-nobody.ts and shmkit-steps.ts load it so
 * before they drop to nobody).
 */
export const { main } = (await import(new URL('../../src/bundle/main.js', import.meta.url).href)) as typeof import('../../src/cli/main.js');

/** A stream that keeps what is written to it. */
function sink(): { stream: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
}

/** Runs `shmkit ARGS...` in this process, `input` on its stdin; resolves with its exit code and the bytes it wrote. */
export async function runMain(
  args: readonly string[],
  input?: string | Uint8Array,
): Promise<{ code: number; stdout: Buffer; stderr: Buffer }> {
  const stdout = sink();
  const stderr = sink();
  const stdin = Readable.from(input === undefined ? [] : [Buffer.from(input)]);
  const code = await main([...args], { stdin, stdout: stdout.stream, stderr: stderr.stream });
  return { code, stdout: stdout.bytes(), stderr: stderr.bytes() };
}

/** Runs `shmkit ARGS...` in this process, `input` on its stdin; resolves as a spawned run would. */
export async function shmkitHere(args: readonly string[], options: { input?: string | Uint8Array } = {}): Promise<RunResult> {
  const { code, stdout, stderr } = await runMain(args, options.input);
  return { code, signal: null, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8') };
}
