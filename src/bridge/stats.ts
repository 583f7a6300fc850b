// The counters of a bridge, apart from link.ts so that the published types
// of the package never reach the NATS client's (an optional dependency).

/** The counters of a bridge (see Bridge.stats). */
export interface BridgeStats {
  /** Messages taken from the local channel and handed to NATS (acknowledged by the stream, with JetStream). */
  out: number;
  /** Messages from NATS put into the local channel. */
  in: number;
  /**
   * Messages this bridge discarded: arrivals while its bounded buffer was full,
   * ones larger than the server's max_payload or the stream's max_msg_size (or,
   * coming in, than the local ring's largest message), ones taken but not sent
   * when it closed, and (out of a PubSub created with `lag: 'drop-oldest'`)
   * ones overwritten before the bridge took them.
   */
  dropped: number;
  /** Messages another bridge published that never arrived here: gaps in its sequence numbers (at-most-once loss). */
  lost: number;
  /** Messages that arrived again (a JetStream redelivery or republish) and were not put in the channel twice. */
  duplicates: number;
  /** Times the client reconnected to a server. */
  reconnects: number;
}
