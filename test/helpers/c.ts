// Compiles the small C peers the tests talk to. Binaries are cached by the
// hash of their source, in a directory of this user's that anyone can read
// and execute (tests also run them as `nobody`) and only this user can write:
// one per user, since a shared name in /tmp belongs to whoever made it first,
// and another user could put binaries there that these tests (as root) would run.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './processes.js';

const UID = process.getuid?.() ?? 0;
const CACHE = join(tmpdir(), `shmkit-test-cc-${UID}`);

/** The cache directory, made if need be; refused unless this user owns it and nobody else can write it. */
function cacheDir(): string {
  mkdirSync(CACHE, { recursive: true, mode: 0o755 });
  const stat = lstatSync(CACHE);
  if (!stat.isDirectory() || stat.uid !== UID) throw new Error(`${CACHE} is not a directory of uid ${UID}: remove it`);
  // (The umask may have taken bits that `nobody` needs to run the binaries.)
  if ((stat.mode & 0o777) !== 0o755) chmodSync(CACHE, 0o755);
  return CACHE;
}

/** Compiles C `source` with `cc` and returns the executable's path. */
export async function compileC(name: string, source: string, flags: readonly string[] = []): Promise<string> {
  const hash = createHash('sha256').update(source).update(flags.join(' ')).digest('hex').slice(0, 16);
  const exe = join(cacheDir(), `${name}-${hash}`);
  if (existsSync(exe)) return exe;
  // Test files run in parallel and may compile the same program at once: each
  // writes its own files and renames the result into place (atomic).
  const own = `${exe}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const src = `${own}.c`;
  const tmp = `${own}.tmp`;
  writeFileSync(src, source);
  try {
    const result = await run('cc', ['-O2', '-Wall', '-Werror', '-std=gnu11', '-o', tmp, src, ...flags]);
    if (result.code !== 0) throw new Error(`cc failed for ${name}:\n${result.stderr}`);
    renameSync(src, `${exe}.c`);
    renameSync(tmp, exe);
  } finally {
    rmSync(src, { force: true });
    rmSync(tmp, { force: true });
  }
  return exe;
}
