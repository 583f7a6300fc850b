// The messages the crash tests' writers send: tag u32, seq u32 (little
// endian), any bytes, then the FNV-1a hash of everything before it, so that
// half a message (a writer killed mid-copy) never passes for a whole one.
import assert from 'node:assert/strict';

/** Checks a tagged message's length and hash; returns its writer's tag and its sequence number. */
export function verifyTagged(message: Uint8Array, writer: string): { tag: number; seq: number } {
  assert.ok(message.byteLength >= 12, `message of ${message.byteLength} bytes is too short`);
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  let hash = 0x811c9dc5;
  for (let i = 0; i < message.byteLength - 4; i++) hash = Math.imul(hash ^ message[i]!, 16777619) >>> 0;
  const tag = view.getUint32(0, true);
  const seq = view.getUint32(4, true);
  assert.equal(view.getUint32(message.byteLength - 4, true), hash, `${writer} ${tag} message ${seq}: checksum (half a message?)`);
  return { tag, seq };
}
