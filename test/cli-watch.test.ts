// shmkit watch in a real pseudo-terminal: tmux runs it (inside a private IPC
// namespace, as it lists machine-wide), and the test reads the screen back
// with capture-pane and types with send-keys.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { compileC } from './helpers/c.js';
import { isRoot, run, BIN } from './helpers/processes.js';
import { C_SHM_PEER } from './helpers/shm.js';

const SERVER = `shmkit-test-${process.pid}`;

function tmux(...args: string[]) {
  return run('tmux', ['-L', SERVER, '-f', '/dev/null', ...args], { timeoutMs: 10_000 });
}

async function screen(session: string): Promise<string> {
  return (await tmux('capture-pane', '-p', '-t', session)).stdout;
}

/** Polls `probe` (at most `tries` times, 50 ms apart: a bound, not a timed assertion). */
async function until<T>(what: string, probe: () => Promise<T | undefined>, tries = 400): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function screenWith(session: string, text: string): Promise<string> {
  return until(`"${text}" on the screen of ${session}`, async () => {
    const s = await screen(session);
    return s.includes(text) ? s : undefined;
  });
}

describe('shmkit watch in a terminal', { skip: isRoot ? false : 'needs root for unshare --ipc' }, () => {
  let dir = '';
  // The segments watch shows are made by a C process (helpers/shm.ts), as `shmkit create --key
  // K --size N` makes them (mode 600), at about 1 ms of CPU where a shmkit process takes 40.
  let create = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shmkit-cli-watch-'));
    create = await compileC('shm-peer', C_SHM_PEER);
  });

  after(async () => {
    await tmux('kill-server');
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Starts `script` (sh, with shmkit and create defined) in a new 100x30 tmux session
   * inside its own IPC namespace; the script's last command is `shmkit watch
   * ARGS`, whose exit code {@link exited} reads.
   */
  async function start(session: string, setup: string, watchArgs: string): Promise<void> {
    const file = join(dir, `${session}.sh`);
    writeFileSync(
      file,
      `shmkit() { "${process.execPath}" "${BIN}" "$@"; }\ncreate() { "${create}" "$@"; }\n${setup}\nshmkit watch ${watchArgs}\necho $? > "${file}.rc"\n`,
    );
    const result = await tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '100',
      '-y',
      '30',
      `unshare --ipc sh ${file}`,
      ';',
      'set-option',
      '-t',
      session,
      'remain-on-exit',
      'on',
    );
    assert.equal(result.code, 0, result.stderr);
  }

  /** The exit code of the session's shmkit watch, once it has ended. */
  async function exited(session: string): Promise<string> {
    const file = join(dir, `${session}.sh.rc`);
    return until(`${session} to exit`, async () => {
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      return text.endsWith('\n') ? text.trim() : undefined;
    });
  }

  it('shows the segments, refreshes the table in place, and quits on q', async () => {
    const go = join(dir, 'go');
    await run('mkfifo', [go]);
    await start('q', `create 0x7301 4096 >/dev/null\n(read x < "${go}"; create 0x7302 8192 >/dev/null) &`, '--interval 0.2');
    const first = await screenWith('q', '0x00007301');
    assert.match(first, /^shmkit watch: every 0\.2s, q to quit\s+\d\d:\d\d:\d\d$/m);
    assert.match(first, /^key\s+shmid\s+owner\s+perms\s+bytes\s+nattch\s+status\s+resident\s+cpid\s+lpid$/m);
    assert.doesNotMatch(first, /0x00007302/);

    // A segment made meanwhile appears in the same table, drawn over the old one.
    await run('sh', ['-c', `echo go > "${go}"`], { timeoutMs: 10_000 });
    const second = await screenWith('q', '0x00007302');
    assert.equal(second.match(/^key\s+shmid/gm)?.length, 1, `one table, redrawn in place:\n${second}`);
    assert.match(second, /^0x00007301\s+0\s+root\s+600\s+4096\s+0\b/m);
    assert.match(second, /^0x00007302\s+1\s+root\s+600\s+8192\s+0\b/m);

    await tmux('send-keys', '-t', 'q', 'q');
    assert.equal(await exited('q'), '0');
    // The alternate screen is gone: what was on the terminal before comes back.
    assert.doesNotMatch(await screen('q'), /shmkit watch|0x00007301/);
  });

  it('quits on Ctrl-C with exit code 0', async () => {
    await start('c', 'create 0x7303 1 >/dev/null', '-a');
    await screenWith('c', '0x00007303');
    const both = await screen('c');
    assert.match(both, /^Shared memory segments$/m);
    assert.match(both, /^Semaphore sets$/m);
    await tmux('send-keys', '-t', 'c', 'C-c');
    assert.equal(await exited('c'), '0');
  });

  it('refuses to run without a terminal', async () => {
    const result = await run(process.execPath, [BIN, 'watch'], { timeoutMs: 10_000 });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'shmkit watch: stdout: ENOTTY watch needs a terminal (use shmkit ls in a pipe)\n');
  });
});
