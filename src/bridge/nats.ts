// The NATS client, an optional dependency: loaded on the first bridge, so
// that a program that never bridges never loads it (and an install without
// it works for everything else).
import type * as Transport from '@nats-io/transport-node';
import type * as JetStream from '@nats-io/jetstream';
import { bridgeError } from '../core/errors.js';

export type NatsConnection = Transport.NatsConnection;
export type NatsTransport = typeof Transport;
export type NatsJetStream = typeof JetStream;

/** The install command the error for a missing client gives. */
export const NATS_INSTALL = 'npm install @nats-io/transport-node@~3.3.1 @nats-io/jetstream@~3.3.1';

let loaded: Promise<{ transport: NatsTransport; jetstream: NatsJetStream }> | undefined;

function missing(cause: unknown): Error {
  return bridgeError('ERR_BRIDGE_NATS_MISSING', `bridge: the NATS client is not installed; install it with: ${NATS_INSTALL}`, cause);
}

/** Both modules of the client, imported once; rejects with ERR_BRIDGE_NATS_MISSING if they are absent. */
export function loadNats(): Promise<{ transport: NatsTransport; jetstream: NatsJetStream }> {
  loaded ??= Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]).then(
    ([transport, jetstream]) => ({ transport, jetstream }),
    (error: NodeJS.ErrnoException) => {
      loaded = undefined;
      throw error.code === 'ERR_MODULE_NOT_FOUND' ? missing(error) : error;
    },
  );
  return loaded;
}
