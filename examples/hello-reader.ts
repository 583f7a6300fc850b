// Process B finds the same segment through the same ftok
// key, reads the string, and removes the segment.
// It needs the segment hello-writer.js leaves (both take the key file as
// an optional PATH, /tmp/shm by default):
// Run: node dist/examples/hello-writer.js && node dist/examples/hello-reader.js
import { IPC_RMID, SHM_RDONLY, ftok, shmat, shmctl, shmdt, shmget } from 'shmkit';

const path = process.argv[2] ?? '/tmp/shm';
const shmid = shmget(ftok(path, 0x66), 0, 0);
const attachment = shmat(shmid, null, SHM_RDONLY);
const bytes = attachment.read(0, 128);
process.stdout.write(new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0))));
shmdt(attachment);
shmctl(shmid, IPC_RMID);
