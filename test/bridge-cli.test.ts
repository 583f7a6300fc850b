// shmkit bridge: its usage errors, credentials that never reach a log, TLS
// options that reach the client, a clean stop on SIGINT and SIGTERM, and bridges killed (SIGKILL) and started
// again without losing a message (JetStream), between two simulated hosts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bridge, Channel } from 'shmkit';
import { startBridgeCommand } from './helpers/bridge.js';
import { shmkitHere } from './helpers/cli.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { Host, NatsServer, noNatsServer } from './helpers/nats-server.js';
import { BIN } from './helpers/processes.js';
import { budget } from './helpers/soak.js';

assertNoLeaks();

describe('shmkit bridge: usage', () => {
  const cases: Array<[string[], string, RegExp]> = [
    [['--nats', 'nats://127.0.0.1:4222', '--subject', 's', '--out'], '--channel', /ERR_MISSING_ARGS/],
    [['--channel', '1', '--key', '2', '--nats', 'nats://x', '--subject', 's', '--out'], '--key', /not both/],
    [['--channel', '1', '--subject', 's', '--out'], '--nats', /ERR_MISSING_ARGS/],
    [['--channel', '1', '--nats', 'nats://x', '--out'], '--subject', /ERR_MISSING_ARGS/],
    [['--channel', '1', '--nats', 'nats://x', '--subject', 's', '--in', '--out'], '--out', /not both/],
    [['--channel', '1', '--nats', 'nats://x', '--subject', 's'], '--inbox', /both ways/],
    [['--channel', '1', '--inbox', '2', '--nats', 'nats://x', '--subject', 's', '--out'], '--inbox', /both ways/],
    [['--channel', '1', '--nats', 'nats://x', '--subject', 's', '--in', '--jetstream'], '--durable', /ERR_MISSING_ARGS/],
    [['--channel', '1', '--nats', 'nats://x', '--subject', 's', '--out', '--durable', 'd'], '--durable', /--jetstream/],
    [['--channel', 'x', '--nats', 'nats://x', '--subject', 's', '--out'], '--channel', /not an integer/],
    [['--channel', '1', '--nats', 'nats://x', '--subject', 'a b', '--out'], '--subject', /subject/],
    [['--channel', '1', '--nats', 'nats://x', '--subject', 's', '--out', '--jetstream', '--stream', 'a.b'], '--stream', /stream name/],
    [
      ['--channel', '1', '--nats', 'nats://x', '--subject', 's', '--out', '--jetstream', '--ack-wait', '0.01'],
      '--ack-wait',
      /from 0\.1 to 3600 seconds/,
    ],
    [['--channel', '1', '--nats', 'nats://x', '--subject', 's', '--out', '--tls-cert', 'c.pem'], '--tls-cert', /together/],
    [['--channel', '1', '--pubsub', '2', '--nats', 'nats://x', '--subject', 's', '--out'], '--pubsub', /channel or a PubSub, not both/],
    [['--pubsub', '1', '--pubsub-key', '2', '--nats', 'nats://x', '--subject', 's', '--out'], '--pubsub-key', /not both/],
    [['--pubsub', '1', '--nats', 'nats://x', '--subject', 's'], '--inbox', /both ways/],
    [['--pubsub', 'x', '--nats', 'nats://x', '--subject', 's', '--in'], '--pubsub', /not an integer/],
    // What every bridge needs is asked for first: this spoke of --inbox.
    [['--channel', '0'], '--nats', /ERR_MISSING_ARGS/],
    [['--channel', '0', '--nats', 'nats://x'], '--subject', /ERR_MISSING_ARGS/],
    // A scheme the client does not speak, refused before connecting (http://x went to x:4222); never the password.
    [
      ['--channel', '1', '--nats', 'http://user:secret@x', '--subject', 's', '--out'],
      '--nats',
      /'http:\/\/' is not a scheme of a NATS server/,
    ],
    [['--channel', '1', '--nats', 'nats://a,ws://b', '--subject', 's', '--out'], '--nats', /'ws:\/\/' .*no WebSocket client/],
  ];
  for (const [args, arg, message] of cases) {
    it(`shmkit bridge ${args.join(' ')}: exit 2, naming ${arg}`, async () => {
      const result = await shmkitHere(['bridge', ...args]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`^shmkit bridge: ${arg.replace(/-/g, '\\-')}`));
      assert.match(result.stderr, message);
      assert.match(result.stderr, /see shmkit help bridge/);
      assert.doesNotMatch(result.stderr, /secret/, 'a password in --nats is never printed');
      assert.equal(result.stdout, '');
    });
  }

  it('shmkit help lists bridge, and shmkit bridge --help shows its usage', async () => {
    assert.match((await shmkitHere(['help'])).stdout, /^ {2}bridge +forward a channel/m);
    const help = await shmkitHere(['bridge', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: shmkit bridge --channel ID\|--key K --nats URL --subject S \[--in\|--out\]/);
  });
});

describe('shmkit bridge: credentials and stopping', { skip: noNatsServer }, () => {
  const PASSWORD = 's3cret-Pa55';

  it('takes user:password in the URL, never prints it, and stops cleanly on SIGINT and SIGTERM with its counters', async () => {
    const server = await NatsServer.start({ args: ['--user', 'bridge', '--pass', PASSWORD] });
    const url = `nats://bridge:${PASSWORD}@127.0.0.1:${server.port}`;
    using outbox = Channel.create({ capacity: 4096, autoRemove: true });
    using inbox = Channel.create({ capacity: 4096, autoRemove: true });
    // The receiving side, in this process, with the same credentials.
    const receiving = await bridge({ channel: inbox, url, subject: 'cli.creds', direction: 'in' });
    try {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        const command = await startBridgeCommand(['--channel', String(outbox.id), '--nats', url, '--subject', 'cli.creds', '--out']);
        const { child, stdout, stderr } = command;
        try {
          assert.match(
            stderr(),
            new RegExp(`forwarding channel ${outbox.id} -> nats://127\\.0\\.0\\.1:${server.port} subject cli\\.creds`),
          );
          using sender = outbox.sender();
          const receiver = inbox.receiver();
          await sender.send(`through ${signal}`);
          assert.equal(new TextDecoder().decode(await receiver.recv({ timeoutMs: 10_000 })), `through ${signal}`);
          receiver.detach();
          child.kill(signal);
          assert.equal(await command.exited, 0, stderr());
          assert.equal(stdout(), 'out 1, in 0, dropped 0, lost 0, duplicates 0, reconnects 0\n');
        } finally {
          child.kill('SIGKILL');
        }
        assert.doesNotMatch(stdout() + stderr(), new RegExp(PASSWORD));
      }
      // A wrong password: the error names the server, not the password (what it prints: run in this process).
      const wrong = await shmkitHere([
        'bridge',
        '--channel',
        String(outbox.id),
        '--nats',
        `nats://bridge:wrong-${PASSWORD}@127.0.0.1:${server.port}`,
        '--subject',
        's',
        '--out',
      ]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, new RegExp(`^shmkit bridge: .*nats://127\\.0\\.0\\.1:${server.port}.*(auth|Authorization)`, 'i'));
      assert.doesNotMatch(wrong.stdout + wrong.stderr, new RegExp(PASSWORD));
    } finally {
      await receiving.close();
      await server.dispose();
    }
  });
});

const noOpenssl = spawnSync('openssl', ['version']).error !== undefined && 'openssl is not installed (.ci/run installs it)';

describe('shmkit bridge: TLS', { skip: noNatsServer || noOpenssl }, () => {
  it('--tls-ca reaches the client: a server with a certificate of that CA is trusted, and without it refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shmkit-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    // A self-signed certificate for this host, its own CA; an EC key (RSA's took 0.15 CPU-s to make).
    const made = spawnSync('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'],
      ...['-keyout', key, '-out', cert],
      ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ]);
    assert.equal(made.status, 0, String(made.stderr));
    const server = await NatsServer.start({ args: ['--tls', '--tlscert', cert, '--tlskey', key] });
    using outbox = Channel.create({ capacity: 4096, autoRemove: true });
    using inbox = Channel.create({ capacity: 4096, autoRemove: true });
    const url = `tls://127.0.0.1:${server.port}`;
    const receiving = await bridge({ channel: inbox, url, subject: 'tls', direction: 'in', nats: { tls: { caFile: cert } } });
    try {
      const command = await startBridgeCommand([
        '--channel',
        String(outbox.id),
        '--nats',
        url,
        '--tls-ca',
        cert,
        '--subject',
        'tls',
        '--out',
      ]);
      const { child } = command;
      try {
        assert.match(command.stderr(), /forwarding/);
        using sender = outbox.sender();
        const receiver = inbox.receiver();
        await sender.send('over TLS');
        assert.equal(new TextDecoder().decode(await receiver.recv({ timeoutMs: 10_000 })), 'over TLS');
        receiver.detach();
        child.kill('SIGTERM');
        assert.equal(await command.exited, 0, command.stderr());
      } finally {
        child.kill('SIGKILL');
      }
      const untrusted = await shmkitHere(['bridge', '--channel', String(outbox.id), '--nats', url, '--subject', 'tls', '--out']);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /^shmkit bridge: \S+ bridge: cannot connect to tls:\/\/127\.0\.0\.1:\d+: self-signed certificate/);
    } finally {
      await receiving.close();
      await server.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * A host that runs a `shmkit bridge` process next to its application, in its
 * own IPC namespace, and kills (SIGKILL) and restarts that bridge: host "out"
 * on "kill", host "in" itself once half the messages came (a kill sent by the
 * test could come after the rest). Host "out" sends messages 0..N-1; host
 * "in" receives them.
 */
const KILLED_HOST = `
import { Channel } from 'SHMKIT';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
const [role, url, bin, n] = process.argv.slice(1);
const N = Number(n);
const channel = Channel.create({ capacity: 4096, autoRemove: true });
const args = role === 'out'
  ? ['--out', '--jetstream', '--stream', 'KILLED']
  : ['--in', '--jetstream', '--stream', 'KILLED', '--durable', 'host-in', '--ack-wait', '0.5'];
let child;
async function start() {
  child = spawn(process.execPath, [bin, 'bridge', '--channel', String(channel.id), '--nats', url, '--subject', 'killed', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
  while (!/forwarding/.test(err)) {
    if (child.exitCode !== null) throw new Error('bridge exited: ' + err);
    await new Promise((r) => setTimeout(r, 20));
  }
}
async function restart() {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  await start();
  console.log('restarted');
}
await start();
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => line === 'kill' && restart());
console.log('ready');
if (role === 'out') {
  const sender = channel.sender();
  for (let i = 0; i < N; i++) {
    try {
      await sender.send('message ' + i);
    } catch (error) {
      // Full, and the bridge (its receiver) is dead and restarting: send it again.
      if (error.code !== 'ERR_CHANNEL_PEER_DEAD') throw error;
      await new Promise((r) => setTimeout(r, 20));
      i--;
      continue;
    }
    if (i % (N / 4) === 0) console.log('sent ' + i);
  }
  sender.close();
  console.log('done');
} else {
  const receiver = channel.receiver();
  const seen = new Uint8Array(N);
  let distinct = 0, duplicates = 0, outOfOrder = 0, last = -1;
  while (distinct < N) {
    let bytes;
    try {
      bytes = await receiver.recv({ timeoutMs: 60_000 });
    } catch (error) {
      // The bridge was this channel's only sender: while it is dead and restarting, recv says so.
      if (error.code !== 'ERR_CHANNEL_PEER_DEAD') throw error;
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    const text = new TextDecoder().decode(bytes);
    const i = Number(text.slice('message '.length));
    if (seen[i]) { duplicates++; continue; }
    seen[i] = 1;
    distinct++;
    if (i !== last + 1) outOfOrder++;
    last = i;
    if (distinct === N / 2) restart();
  }
  receiver.close();
  console.log('result ' + JSON.stringify({ distinct, duplicates, outOfOrder }));
}
await new Promise((resolve) => commands.on('line', (l) => l === 'close' && resolve()));
child.kill('SIGTERM');
const [code] = await once(child, 'exit');
commands.close();
channel.detach();
console.log('closed ' + code);
`;

describe('shmkit bridge: killed and restarted', { skip: noNatsServer }, () => {
  it('JetStream: bridges killed with SIGKILL mid-stream and started again lose nothing and keep the order (at most one repeat per kill)', async () => {
    // Each bridge is killed with part of the stream behind it and more to come:
    // the sending one at a quarter, while its senders wait on a full channel (it
    // holds 127 of these messages, fewer than N / 4), the receiving one at half,
    // after the sending one came back (it had sent at most N / 4 + 127 before).
    // JetStream moves one message at a time: more would only take longer (the
    // test took 1.8 CPU-seconds with 2,000, 1.0 with 600).
    const N = budget(600, 2000);
    const server = await NatsServer.start({ jetstream: true });
    const out = new Host(KILLED_HOST, ['out', server.url, BIN, String(N)]);
    const into = new Host(KILLED_HOST, ['in', server.url, BIN, String(N)]);
    try {
      await out.line('ready');
      await into.line('ready');
      // The sending bridge dies first, then the receiving one, each while messages flow.
      await out.line(`sent ${N / 4}`);
      out.send('kill');
      await out.line('restarted');
      await into.line('restarted');
      const result = JSON.parse((await into.line('result ')).slice('result '.length)) as {
        distinct: number;
        duplicates: number;
        outOfOrder: number;
      };
      assert.equal(result.distinct, N, 'every message arrived');
      assert.equal(result.outOfOrder, 0, 'in order (first arrivals)');
      assert.ok(result.duplicates <= 2, `at most one repeat per killed bridge, got ${result.duplicates}`);
      await out.line('done');
      for (const host of [out, into]) {
        host.send('close');
        assert.equal(await host.line('closed '), 'closed 0', host.stderr);
      }
    } finally {
      await out.kill();
      await into.kill();
      await server.dispose();
    }
  });
});
