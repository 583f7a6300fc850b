// Delete the segment with shmctl(IPC_RMID).
// It removes what create.js made, so create it first:
// Run: node dist/examples/create.js && ipcs -m && node dist/examples/write-struct.js alice && node dist/examples/read-struct.js && node dist/examples/delete.js
import { IPC_RMID, shmctl, shmget } from 'shmkit';
import { exampleKey } from './st-pid.js';

const key = exampleKey();
const shmid = shmget(key, 0, 0);
shmctl(shmid, IPC_RMID);
console.log(`removed segment ${shmid} (key 0x${key.toString(16)})`);
