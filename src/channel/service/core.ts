// What a service's server and clients share in one process: the service
// segment's header, the request channel attached here, and the codec.
import { type Channel, channelHeader } from '../channel.js';
import type { Codec } from '../codec.js';
import type { Sender } from '../sender.js';
import { threadLiveness } from '../liveness.js';
import * as F from './format.js';

/** @internal */
export interface ServiceCore {
  /** The service segment's words (Int32Array over its whole page). */
  readonly header: Int32Array;
  readonly requests: Channel;
  readonly codec: Codec<unknown>;
  /** Permission bits of the service's channels. */
  readonly mode: number;
  /** The request channel's capacity: a reply channel's default. */
  readonly capacity: number;
  /** The service segment's id: in the mark of its clients' reply channels. */
  readonly id: number;
  /** "service <id>", for messages. */
  readonly name: string;
  /** This process's one sender into the request channel (its clients share it). */
  requestSender(): Sender;
  /** A server or client of this service ended. */
  forget(endpoint: object): void;
}

const PRESENCE = F.OFF_SERVER_PRESENCE >> 2;
const PID = F.OFF_SERVER_PID >> 2;
const DEATHS = F.OFF_SERVER_DEATHS >> 2;

/**
 * Records the serving thread's presence token in the header. A predecessor's
 * record still there whose holder is gone died serving (one that closed
 * cleared it; one still closing lives, finishing its last replies): it is
 * counted, so that clients fail the requests it may have taken even once
 * this record replaced it.
 */
export function recordServer(header: Int32Array, token: readonly [number, number]): void {
  if (deadServer(header) !== 0) Atomics.add(header, DEATHS, 1);
  // Word 1 last: a reader that sees it nonzero sees word 0 too.
  Atomics.store(header, PRESENCE + 1, 0);
  Atomics.store(header, PRESENCE, token[0]);
  Atomics.store(header, PID, process.pid);
  Atomics.store(header, PRESENCE + 1, token[1]);
}

/** Marks `channel` as a reply channel of this service's clients (see F.OFF_REPLY_MARK). */
export function markReplyChannel(core: ServiceCore, channel: Channel<unknown>): void {
  const words = channelHeader(channel);
  Atomics.store(words, F.OFF_REPLY_SERVICE >> 2, core.id);
  Atomics.store(words, F.OFF_REPLY_REQUESTS >> 2, core.requests.id);
  // The magic last: a reader that sees it sees the ids.
  Atomics.store(words, F.OFF_REPLY_MARK >> 2, F.REPLY_MARK | 0);
}

/** Whether `channel` is a reply channel of a client of this service: it carries the service's mark. */
export function isReplyChannel(core: ServiceCore, channel: Channel<unknown>): boolean {
  if (channel.id === core.requests.id) return false;
  const words = channelHeader(channel);
  return (
    Atomics.load(words, F.OFF_REPLY_MARK >> 2) === (F.REPLY_MARK | 0) &&
    Atomics.load(words, F.OFF_REPLY_SERVICE >> 2) === core.id &&
    Atomics.load(words, F.OFF_REPLY_REQUESTS >> 2) === core.requests.id
  );
}

/** Records that this server cannot open reply channel `id` of the client with `nonce` (see F.OFF_REFUSED). */
export function recordRefusal(header: Int32Array, id: number, nonce: number): void {
  if (header.length === 0) return;
  const slot = (F.OFF_REFUSED >> 2) + 2 * (Atomics.add(header, F.OFF_REFUSED_NEXT >> 2, 1) % F.REFUSED_SLOTS);
  // The id last: a reader that sees it sees the nonce.
  Atomics.store(header, slot, 0);
  Atomics.store(header, slot + 1, nonce | 0);
  Atomics.store(header, slot, id);
}

/** Whether a server recorded that it cannot open reply channel `id` of the client with `nonce`; the record is cleared. */
export function takeRefusal(header: Int32Array, id: number, nonce: number): boolean {
  if (header.length === 0) return false;
  for (let i = 0; i < F.REFUSED_SLOTS; i++) {
    const slot = (F.OFF_REFUSED >> 2) + 2 * i;
    if (Atomics.load(header, slot) === id && Atomics.load(header, slot + 1) === (nonce | 0)) {
      Atomics.compareExchange(header, slot, id, 0);
      return true;
    }
  }
  return false;
}

/** Clears the server's record, if it is still this token (a successor may have written its own). */
export function clearServer(header: Int32Array, token: readonly [number, number]): void {
  if (header.length === 0) return;
  if (Atomics.load(header, PRESENCE) === token[0] && Atomics.load(header, PRESENCE + 1) === token[1]) {
    Atomics.store(header, PRESENCE + 1, 0);
    Atomics.store(header, PRESENCE, 0);
  }
}

/**
 * Counts the death of this thread's server itself, and clears its record if
 * it is still there: the thread ends normally (a clean exit) while requests
 * it took are unanswered. Exiting gives its receiver place back at once, but
 * its presence lives until the process is gone, so a successor that takes
 * the place meanwhile finds it alive and would not count it; clients fail
 * the requests sent before the count.
 */
export function abandonServer(header: Int32Array, token: readonly [number, number]): void {
  if (header.length === 0) return;
  Atomics.add(header, DEATHS, 1);
  clearServer(header, token);
}

/** Whether a server is recorded now (live or dead): false when nobody serves. */
export function serverRecorded(header: Int32Array): boolean {
  return header.length !== 0 && Atomics.load(header, PRESENCE + 1) !== 0;
}

/** How many servers died and were replaced so far (see F.OFF_SERVER_DEATHS). */
export function serverDeaths(header: Int32Array): number {
  return header.length === 0 ? 0 : Atomics.load(header, DEATHS);
}

/**
 * The pid of the recorded server if it died without clearing its record;
 * 0 while it lives, or when nobody serves (requests then wait for a server).
 */
export function deadServer(header: Int32Array): number {
  if (header.length === 0) return 0;
  const word1 = Atomics.load(header, PRESENCE + 1);
  if (word1 === 0) return 0;
  const word0 = Atomics.load(header, PRESENCE);
  const pid = Atomics.load(header, PID);
  return threadLiveness.alive(word0, word1, pid) ? 0 : pid || -1;
}
