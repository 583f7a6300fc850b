// How much memory this machine, and this process's memory cgroup, can still
// give. Shared memory reserved at once (fallocate) is checked against it: a
// reservation past what is free does not fail, the kernel's OOM killer ends
// processes (maybe other programs') to make room, and a memfd has no size
// limit of its own that would refuse it first.
import { readFileSync } from 'node:fs';

/** @internal The fields of /proc/meminfo in bytes (one read of the file): each undefined if absent. */
export function meminfo<const F extends string>(...fields: F[]): Record<F, number | undefined> {
  const text = readOr(() => readFileSync('/proc/meminfo', 'utf8')) ?? '';
  const values = {} as Record<F, number | undefined>;
  for (const field of fields) {
    const kib = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1];
    values[field] = kib === undefined ? undefined : Number(kib) * 1024;
  }
  return values;
}

/**
 * @internal The bytes this process may still be given, as far as Linux
 * says: MemAvailable and free swap, or less where the process's memory
 * cgroup, or one above it, has less room (v2: memory.max; v1:
 * memory.limit_in_bytes). undefined when nothing says.
 */
export function memoryRoom(): number | undefined {
  const { MemAvailable: available, SwapFree: swap } = meminfo('MemAvailable', 'SwapFree');
  const machine = available === undefined ? undefined : available + (swap ?? 0);
  return least(machine, cgroupRoom());
}

function least(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/** A limit this large is none: v1 writes "unlimited" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages). */
const UNLIMITED = 2 ** 62;

/**
 * @internal The room left in this process's memory cgroup and the ones above
 * it, in bytes, read under `root` (a directory standing for /, for tests):
 * the least limit less usage of cgroup v2 (memory.max, memory.current) and
 * of a v1 memory controller (memory.limit_in_bytes, memory.usage_in_bytes;
 * a v1 process is OOM-killed past it just the same). Where each hierarchy is
 * mounted comes from /proc/self/mountinfo: v1 at /sys/fs/cgroup/memory, v2
 * at /sys/fs/cgroup, or at /sys/fs/cgroup/unified beside v1 (hybrid).
 */
export function cgroupRoom(root = ''): number | undefined {
  const groups = readOr(() => readFileSync(`${root}/proc/self/cgroup`, 'utf8'));
  if (groups === undefined) return undefined;
  const mounts = readOr(() => readFileSync(`${root}/proc/self/mountinfo`, 'utf8')) ?? '';
  let room: number | undefined;
  for (const line of groups.split('\n')) {
    // "hierarchy-id:controllers:path": "0::/path" for v2, "4:memory:/path" for a v1 memory controller.
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (match === null) continue;
    const [, id, controllers, path] = match as unknown as [string, string, string, string];
    const v2 = id === '0' && controllers === '';
    if (!v2 && !controllers.split(',').includes('memory')) continue;
    const mount = mountOf(mounts, v2) ?? { root: '/', point: v2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory' };
    room = least(room, hierarchyRoom(root, mount, path, v2));
  }
  return room;
}

/** Where a cgroup hierarchy is mounted (v2, or v1's memory controller): the cgroup the mount shows at its top, and the mount point. */
function mountOf(mountinfo: string, v2: boolean): { root: string; point: string } | undefined {
  for (const line of mountinfo.split('\n')) {
    // "id parent major:minor root point options [optional...] - fstype source superoptions"
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const [fstype, , options = ''] = right.split(' ');
    const fields = left.split(' ');
    const [mountRoot, point] = [fields[3], fields[4]];
    if (mountRoot === undefined || point === undefined) continue;
    if (v2 ? fstype === 'cgroup2' : fstype === 'cgroup' && options.split(',').includes('memory')) {
      return { root: unescapeMount(mountRoot), point: unescapeMount(point) };
    }
  }
  return undefined;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes (\040). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** The least room from the cgroup at `path` up to the top of its mounted hierarchy. */
function hierarchyRoom(root: string, mount: { root: string; point: string }, path: string, v2: boolean): number | undefined {
  // The path is the hierarchy's; the mount shows it from mount.root down (a container's own cgroup at its top).
  const within = mount.root === '/' ? path : path === mount.root || path.startsWith(`${mount.root}/`) ? path.slice(mount.root.length) : '/';
  const parts = within.split('/').filter((part) => part !== '');
  let room: number | undefined;
  for (let depth = parts.length; depth >= 0; depth--) {
    const dir = `${root}${mount.point}${depth === 0 ? '' : `/${parts.slice(0, depth).join('/')}`}`;
    room = least(room, groupRoom(dir, v2));
    // v1 without use_hierarchy (before Linux 5.16, set on the parent): limits above do not cover this group.
    if (!v2 && depth > 0) {
      const parent = `${root}${mount.point}${depth === 1 ? '' : `/${parts.slice(0, depth - 1).join('/')}`}`;
      if (readOr(() => readFileSync(`${parent}/memory.use_hierarchy`, 'utf8').trim()) === '0') break;
    }
  }
  return room;
}

function groupRoom(dir: string, v2: boolean): number | undefined {
  return readOr(() => {
    const text = readFileSync(`${dir}/${v2 ? 'memory.max' : 'memory.limit_in_bytes'}`, 'utf8').trim();
    if (text === 'max') return undefined;
    const limit = Number(text);
    if (!Number.isFinite(limit) || limit >= UNLIMITED) return undefined;
    const usage = Number(readFileSync(`${dir}/${v2 ? 'memory.current' : 'memory.usage_in_bytes'}`, 'utf8').trim());
    return Math.max(0, limit - (Number.isFinite(usage) ? usage : 0));
  });
}

/** What `read` gives, or undefined where the file is missing or unreadable (another kernel, a sandbox). */
function readOr<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
