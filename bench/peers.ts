// The peers the System V benchmarks measure shmkit against: a C program
// compiled now with cc, and Python's sysv_ipc (Debian: python3-sysv-ipc,
// under /usr/bin/python3, which may not be the first python3 on PATH). Each
// prints one number.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';

/** A C program compiled with cc -O2 into a temporary directory; `cleanup` removes it. */
function compileC(name: string, source: string): { exe: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `shmkit-bench-${name}-`));
  const src = join(dir, `${name}.c`);
  const exe = join(dir, name);
  writeFileSync(src, source);
  try {
    execFileSync('cc', ['-O2', '-std=gnu11', '-o', exe, src]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { exe, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a program that prints one number, and returns it. */
function runNumber(command: string, args: readonly string[]): number {
  return Number(execFileSync(command, args, { encoding: 'utf8' }).trim());
}

/** Whether /usr/bin/python3 has sysv_ipc. */
function hasPythonSysvIpc(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import sysv_ipc'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs Python `source` with `args` (sys.argv[1:]) and returns the number it prints. */
function runPython(source: string, args: readonly string[]): number {
  return runNumber(PYTHON, ['-c', source, ...args]);
}

/**
 * The mean round trip of `ping` in µs over `roundTrips`, after 100 to warm
 * up (the child has loaded and both sides are compiled), with a Node child
 * running ESM `code` with `args`; it must answer roundTrips + 100 pings and
 * exit 0.
 */
export async function nodeRoundTrips(
  code: string,
  args: readonly string[],
  ping: () => Promise<unknown>,
  roundTrips: number,
): Promise<number> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, '--', ...args], { stdio: 'inherit' });
  const exited = once(child, 'exit');
  for (let i = 0; i < 100; i++) await ping();
  const start = process.hrtime.bigint();
  for (let i = 0; i < roundTrips; i++) await ping();
  const us = Number(process.hrtime.bigint() - start) / roundTrips / 1000;
  const [exitCode] = (await exited) as [number | null];
  if (exitCode !== 0) throw new Error(`the ping-pong child exited with ${exitCode}`);
  return us;
}

/** The C program and the Python script of one benchmark, each run with arguments and printing one number. */
export interface Peers {
  c(...args: Array<string | number>): number;
  /** null where /usr/bin/python3 lacks sysv_ipc. */
  python(...args: Array<string | number>): number | null;
}

/** Runs `fn` with the benchmark's peers: the C program compiled for it (and removed after), and the Python script. */
export async function withPeers<T>(name: string, cSource: string, pythonSource: string, fn: (peers: Peers) => Promise<T>): Promise<T> {
  const c = compileC(name, cSource);
  const python = hasPythonSysvIpc();
  try {
    return await fn({
      c: (...args) => runNumber(c.exe, args.map(String)),
      python: (...args) => (python ? runPython(pythonSource, args.map(String)) : null),
    });
  } finally {
    c.cleanup();
  }
}

/** How much of its defaults a benchmark runs: a tenth in the suite's smoke run (npm run bench:smoke), to check that it all runs. */
export function scaleOf(options: { smoke?: boolean }): number {
  return options.smoke === true ? 0.1 : 1;
}
