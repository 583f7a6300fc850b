// A handler's error, carried back to the client that made the request: its
// name, message and code cross as UTF-8 JSON (whatever the service's codec),
// nothing else (no stack, no cause, no other properties).
import { channelError } from '../../core/errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What of an error crosses. */
interface Carried {
  name: string;
  message: string;
  code?: string | number | undefined;
}

function carried(error: unknown): Carried {
  if (error !== null && typeof error === 'object') {
    const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown };
    const out: Carried = {
      name: typeof name === 'string' ? name : 'Error',
      message: typeof message === 'string' ? message : String(message ?? ''),
    };
    if (typeof code === 'string' || (typeof code === 'number' && Number.isFinite(code))) out.code = code;
    return out;
  }
  return { name: 'Error', message: String(error) };
}

/**
 * The bytes of `error` as an error reply carries them, at most `maxBytes`
 * long: a message too long for the reply channel is cut (and says so).
 */
export function encodeError(error: unknown, maxBytes: number): Uint8Array {
  let what: Carried;
  try {
    what = carried(error);
  } catch {
    // A hostile error object (throwing getters): say what is known.
    what = { name: 'Error', message: 'the handler threw a value that could not be read' };
  }
  let bytes = encoder.encode(JSON.stringify(what));
  for (let keep = what.message.length; bytes.length > maxBytes && keep > 0; ) {
    keep = Math.floor(keep / 2);
    bytes = encoder.encode(JSON.stringify({ ...what, message: `${what.message.slice(0, keep)}… (cut to fit the reply channel)` }));
  }
  if (bytes.length > maxBytes) bytes = encoder.encode(JSON.stringify({ name: 'Error', message: '' }).slice(0, maxBytes));
  return bytes;
}

/**
 * The Error a client's request rejects with: an `Error` whose `name`,
 * `message` and `code` are the handler's; its stack is the client's.
 */
export function decodeError(bytes: Uint8Array, where: string): Error {
  let what: Partial<Carried> = {};
  try {
    what = JSON.parse(decoder.decode(bytes)) as Partial<Carried>;
  } catch (cause) {
    return channelError('ERR_CHANNEL_DECODE', `${where}: the server sent a ${bytes.length}-byte error reply that is not JSON`, { cause });
  }
  const error = new Error(typeof what.message === 'string' ? what.message : '');
  if (typeof what.name === 'string' && what.name !== 'Error') {
    Object.defineProperty(error, 'name', { value: what.name, writable: true, configurable: true, enumerable: false });
  }
  if (typeof what.code === 'string' || typeof what.code === 'number') Object.assign(error, { code: what.code });
  return error;
}
