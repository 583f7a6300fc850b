// Allocate -> attach -> stat the size -> write -> detach ->
// reattach -> read -> deallocate, with a private segment of 0x6400 bytes.
// Run: node dist/examples/lifecycle.js
import { IPC_CREAT, IPC_PRIVATE, IPC_RMID, IPC_STAT, shmat, shmctl, shmdt, shmget } from 'shmkit';

const SEGMENT_SIZE = 0x6400;

// IPC_PRIVATE always makes a new segment; its id is the only way to reach it.
const segmentId = shmget(IPC_PRIVATE, SEGMENT_SIZE, IPC_CREAT | 0o600);
try {
  let attachment = shmat(segmentId);
  console.log(`shared memory attached at address 0x${attachment.address.toString(16)}`);

  const { shm_segsz } = shmctl(segmentId, IPC_STAT);
  console.log(`segment size: ${shm_segsz}`);

  const message = new TextEncoder().encode('Hello, world.\0');
  new Uint8Array(attachment.buffer).set(message);
  shmdt(attachment);

  // Reattached, most likely at another address; the data is still there.
  attachment = shmat(segmentId);
  console.log(`shared memory reattached at address 0x${attachment.address.toString(16)}`);
  const bytes = new Uint8Array(attachment.buffer);
  console.log(new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0))));
  shmdt(attachment);
} finally {
  shmctl(segmentId, IPC_RMID); // deallocate
}
