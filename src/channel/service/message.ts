// Building a request or reply: a small header, then the value as the codec
// encodes it, in one reusable buffer. The channel copies it into the ring at
// once (trySend), so the buffer is free again when the call returns; a
// message that has to wait for room is sent as a copy.
import { invalidType } from '../../core/errors.js';
import { detachedBytesError, isDetachedView } from '../../core/bytes.js';
import { codecName, type Codec } from '../codec.js';

/** Kept between messages up to this size; larger ones get a buffer of their own. */
const KEEP_MAX = 1 << 20;
let scratch: Uint8Array = new Uint8Array(4096);

function room(size: number): Uint8Array {
  if (scratch.length >= size) return scratch;
  const grown = new Uint8Array(Math.max(size, scratch.length * 2));
  if (grown.length <= KEEP_MAX) scratch = grown;
  return grown;
}

/**
 * A message of `headerSize` bytes (zeroed, for the caller to fill) followed by
 * `payload`, or by `value` as `codec` encodes it (written in place when the
 * codec can). Valid until the next call: send it, or copy it, before then.
 * Throws what the codec throws.
 */
export function buildMessage(headerSize: number, codec: Codec<unknown> | undefined, value: unknown, payload?: Uint8Array): Uint8Array {
  let buffer: Uint8Array = scratch;
  let length: number;
  if (codec === undefined) {
    const bytes = payload!;
    buffer = room(headerSize + bytes.length);
    buffer.set(bytes, headerSize);
    length = bytes.length;
  } else {
    const into = buffer.subarray(headerSize);
    const out = codec.encode(value, into);
    if (!(out instanceof Uint8Array)) {
      throw invalidType('encoded', `an instance of Uint8Array (what the '${codecName(codec)}' codec's encode() returned)`, out);
    }
    // The bytes codec hands the caller's Uint8Array through: then it is the value that is detached.
    if (isDetachedView(out)) throw detachedBytesError(out === value ? 'value' : 'encoded', out);
    length = out.length;
    if (out.buffer !== buffer.buffer || out.byteOffset !== buffer.byteOffset + headerSize) {
      buffer = room(headerSize + length);
      buffer.set(out, headerSize);
    }
  }
  buffer.fill(0, 0, headerSize);
  return buffer.subarray(0, headerSize + length);
}

/** The little-endian u32 at `offset` of `bytes`. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/** Writes `value` as a little-endian 32-bit word at `offset` of `bytes`. */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value;
  bytes[offset + 1] = value >>> 8;
  bytes[offset + 2] = value >>> 16;
  bytes[offset + 3] = value >>> 24;
}
