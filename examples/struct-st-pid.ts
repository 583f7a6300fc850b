// The classic st_pid example, with struct() instead of a C struct pointer:
//
//   struct st_pid { int pid; char name[51]; };
//
// Attaches the segment at key 0x5005 (creating it, mode 0640, if needed),
// prints the struct, stores this process's pid and the name given, prints it
// again, detaches, and removes the segment unless --keep is given (so that a
// later run, or the C version of this program, sees what this one wrote).
//
//   node dist/examples/struct-st-pid.js NAME [--keep] [--key=0x5005]
//
// Run: node dist/examples/struct-st-pid.js alice
import { char, int32, SharedMemory, struct } from 'shmkit';

const StPid = struct({ pid: int32, name: char(51) });

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const keyArg = args.find((arg) => arg.startsWith('--key='));
const name = args.find((arg) => !arg.startsWith('--'));
if (name === undefined) {
  console.error('usage: struct-st-pid NAME [--keep] [--key=0x5005]');
  process.exit(2);
}
const key = keyArg === undefined ? 0x5005 : Number(keyArg.slice('--key='.length));

const shm = SharedMemory.openOrCreate({ key, size: StPid.size, mode: 0o640 });
try {
  const stpid = StPid.view(shm);
  console.log(`pid=${stpid.pid}, name=${stpid.name}`);
  stpid.pid = process.pid;
  // Unlike strcpy, a name longer than 50 bytes is refused, not overflowed.
  stpid.name = name;
  console.log(`pid=${stpid.pid}, name=${stpid.name}`);
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  shm.detach();
  if (!keep) shm.remove();
}
