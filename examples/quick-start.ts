// The README's quick start, as a program.
// Run: node dist/examples/quick-start.js
import { SharedMemory } from 'shmkit';
import { exampleKey } from './st-pid.js';

const key = exampleKey();
using shm = SharedMemory.create({ key, size: 4096 }); // mode 0600, fails if the key is taken
shm.write(0, 'hello from Node'); // all or nothing, never past the end
const other = SharedMemory.open({ key, readOnly: true });
console.log(new TextDecoder().decode(other.read(0, 15))); // 'hello from Node'
shm.bytes[0] = 0x48; // zero-copy: another process sees it at once
console.log(shm.stat().shm_nattch); // 2
other.detach();
shm.remove(); // gone once the last process detaches
