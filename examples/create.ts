// Create a segment big enough for `struct st_pid` at a fixed key.
// The segment stays after this program exits: look at it with ipcs -m, remove it with delete.js.
// Run: node dist/examples/create.js && ipcs -m && node dist/examples/write-struct.js alice && node dist/examples/read-struct.js && node dist/examples/delete.js
import { IPC_CREAT, shmget } from 'shmkit';
import { ST_PID_SIZE, exampleKey } from './st-pid.js';

const key = exampleKey();
// 0o600: only this user may attach. C code often uses 0640 or 0666; ask for more only when needed.
const shmid = shmget(key, ST_PID_SIZE, 0o600 | IPC_CREAT);
console.log(`shmget(0x${key.toString(16)}, ${ST_PID_SIZE}, 0600|IPC_CREAT) = ${shmid}`);
