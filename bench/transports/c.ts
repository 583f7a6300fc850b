// The C reference: memcpy bandwidth and a shared-memory ping-pong between two
// processes, compiled with cc when the benchmark runs. Nothing in Node can
// beat these; they show how close each transport comes to the machine.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SOURCES = fileURLToPath(new URL('../../../bench/c/', import.meta.url));
const CACHE = join(tmpdir(), 'shmkit-bench-cc');

/** Compiles bench/c/NAME.c (cached by content) and returns the executable. */
export async function compile(name: string): Promise<string> {
  const source = join(SOURCES, `${name}.c`);
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  mkdirSync(CACHE, { recursive: true });
  const exe = join(CACHE, `${name}-${hash}`);
  if (!existsSync(exe)) {
    await run('cc', ['-O2', '-std=gnu11', '-o', `${exe}.${process.pid}`, source]);
    await run('mv', [`${exe}.${process.pid}`, exe]);
  }
  return exe;
}

export interface MemcpyResult {
  size: number;
  count: number;
  seconds: number;
}

/** memcpy of `size` bytes, repeated for about `seconds`. */
export async function memcpyBandwidth(size: number, seconds: number): Promise<MemcpyResult> {
  const { stdout } = await run(await compile('memcpy'), [String(size), String(seconds)]);
  return JSON.parse(stdout) as MemcpyResult;
}

/**
 * Round trips of `size` bytes between two processes through shared memory,
 * spinning ('spin') or spinning briefly and then sleeping on a futex ('futex').
 */
export async function pingPong(
  size: number,
  count: number,
  mode: 'spin' | 'futex' = 'spin',
): Promise<{ median_us: number; p99_us: number; count: number }> {
  const { stdout } = await run(await compile('pingpong'), [String(size), String(count), mode], { timeout: 120_000 });
  return JSON.parse(stdout) as { median_us: number; p99_us: number; count: number };
}
