// A handler's error, carried back to the client that made the request: its
// name, message and code cross as UTF-8 JSON (whatever the service's codec),
// nothing else (no stack, no cause, no other properties).
import { channelError, serviceRemoteError } from '../../core/errors.js';

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

/** Longest `name` and string `code` that cross, in UTF-16 units: longer ones are cut (and say so). */
const LABEL_MAX = 64;

function cut(text: string, keep: number): string {
  return text.length <= keep ? text : `${text.slice(0, keep)}…`;
}

/**
 * The bytes of `error` as an error reply carries them, at most `maxBytes`
 * long: a message too long for the reply channel is cut (and says so), then
 * the name and code; an oversized name or code is cut, never the whole error.
 */
export function encodeError(error: unknown, maxBytes: number): Uint8Array {
  let what: Carried;
  try {
    what = carried(error);
  } catch {
    // A hostile error object (throwing getters): say what is known.
    what = { name: 'Error', message: 'the handler threw a value that could not be read' };
  }
  let labels = LABEL_MAX;
  let keep = what.message.length;
  const encode = (): Uint8Array => {
    const out: Carried = { name: cut(what.name, labels), message: what.message };
    if (keep < what.message.length) out.message = `${what.message.slice(0, keep)}… (cut to fit the reply channel)`;
    if (what.code !== undefined) out.code = typeof what.code === 'string' ? cut(what.code, labels) : what.code;
    return encoder.encode(JSON.stringify(out));
  };
  let bytes = encode();
  while (bytes.length > maxBytes && (keep > 0 || labels > 1)) {
    if (keep > 0) keep = Math.floor(keep / 2);
    else labels = Math.floor(labels / 2);
    bytes = encode();
  }
  if (bytes.length > maxBytes) bytes = encoder.encode(JSON.stringify({ name: 'Error', message: '' }).slice(0, maxBytes));
  return bytes;
}

/**
 * The error a client's request rejects with: a ServiceRemoteError carrying
 * the handler's error's `name`, `message` and `code`; its stack is the
 * client's. An error reply that is not JSON is ERR_CHANNEL_DECODE.
 */
export function decodeError(bytes: Uint8Array, where: string): Error {
  let what: Partial<Carried> = {};
  try {
    what = JSON.parse(decoder.decode(bytes)) as Partial<Carried>;
  } catch (cause) {
    return channelError('ERR_CHANNEL_DECODE', `${where}: the server sent a ${bytes.length}-byte error reply that is not JSON`, { cause });
  }
  if (what === null || typeof what !== 'object') what = {};
  const code = typeof what.code === 'string' || typeof what.code === 'number' ? what.code : undefined;
  return serviceRemoteError(
    where,
    typeof what.name === 'string' && what.name !== '' ? what.name : 'Error',
    typeof what.message === 'string' ? what.message : '',
    code,
  );
}
