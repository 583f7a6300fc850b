// What the bridge tests share: assertions, and `shmkit bridge` run as a child.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { bridge } from 'shmkit';
import { BIN } from './processes.js';

/** bridge(options) rejects with `code` and a message matching `name`. */
export async function rejects(options: unknown, name: RegExp, code: string): Promise<void> {
  await assert.rejects(bridge(options as never), (error: Error & { code?: string }) => {
    assert.equal(error.code, code);
    assert.match(error.message, name);
    return true;
  });
}

/** A running `shmkit bridge ARGS...`, its output collected. */
export interface BridgeCommand {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Its exit code, once it exits. */
  readonly exited: Promise<number | null>;
}

/** Starts `shmkit bridge ARGS...` and resolves once it says it is forwarding (or has exited); throws if it does neither within 30 s. */
export async function startBridgeCommand(args: readonly string[]): Promise<BridgeCommand> {
  const child = spawn(process.execPath, [BIN, 'bridge', ...args], { stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const deadline = Date.now() + 30_000;
  while (!/forwarding/.test(stderr) && child.exitCode === null) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`shmkit bridge ${args.join(' ')}: neither forwarding nor exited within 30 s\n--- stderr\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}
