// Options and hooks shared by PubSub and its endpoints.
import type { SegmentLocator } from '../../shm/shared-memory.js';
import type { CodecOption } from '../codec.js';
import type { WaitMode } from '../format.js';
import type { LagPolicy } from './format.js';

export type { LagPolicy } from './format.js';

/** Options of a wait. */
export interface PubSubWaitOptions {
  /** Give up after this many ms: reject with the IpcError `ETIMEDOUT` of every wait; default: no limit. */
  timeoutMs?: number | undefined;
  /** Abort the wait: rejects with an AbortError. */
  signal?: AbortSignal | undefined;
}

export interface PubSubCreateOptions<C extends CodecOption = 'bytes'> {
  /** A System V key; without key or path the PubSub is private (open it by id). */
  key?: number | undefined;
  /** A file whose identity gives the key through ftok(path, projId). */
  path?: string | undefined;
  /** The project id for ftok (default 1). */
  projId?: number | undefined;
  /** Ring size in bytes, rounded up to a power of two (at least 256, at most 1 GiB). A message may be up to capacity - 32 bytes once encoded. */
  capacity: number;
  /** Permission bits; default 0o600. */
  mode?: number | undefined;
  /** How values become bytes: 'bytes' (default), 'text', 'json', 'v8' or a codec `{ name?, encode, decode }`. Recorded in the segment. */
  codec?: C | undefined;
  /**
   * What a subscriber that falls a whole ring behind does to publishers:
   * `'block'` (default, also `false`): publishers wait for it (lossless);
   * `'drop-oldest'` (also `true`): publishers never wait, and the subscriber
   * skips to the oldest message still in the ring and counts the rest in `missed`.
   */
  lag?: LagPolicy | boolean | undefined;
  /** How endpoints wait: 'adaptive' (default), 'spin' or 'sleep', as for Channel. */
  wait?: WaitMode | undefined;
  /** Remove the segment when the last process detaches, even after a crash; it is then opened by id only. */
  autoRemove?: boolean | undefined;
}

/** Which PubSub to open: exactly one of a key, a path (ftok) or an id. */
export type PubSubLocator = SegmentLocator;

export interface PubSubOpenOptions<C extends CodecOption | undefined = CodecOption> {
  /** The codec; it must have the name recorded at create. Default: the recorded built-in codec. */
  codec?: C | undefined;
  /** This process's wait mode; default: the one the PubSub was created with. */
  wait?: WaitMode | undefined;
  /**
   * Opens at the byte level, whatever codec the PubSub records: publishers
   * take and subscribers give the encoded bytes, undecoded (a
   * `PubSub<Uint8Array>`). For tools that move messages without reading them
   * (the NATS bridge does); not with `codec`.
   */
  raw?: boolean | undefined;
}

/** @internal How a PubSub hears from its endpoints. */
export interface PubSubHooks {
  readonly mode: WaitMode;
  /** The endpoint let go of its place: a publisher of its writer id, a subscriber of none. */
  readonly forget: (endpoint: object, writer?: number) => void;
}
