// Namespaces for tests (root only): the whole test file in a private IPC
// namespace, and Node children in PID namespaces of their own inside it, as
// containers of one pod or `docker run --ipc=container:X` are. Everything a
// file creates in its IPC namespace goes with the namespace when the file's
// process ends, whatever happened.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { isRoot, withShmkit, type RunResult } from './processes.js';

/** Set, to the namespace's name, in a process that has a private IPC namespace (also by scripts/run-tests.mjs). */
const MARK = 'SHMKIT_TEST_PRIVATE_IPC';

/**
 * Re-runs the calling test file in a private IPC namespace (`unshare --ipc`)
 * and ends this process with its exit status; returns at once in the copy
 * that runs inside, and in a file the test runner (scripts/run-tests.mjs)
 * already started in a namespace of its own. Call it with top-level `await`
 * before registering any test: the copy inherits stdout and NODE_TEST_CONTEXT,
 * so `node --test` reads its results as the file's own. Needs root; without
 * it, returns the reason to skip the file's tests (`{ skip }` on each
 * top-level describe), since they list or remove objects machine-wide.
 */
export async function runFileInPrivateIpc(): Promise<string | false> {
  if (process.env[MARK] === ipcNamespace()) return false;
  if (!isRoot) return 'needs root for a private IPC namespace (unshare --ipc)';
  const file = process.argv[1];
  if (file === undefined) throw new Error('runFileInPrivateIpc: no script path in process.argv');
  // The copy compares the mark with its own namespace, so an outer copy's mark never counts.
  const child = spawn(
    'unshare',
    [
      '--ipc',
      'sh',
      '-c',
      `${MARK}=$(readlink /proc/self/ns/ipc) exec "$@"`,
      'sh',
      process.execPath,
      ...process.execArgv,
      file,
      ...process.argv.slice(2),
    ],
    {
      stdio: 'inherit',
    },
  );
  // unshare execs (no --fork), so the copy is this child: pass on what would end this process.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  // unshare reports its own failure on the inherited stderr.
  const [code] = (await once(child, 'exit')) as [number | null];
  process.exit(code ?? 1);
}

/** This process's IPC namespace, as /proc/self/ns/ipc names it ("ipc:[4026531839]"). */
export function ipcNamespace(): string {
  return readlinkSync('/proc/self/ns/ipc');
}

/** Where a Node child runs: these namespaces, or new ones of its own. */
export interface NodeChildOptions {
  /** Start the child as pid 1 of a new PID namespace (with its own /proc). */
  newPidNamespace?: boolean;
  /** Start the child in a new IPC namespace: another machine, as far as System V IPC goes. */
  newIpcNamespace?: boolean;
  /** SIGKILL it (and its namespace) after this many ms; default 60 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Run this program and arguments instead of Node (`code` and `args` unused): a C peer, without a Node to start it. */
  command?: readonly string[];
}

/**
 * A Node child that runs while the test talks to it: it reads the child's
 * stdout line by line and writes lines to its stdin. In a new PID namespace
 * the child is pid 1 there and its pids mean nothing here (nor ours to it);
 * killing it (`kill()`, or the time limit) kills `unshare`, which passes the
 * signal on (--kill-child), and the namespace dies with its first process.
 */
export class NodeChild {
  readonly process: ChildProcess;
  readonly exited: Promise<RunResult>;
  readonly #lines: string[] = [];
  readonly #waiting: Array<() => void> = [];
  #stderr = '';
  #stdout = '';
  #closed = false;

  constructor(code: string, args: readonly string[] = [], options: NodeChildOptions = {}) {
    const node = options.command ?? [process.execPath, '--input-type=module', '-e', withShmkit(code), '--', ...args];
    const unshare = [
      ...(options.newPidNamespace ? ['--pid', '--fork', '--kill-child=SIGKILL', '--mount-proc'] : []),
      ...(options.newIpcNamespace ? ['--ipc'] : []),
    ];
    const [command, ...rest] = unshare.length > 0 ? ['unshare', ...unshare, ...node] : node;
    this.process = spawn(command!, rest, { stdio: 'pipe', env: options.env ?? process.env });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.process.stdin!.on('error', () => {});
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      this.#stdout += `${line}\n`;
      this.#lines.push(line);
      for (const wake of this.#waiting.splice(0)) wake();
    });
    const timer = setTimeout(() => this.process.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    this.exited = once(this.process, 'close').then(([code, signal]) => {
      clearTimeout(timer);
      this.#closed = true;
      for (const wake of this.#waiting.splice(0)) wake();
      return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout: this.#stdout, stderr: this.#stderr };
    });
  }

  /** What the child wrote to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /**
   * The first line not yet taken that starts with `prefix` (by default the
   * next line; others stay for later calls); throws, with the child's
   * output, if it ends first.
   */
  async line(prefix = ''): Promise<string> {
    for (;;) {
      const index = this.#lines.findIndex((l) => l.startsWith(prefix));
      if (index >= 0) return this.#lines.splice(index, 1)[0]!;
      if (this.#closed) {
        throw new Error(`child ended before printing ${prefix || 'a line'}\n--- stdout\n${this.#stdout}--- stderr\n${this.#stderr}`);
      }
      await new Promise<void>((wake) => this.#waiting.push(wake));
    }
  }

  /** The next line, parsed as JSON. */
  async json<T = unknown>(): Promise<T> {
    return JSON.parse(await this.line()) as T;
  }

  /** Writes `line` and a newline to the child's stdin. */
  send(line: string): void {
    this.process.stdin!.write(`${line}\n`);
  }

  /** Sends `signal` (default SIGKILL) and waits until the child has ended. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<RunResult> {
    if (!this.#closed) this.process.kill(signal);
    return this.exited;
  }
}

/** Starts ESM `code` (with 'SHMKIT' replaced as in runNode) as a {@link NodeChild}. */
export function startNode(code: string, args: readonly string[] = [], options: NodeChildOptions = {}): NodeChild {
  return new NodeChild(code, args, options);
}

/** Starts ESM `code` as pid 1 of a new PID namespace that shares this IPC namespace. */
export function startNodeInNewPidNamespace(
  code: string,
  args: readonly string[] = [],
  options: Omit<NodeChildOptions, 'newPidNamespace'> = {},
): NodeChild {
  return new NodeChild(code, args, { ...options, newPidNamespace: true });
}
