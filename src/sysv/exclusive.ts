// The one promise the create-in-one-call shims (shmCreate, semCreate) rest on:
// the object they make is new, so undoing a failed step removes nobody else's.
import { outOfRange } from '../core/errors.js';
import { IPC_CREAT, IPC_EXCL, IPC_PRIVATE } from './constants.js';

/** @internal Refuses `flags` without IPC_CREAT|IPC_EXCL for a key other than IPC_PRIVATE (a RangeError naming `call`). */
export function assertMakesNew(key: number, flags: number, call: string, what: string): void {
  if (key !== IPC_PRIVATE && (flags & (IPC_CREAT | IPC_EXCL)) !== (IPC_CREAT | IPC_EXCL)) {
    throw outOfRange('flags', `with IPC_CREAT|IPC_EXCL (${call} makes a new ${what})`, flags);
  }
}
