// Runs steps of the shmkit command one after another in one Node process,
// for scripts that run many commands where a test cannot (a namespace of
// their own, beside a process that holds objects): what each prints and
// returns is main()'s, from the bundle the command's launcher loads, with
// streams of its own as in the test's process (helpers/cli.ts), without a
// process of its own for each (about 40 ms of CPU to start).
//
//   node [this file] [--as-nobody] DIR < STEPS
//
// A line of STEPS is a step's name and the command's arguments, split on
// blanks ("ls-all ls -a --json"); the step's stdout, stderr and exit code go
// to DIR/NAME.out, .err and .rc, as `shmkit ARGS >NAME.out 2>NAME.err; echo
// $? >NAME.rc` would put them. With --as-nobody the steps run as the user
// nobody, as helpers/as-nobody.ts runs one: the CLI loaded and the files
// opened while still root.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runMain } from './cli.js';
import { NOBODY, type RunResult, run } from './processes.js';

/** This file, built: `node SHMKIT_STEPS DIR < STEPS`. */
export const SHMKIT_STEPS = fileURLToPath(import.meta.url);

/**
 * Runs each of `commands` (the arguments of one shmkit command each, none
 * with a blank in it) in turn, in one Node process in an IPC namespace of
 * its own (`unshare --ipc`, root only), which goes with that process and
 * everything made in it; resolves with their results in the same order.
 */
export function shmkitStepsInPrivateIpc(commands: readonly (readonly string[])[]): Promise<RunResult[]> {
  return shmkitSteps(commands, { unshare: ['--ipc'] });
}

/**
 * Runs each of `commands` in turn in one Node process, as
 * shmkitStepsInPrivateIpc does, under `unshare` with the options `unshare`
 * if given (['--ipc'] for an IPC namespace of its own), in the working
 * directory `cwd` if given, as nobody if `asNobody`.
 */
export async function shmkitSteps(
  commands: readonly (readonly string[])[],
  options: { unshare?: readonly string[]; cwd?: string; asNobody?: boolean } = {},
): Promise<RunResult[]> {
  for (const args of commands)
    if (args.some((arg) => /\s/.test(arg) || arg === '')) throw new Error(`a step's argument is empty or has a blank: ${args.join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-steps-'));
  try {
    const input = commands.map((args, i) => `${i} ${args.join(' ')}\n`).join('');
    const [command, args] = options.unshare ? ['unshare', [...options.unshare, process.execPath]] : [process.execPath, []];
    const r = await run(command, [...args, SHMKIT_STEPS, ...(options.asNobody ? ['--as-nobody'] : []), dir], {
      input,
      timeoutMs: 30_000,
      cwd: options.cwd,
    });
    if (r.code !== 0) throw new Error(`shmkit steps ended with ${r.signal ?? `exit code ${r.code}`}:\n${r.stderr}`);
    const read = (i: number, ext: string) => readFileSync(join(dir, `${i}.${ext}`), 'utf8');
    return commands.map((_, i) => ({ code: Number(read(i, 'rc')), signal: null, stdout: read(i, 'out'), stderr: read(i, 'err') }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runSteps(dir: string, asNobody: boolean): Promise<void> {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const steps = input
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([name]) => name)
    .map(([name, ...args]) => {
      const open = (ext: string) => openSync(join(dir, `${name}.${ext}`), 'w');
      return { args, out: open('out'), err: open('err'), rc: open('rc') };
    });
  if (asNobody) {
    process.setgroups?.([]);
    process.setgid?.(NOBODY.gid);
    process.setuid?.(NOBODY.uid);
  }
  for (const step of steps) {
    const { code, stdout, stderr } = await runMain(step.args);
    for (const [fd, bytes] of [
      [step.out, stdout],
      [step.err, stderr],
      [step.rc, Buffer.from(`${code}\n`)],
    ] as const) {
      writeSync(fd, bytes);
      closeSync(fd);
    }
  }
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const asNobody = process.argv[2] === '--as-nobody';
  const dir = process.argv[asNobody ? 3 : 2];
  if (dir === undefined) throw new Error('usage: node shmkit-steps.js [--as-nobody] DIR < STEPS');
  await runSteps(dir, asNobody);
}
