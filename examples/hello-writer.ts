// Process A derives a key from a file with ftok, creates a
// 128-byte segment exclusively and writes "Hello World" into it, then exits.
// PATH (default /tmp/shm, created if missing) names the key file. The segment
// stays for hello-reader.js, which removes it:
// Run: node dist/examples/hello-writer.js && node dist/examples/hello-reader.js
import { existsSync, writeFileSync } from 'node:fs';
import { IPC_CREAT, IPC_EXCL, ftok, shmat, shmdt, shmget } from 'shmkit';

const path = process.argv[2] ?? '/tmp/shm';
// ftok needs an existing file; one that exists is not opened (it may be another user's).
if (!existsSync(path)) writeFileSync(path, '');
const key = ftok(path, 0x66);
const shmid = shmget(key, 128, IPC_CREAT | IPC_EXCL | 0o600);
const attachment = shmat(shmid);
new Uint8Array(attachment.buffer).set(new TextEncoder().encode('Hello World\n\0'));
shmdt(attachment);
console.log(`wrote "Hello World" to segment ${shmid} (key 0x${(key >>> 0).toString(16)})`);
