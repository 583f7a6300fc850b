// Seed scenario 6b: process B finds the same segment through the same ftok
// key, reads the string, and removes the segment.
// Run: node dist/examples/hello-reader.js [PATH]
import { IPC_RMID, SHM_RDONLY, ftok, shmat, shmctl, shmdt, shmget } from 'shmkit';

const path = process.argv[2] ?? '/tmp/shm';
const shmid = shmget(ftok(path, 0x66), 0, 0);
const attachment = shmat(shmid, null, SHM_RDONLY);
const bytes = attachment.read(0, 128);
process.stdout.write(new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0))));
shmdt(attachment);
shmctl(shmid, IPC_RMID);
