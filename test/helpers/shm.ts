// Helpers for the shared-memory tests: bounded polling, segment existence,
// children that drop to `nobody` or run in their own IPC namespace, and the
// C snippets every peer program shares.
import { setTimeout as sleep } from 'node:timers/promises';
import { IPC_STAT, IpcError, shmctl } from 'shmkit';
import { isRoot, nodeCommand, run, type RunOptions, type RunResult } from './processes.js';

/**
 * Calls `probe` until it returns something other than undefined/false, at
 * most `tries` times with `intervalMs` between tries (a bound on the number
 * of tries, not a timed assertion). Throws naming `what` if it never does.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false, { tries = 1000, intervalMs = 10 } = {}): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    await sleep(intervalMs);
  }
  throw new Error(`gave up waiting for ${what} after ${tries} tries`);
}

/** Whether segment `id` still exists (IPC_STAT answers; EINVAL means it is gone). */
export function segmentExists(id: number): boolean {
  try {
    shmctl(id, IPC_STAT);
    return true;
  } catch (error) {
    if (error instanceof IpcError && error.code === 'EINVAL') return false;
    throw error;
  }
}

/** Runs `fn` and returns what it threw (fails if it did not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error(`expected ${fn.toString()} to throw`);
}

/**
 * Code for the top of a child (after its imports) that drops from root to
 * `nobody`: no supplementary groups (root's group 0 would still match a
 * segment's gid), then gid, then uid. Import shmkit before it runs.
 */
export const BECOME_NOBODY = 'process.setgroups([]); process.setgid(65534); process.setuid(65534);';

/** Why this process cannot run children in an IPC namespace of their own (`{ skip }` for tests that do), or false. */
export const noPrivateIpc: string | false = !isRoot && 'needs root for unshare --ipc';

/**
 * Runs ESM `code` (with 'SHMKIT' replaced as in runNode) in a new Node
 * process inside its own IPC namespace (`unshare --ipc`, needs root), where
 * it sees no other segment and may change the namespace's limits.
 * `nodeFlags` go to node itself, as runNode's.
 */
export function runNodeInPrivateIpc(
  code: string,
  args: readonly string[] = [],
  options: RunOptions & { nodeFlags?: readonly string[] } = {},
): Promise<RunResult> {
  const { nodeFlags = [], ...runOptions } = options;
  return run('unshare', ['--ipc', ...nodeCommand(code, args, nodeFlags)], runOptions);
}

/**
 * Runs ESM `script` in private IPC and mount namespaces over a fresh tmpfs
 * /dev/shm, mounted with `tmpfs` options (e.g. `size=8m`); `before` is shell
 * run first inside them (e.g. joining a cgroup: `$$` is the process that
 * becomes Node).
 */
export function runNodeOnPrivateShm(script: string, options: { tmpfs?: string; before?: string } = {}): Promise<RunResult> {
  const mount = `mount -t tmpfs ${options.tmpfs ? `-o ${options.tmpfs} ` : ''}tmpfs /dev/shm`;
  const before = options.before ? `${options.before} && ` : '';
  return run(
    'unshare',
    ['--ipc', '--mount', 'sh', '-c', `${mount} && ${before}exec "$@"`, 'sh', process.execPath, '--input-type=module', '-e', script],
    { timeoutMs: 60_000 },
  );
}

/** Includes and a `die` macro for the C peers: a failed call prints perror and exits 1. */
export const C_PRELUDE = `
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>
#define die(what) do { perror(what); exit(1); } while (0)
`;

/**
 * A process that must be gone, in C (about 1 ms of CPU where a Node child
 * takes 30): `shm-peer KEY SIZE` makes a segment as `shmkit create` does
 * (shmget with IPC_CREAT | IPC_EXCL, mode 0600; KEY 0 is IPC_PRIVATE) and
 * prints its id, and with TEXT writes that at offset 0 (attached, then
 * detached, as SharedMemory's write() and detach() do); `shm-peer attach ID`
 * attaches it and detaches, as SharedMemory.open().detach() does. Compile it
 * with helpers/c.ts.
 */
export const C_SHM_PEER = `${C_PRELUDE}
int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "attach") == 0) {
    void *at = shmat(atoi(argv[2]), NULL, 0);
    if (at == (void *)-1) die("shmat");
    if (shmdt(at) == -1) die("shmdt");
    return 0;
  }
  if (argc != 3 && argc != 4) { fprintf(stderr, "usage: shm-peer KEY SIZE [TEXT] | shm-peer attach ID\\n"); return 2; }
  int id = shmget((key_t)strtoul(argv[1], NULL, 0), strtoul(argv[2], NULL, 0), IPC_CREAT | IPC_EXCL | 0600);
  if (id == -1) die("shmget");
  if (argc == 4) {
    char *at = shmat(id, NULL, 0);
    if (at == (void *)-1) die("shmat");
    memcpy(at, argv[3], strlen(argv[3]));
    if (shmdt(at) == -1) die("shmdt");
  }
  printf("%d\\n", id);
  return 0;
}
`;

/** A C function printing one segment's IPC_STAT as the JSON fields shmkit uses. */
export const C_PRINT_STAT = `
static void print_stat(int id) {
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) == -1) die("shmctl IPC_STAT");
  printf("{\\"key\\":%d,\\"uid\\":%u,\\"gid\\":%u,\\"cuid\\":%u,\\"cgid\\":%u,\\"mode\\":%u,"
         "\\"shm_segsz\\":%zu,\\"shm_cpid\\":%d,\\"shm_lpid\\":%d,\\"shm_nattch\\":%lu,"
         "\\"shm_atime\\":%ld,\\"shm_dtime\\":%ld,\\"shm_ctime\\":%ld}\\n",
         ds.shm_perm.__key, ds.shm_perm.uid, ds.shm_perm.gid, ds.shm_perm.cuid, ds.shm_perm.cgid,
         (unsigned)ds.shm_perm.mode, (size_t)ds.shm_segsz, ds.shm_cpid, ds.shm_lpid,
         (unsigned long)ds.shm_nattch, (long)ds.shm_atime, (long)ds.shm_dtime, (long)ds.shm_ctime);
  fflush(stdout);
}
`;
