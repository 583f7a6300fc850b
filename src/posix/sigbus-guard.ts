// Keeps the SIGBUS guard (native/sigbus.cc) in front of Node's own handling
// of the signal. process.on('SIGBUS') makes libuv install its handler over
// the guard, and removing the last listener resets SIGBUS to SIG_DFL: either
// way a page of a file shrunk under its mapping would fault forever (libuv's
// handler returns) or kill the process. Node starts and stops listening for a
// signal in its own 'newListener' and 'removeListener' listeners, added at
// startup and so called before these: after each change for SIGBUS the guard
// goes back in front, and hands on what is not its own to what libuv left.
import process from 'node:process';
import { native } from '../core/native.js';

let kept = false;

function reinstall(event: string | symbol): void {
  if (event === 'SIGBUS') native.sigbusGuardReinstall();
}

/**
 * @internal Called each time a file is mapped (the guard is installed by
 * then). A thread that never loaded shmkit is not heard: its listeners for
 * SIGBUS displace the guard until the next mapping puts it back.
 */
export function keepSigbusGuard(): void {
  if (kept) {
    native.sigbusGuardReinstall();
    return;
  }
  kept = true;
  process.on('newListener', reinstall);
  process.on('removeListener', reinstall);
}
