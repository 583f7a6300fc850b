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
 * cgroup (v2: memory.max) has less room. undefined when nothing says.
 */
export function memoryRoom(): number | undefined {
  const { MemAvailable: available, SwapFree: swap } = meminfo('MemAvailable', 'SwapFree');
  const machine = available === undefined ? undefined : available + (swap ?? 0);
  const group = cgroupRoom();
  if (machine === undefined) return group;
  return group === undefined ? machine : Math.min(machine, group);
}

function cgroupRoom(): number | undefined {
  return readOr(() => {
    // cgroup v2: the line "0::/path"; the path is below /sys/fs/cgroup (in a container, its own cgroup at the root).
    const path = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    if (path === undefined) return undefined;
    const dir = `/sys/fs/cgroup${path === '/' ? '' : path}`;
    const max = readFileSync(`${dir}/memory.max`, 'utf8').trim();
    if (max === 'max') return undefined;
    return Math.max(0, Number(max) - Number(readFileSync(`${dir}/memory.current`, 'utf8').trim()));
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
