// One Node child that serves the tests of a file as "another process": it
// starts once (about 40 ms of CPU) and runs each job a test asks of it, in
// turn, where each test had a child of its own. The child is still another
// process, with its own copy of the library, its own threads and its own view
// of the IPC objects; a job that throws fails the test that asked for it, and
// the child must exit cleanly when the file ends.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { assertExitedCleanly, type RunResult, withShmkit } from './processes.js';

/** A job's answer on the child's stdout starts with this; anything else the child prints is kept as output. */
const MARK = '\u0001peer ';

/**
 * The child's code: `code` (imports and `const jobs = { name: async (...args) => value }`),
 * then a loop that runs the job named on each stdin line and prints its value
 * or its error. Jobs run one at a time, in the order they were asked for.
 */
function childCode(code: string): string {
  return `${withShmkit(code)}
import { createInterface as peerLines } from 'node:readline';
for await (const line of peerLines({ input: process.stdin })) {
  const { n, job, args } = JSON.parse(line);
  let answer;
  try {
    if (typeof jobs[job] !== 'function') throw new Error('no job ' + job);
    answer = { n, value: (await jobs[job](...args)) ?? null };
  } catch (error) {
    answer = { n, error: String(error?.stack ?? error) };
  }
  process.stdout.write(${JSON.stringify(MARK)} + JSON.stringify(answer) + '\\n');
}
`;
}

export interface Peer {
  /** Runs `job` with `args` (JSON) in the child; resolves with its value, rejects with its error. Time limit `timeoutMs` (default 30 s), after which the child is killed. */
  call<T = unknown>(job: string, args?: readonly unknown[], timeoutMs?: number): Promise<T>;
  /** Closes the child's stdin, waits for its exit and asserts it exited cleanly (a no-op if it never started). */
  end(): Promise<void>;
}

/** A peer child running `code` (see {@link childCode}), started at the first call. */
export function peer(code: string): Peer {
  let child: ChildProcessWithoutNullStreams | undefined;
  let closed: Promise<RunResult> | undefined;
  /** Why calls now fail at once: the child has ended. */
  let gone: Error | undefined;
  let next = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let stdout = '';
  let stderr = '';

  function start(): ChildProcessWithoutNullStreams {
    const c = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', childCode(code)], { stdio: 'pipe' });
    c.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    createInterface({ input: c.stdout }).on('line', (line) => {
      if (!line.startsWith(MARK)) {
        stdout += `${line}\n`;
        return;
      }
      const { n, value, error } = JSON.parse(line.slice(MARK.length)) as { n: number; value?: unknown; error?: string };
      const call = pending.get(n);
      pending.delete(n);
      if (error === undefined) call?.resolve(value);
      else call?.reject(new Error(`the peer's job failed: ${error}`));
    });
    c.stdin.on('error', () => {});
    closed = once(c, 'close').then(([code, signal]) => {
      const result = { code, signal, stdout, stderr } as RunResult;
      gone = new Error(`the peer ended with ${signal ?? `exit code ${code}`}\n--- stderr\n${stderr}`);
      for (const call of pending.values()) call.reject(gone);
      pending.clear();
      return result;
    });
    return c;
  }

  return {
    call<T>(job: string, args: readonly unknown[] = [], timeoutMs = 30_000): Promise<T> {
      child ??= start();
      const c = child;
      const n = next++;
      return new Promise<T>((resolve, reject) => {
        if (gone !== undefined) return reject(gone);
        const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
        const settle =
          <V>(fn: (v: V) => void) =>
          (v: V) => {
            clearTimeout(timer);
            fn(v);
          };
        pending.set(n, { resolve: settle(resolve as (value: unknown) => void), reject: settle(reject) });
        c.stdin.write(`${JSON.stringify({ n, job, args })}\n`);
      });
    },
    async end(): Promise<void> {
      if (child === undefined || closed === undefined) return;
      child.stdin.end();
      const timer = setTimeout(() => child?.kill('SIGKILL'), 30_000);
      const result = await closed;
      clearTimeout(timer);
      assertExitedCleanly(result, 'the peer');
    },
  };
}
