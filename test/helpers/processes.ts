// Spawning children for cross-process tests: Node children run ESM code that
// imports shmkit; every run has a time limit so a broken test fails, never hangs.
import { spawn, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** URL of the built package entry (the bundle, what `import 'shmkit'` loads), for 'SHMKIT' in child code. */
export const SHMKIT = new URL('../../src/bundle/index.js', import.meta.url).href;
/**
 * URL of dist/src/index.js, the library as separate modules, for
 * 'SHMKIT_MODULES' in child code that also imports one of shmkit's internal
 * modules: both then come from one copy of the library.
 */
export const SHMKIT_MODULES = new URL('../../src/index.js', import.meta.url).href;

/** Child `code` with 'SHMKIT' and 'SHMKIT_MODULES' (quotes included) replaced by those URLs. */
export function withShmkit(code: string): string {
  return code.replaceAll("'SHMKIT_MODULES'", JSON.stringify(SHMKIT_MODULES)).replaceAll("'SHMKIT'", JSON.stringify(SHMKIT));
}
/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The shmkit command's launcher. */
export const BIN = join(ROOT, 'bin', 'shmkit.js');
/** The shmkit command run as the user `nobody` (built test/helpers/as-nobody.ts): `node AS_NOBODY ARGS...`. */
export const AS_NOBODY = join(ROOT, 'dist', 'test', 'helpers', 'as-nobody.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends SpawnOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string | Uint8Array;
  /** Kill the child (SIGKILL) after this many ms; default 30 s. */
  timeoutMs?: number;
}

/** Runs a command to completion and collects its output. */
export async function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { input, timeoutMs = 30_000, ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: 'pipe', ...spawnOptions });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin?.on('error', () => {});
  child.stdin?.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs ESM `code` in a new Node process, with 'SHMKIT' in it replaced by the
 * package's URL (see {@link withShmkit}): children write `import { shmget } from 'SHMKIT'`.
 * Extra `args` are in `process.argv.slice(1)`; `nodeFlags` go to node itself.
 */
export function runNode(
  code: string,
  args: readonly string[] = [],
  options: RunOptions & { nodeFlags?: readonly string[] } = {},
): Promise<RunResult> {
  const { nodeFlags = [], ...runOptions } = options;
  const [node, ...argv] = nodeCommand(code, args, nodeFlags);
  return run(node!, argv, runOptions);
}

/** The command line of {@link runNode}'s process: node, `nodeFlags`, ESM `code` (with 'SHMKIT' replaced), `args`. */
export function nodeCommand(code: string, args: readonly string[] = [], nodeFlags: readonly string[] = []): string[] {
  return [process.execPath, '--expose-gc', ...nodeFlags, '--input-type=module', '-e', withShmkit(code), '--', ...args];
}

/** Asserts a child ended by itself with exit code 0, and not by a signal; shows its output if not. */
export function assertExitedCleanly(result: RunResult, what = 'child'): void {
  if (result.signal !== null || result.code !== 0) {
    throw new Error(
      `${what} ended with ${result.signal ? `signal ${result.signal}` : `exit code ${result.code}`}\n` +
        `--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    );
  }
}

/** Parses the last line of a child's stdout as JSON. */
export function lastJson<T = unknown>(result: RunResult): T {
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null') as T;
}

/** Whether this process is root (needed to test as another user and to unshare). */
export const isRoot = process.getuid?.() === 0;

/** uid and gid of the unprivileged user `nobody`. */
export const NOBODY = { uid: 65534, gid: 65534 };

/**
 * The head of a C program that runs steps as nobody to compare with
 * shmkit's: the System V headers, `result(r)` (the errno's name, or "ok")
 * and `become_nobody()` (0 once it is nobody).
 */
export const C_AS_NOBODY = `#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
static const char *result(int r) { return r == -1 ? strerrorname_np(errno) : "ok"; }
static int become_nobody(void) { return setgroups(0, NULL) || setgid(${NOBODY.gid}) || setuid(${NOBODY.uid}); }
`;

/**
 * The same for a Node child (runNode): it becomes nobody, and `value(fn)`
 * gives fn's value or the code it threw, `result(fn)` 'ok' or the code.
 */
export const JS_AS_NOBODY = `
process.setgroups([]);
process.setgid(${NOBODY.gid});
process.setuid(${NOBODY.uid});
const value = (fn) => { try { return fn(); } catch (error) { return error.code; } };
const result = (fn) => value(() => (fn(), 'ok'));
`;

/** Runs the real shmkit command with `args`. */
export function shmkit(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], { timeoutMs: 30_000, ...options });
}
