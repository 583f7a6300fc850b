// Another process reads what write-struct left in the segment.
// It reads the segment create.js makes and write-struct.js fills:
// Run: node dist/examples/create.js && ipcs -m && node dist/examples/write-struct.js alice && node dist/examples/read-struct.js && node dist/examples/delete.js
import { SHM_RDONLY, shmat, shmdt, shmget } from 'shmkit';
import { exampleKey, readStPid } from './st-pid.js';

const shmid = shmget(exampleKey(), 0, 0); // size 0: open an existing segment
const attachment = shmat(shmid, null, SHM_RDONLY); // read-only: nothing here can write
const value = readStPid(attachment.read());
console.log(`pid=${value.pid}, name=${value.name}`);
shmdt(attachment);
