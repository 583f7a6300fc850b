// One Node child that runs, one after another, the child programs of a
// test file's tests, where each had a process of its own (about 40 ms of CPU
// to start one and load shmkit). Use it where a test needs "another process"
// (another copy of the library, its own threads and view of the IPC objects)
// and not a fresh one: a program that changes the whole process (its user,
// its signal handlers, process.exit) keeps a process of its own.
//
// Each program is the ESM code runNode would run, with the same 'SHMKIT' and
// process.argv, imported as a module of its own; it has ended when its
// top-level code has and the timers, handles and requests it left have ended
// too, as the process would then have exited. Its result is what runNode
// gives: what it printed, and exit code 0, or 1 with the error on stderr if it
// threw. If the peer dies meanwhile (a signal, process.exit, the time
// limit's SIGKILL), that program's result is the peer's end, and every later
// one fails at once.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { assertExitedCleanly, type RunResult, withShmkit } from './processes.js';

/** Ends a program's output on the peer's stdout and stderr. */
const MARK = '\u0001peer-end ';

// While a program runs, the peer's stdin does not hold it alive, so its event loop
// empties ('beforeExit') when a program has ended and left nothing that would
// keep a process of its own alive: timers, handles, the library's waits.
const PEER = `
const MARK = ${JSON.stringify(MARK)};
let buffered = '';
let n = 0;
let running = null;
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  next();
});
function next() {
  const end = buffered.indexOf('\\n');
  if (running !== null || end === -1) return;
  const { code, args } = JSON.parse(buffered.slice(0, end));
  buffered = buffered.slice(end + 1);
  process.stdin.unref();
  process.argv = [process.argv[0], ...args];
  const program = (running = { status: undefined });
  // A URL of its own: a module is evaluated once per URL.
  import('data:text/javascript,' + encodeURIComponent(code + '\\n//# peer program ' + n++)).then(
    () => (program.status = 0),
    (error) => {
      process.stderr.write(String(error?.stack ?? error) + '\\n');
      program.status = 1;
    },
  );
}
process.on('beforeExit', () => {
  if (running === null) return;
  // 13: the top-level await of a process whose loop emptied before it settled.
  const status = running.status ?? 13;
  running = null;
  process.stdout.write(MARK + status + '\\n');
  process.stderr.write(MARK + status + '\\n');
  process.stdin.ref();
  next();
});
`;

export interface PeerOptions {
  /** Start the peer in an IPC namespace of its own (`unshare --ipc`, root only), as runNodeInPrivateIpc does each child. */
  privateIpc?: boolean;
}

export interface Peer {
  /**
   * Runs `code` (as runNode would, `args` in process.argv.slice(1)) in the
   * peer, after the programs asked for before it; `timeoutMs` (default 30 s)
   * kills the peer.
   */
  run(code: string, args?: readonly string[], options?: { timeoutMs?: number }): Promise<RunResult>;
  /** Closes the peer's stdin, waits for its exit and asserts it exited cleanly (nothing if it never started). */
  end(): Promise<void>;
}

/** A peer process, started by its first program. */
export function peer(options: PeerOptions = {}): Peer {
  let child: ChildProcessWithoutNullStreams | undefined;
  let ended: Promise<RunResult> | undefined;
  let last: Promise<unknown> = Promise.resolve();
  /** Lines since the last program's end, and who waits for the next end, per stream. */
  const streams = {
    stdout: { text: '', waiting: [] as ((end: { status: number; text: string }) => void)[] },
    stderr: { text: '', waiting: [] as ((end: { status: number; text: string }) => void)[] },
  };

  function start(): ChildProcessWithoutNullStreams {
    const node = [process.execPath, '--expose-gc', '--input-type=module', '-e', PEER];
    const [command, ...args] = options.privateIpc ? ['unshare', '--ipc', ...node] : node;
    const c = spawn(command as string, args, { stdio: 'pipe' });
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = streams[name];
      createInterface({ input: c[name] }).on('line', (line) => {
        if (!line.startsWith(MARK)) {
          stream.text += `${line}\n`;
          return;
        }
        const text = stream.text;
        stream.text = '';
        stream.waiting.shift()?.({ status: Number(line.slice(MARK.length)), text });
      });
    }
    c.stdin.on('error', () => {});
    ended = once(c, 'close').then(
      ([code, signal]) => ({ code, signal, stdout: streams.stdout.text, stderr: streams.stderr.text }) as RunResult,
    );
    return c;
  }

  function runOne(code: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
    child ??= start();
    const c = child;
    const end = (name: 'stdout' | 'stderr') =>
      new Promise<{ status: number; text: string }>((resolve) => streams[name].waiting.push(resolve));
    const done = Promise.all([end('stdout'), end('stderr')]).then(
      ([out, err]): RunResult => ({ code: out.status, signal: null, stdout: out.text, stderr: err.text }),
    );
    c.stdin.write(`${JSON.stringify({ code: withShmkit(code), args })}\n`);
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    // The peer's end, if it comes first, is this program's: what it printed, and how the peer ended.
    return Promise.race([done, ended as Promise<RunResult>]).finally(() => clearTimeout(timer));
  }

  return {
    run(code: string, args: readonly string[] = [], { timeoutMs = 30_000 } = {}): Promise<RunResult> {
      const result = last.then(() => runOne(code, args, timeoutMs));
      last = result.catch(() => {});
      return result;
    },
    async end(): Promise<void> {
      if (child === undefined || ended === undefined) return;
      await last;
      child.stdin.end();
      const timer = setTimeout(() => child?.kill('SIGKILL'), 30_000);
      const result = await ended;
      clearTimeout(timer);
      assertExitedCleanly(result, 'the peer');
    },
  };
}
