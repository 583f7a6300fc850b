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
import { assertExitedCleanly, type RunResult, SHMKIT, withShmkit } from './processes.js';

/** Ends a program's output on the peer's stdout and stderr. */
const MARK = '\u0001peer-end ';

// While a program runs, the peer's stdin does not hold it alive, so its event loop
// empties ('beforeExit') when a program has ended and left nothing that would
// keep a process of its own alive: timers, handles, the library's waits.
const PEER = `
import { readFileSync, writeFileSync } from 'node:fs';
import { IPC_CREAT, IPC_PRIVATE, IPC_RMID, msgctl, msgget, semctl, semget, shmctl, shmget } from 'SHMKIT';
const MARK = ${JSON.stringify(MARK)};
// In an IPC namespace of its own, each program finds it as a new one: what
// the last left there is removed and the limits it set are put back.
const privateIpc = process.argv[1] === '--private-ipc';
const read = (file) => readFileSync(file, 'utf8');
const LIMITS = ['msgmax', 'msgmnb', 'msgmni', 'sem', 'shmmax', 'shmall', 'shmmni', 'shm_rmid_forced']
  .map((name) => '/proc/sys/kernel/' + name)
  .concat(['msg_default', 'msg_max', 'msgsize_default', 'msgsize_max', 'queues_max'].map((name) => '/proc/sys/fs/mqueue/' + name))
  .map((file) => [file, privateIpc ? read(file) : '']);
const KINDS = {
  msg: { make: () => msgget(IPC_PRIVATE, IPC_CREAT | 0o600), remove: (id) => msgctl(id, IPC_RMID) },
  sem: { make: () => semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600), remove: (id) => semctl(id, 0, IPC_RMID) },
  shm: { make: () => shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600), remove: (id) => shmctl(id, IPC_RMID) },
};
function renewNamespace() {
  for (const [kind, { make, remove }] of Object.entries(KINDS)) {
    for (const line of read('/proc/sysvipc/' + kind).trim().split('\\n').slice(1)) remove(Number(line.trim().split(/\\s+/)[1]));
    // A next id set and not used yet: -1 cannot be written back, but the next object made takes it.
    if (read('/proc/sys/kernel/' + kind + '_next_id').trim() !== '-1') remove(make());
  }
  for (const [file, value] of LIMITS) if (read(file) !== value) writeFileSync(file, value);
  // A removed segment stays until detached: a program's mappings go with their handles.
  globalThis.gc();
}
let buffered = '';
let n = 0;
let running = null;
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  next();
});
/** Makes process.env hold just \`env\`; returns what it held. */
function setEnv(env) {
  const before = { ...process.env };
  for (const name of Object.keys(process.env)) if (!(name in env)) delete process.env[name];
  Object.assign(process.env, env);
  return before;
}
function next() {
  const end = buffered.indexOf('\\n');
  if (running !== null || end === -1) return;
  const { code, args, env } = JSON.parse(buffered.slice(0, end));
  buffered = buffered.slice(end + 1);
  process.stdin.unref();
  process.argv = [process.argv[0], ...args];
  const program = (running = { status: undefined, env: env === null ? null : setEnv(env) });
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
  if (running.env !== null) setEnv(running.env);
  running = null;
  if (privateIpc) renewNamespace();
  process.stdout.write(MARK + status + '\\n');
  process.stderr.write(MARK + status + '\\n');
  process.stdin.ref();
  next();
});
`;

export interface PeerOptions {
  /**
   * The programs' 'SHMKIT' is one copy of the bundle, loaded by the first,
   * instead of a copy each: for programs that leave no state in the library
   * that another could meet (each opens its objects by id and waits for them).
   */
  sharedLibrary?: boolean;
  /**
   * Start the peer in an IPC namespace of its own (`unshare --ipc`, root
   * only), as runNodeInPrivateIpc does each child; after each program the
   * peer removes every object left in it and writes back the limits (msgmax,
   * sem, shmmax, *_next_id...) as it found them, as a new namespace has them.
   */
  privateIpc?: boolean;
}

export interface Peer {
  /**
   * Runs `code` (as runNode would, `args` in process.argv.slice(1)) in the
   * peer, after the programs asked for before it; `timeoutMs` (default 30 s)
   * kills the peer. `env`, if given, is the program's process.env while it
   * runs (the library reads it, SHMKIT_IO_URING at its first wait: a copy
   * of the library of its own, without sharedLibrary, reads it afresh).
   */
  run(code: string, args?: readonly string[], options?: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /**
   * Closes the peer's stdin, waits for its exit and asserts it exited cleanly
   * (nothing if it never started). What programs left attached or open goes
   * with the peer, as with each process's exit before: register it (after())
   * before assertNoLeaks().
   */
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
    const node = [process.execPath, '--expose-gc', '--input-type=module', '-e', withShmkit(PEER), '--'];
    const [command, ...args] = options.privateIpc ? ['unshare', '--ipc', ...node, '--private-ipc'] : node;
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
    // The peer never holds this process alive (a program's time limit does while it runs): a file whose
    // hooks failed before end() still exits, and the peer with it, at the end of its stdin.
    c.unref();
    for (const stream of [c.stdin, c.stdout, c.stderr]) (stream as unknown as { unref(): void }).unref();
    ended = once(c, 'close').then(
      ([code, signal]) => ({ code, signal, stdout: streams.stdout.text, stderr: streams.stderr.text }) as RunResult,
    );
    return c;
  }

  let programs = 0;

  function runOne(code: string, args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv | undefined): Promise<RunResult> {
    child ??= start();
    // A copy of the bundle of its own, as a process of its own loads: no state of the library (what
    // it read of the system, waits, handles) passes from one program to the next. About 8 ms of CPU,
    // and its code runs cold, as in a new process.
    const fresh = options.sharedLibrary ? code : code.replaceAll("'SHMKIT'", JSON.stringify(`${SHMKIT}?peer-program=${programs++}`));
    const c = child;
    const end = (name: 'stdout' | 'stderr') =>
      new Promise<{ status: number; text: string }>((resolve) => streams[name].waiting.push(resolve));
    const done = Promise.all([end('stdout'), end('stderr')]).then(
      ([out, err]): RunResult => ({ code: out.status, signal: null, stdout: out.text, stderr: err.text }),
    );
    c.stdin.write(`${JSON.stringify({ code: withShmkit(fresh), args, env: env ?? null })}\n`);
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    // The peer's end, if it comes first, is this program's: what it printed, and how the peer ended.
    return Promise.race([done, ended as Promise<RunResult>]).finally(() => clearTimeout(timer));
  }

  return {
    run(
      code: string,
      args: readonly string[] = [],
      { timeoutMs = 30_000, env }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
    ): Promise<RunResult> {
      const result = last.then(() => runOne(code, args, timeoutMs, env));
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
