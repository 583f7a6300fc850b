// Several tests' child code run in turn in ONE Node child, where a test
// needs only another process that opens the objects and reports what it saw,
// not a process of its own (about 30 ms of CPU to start and load shmkit).
// A task is the code a test would give runNode(); its result is what runNode
// would have returned: what it logged, and exit code 0 or, if it threw, 1
// with the error on stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { type RunResult, withShmkit } from './processes.js';

/** Marks the child's result lines, which tasks' own output never reaches. */
const RESULT = '\u0000node-tasks\u0000';

// Static imports become dynamic ones (tasks run as async function bodies);
// process.argv and console.log/error are the task's while it runs.
const RUNNER = `
import { createInterface } from 'node:readline';
const write = process.stdout.write.bind(process.stdout);
const AsyncFunction = (async () => {}).constructor;
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { code, args } = JSON.parse(line);
  const body = code
    .replace(/^\\s*import\\s+\\*\\s+as\\s+(\\w+)\\s+from\\s+('[^']*'|"[^"]*");?/gm, 'const $1 = await import($2);')
    .replace(/^\\s*import\\s+\\{([^}]*)\\}\\s+from\\s+('[^']*'|"[^"]*");?/gm, (_, names, from) => 'const {' + names.replaceAll(' as ', ': ') + '} = await import(' + from + ');');
  const out = [];
  const err = [];
  const saved = [process.argv, console.log, console.error];
  process.argv = [process.execPath, ...args];
  console.log = (...parts) => out.push(parts.join(' ') + '\\n');
  console.error = (...parts) => err.push(parts.join(' ') + '\\n');
  let failed = false;
  try {
    if (/^\\s*import\\s/m.test(body)) throw new Error('node-tasks: an import it cannot rewrite');
    await new AsyncFunction(body)();
  } catch (error) {
    failed = true;
    err.push(String(error?.stack ?? error) + '\\n');
  } finally {
    [process.argv, console.log, console.error] = saved;
  }
  write(${JSON.stringify(RESULT)} + JSON.stringify({ failed, stdout: out.join(''), stderr: err.join('') }) + '\\n');
}
`;

/** One Node child (started at the first task) that runs tasks one at a time. */
export class NodeTasks {
  #child: ChildProcess | undefined;
  #results: Array<(result: RunResult) => void> = [];
  #stderr = '';
  #exited: Promise<RunResult> | undefined;

  #start(): ChildProcess {
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', RUNNER], { stdio: 'pipe' });
    let stdout = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    child.stdin!.on('error', () => {});
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith(RESULT)) return void (stdout += `${line}\n`);
      const { failed, stdout: out, stderr } = JSON.parse(line.slice(RESULT.length)) as { failed: boolean; stdout: string; stderr: string };
      this.#results.shift()?.({ code: failed ? 1 : 0, signal: null, stdout: out, stderr });
      if (this.#results.length === 0) this.#hold(false);
    });
    this.#exited = once(child, 'close').then(([code, signal]) => {
      const result = { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr: this.#stderr };
      // A child that died mid-task fails that task (and any queued) with its end.
      for (const settle of this.#results.splice(0)) settle({ ...result, code: result.code || 1 });
      return result;
    });
    return child;
  }

  /** Whether the child keeps this process running: only while a task runs, so a file whose hooks failed still ends (and the child, its stdin closed, with it). */
  #hold(busy: boolean): void {
    const child = this.#child!;
    for (const handle of [child, child.stdin, child.stdout, child.stderr] as Array<{ ref(): void; unref(): void } | null>) {
      if (busy) handle?.ref();
      else handle?.unref();
    }
  }

  /** Runs `code` (as runNode would: 'SHMKIT' replaced, `args` in process.argv.slice(1)); resolves with its result. */
  run(code: string, args: readonly string[] = []): Promise<RunResult> {
    this.#child ??= this.#start();
    this.#hold(true);
    const result = new Promise<RunResult>((resolve) => this.#results.push(resolve));
    this.#child.stdin!.write(`${JSON.stringify({ code: withShmkit(code), args })}\n`);
    return result;
  }

  /** Ends the child (stdin closed; SIGKILL if it is still busy after `ms`) and resolves with how it ended. */
  async close(ms = 5_000): Promise<RunResult> {
    if (this.#child === undefined) return { code: 0, signal: null, stdout: '', stderr: '' };
    this.#hold(true);
    this.#child.stdin!.end();
    const timer = setTimeout(() => this.#child!.kill('SIGKILL'), ms);
    try {
      return await this.#exited!;
    } finally {
      clearTimeout(timer);
    }
  }
}
