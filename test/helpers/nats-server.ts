// A real nats-server for the bridge tests (Debian's package, which .ci/run
// installs): on 127.0.0.1 at a free port, stopped and started again on the
// same port for broker restarts, and always stopped after the test. And
// "hosts": Node children each in an IPC namespace of its own, talked to by
// lines on stdin and stdout.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeChild } from './namespaces.js';

/** Why the bridge tests cannot run here, or false: they need nats-server on PATH and root for unshare --ipc. */
export const noNatsServer: string | false =
  spawnSync('nats-server', ['--version']).error !== undefined
    ? 'nats-server is not installed (apt-get install nats-server; .ci/run installs it)'
    : process.getuid?.() !== 0 && 'needs root for unshare --ipc (two simulated hosts)';

/** A TCP port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface NatsServerOptions {
  /** With JetStream (-js), its store in a temporary directory kept across restarts. */
  jetstream?: boolean;
  /** Extra arguments (--user, --pass ...). */
  args?: string[];
}

export class NatsServer {
  readonly port: number;
  readonly url: string;
  readonly #args: string[];
  readonly #store: string | undefined;
  #process: ChildProcess | undefined;
  log = '';

  private constructor(port: number, options: NatsServerOptions) {
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.#store = options.jetstream ? mkdtempSync(join(tmpdir(), 'shmkit-nats-')) : undefined;
    this.#args = ['-a', '127.0.0.1', '-p', String(port), ...(this.#store ? ['-js', '-sd', this.#store] : []), ...(options.args ?? [])];
  }

  /** Sends `signal` to the server (SIGSTOP: it stops answering, its connections stay open). */
  signal(signal: NodeJS.Signals): void {
    this.#process?.kill(signal);
  }

  /** Starts a server and resolves once it accepts connections. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), options);
    try {
      await server.startAgain();
    } catch (error) {
      // Nobody gets the server to dispose of: its process and its store go here.
      await server.dispose();
      throw error;
    }
    return server;
  }

  /** Starts it (again) on the same port and store. */
  async startAgain(): Promise<void> {
    const child = spawn('nats-server', this.#args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.log += chunk));
    this.#process = child;
    for (let i = 0; i < 500; i++) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}:\n${this.log}`);
      // JetStream is ready once the server says so; plain NATS once it listens.
      if ((await listening(this.port)) && (!this.#store || /Server is ready/.test(this.log))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`nats-server did not listen on ${this.port}:\n${this.log}`);
  }

  /** Stops it (SIGTERM: a broker shut down, its JetStream store flushed) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops it for good and removes its store. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.#store) rmSync(this.#store, { recursive: true, force: true });
  }
}

/**
 * A Node child in an IPC namespace of its own (`unshare --ipc`): another
 * machine, as far as System V IPC goes. `SHMKIT` in its code is the package.
 */
export class Host extends NodeChild {
  constructor(code: string, args: readonly string[], timeoutMs = 120_000) {
    super(code, args, { newIpcNamespace: true, timeoutMs });
  }
}
