// The options of bridge(), checked before anything connects or attaches.
import { invalidType, invalidValue, outOfRange } from '../core/errors.js';
import { optionNames, validateAbortSignal, validateInteger, validateObject, validateOptions as knownOptions } from '../core/validate.js';
import { Channel } from '../channel/channel.js';
import { PubSub } from '../channel/pubsub/pubsub.js';
import type { ChannelRef, LocalRef, PubSubRef } from './local.js';

export type { ChannelRef, PubSubRef } from './local.js';

export type BridgeDirection = 'out' | 'in' | 'both';

export interface BridgeJetStreamOptions {
  /** The stream that holds the subject; created (file storage, 2 min duplicate window) if it does not exist. Default: `SHMKIT_` and the subject with every other character than letters, digits, `-` and `_` made `_`. */
  stream?: string | undefined;
  /** The durable consumer the 'in' direction pulls from: one name per receiving bridge, kept across its restarts. Required for 'in' and 'both'. */
  durable?: string | undefined;
  /** How long a delivered message may stay unacknowledged before the stream sends it again (default 5000 ms). */
  ackWaitMs?: number | undefined;
}

export interface BridgeOptions {
  /**
   * The local channel. For 'out' the bridge becomes its receiver; for 'in',
   * one of its senders. For 'both', `{ out, in }`: two channels, since one
   * channel has one receiver, and a message the bridge put in would come
   * straight back out.
   */
  channel?: ChannelRef | { out: ChannelRef; in: ChannelRef } | undefined;
  /**
   * A local PubSub instead of a channel (give one of the two). For 'out' the
   * bridge is one of its subscribers (it gets what is published from its
   * start on); for 'in', one of its publishers. For 'both', `{ out, in }`:
   * two PubSubs, since the bridge's subscriber would get back what its
   * publisher put in and send it out again.
   */
  pubsub?: PubSubRef | { out: PubSubRef; in: PubSubRef } | undefined;
  /** The NATS server(s): `nats://host:port`, or several for a cluster. User and password in the URL go to the client, never to a log. */
  url: string | string[];
  /** The NATS subject messages go to (out) and come from (in). */
  subject: string;
  /** Default: 'both' with `{ out, in }` (channel or pubsub), else required. */
  direction?: BridgeDirection | undefined;
  /** At-least-once delivery through a JetStream stream instead of core NATS's at-most-once. */
  jetstream?: BridgeJetStreamOptions | boolean | undefined;
  /** A NATS credentials file (JWT and nkey seed, as `nsc` writes it): read at connect, its contents never logged. */
  creds?: string | undefined;
  /** Passed to the client's connect() as they are (user, pass, token, authenticator, tls, name, reconnectTimeWait, ...); the bridge's own defaults, such as `noAsyncTraces: true`, give way to them. */
  nats?: Record<string, unknown> | undefined;
  /** 'out', core NATS: bytes published between waits for the server (flush); bounds the client's buffer and the loss on a broken connection. Default 1 MiB. */
  maxPendingBytes?: number | undefined;
  /** 'in', core NATS: messages and bytes held while the ring is full, beyond which arrivals are dropped and counted. Default 8192 and 8 MiB. */
  maxBufferedMessages?: number | undefined;
  maxBufferedBytes?: number | undefined;
  /** Closes the bridge when aborted. */
  signal?: AbortSignal | undefined;
}

export interface ValidOptions {
  out: LocalRef | undefined;
  in: LocalRef | undefined;
  /** Each server's URL without its credentials, and the credentials (see splitCredentials). */
  servers: ReturnType<typeof splitCredentials>[];
  subject: string;
  direction: BridgeDirection;
  jetstream: { stream: string; durable: string | undefined; ackWaitMs: number } | undefined;
  nats: Record<string, unknown>;
  creds: string | undefined;
  maxPendingBytes: number;
  maxBufferedMessages: number;
  maxBufferedBytes: number;
  signal: AbortSignal | undefined;
}

const DIRECTIONS: readonly BridgeDirection[] = ['out', 'in', 'both'];
const SUBJECT = /^[^\s*>.]+(\.[^\s*>.]+)*$/;
const NAME = /^[A-Za-z0-9_-]+$/;

/** The kind of local object an option names, and how to tell an instance of it. */
const KINDS = {
  channel: { is: (value: unknown) => value instanceof Channel, what: 'a Channel' },
  pubsub: { is: (value: unknown) => value instanceof PubSub, what: 'a PubSub' },
} as const;

function localRef(kind: 'channel' | 'pubsub', value: unknown, name: string): LocalRef {
  if (KINDS[kind].is(value)) return { kind, ref: value } as LocalRef;
  // The other kind has an id too: opened as this kind, it would fail later and less clearly.
  if (KINDS[kind === 'channel' ? 'pubsub' : 'channel'].is(value))
    throw invalidType(name, `${KINDS[kind].what} or an object with key or id`, value);
  const ref = validateObject(value, name);
  if ('key' in ref && ref['key'] !== undefined)
    return { kind, ref: { key: validateInteger(ref['key'], `${name}.key`, -0x8000_0000, 0xffff_ffff) } };
  if ('id' in ref && ref['id'] !== undefined) return { kind, ref: { id: validateInteger(ref['id'], `${name}.id`, 0, 0x7fff_ffff) } };
  throw invalidType(name, `${KINDS[kind].what} or an object with key or id`, value);
}

function positive(value: unknown, name: string, fallback: number): number {
  return value === undefined ? fallback : validateInteger(value, name, 1, Number.MAX_SAFE_INTEGER);
}

const BRIDGE_OPTIONS = optionNames<BridgeOptions>()(
  'channel',
  'pubsub',
  'url',
  'subject',
  'direction',
  'jetstream',
  'creds',
  'nats',
  'maxPendingBytes',
  'maxBufferedMessages',
  'maxBufferedBytes',
  'signal',
);
const JETSTREAM_OPTIONS = optionNames<BridgeJetStreamOptions>()('stream', 'durable', 'ackWaitMs');

export function validateOptions(options: unknown): ValidOptions {
  const o = knownOptions(options, BRIDGE_OPTIONS, 'bridge()');
  const subject = o['subject'];
  if (typeof subject !== 'string') throw invalidType('subject', 'of type string', subject);
  if (!SUBJECT.test(subject))
    throw invalidValue('subject', 'a NATS subject to publish to has dot-separated tokens without spaces or wildcards', subject);

  const url = o['url'];
  const servers = typeof url === 'string' ? [url] : url;
  if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== 'string' || s === '')) {
    throw invalidType('url', 'a non-empty string or array of strings', url);
  }
  // Split now: credentials that do not decode are refused before anything is opened.
  const split = (servers as string[]).map(splitCredentials);

  if (o['channel'] !== undefined && o['pubsub'] !== undefined) {
    throw invalidValue('pubsub', 'a bridge serves a channel or a PubSub: give channel or pubsub, not both', o['pubsub']);
  }
  const kind = o['pubsub'] !== undefined ? 'pubsub' : 'channel';
  const local = o[kind];
  const pair = typeof local === 'object' && local !== null && !KINDS[kind].is(local) && ('out' in local || 'in' in local);
  let direction = o['direction'];
  if (direction === undefined && pair) direction = 'both';
  if (typeof direction !== 'string' || !DIRECTIONS.includes(direction as BridgeDirection)) {
    throw invalidType('direction', "one of 'out', 'in' or 'both'", direction);
  }
  const many = kind === 'channel' ? 'channels' : 'PubSubs';
  const one = kind === 'channel' ? 'channel' : 'PubSub';
  const why =
    kind === 'channel'
      ? 'a channel has one receiver, and what the bridge sent into it would come back out'
      : "the bridge's subscriber would get what its publisher put in and send it back to NATS";
  let out: LocalRef | undefined;
  let into: LocalRef | undefined;
  if (direction === 'both') {
    if (!pair) throw invalidValue(kind, `direction 'both' needs two ${many}, { out, in }: ${why}`, local);
    const both = local as { out?: unknown; in?: unknown };
    out = localRef(kind, both.out, `${kind}.out`);
    into = localRef(kind, both.in, `${kind}.in`);
  } else {
    if (pair) throw invalidValue(kind, `direction '${direction}' takes one ${one}; { out, in } is for 'both'`, local);
    if (direction === 'out') out = localRef(kind, local, kind);
    else into = localRef(kind, local, kind);
  }

  let jetstream: ValidOptions['jetstream'];
  const js = o['jetstream'];
  if (js !== undefined && js !== false) {
    const j = js === true ? {} : knownOptions(js, JETSTREAM_OPTIONS, 'bridge()', 'jetstream');
    const stream = j['stream'] ?? `SHMKIT_${subject.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    if (typeof stream !== 'string' || !NAME.test(stream))
      throw invalidValue('jetstream.stream', 'a stream name is letters, digits, - and _', stream);
    const durable = j['durable'];
    if (durable !== undefined && (typeof durable !== 'string' || !NAME.test(durable))) {
      throw invalidValue('jetstream.durable', 'a consumer name is letters, digits, - and _', durable);
    }
    if (into !== undefined && durable === undefined) {
      throw invalidValue(
        'jetstream.durable',
        "direction 'in' with JetStream needs a durable consumer name, one per receiving bridge",
        durable,
      );
    }
    const ackWaitMs = j['ackWaitMs'] === undefined ? 5_000 : validateInteger(j['ackWaitMs'], 'jetstream.ackWaitMs', 100, 3_600_000);
    jetstream = { stream, durable: durable as string | undefined, ackWaitMs };
  }

  const nats = o['nats'] === undefined ? {} : validateObject(o['nats'], 'nats');
  const creds = o['creds'];
  if (creds !== undefined && (typeof creds !== 'string' || creds === ''))
    throw invalidType('creds', 'a non-empty string (a file name)', creds);
  const signal = validateAbortSignal(o['signal'], 'signal');
  const maxBufferedMessages = positive(o['maxBufferedMessages'], 'maxBufferedMessages', 8192);
  const maxBufferedBytes = positive(o['maxBufferedBytes'], 'maxBufferedBytes', 8 << 20);
  const maxPendingBytes = positive(o['maxPendingBytes'], 'maxPendingBytes', 1 << 20);
  if (maxPendingBytes > 1 << 30) throw outOfRange('maxPendingBytes', 'at most 1 GiB', maxPendingBytes);
  return {
    out,
    in: into,
    servers: split,
    subject,
    direction: direction as BridgeDirection,
    jetstream,
    nats,
    creds: creds as string | undefined,
    maxPendingBytes,
    maxBufferedMessages,
    maxBufferedBytes,
    signal,
  };
}

/**
 * A server URL without its credentials, for messages, and the credentials
 * for the client: `nats://user:pass@host` gives user and pass, `nats://token@host` a token.
 */
export function splitCredentials(server: string): { server: string; user?: string; pass?: string; token?: string } {
  const at = server.lastIndexOf('@');
  if (at < 0) return { server };
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(server)?.[0] ?? '';
  const userinfo = server.slice(scheme.length, at);
  const bare = scheme + server.slice(at + 1);
  const colon = userinfo.indexOf(':');
  // The URL's own escapes: a bare % is malformed (URIError); refused naming the URL, never its credentials.
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw invalidValue('url', 'its user name, password or token must be percent-encoded (a % is written %25)', bare);
    }
  };
  if (colon < 0) return { server: bare, token: decode(userinfo) };
  return { server: bare, user: decode(userinfo.slice(0, colon)), pass: decode(userinfo.slice(colon + 1)) };
}
