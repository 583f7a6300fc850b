// A size past what the process's memory cgroup can give is refused (ENOMEM)
// before fallocate, whose reservation would have the OOM killer end the
// process and leave the object behind. Only cgroup v2's memory.max was read:
// under a cgroup v1 memory controller (older distributions, hybrid systemd
// setups like this machine's) create() of more than memory.limit_in_bytes was
// killed (exit 137), its object left in /dev/shm. The parsing is checked on
// fixture trees of each layout; where a v1 memory controller is mounted and
// writable (root), a real child in a cgroup of its own too.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cgroupRoom } from '../src/core/memory.js';
import { isRoot, SHMKIT } from './helpers/processes.js';
import { runNodeOnPrivateShm } from './helpers/shm.js';

const MiB = 1 << 20;
const UNLIMITED_V1 = '9223372036854771712';
const fixtures = mkdtempSync(join(tmpdir(), 'shmkit-cgroup-'));
after(() => rmSync(fixtures, { recursive: true, force: true }));

/** A tree standing for /, from paths and their contents. */
function tree(name: string, files: Record<string, string | number>): string {
  const root = join(fixtures, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), `${content}\n`);
  }
  return root;
}

const HYBRID_MOUNTS = [
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

describe('the room in the memory cgroup', () => {
  it('cgroup v1 (hybrid): the least limit less usage of the group and the ones above it; "unlimited" is none', () => {
    const root = tree('v1', {
      'proc/self/cgroup': '4:memory:/svc/job\n3:cpuset:/\n0::/',
      'proc/self/mountinfo': HYBRID_MOUNTS,
      'sys/fs/cgroup/memory/memory.limit_in_bytes': UNLIMITED_V1,
      'sys/fs/cgroup/memory/memory.usage_in_bytes': 900 * MiB,
      'sys/fs/cgroup/memory/svc/memory.limit_in_bytes': 100 * MiB,
      'sys/fs/cgroup/memory/svc/memory.usage_in_bytes': 30 * MiB,
      'sys/fs/cgroup/memory/svc/job/memory.limit_in_bytes': UNLIMITED_V1,
      'sys/fs/cgroup/memory/svc/job/memory.usage_in_bytes': 20 * MiB,
    });
    assert.equal(cgroupRoom(root), 70 * MiB);
    writeFileSync(join(root, 'sys/fs/cgroup/memory/svc/job/memory.limit_in_bytes'), `${40 * MiB}\n`);
    assert.equal(cgroupRoom(root), 20 * MiB, "the group's own limit when it is the lesser");
  });

  it('cgroup v1 without use_hierarchy above: the limits above do not cover the group', () => {
    const root = tree('v1-flat', {
      'proc/self/cgroup': '4:memory:/svc/job',
      'proc/self/mountinfo': HYBRID_MOUNTS,
      'sys/fs/cgroup/memory/svc/memory.limit_in_bytes': 100 * MiB,
      'sys/fs/cgroup/memory/svc/memory.usage_in_bytes': 30 * MiB,
      'sys/fs/cgroup/memory/svc/memory.use_hierarchy': 0,
      'sys/fs/cgroup/memory/svc/job/memory.limit_in_bytes': UNLIMITED_V1,
      'sys/fs/cgroup/memory/svc/job/memory.usage_in_bytes': 20 * MiB,
    });
    assert.equal(cgroupRoom(root), undefined);
  });

  it("cgroup v1 in a container: the mount shows the container's own group at its top", () => {
    const root = tree('v1-docker', {
      'proc/self/cgroup': '9:memory:/docker/abc\n0::/',
      'proc/self/mountinfo': '600 590 0:40 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory',
      'sys/fs/cgroup/memory/memory.limit_in_bytes': 256 * MiB,
      'sys/fs/cgroup/memory/memory.usage_in_bytes': 56 * MiB,
    });
    assert.equal(cgroupRoom(root), 200 * MiB);
  });

  it('cgroup v2: memory.max of the group and the ones above it, "max" being none; no mountinfo: /sys/fs/cgroup', () => {
    const root = tree('v2', {
      'proc/self/cgroup': '0::/user.slice/app',
      'proc/self/mountinfo': '30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw',
      'sys/fs/cgroup/user.slice/memory.max': 64 * MiB,
      'sys/fs/cgroup/user.slice/memory.current': 16 * MiB,
      'sys/fs/cgroup/user.slice/app/memory.max': 'max',
      'sys/fs/cgroup/user.slice/app/memory.current': 8 * MiB,
    });
    assert.equal(cgroupRoom(root), 48 * MiB);
    rmSync(join(root, 'proc/self/mountinfo'));
    assert.equal(cgroupRoom(root), 48 * MiB);
  });

  it('no cgroup files (another kernel, a sandbox): nothing said', () => {
    assert.equal(cgroupRoom(tree('none', { 'etc/hostname': 'x' })), undefined);
    assert.equal(cgroupRoom(tree('v1-nomem', { 'proc/self/cgroup': '3:cpuset:/\n0::/', 'proc/self/mountinfo': HYBRID_MOUNTS })), undefined);
  });
});

/** This process's v1 memory cgroup directory, where one is mounted and root may add groups below it. */
function v1MemoryGroup(): string | undefined {
  if (!isRoot) return undefined;
  const path = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  const dir = path === undefined ? undefined : `/sys/fs/cgroup/memory${path === '/' ? '' : path}`;
  return dir !== undefined && existsSync(`${dir}/memory.limit_in_bytes`) ? dir : undefined;
}

const group = v1MemoryGroup();

describe('a real cgroup v1 memory limit', { skip: group === undefined ? 'no writable cgroup v1 memory controller here' : false }, () => {
  it('create() past memory.limit_in_bytes is ENOMEM naming the room, and leaves no object (it was OOM-killed, exit 137)', async (t) => {
    const dir = join(group!, `shmkit-test-${process.pid}`);
    try {
      mkdirSync(dir);
    } catch (error) {
      t.skip(`cannot make a cgroup here: ${(error as NodeJS.ErrnoException).code}`);
      return;
    }
    try {
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(160 * MiB));
      // The child joins the group, then asks for more than the group allows.
      const script = `
        import { PosixSharedMemory } from ${JSON.stringify(SHMKIT)};
        import { readdirSync } from 'node:fs';
        let outcome;
        try { PosixSharedMemory.create({ name: '/cg', size: 300 << 20 }).detach(); outcome = 'created'; }
        catch (e) { outcome = e.code + ' ' + e.message; }
        console.log(JSON.stringify({ outcome, left: readdirSync('/dev/shm') }));
      `;
      const result = await runNodeOnPrivateShm(script, { before: `echo $$ > ${join(dir, 'cgroup.procs')}` });
      assert.equal(result.signal, null, result.stderr);
      assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
      const out = JSON.parse(result.stdout.trim().split('\n').pop()!) as { outcome: string; left: string[] };
      assert.match(
        out.outcome,
        /^ENOMEM create: .*\/cg, size 314572800: more memory than this machine can give now \(\d+ bytes, .*within its memory cgroup\)/,
      );
      assert.deepEqual(out.left, []);
    } finally {
      rmdirSync(dir);
    }
  });
});
