// Message ids: every message a bridge publishes carries `Nats-Msg-Id:
// ORIGIN:SEQ`, ORIGIN a random id of that bridge's run and SEQ counting from 1.
// JetStream drops a republished id within its duplicate window; a receiving
// bridge drops ids it has seen and counts the ones that never came.
import { nodeCrypto } from '../core/builtins.js';

export const MSG_ID_HEADER = 'Nats-Msg-Id';

/**
 * A fresh origin: 12 hex digits, unique per bridge run; after `host` and a
 * dot where the bridge has a name kept across its runs (see {@link hostOf}).
 */
export function newOrigin(host?: string): string {
  const run = nodeCrypto().randomBytes(6).toString('hex');
  return host === undefined ? run : `${host}.${run}`;
}

/**
 * The part of the origins of every run of a bridge both ways with a JetStream
 * durable consumer: its messages that the consumer had not yet taken when
 * the bridge stopped come back to its next run, which must know them as its
 * own. Made from the durable name, one per receiving bridge.
 */
export function hostOf(durable: string): string {
  return nodeCrypto().createHash('sha256').update(`shmkit bridge ${durable}`).digest('hex').slice(0, 12);
}

export function messageId(origin: string, seq: number): string {
  return `${origin}:${seq}`;
}

/** What to do with an arriving message. */
export type Verdict = 'deliver' | 'duplicate' | 'own';

/** At most this many origins are remembered (each restarted bridge is a new one); the oldest go first. */
const MAX_ORIGINS = 1024;

/**
 * Per-origin sequence tracking on the receiving side. Ids it cannot parse
 * (a message from a plain NATS client) are delivered as they are.
 */
export class SequenceTracker {
  readonly #last = new Map<string, number>();
  readonly #own: string | undefined;
  readonly #ownHost: string | undefined;
  #newest: string | undefined;

  /**
   * `own`: the origin of this bridge's out side, whose echoes are skipped;
   * with `ownHost` (its {@link hostOf}), those of its earlier runs too.
   */
  constructor(own?: string, ownHost?: string) {
    this.#own = own;
    this.#ownHost = ownHost === undefined ? undefined : `${ownHost}.`;
  }

  /** Judges one message by its id; `gap` is how many of its origin's messages before it never came. */
  judge(id: string | undefined | null): { verdict: Verdict; gap: number } {
    const colon = id ? id.lastIndexOf(':') : -1;
    if (!id || colon <= 0) return { verdict: 'deliver', gap: 0 };
    const origin = id.slice(0, colon);
    const seq = Number(id.slice(colon + 1));
    if (!Number.isSafeInteger(seq) || seq < 1) return { verdict: 'deliver', gap: 0 };
    if (origin === this.#own || (this.#ownHost !== undefined && origin.startsWith(this.#ownHost))) return { verdict: 'own', gap: 0 };
    const last = this.#last.get(origin);
    if (last !== undefined && seq <= last) return { verdict: 'duplicate', gap: 0 };
    // The first message seen of an origin starts its count: what it sent
    // before this bridge listened was never this bridge's to lose.
    const gap = last === undefined ? 0 : seq - last - 1;
    // Moved to the end (the newest) unless it is there already: the usual case, one busy origin, costs one set.
    if (origin !== this.#newest) {
      this.#last.delete(origin);
      this.#newest = origin;
    }
    this.#last.set(origin, seq);
    if (this.#last.size > MAX_ORIGINS) this.#last.delete(this.#last.keys().next().value as string);
    return { verdict: 'deliver', gap };
  }
}
