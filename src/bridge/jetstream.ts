// The JetStream stream that holds the subject and the durable consumer that
// 'in' pulls from. bridge() makes them if they are absent; 'in' makes them
// again, the same way, if either is deleted while it runs (in.ts).
import { bridgeError } from '../core/errors.js';
import type { JetStreamSettings } from './link.js';
import type { NatsJetStream } from './nats.js';

export type JetStreamManager = Awaited<ReturnType<NatsJetStream['jetstreamManager']>>;

const DUPLICATE_WINDOW_NS = 120e9;

/** Where 'in' is in its stream: what it needs to make the consumer again where it was. */
export interface StreamPlace {
  /** The stream's creation time: a stream with another is a new one, its messages numbered from 1 again. */
  created: string;
  /** The stream sequence of the last message handled (put in the ring, dropped, or a duplicate). */
  position: number;
}

/** Whether `error` is the JetStream API's answer with error code `code` (any code if absent). */
export function isApiError(jetstream: NatsJetStream, error: unknown, code?: number): boolean {
  return error instanceof jetstream.JetStreamApiError && (code === undefined || error.code === code);
}

/** Whether the server answered that the stream or the consumer does not exist. */
export function isGone(jetstream: NatsJetStream, error: unknown): boolean {
  const { ConsumerNotFound, StreamNotFound } = jetstream.JetStreamApiCodes;
  return isApiError(jetstream, error, ConsumerNotFound) || isApiError(jetstream, error, StreamNotFound);
}

/**
 * Whether the server refused a request for good: a permissions violation (a
 * request's has it as its cause), or the JetStream API's answer with a 4xx
 * status other than 404 (a 503, JetStream not ready in a restart or an election, may pass).
 */
export function isRefusal(jetstream: NatsJetStream, error: unknown): boolean {
  const denied = (e: unknown) => (e as Error | undefined)?.name === 'PermissionViolationError';
  if (denied(error) || denied((error as Error | undefined)?.cause)) return true;
  if (!(error instanceof jetstream.JetStreamApiError)) return false;
  return error.status >= 400 && error.status < 500 && error.status !== 404;
}

function streamError(stream: string, subject: string): Error {
  return bridgeError('ERR_BRIDGE_STREAM', `bridge: the JetStream stream ${stream} does not hold the subject ${subject}`);
}

/**
 * The stream named in the settings, made if absent (file storage, the subject
 * alone, a 2-minute duplicate window). Resolves to its creation time (another
 * one later is a new stream, numbered from 1 again) and whether it was made now.
 * @throws ERR_BRIDGE_STREAM if it exists but does not hold the subject.
 */
export async function ensureStream(
  jetstream: NatsJetStream,
  jsm: JetStreamManager,
  subject: string,
  settings: JetStreamSettings,
): Promise<{ created: string; made: boolean }> {
  let created = await streamCreated(jetstream, jsm, settings.stream);
  if (created === undefined) {
    try {
      const made = await jsm.streams.add({
        name: settings.stream,
        subjects: [subject],
        storage: jetstream.StorageType.File,
        duplicate_window: DUPLICATE_WINDOW_NS,
      });
      return { created: made.created, made: true };
    } catch (error) {
      // Another bridge (another host) made it meanwhile: the server refuses the second add
      // (its subjects overlap the first's). Use it as one found, or fail as before.
      if (!isApiError(jetstream, error)) throw error;
      created = await streamCreated(jetstream, jsm, settings.stream);
      if (created === undefined) throw error;
    }
  }
  // A stream of the user's that does not take the subject would refuse every publish: say so now.
  const holder = await jsm.streams.find(subject).catch((error: unknown) => {
    if (isApiError(jetstream, error, jetstream.JetStreamApiCodes.StreamNotFound)) return undefined;
    throw error;
  });
  if (holder !== settings.stream) throw streamError(settings.stream, subject);
  return { created, made: false };
}

/** The stream's creation time, or undefined if there is no such stream. */
async function streamCreated(jetstream: NatsJetStream, jsm: JetStreamManager, stream: string): Promise<string | undefined> {
  try {
    return (await jsm.streams.info(stream)).created;
  } catch (error) {
    if (!isApiError(jetstream, error, jetstream.JetStreamApiCodes.StreamNotFound)) throw error;
    return undefined;
  }
}

/**
 * The durable consumer named in the settings, made if absent: from the
 * stream's first message, or from `startSeq`. Resolves to the stream
 * sequence of the last message it had acknowledged (its ack floor) and
 * whether it was made now.
 */
export async function ensureConsumer(
  jetstream: NatsJetStream,
  jsm: JetStreamManager,
  subject: string,
  settings: JetStreamSettings & { durable: string },
  startSeq?: number,
): Promise<{ acked: number; made: boolean }> {
  const found = await consumerAcked(jetstream, jsm, settings);
  if (found !== undefined) return { acked: found, made: false };
  const config = {
    durable_name: settings.durable,
    ack_policy: jetstream.AckPolicy.Explicit,
    ...(startSeq === undefined
      ? { deliver_policy: jetstream.DeliverPolicy.All }
      : { deliver_policy: jetstream.DeliverPolicy.StartSequence, opt_start_seq: startSeq }),
    filter_subject: subject,
    // One unacknowledged message at a time: the stream's order, and a full ring stops delivery.
    max_ack_pending: 1,
    ack_wait: settings.ackWaitMs * 1e6,
  };
  try {
    await jsm.consumers.add(settings.stream, config);
  } catch (error) {
    // Made meanwhile by another bridge with the same durable name: use it as one found.
    if (!isApiError(jetstream, error)) throw error;
    const acked = await consumerAcked(jetstream, jsm, settings);
    if (acked === undefined) throw error;
    return { acked, made: false };
  }
  return { acked: startSeq === undefined ? 0 : startSeq - 1, made: true };
}

/** The stream sequence the durable consumer acknowledged up to (its ack floor), or undefined if there is no such consumer. */
async function consumerAcked(
  jetstream: NatsJetStream,
  jsm: JetStreamManager,
  settings: JetStreamSettings & { durable: string },
): Promise<number | undefined> {
  try {
    return (await jsm.consumers.info(settings.stream, settings.durable)).ack_floor.stream_seq;
  } catch (error) {
    if (!isApiError(jetstream, error, jetstream.JetStreamApiCodes.ConsumerNotFound)) throw error;
    return undefined;
  }
}
