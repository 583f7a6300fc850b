// Codecs: how the channel patterns turn values into message bytes and back.
// One contract serves Channel, PubSub, Service and the bridge, so a codec
// written once (msgpack, a struct layout) plugs into every one of them.
import { nodeV8 } from '../core/builtins.js';
import { channelError, invalidType, invalidValue } from '../core/errors.js';

/**
 * Turns values into message bytes and back.
 *
 * `encode(value, into?)` returns the encoded bytes. When `into` is given (a
 * reservation in the ring), a codec may write there and return
 * `into.subarray(0, n)`, which saves a copy; it may always return bytes of
 * its own instead. `decode(bytes)` must not keep `bytes` beyond the call:
 * they may be ring memory that is reused as soon as it returns.
 */
export interface Codec<T> {
  /**
   * Recorded in the segment's header: an opener whose codec has another name
   * is refused. Built-in names are `bytes`, `text`, `json` and `v8`, which a
   * user codec may not take (create() and open() refuse it with ERR_INVALID_ARG_VALUE);
   * a codec without a name is recorded as `custom`.
   */
  readonly name?: string | undefined;
  encode(value: T, into?: Uint8Array): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** What the `codec` option accepts: a built-in codec's name or a codec. */
export type CodecOption = 'bytes' | 'text' | 'json' | 'v8' | Codec<unknown>;

/** The value type a codec option carries (`Uint8Array` for `'bytes'`). */
export type ValueOf<C> = C extends 'text' ? string : C extends 'json' | 'v8' ? unknown : C extends Codec<infer T> ? T : Uint8Array;

/** The value type a channel or PubSub opened with codec option `C` carries: unknown at compile time without one. */
// biome-ignore lint/suspicious/noExplicitAny: the codec is read from the segment at run time.
export type OpenedValue<C> = [C] extends [undefined] ? any : ValueOf<C>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes `text` into `into` when it fits whole, else into fresh bytes. */
function encodeText(text: string, into?: Uint8Array): Uint8Array {
  if (into !== undefined && into.length >= text.length) {
    const { read, written } = encoder.encodeInto(text, into);
    if (read === text.length) return into.subarray(0, written);
  }
  return encoder.encode(text);
}

const bytes: Codec<Uint8Array> = {
  name: 'bytes',
  encode(value) {
    if (!(value instanceof Uint8Array)) throw invalidType('value', 'an instance of Uint8Array with the bytes codec', value);
    return value;
  },
  // A copy: the bytes handed in may be ring memory.
  decode: (data) => data.slice(),
};

const text: Codec<string> = {
  name: 'text',
  encode(value, into) {
    return encodeText(textForm(text, value)!, into);
  },
  decode: (data) => decoder.decode(data),
};

const json: Codec<unknown> = {
  name: 'json',
  encode(value, into) {
    return encodeText(textForm(json, value)!, into);
  },
  decode: (data) => JSON.parse(decoder.decode(data)),
};

const v8: Codec<unknown> = {
  name: 'v8',
  encode(value) {
    try {
      return nodeV8().serialize(value);
    } catch (cause) {
      // A function, a symbol, a WeakMap, a Proxy...: coded as the json codec's, V8's DataCloneError as the cause.
      const why = cause instanceof Error ? cause.message.split('\n', 1)[0] : String(cause);
      throw Object.assign(invalidValue('value', `the v8 codec cannot serialize it (${why})`, value), { cause });
    }
  },
  // A copy: Node's deserializer makes typed arrays and Buffers that are views
  // of the bytes it reads, which may be ring memory reused after the call.
  decode: (data) => nodeV8().deserialize(data.slice()),
};

// biome-ignore lint/suspicious/noExplicitAny: codecs of different value types in one table
const BUILT_IN: Readonly<Record<string, Codec<any>>> = { bytes, text, json, v8 };

/** The codec an option names, checked: a built-in by name, or a user codec as given. */
// biome-ignore lint/suspicious/noExplicitAny: the caller types the result by the option (ValueOf)
export function resolveCodec(option: CodecOption | undefined, name = 'options.codec'): Codec<any> {
  if (option === undefined) return bytes;
  if (typeof option === 'string') {
    const codec = BUILT_IN[option];
    if (codec === undefined || !Object.hasOwn(BUILT_IN, option)) {
      throw invalidValue(name, "it must be 'bytes', 'text', 'json', 'v8' or a codec { name, encode, decode }", option);
    }
    return codec;
  }
  if (
    typeof option !== 'object' ||
    option === null ||
    typeof option.encode !== 'function' ||
    typeof option.decode !== 'function' ||
    (option.name !== undefined && (typeof option.name !== 'string' || option.name.length === 0))
  ) {
    throw invalidType(name, "'bytes', 'text', 'json', 'v8' or an object { name?: string, encode(value, into?), decode(bytes) }", option);
  }
  // A segment records its codec by name: a user codec under a built-in's
  // name would be taken for the built-in (by an opener without a codec) and
  // the built-in for it. The built-in object itself passes.
  const recorded = option.name;
  if (recorded !== undefined && Object.hasOwn(BUILT_IN, recorded) && BUILT_IN[recorded] !== option) {
    throw invalidValue(
      `${name}.name`,
      `it is the name of the built-in '${recorded}' codec, and a segment records its codec by name: give your codec another name, or pass '${recorded}' for the built-in one`,
      recorded,
    );
  }
  return option;
}

/** The name a codec is recorded under in a segment's header. */
export function codecName(codec: Codec<unknown>): string {
  return codec.name ?? 'custom';
}

/**
 * @internal `codec.decode(bytes)`; what the codec throws (a message another
 * program wrote, or corrupted) becomes ERR_CHANNEL_DECODE naming the call,
 * the codec and the size, with the codec's error as its cause.
 */
export function decodeMessage<T>(codec: Codec<T>, bytes: Uint8Array, what: string): T {
  try {
    return codec.decode(bytes);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw channelError(
      'ERR_CHANNEL_DECODE',
      `${what}: the '${codecName(codec)}' codec could not decode a ${bytes.length}-byte message (it was consumed): ${why}`,
      { cause },
    );
  }
}

/** The built-in codec recorded under `name`, or undefined (a user codec's name, or 'custom'). */
export function builtInCodec(name: string): Codec<unknown> | undefined {
  return Object.hasOwn(BUILT_IN, name) ? BUILT_IN[name] : undefined;
}

/**
 * @internal Whether what `codec.encode` returns may be reused by the codec
 * for the next value (a user codec's scratch buffer): a send that waits must
 * keep a copy. The built-in ones return bytes of their own ('bytes' returns
 * the caller's, which a send that waits documents as not to be changed).
 */
export function mayReuseOutput(codec: Codec<unknown>): boolean {
  return builtInCodec(codecName(codec)) !== codec;
}

/** Whether `codec` is the built-in bytes codec, whose channels keep the plain byte path. */
export function isBytesCodec(codec: Codec<unknown>): boolean {
  return codec === bytes;
}

/**
 * @internal The string the built-in `text` or `json` codec would encode as
 * UTF-8, checked like their encode() does; undefined for any other codec. It
 * lets a channel encode it straight into ring memory sized to its UTF-8
 * upper bound (3 bytes per UTF-16 unit).
 */
export function textForm(codec: Codec<unknown>, value: unknown): string | undefined {
  if (codec === text) {
    if (typeof value !== 'string') throw invalidType('value', 'of type string with the text codec', value);
    return value;
  }
  if (codec === json) {
    let textOf: string | undefined;
    try {
      textOf = JSON.stringify(value);
    } catch (cause) {
      // A BigInt, a cycle, or a toJSON() that throws: coded like undefined, JSON.stringify's error as the cause.
      const why = cause instanceof Error ? cause.message.split('\n', 1)[0] : String(cause);
      throw Object.assign(invalidValue('value', `it has no JSON form (${why})`, value), { cause });
    }
    if (textOf === undefined) throw invalidValue('value', 'it has no JSON form (undefined, a function or a symbol)', value);
    return textOf;
  }
  return undefined;
}
