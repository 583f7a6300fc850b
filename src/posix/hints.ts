// What to do about the usual mistakes with a POSIX shared-memory name, for
// the message of an IpcError, as src/sysv/hints.ts does for System V: the
// facts that show the cause (the object's owner and mode in /dev/shm, who
// this process is) and the fix. Facts are read after the call failed and may
// be missing (the object went meanwhile); nothing here throws.
import { type Stats, statSync } from 'node:fs';

/** Where glibc's shm_open keeps its objects. */
const SHM_DIR = '/dev/shm';

/**
 * The hint for `code` from shm_open or shm_unlink of `name` (an IpcError's
 * `hint`), or undefined when there is none. `writing` says whether write
 * access was asked (O_RDWR), to suggest read-only access where that is allowed.
 */
export function nameHint(code: string, name: string, writing = false): string | undefined {
  try {
    return hintText(code, name, writing);
  } catch {
    return undefined;
  }
}

function hintText(code: string, name: string, writing: boolean): string | undefined {
  switch (code) {
    case 'EEXIST':
      return (
        `to share it, open it instead (PosixSharedMemory.open or PosixSharedMemory.openOrCreate({ name: '${name}', size })); ` +
        `if it is a leftover, remove it: PosixSharedMemory.unlink('${name}'), or rm ${SHM_DIR}${name}`
      );
    case 'ENOENT':
      return (
        `nothing has created ${name} in ${SHM_DIR} (or it was unlinked): start the program that creates it first ` +
        `(PosixSharedMemory.create, shm_open with O_CREAT), or use PosixSharedMemory.openOrCreate; ` +
        `${SHM_DIR} belongs to the mount namespace, so a container sees its own`
      );
    case 'EACCES':
    case 'EPERM':
      return accessHint(name, writing);
    case 'ENOSPC':
      return `every inode of ${SHM_DIR} is in use (df -i ${SHM_DIR}): remove leftovers (shmkit ls -p; PosixSharedMemory.unlink), or remount it with more (mount -o remount,nr_inodes=N ${SHM_DIR})`;
    default:
      return undefined;
  }
}

/**
 * The hint for shm_unlink's EACCES on `name`: the object's mode does not
 * matter, since removing a name is a change to /dev/shm, which is sticky:
 * only the object's owner, the directory's owner or root may remove it.
 */
export function unlinkHint(name: string): string | undefined {
  try {
    const dir = statSync(SHM_DIR);
    const euid = process.geteuid!();
    const dirMode = `0${(dir.mode & 0o7777).toString(8)}`;
    if ((dir.mode & 0o1000) === 0)
      return `${SHM_DIR} (mode ${dirMode}, owner uid ${dir.uid}) does not let ${whoIAm()} remove names from it`;
    let owner = 'its owner';
    try {
      const stats = statSync(`${SHM_DIR}${name}`);
      owner = `its owner (uid ${stats.uid}; its mode 0${(stats.mode & 0o777).toString(8).padStart(3, '0')} grants reading and writing, not removal)`;
    } catch {
      // gone meanwhile
    }
    return `${SHM_DIR} is sticky (mode ${dirMode}), so only ${owner}, the directory's owner (uid ${dir.uid}) or root may remove it, whatever the object's mode; this process is euid ${euid}: run as its owner, or have the owner remove it`;
  } catch {
    return undefined;
  }
}

function whoIAm(): string {
  return `euid ${process.geteuid!()} (egid ${process.getegid!()})`;
}

function accessHint(name: string, writing: boolean): string {
  const fix = 'run as its owner, or have the owner grant access (mode when creating it, or fs.fchmodSync)';
  let stats: Stats;
  try {
    stats = statSync(`${SHM_DIR}${name}`);
  } catch {
    return `this process is ${whoIAm()}; ${fix}`;
  }
  const euid = process.geteuid!();
  const groups = new Set([process.getegid!(), ...process.getgroups!()]);
  const [who, bits] =
    euid === stats.uid
      ? ['owner', (stats.mode >> 6) & 7]
      : groups.has(stats.gid)
        ? ['group', (stats.mode >> 3) & 7]
        : ['other', stats.mode & 7];
  const r = (bits & 4) !== 0;
  const w = (bits & 2) !== 0;
  const grants = r && w ? 'read and write' : r ? 'read only' : w ? 'write only' : 'nothing';
  const mode = `0${(stats.mode & 0o777).toString(8).padStart(3, '0')}`;
  let text = `it is owned by uid ${stats.uid} (gid ${stats.gid}) with mode ${mode}; this process is ${whoIAm()}, so the ${who} bits apply and grant ${grants}: ${fix}`;
  if (writing && r) text += '; or open it read-only (O_RDONLY; readOnly: true), which reading alone allows';
  return text;
}
