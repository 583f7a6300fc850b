// Attach the segment, print the struct, store our pid and a
// name in it, print it again, detach. The segment is create.js's:
// Run: node dist/examples/create.js && ipcs -m && node dist/examples/write-struct.js alice && node dist/examples/read-struct.js && node dist/examples/delete.js
import { IPC_CREAT, shmat, shmdt, shmget } from 'shmkit';
import { ST_PID_SIZE, exampleKey, readStPid, writeStPid } from './st-pid.js';

const name = process.argv[2] ?? 'shmkit';
const shmid = shmget(exampleKey(), ST_PID_SIZE, 0o600 | IPC_CREAT);
const attachment = shmat(shmid);
const bytes = new Uint8Array(attachment.buffer); // the segment itself, no copy

const before = readStPid(bytes);
console.log(`before: pid=${before.pid}, name=${before.name}`);
writeStPid(bytes, { pid: process.pid, name });
const after = readStPid(bytes);
console.log(`after:  pid=${after.pid}, name=${after.name}`);

shmdt(attachment); // `bytes` is now empty: using it cannot touch unmapped memory
