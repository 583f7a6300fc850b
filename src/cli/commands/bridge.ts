import { bridge as startBridge, ChannelError, IPC_STAT, IpcError, shmctl, shmget, type Bridge, type BridgeOptions } from '../../index.js';
import { parse, parseId, parseKey, parseSeconds } from '../args.js';
import { CliError, UsageError, writeOut, type Command } from '../command.js';
import { quote } from '../format.js';
import { onSegment } from '../segments.js';

const OPTIONS = {
  channel: { type: 'string', short: 'c' },
  key: { type: 'string', short: 'k' },
  pubsub: { type: 'string' },
  'pubsub-key': { type: 'string' },
  inbox: { type: 'string' },
  'inbox-key': { type: 'string' },
  nats: { type: 'string', short: 'n' },
  subject: { type: 'string', short: 's' },
  in: { type: 'boolean' },
  out: { type: 'boolean' },
  jetstream: { type: 'boolean' },
  stream: { type: 'string' },
  durable: { type: 'string' },
  'ack-wait': { type: 'string' },
  creds: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** The option of each name bridge() checks. */
const FLAG_OF: Record<string, string> = {
  subject: '--subject',
  url: '--nats',
  creds: '--creds',
  'jetstream.stream': '--stream',
  'jetstream.durable': '--durable',
  'jetstream.ackWaitMs': '--ack-wait',
};

/** A channel or PubSub by id or by key. */
type LocalRef = { id: number } | { key: number };

/** One channel or PubSub from an id option and a key option, exactly one of which is given. */
function localOf(id: string | undefined, key: string | undefined, idName: string, keyName: string): LocalRef | undefined {
  if (id !== undefined && key !== undefined) throw new UsageError(keyName, 'ERR_USAGE', `give ${idName} or ${keyName}, not both`);
  if (id !== undefined) return { id: parseId(id, idName) };
  if (key !== undefined) return { key: parseKey(key, keyName) };
  return undefined;
}

/**
 * The servers of --nats, each checked for a scheme the bridge's client
 * speaks: nats:// and tls:// (or none: host:port). Node's NATS client drops
 * any other scheme and speaks NATS to the host anyway (http://x went to x:4222),
 * and refuses ws:// only when connecting.
 */
function natsServers(text: string): string[] {
  const servers = text.split(',').filter((s) => s !== '');
  if (servers.length === 0) throw new UsageError('--nats', 'ERR_INVALID_ARG_VALUE', 'names no server');
  for (const server of servers) {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(server)?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== 'nats' && scheme !== 'tls') {
      // Only the scheme is shown: the rest may hold a password.
      throw new UsageError(
        '--nats',
        'ERR_INVALID_ARG_VALUE',
        `${quote(`${scheme}://`)} is not a scheme of a NATS server: give nats://host:port or tls://host:port${scheme.startsWith('ws') ? ' (the bridge has no WebSocket client)' : ''}`,
      );
    }
  }
  return servers;
}

function describe(ref: LocalRef, kind: 'channel' | 'pubsub'): string {
  const what = kind === 'channel' ? 'channel' : 'PubSub';
  return 'id' in ref ? `${what} ${ref.id}` : `${what} key 0x${(ref.key >>> 0).toString(16).padStart(8, '0')}`;
}

function statsLine(b: Bridge): string {
  const s = b.stats;
  return `out ${s.out}, in ${s.in}, dropped ${s.dropped}, lost ${s.lost}, duplicates ${s.duplicates}, reconnects ${s.reconnects}`;
}

export const bridge: Command = {
  name: 'bridge',
  summary: 'forward a channel or PubSub to a NATS subject and back, until Ctrl-C',
  help: `Usage: shmkit bridge --channel ID|--key K --nats URL --subject S [--in|--out]
                     [--inbox ID|--inbox-key K] [--jetstream --durable NAME]
       shmkit bridge --pubsub ID|--pubsub-key K ... (the same, with a PubSub)

Forwards channel messages between this machine and a NATS server, bytes
unchanged, until SIGINT or SIGTERM (or the channel is closed); then prints
its counters. Needs the NATS client: npm install @nats-io/transport-node @nats-io/jetstream

  --out   the bridge becomes the channel's receiver and publishes each message
          to the subject
  --in    the bridge sends each message of the subject into the channel
  neither both ways: --channel/--key goes out, --inbox/--inbox-key takes
          what comes in (two channels: one has a single receiver)

With --pubsub/--pubsub-key the bridge is one subscriber of the PubSub (--out)
or one of its publishers (--in); both ways, --inbox/--inbox-key is a second
PubSub (one both ways would send its own messages back).

Core NATS is at most once: messages lost to a broken connection are counted
(lost) by the receiving bridge. --jetstream is at least once, through a
stream, with duplicates dropped by message id. docs/bridge.md has it all.

Options:
  -c, --channel ID        the channel by id
  -k, --key K             the channel by key (0x... or decimal)
      --pubsub ID         a PubSub by id, instead of a channel
      --pubsub-key K      a PubSub by key
      --inbox ID          both ways: the channel messages from NATS go into
      --inbox-key K       the same by key
  -n, --nats URL          the server, nats://host:port (or tls://); several
                          comma-separated. nats://user:password@host works;
                          never printed
  -s, --subject S         the subject
      --in, --out         one direction only
      --jetstream         at least once, through a JetStream stream
      --stream NAME       its stream (default SHMKIT_ and the subject)
      --durable NAME      the durable consumer for --in (one per receiving bridge)
      --ack-wait SECONDS  redelivery of an unacknowledged message (default 5; 0.1 to 3600)
      --creds FILE        a NATS credentials file (JWT and nkey seed)
      --tls-ca FILE       CA certificates to trust (TLS)
      --tls-cert FILE     client certificate (TLS)
      --tls-key FILE      its key
      --json              the final counters as JSON
`,
  async run(argv, io) {
    const { values: v } = parse(argv, OPTIONS);
    const byChannel = localOf(v.channel, v.key, '--channel', '--key');
    const byPubSub = localOf(v.pubsub, v['pubsub-key'], '--pubsub', '--pubsub-key');
    if (byChannel !== undefined && byPubSub !== undefined) {
      throw new UsageError(v.pubsub !== undefined ? '--pubsub' : '--pubsub-key', 'ERR_USAGE', 'give a channel or a PubSub, not both');
    }
    const kind = byPubSub !== undefined ? 'pubsub' : 'channel';
    const channel = byChannel ?? byPubSub;
    // What every bridge needs first, then how the options combine (bridge --channel 0 spoke of --inbox).
    if (channel === undefined) throw new UsageError('--channel', 'ERR_MISSING_ARGS', 'needed (or --key, --pubsub, --pubsub-key)');
    if (v.nats === undefined) throw new UsageError('--nats', 'ERR_MISSING_ARGS', 'needed: the server, like nats://127.0.0.1:4222');
    const servers = natsServers(v.nats);
    if (v.subject === undefined) throw new UsageError('--subject', 'ERR_MISSING_ARGS', 'needed');
    if (v.in && v.out) throw new UsageError('--out', 'ERR_USAGE', 'give --in or --out, not both (neither: both ways)');
    const direction = v.in ? 'in' : v.out ? 'out' : 'both';
    const inbox = localOf(v.inbox, v['inbox-key'], '--inbox', '--inbox-key');
    if (direction === 'both' && inbox === undefined) {
      throw new UsageError('--inbox', 'ERR_MISSING_ARGS', 'needed both ways (or --inbox-key; or --in or --out for one direction)');
    }
    if (direction !== 'both' && inbox !== undefined) {
      throw new UsageError(
        v.inbox !== undefined ? '--inbox' : '--inbox-key',
        'ERR_USAGE',
        `is for both ways; with --in or --out, --${kind === 'channel' ? 'channel' : 'pubsub'} is the one`,
      );
    }
    if (!v.jetstream) {
      for (const name of ['stream', 'durable', 'ack-wait'] as const) {
        if (v[name] !== undefined) throw new UsageError(`--${name}`, 'ERR_USAGE', 'goes with --jetstream');
      }
    } else if (direction !== 'out' && v.durable === undefined) {
      throw new UsageError(
        '--durable',
        'ERR_MISSING_ARGS',
        'needed with --jetstream to take messages in: a consumer name, one per receiving bridge',
      );
    }
    const tls: Record<string, string> = {};
    if (v['tls-ca'] !== undefined) tls['caFile'] = v['tls-ca'];
    if (v['tls-cert'] !== undefined) tls['certFile'] = v['tls-cert'];
    if (v['tls-key'] !== undefined) tls['keyFile'] = v['tls-key'];
    if ((tls['certFile'] === undefined) !== (tls['keyFile'] === undefined)) {
      throw new UsageError(
        tls['certFile'] === undefined ? '--tls-key' : '--tls-cert',
        'ERR_USAGE',
        'needs --tls-cert and --tls-key together',
      );
    }
    const options: BridgeOptions = {
      [kind]: direction === 'both' ? { out: channel, in: inbox as LocalRef } : channel,
      url: servers,
      subject: v.subject,
      direction,
      ...(v.jetstream && {
        jetstream: {
          ...(v.stream !== undefined && { stream: v.stream }),
          ...(v.durable !== undefined && { durable: v.durable }),
          ...(v['ack-wait'] !== undefined && { ackWaitMs: ackWaitMs(v['ack-wait']) }),
        },
      }),
      ...(v.creds !== undefined && { creds: v.creds }),
      ...(Object.keys(tls).length > 0 && { nats: { tls } }),
    };
    let b: Bridge;
    try {
      b = await startBridge(options);
    } catch (error) {
      const locals = [
        [channel, kind === 'channel' ? '--channel' : '--pubsub', kind === 'channel' ? '--key' : '--pubsub-key'],
        [inbox, '--inbox', '--inbox-key'],
      ] as const;
      const argOf = (ref: LocalRef, idName: string, keyName: string) =>
        'id' in ref ? `${idName} ${ref.id}` : `${keyName} 0x${(ref.key >>> 0).toString(16).padStart(8, '0')}`;
      // A channel that is not there, named by the option that gave it (the library's error names shmget and a key).
      if (error instanceof IpcError) {
        for (const [ref, idName, keyName] of locals) {
          if (ref === undefined) continue;
          onSegment(argOf(ref, idName, keyName), () => ('id' in ref ? shmctl(ref.id, IPC_STAT) : shmget(ref.key, 0, 0)));
        }
      }
      // A segment that is no channel (or PubSub), named by its option too: the library names "segment N".
      if (error instanceof ChannelError && error.code === 'ERR_CHANNEL_FORMAT') {
        const id = Number(/^\w+\.open: segment (\d+) /.exec(error.message)?.[1]);
        for (const [ref, idName, keyName] of locals) {
          if (ref === undefined) continue;
          let refId: number | undefined;
          try {
            refId = 'id' in ref ? ref.id : shmget(ref.key, 0, 0);
          } catch {
            // removed meanwhile: not the one
          }
          if (refId === id) throw new CliError(argOf(ref, idName, keyName), error.code, error.message.replace(/^\w+\.open: /, ''));
        }
      }
      // Bad names and values the checks above let through (a subject with a space, a stream name) are usage errors.
      const e = error as Error & { code?: string };
      if (e instanceof TypeError || e instanceof RangeError) {
        const name = /["']([\w.]+)["']/.exec(e.message)?.[1] ?? '';
        throw new UsageError(FLAG_OF[name], e.code ?? 'ERR_USAGE', e.message);
      }
      throw error;
    }
    // The first signal closes (flushing, at most a few seconds); a second one, the user out of patience, ends at once.
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
      stopping = true;
      void b.close();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const say = (text: string) => io.stderr.write(`shmkit bridge: ${text}\n`);
    b.on('disconnect', () => say(`disconnected from ${b.server}; reconnecting`));
    b.on('reconnect', () => say(`reconnected to ${b.server}`));
    b.on('lost', ({ count }: { count: number }) => say(`${count} message(s) lost on the way (at most once): ${b.stats.lost} in all`));
    b.on('dropped', ({ count, reason }: { count: number; reason: string }) =>
      say(`${count} message(s) dropped (${reason}): ${b.stats.dropped} in all`),
    );
    b.on('recreated', ({ what, name }: { what: string; name: string }) => say(`the JetStream ${what} ${name} was deleted; made it again`));
    b.on('stalled', ({ error }: { error: Error }) =>
      say(`publishing stalled, retrying (nothing leaves the channel meanwhile): ${error.message.replace(/^bridge: /, '')}`),
    );
    b.on('resumed', () => say('publishing again'));
    const mode = v.jetstream ? 'JetStream, at least once' : 'core NATS, at most once';
    const route =
      direction === 'out'
        ? `${describe(channel, kind)} -> ${b.server} subject ${v.subject}`
        : direction === 'in'
          ? `${b.server} subject ${v.subject} -> ${describe(channel, kind)}`
          : `${describe(channel, kind)} -> ${b.server} subject ${v.subject} -> ${describe(inbox as LocalRef, kind)}`;
    say(`forwarding ${route} (${mode}); Ctrl-C stops`);
    try {
      await b.done;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    await writeOut(io.stdout, v.json ? `${JSON.stringify(b.stats)}\n` : `${statsLine(b)}\n`);
    return 0;
  },
};

/** --ack-wait in seconds, checked in seconds (the library's limit is in milliseconds: 100 to 3600000). */
function ackWaitMs(text: string): number {
  const seconds = parseSeconds(text, '--ack-wait');
  if (!(seconds >= 0.1 && seconds <= 3600)) {
    throw new UsageError('--ack-wait', 'ERR_OUT_OF_RANGE', `${quote(text)} is out of range: from 0.1 to 3600 seconds`);
  }
  return Math.round(seconds * 1000);
}
