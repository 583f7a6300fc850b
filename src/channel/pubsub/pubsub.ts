// PubSub: publish/subscribe in one shared-memory segment. Any number of
// publishers and up to 128 subscribers, in any processes; each message is
// written once into a broadcast ring and read in place by every subscriber.
import { channelError, invalidType, invalidValue } from '../../core/errors.js';
import { optionNames, validateInteger, validateOptions } from '../../core/validate.js';
import { createUnfinished, finishCreation, type SharedMemory } from '../../shm/shared-memory.js';
import { awaitMagic, openSegment } from '../open-segment.js';
import { builtInCodec, type Codec, type CodecOption, codecName, type OpenedValue, resolveCodec, type ValueOf } from '../codec.js';
import { validateWaitMode, WAIT_MODES, type WaitMode } from '../../core/wait-options.js';
import { threadLiveness } from '../liveness.js';
import { Reclaimer } from '../reclaim.js';
import { BroadcastRing } from './broadcast-ring.js';
import * as F from './format.js';
import type { PubSubCreateOptions, PubSubHooks, PubSubLocator, PubSubOpenOptions } from './options.js';
import { Publisher } from './publisher.js';
import { ReadCursor } from './read-cursor.js';
import { Subscriber } from './subscriber.js';

const CREATE_OPTIONS = optionNames<PubSubCreateOptions>()(
  'key',
  'path',
  'projId',
  'capacity',
  'mode',
  'codec',
  'lag',
  'wait',
  'autoRemove',
);
const LOCATOR_OPTIONS = optionNames<PubSubLocator>()('key', 'path', 'projId', 'id');
const OPEN_OPTIONS = optionNames<PubSubOpenOptions>()('codec', 'wait', 'raw');

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function validateLag(value: unknown): F.LagPolicy {
  if (value === undefined || value === false || value === 'block') return 'block';
  if (value === true || value === 'drop-oldest') return 'drop-oldest';
  throw invalidValue('options.lag', "it must be 'block' (or false) or 'drop-oldest' (or true)", value);
}

/**
 * What one PubSub object registered in its segment, kept apart from it so
 * that exiting, or the garbage collector, can take it back.
 */
interface Registrations {
  readonly ring: BroadcastRing;
  readonly writers: Set<number>;
  readonly cursors: Set<ReadCursor>;
}

function release(registrations: Registrations): void {
  try {
    for (const writer of registrations.writers) registrations.ring.unregisterPublisher(writer);
    for (const cursor of registrations.cursors) cursor.leave();
  } catch {
    // The segment went away under us: nothing to take back.
  }
  registrations.writers.clear();
  registrations.cursors.clear();
}

/** Takes back what a PubSub dropped without detach(), or left open at exit, registered. */
const reclaimer = new Reclaimer<Registrations>(release);

/**
 * Publish/subscribe in one shared-memory segment: every subscriber receives
 * every message published after it subscribed, in order. A message is
 * written once, whatever the number of subscribers. Lossless by default (a
 * slow subscriber holds publishers back); with `lag: 'drop-oldest'`
 * publishers never wait and a subscriber that falls behind skips ahead and
 * counts what it missed. A subscriber killed with SIGKILL frees its place.
 *
 * ```ts
 * using pubsub = PubSub.create({ capacity: 1 << 16, codec: 'json', autoRemove: true });
 * const subscriber = pubsub.subscriber();
 * await pubsub.publisher().send({ hello: 'world' });
 * console.log(await subscriber.recv()); // { hello: 'world' }
 * ```
 */
export class PubSub<T = Uint8Array> implements Disposable {
  /** The segment's id (shmid). */
  readonly id: number;
  /** The key it was created or opened by (0 if private). */
  readonly key: number;
  /** The ring's size in bytes. */
  readonly capacity: number;
  /** The lag policy recorded at create. */
  readonly lag: F.LagPolicy;
  /** The codec's name, as recorded in the segment. */
  readonly codec: string;
  /** How this process's endpoints wait. */
  readonly wait: WaitMode;
  readonly #shm: SharedMemory;
  readonly #ring: BroadcastRing;
  readonly #codec: Codec<T>;
  readonly #endpoints = new Set<Publisher<T> | Subscriber<T>>();
  readonly #hooks: PubSubHooks;
  readonly #registrations: Registrations;

  private constructor(shm: SharedMemory, capacity: number, lag: F.LagPolicy, codec: Codec<T>, wait: WaitMode, recorded?: string) {
    this.#shm = shm;
    this.id = shm.id;
    this.key = shm.key;
    this.capacity = capacity;
    this.lag = lag;
    this.#codec = codec;
    this.codec = recorded ?? codecName(codec);
    this.wait = wait;
    this.#ring = new BroadcastRing(shm.buffer, capacity, lag === 'drop-oldest', threadLiveness, process.pid);
    const registrations: Registrations = { ring: this.#ring, writers: new Set(), cursors: new Set() };
    this.#registrations = registrations;
    // poll() passes padding and abandoned records to the next message, and takes none.
    if (lag !== 'drop-oldest') {
      this.#ring.passPadding = () => {
        for (const cursor of registrations.cursors) {
          try {
            cursor.poll();
          } catch {
            // A subscriber's error (a corrupt ring) is its own: it meets it at
            // its next receive, not a publisher's send.
          }
        }
      };
    }
    this.#hooks = {
      mode: wait,
      forget: (endpoint, writer) => {
        this.#endpoints.delete(endpoint as Publisher<T>);
        if (writer !== undefined) registrations.writers.delete(writer);
      },
    };
    reclaimer.track(this, registrations);
  }

  /**
   * Creates a PubSub in a new segment (exclusive: EEXIST if the key is taken).
   * @throws IpcError EEXIST, ENOSPC, EINVAL (capacity beyond shmmax), EACCES;
   *   TypeError/RangeError for bad options.
   */
  static create<C extends CodecOption = 'bytes'>(options: PubSubCreateOptions<C>): PubSub<ValueOf<C>> {
    const opts = validateOptions(options, CREATE_OPTIONS, 'PubSub.create()') as unknown as PubSubCreateOptions<C>;
    const requested = validateInteger(opts.capacity, 'options.capacity', 1, F.MAX_CAPACITY);
    const wait = validateWaitMode(opts.wait, 'options.wait') ?? 'adaptive';
    const lag = validateLag(opts.lag);
    const codec = resolveCodec(opts.codec);
    const name = utf8.encode(codecName(codec));
    if (name.byteLength > F.MAX_CODEC_NAME) {
      throw invalidValue('options.codec', `its name must be at most ${F.MAX_CODEC_NAME} bytes of UTF-8`, codecName(codec));
    }
    const capacity = F.ringCapacity(requested);
    // Keyed, it is removed if this thread ends before its header is written: see createUnfinished.
    const shm = createUnfinished({
      key: opts.key,
      path: opts.path,
      projId: opts.projId,
      size: F.HEADER_SIZE + capacity,
      mode: opts.mode ?? 0o600,
      autoRemove: opts.autoRemove,
    });
    BroadcastRing.initialize(shm.buffer, capacity, WAIT_MODES.indexOf(wait), F.LAG_POLICIES.indexOf(lag), name);
    finishCreation(shm);
    return new PubSub(shm, capacity, lag, codec, wait);
  }

  /**
   * Opens an existing PubSub by key, path or id at the byte level
   * (`raw: true`): a `PubSub<Uint8Array>` whatever codec the segment
   * records, whose publishers take and subscribers give the encoded bytes.
   * @throws ChannelError ERR_CHANNEL_FORMAT if the segment is not a PubSub of
   *   this format; IpcError ENOENT, EINVAL/EIDRM, EACCES.
   */
  static open(locator: PubSubLocator, options: PubSubOpenOptions<undefined> & { raw: true }): PubSub<Uint8Array>;
  /**
   * Opens an existing PubSub by key, path or id. `codec` must have the name
   * recorded at create; without it, the recorded built-in codec is used
   * (typed `PubSub<any>`). With `raw: true` it carries the encoded bytes
   * whatever the codec.
   * @throws ChannelError ERR_CHANNEL_FORMAT if the segment is not a PubSub of
   *   this format or was created with another codec; IpcError ENOENT, EINVAL/EIDRM, EACCES.
   */
  static open<C extends CodecOption | undefined = undefined>(
    locator: PubSubLocator,
    options?: PubSubOpenOptions<C>,
  ): PubSub<OpenedValue<C>>;
  static open(locator: PubSubLocator, options: PubSubOpenOptions = {}): PubSub<unknown> {
    const where = validateOptions(locator, LOCATOR_OPTIONS, 'PubSub.open()', 'locator') as PubSubLocator;
    const opts = validateOptions(options, OPEN_OPTIONS, 'PubSub.open()') as PubSubOpenOptions;
    const wait = validateWaitMode(opts.wait, 'options.wait');
    const asked = opts.codec === undefined ? undefined : resolveCodec(opts.codec);
    const raw = opts.raw ?? false;
    if (typeof raw !== 'boolean') throw invalidType('options.raw', 'of type boolean', raw);
    if (raw && asked !== undefined)
      throw invalidValue('options.raw', 'a raw opener takes the bytes as they are: give no codec with it', raw);
    const shm = openSegment(where, 'PubSub');
    try {
      const [capacity, created, lag, recorded] = PubSub.#readHeader(shm);
      if (raw) return new PubSub(shm, capacity, lag, resolveCodec('bytes'), wait ?? created, recorded);
      const builtIn = builtInCodec(recorded) !== undefined;
      if (asked === undefined && !builtIn) {
        throw channelError(
          'ERR_CHANNEL_FORMAT',
          `PubSub.open: segment ${shm.id} was created with codec '${recorded}'; pass that codec as options.codec`,
        );
      }
      const codec = asked ?? resolveCodec(recorded as CodecOption);
      if (codecName(codec) !== recorded) {
        throw channelError(
          'ERR_CHANNEL_FORMAT',
          `PubSub.open: segment ${shm.id} was created with codec '${recorded}', not '${codecName(codec)}'; open it with the same codec`,
        );
      }
      return new PubSub(shm, capacity, lag, codec, wait ?? created);
    } catch (error) {
      shm.detach();
      throw error;
    }
  }

  static #readHeader(shm: SharedMemory): [number, WaitMode, F.LagPolicy, string] {
    const what = `PubSub.open: segment ${shm.id}`;
    if (shm.size < F.HEADER_SIZE) {
      throw channelError('ERR_CHANNEL_FORMAT', `${what} is not a shmkit PubSub (${shm.size} bytes, smaller than its header)`);
    }
    const i32 = new Int32Array(shm.buffer, 0, F.HEADER_SIZE >> 2);
    // Its creator may still be writing the header (the magic comes last).
    const magic = awaitMagic(i32, F.OFF_MAGIC >> 2);
    if (magic !== F.MAGIC) {
      throw channelError(
        'ERR_CHANNEL_FORMAT',
        `${what} is not a shmkit PubSub (magic 0x${magic.toString(16)}, expected 0x${F.MAGIC.toString(16)})`,
      );
    }
    const version = i32[F.OFF_VERSION >> 2]!;
    if (version !== F.VERSION) {
      throw channelError(
        'ERR_CHANNEL_FORMAT',
        `${what} is a PubSub of format version ${version}; this shmkit reads version ${F.VERSION} only`,
      );
    }
    const capacity = i32[F.OFF_CAPACITY >> 2]!;
    const lag = F.LAG_POLICIES[i32[F.OFF_LAG >> 2]!];
    const codecLength = i32[F.OFF_CODEC_LENGTH >> 2]!;
    const valid =
      i32[F.OFF_HEADER_SIZE >> 2] === F.HEADER_SIZE &&
      capacity >= F.MIN_CAPACITY &&
      capacity <= F.MAX_CAPACITY &&
      (capacity & (capacity - 1)) === 0 &&
      F.HEADER_SIZE + capacity <= shm.size &&
      i32[F.OFF_MAX_PUBLISHERS >> 2] === F.MAX_PUBLISHERS &&
      i32[F.OFF_MAX_SUBSCRIBERS >> 2] === F.MAX_SUBSCRIBERS &&
      lag !== undefined &&
      codecLength > 0 &&
      codecLength <= F.MAX_CODEC_NAME;
    if (!valid) throw channelError('ERR_CHANNEL_FORMAT', `${what} has a corrupt PubSub header (capacity ${capacity})`);
    const codec = fromUtf8.decode(new Uint8Array(shm.buffer, F.OFF_CODEC, codecLength));
    return [capacity, WAIT_MODES[i32[F.OFF_WAIT_MODE >> 2]!] ?? 'adaptive', lag, codec];
  }

  /** Whether the PubSub was closed (by any process), or this PubSub object detached (as a Channel's `closed`). */
  get closed(): boolean {
    return this.#shm.detached || this.#ring.closed;
  }

  /** How many subscribers are subscribed now, in every process. */
  get subscribers(): number {
    this.#assertAttached('subscribers');
    return this.#ring.subscriberCount();
  }

  #assertAttached(what: string): void {
    if (this.#shm.detached) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the PubSub is detached`);
  }

  /**
   * A new publisher, registered in the segment until it is closed.
   * @throws ChannelError ERR_CHANNEL_CLOSED, ERR_CHANNEL_BUSY (128 live publishers already).
   */
  publisher(): Publisher<T> {
    this.#assertAttached('publisher');
    if (this.#ring.closed) throw channelError('ERR_CHANNEL_CLOSED', 'publisher: the PubSub is closed');
    const writer = this.#ring.registerPublisher();
    if (writer === 0) throw channelError('ERR_CHANNEL_BUSY', `publisher: the PubSub has ${F.MAX_PUBLISHERS} live publishers already`);
    const publisher = Publisher.make<T>(this.#ring, writer, this.#codec, this.#hooks);
    this.#endpoints.add(publisher);
    this.#registrations.writers.add(writer);
    return publisher;
  }

  /**
   * A new subscriber: it receives every message published from now on.
   * @throws ChannelError ERR_CHANNEL_CLOSED, ERR_CHANNEL_BUSY (128 live subscribers already).
   */
  subscriber(): Subscriber<T> {
    this.#assertAttached('subscriber');
    if (this.#ring.closed) throw channelError('ERR_CHANNEL_CLOSED', 'subscriber: the PubSub is closed');
    const cursor = ReadCursor.join(this.#ring);
    if (cursor === undefined) {
      throw channelError('ERR_CHANNEL_BUSY', `subscriber: the PubSub has ${F.MAX_SUBSCRIBERS} live subscribers already`);
    }
    const cursors = this.#registrations.cursors;
    cursors.add(cursor);
    const hooks: PubSubHooks = {
      mode: this.wait,
      forget: (endpoint) => {
        this.#endpoints.delete(endpoint as Subscriber<T>);
        cursors.delete(cursor);
      },
    };
    const subscriber = Subscriber.make<T>(this.#ring, cursor, this.#codec, this.#codec === resolveCodec('bytes'), hooks);
    this.#endpoints.add(subscriber);
    return subscriber;
  }

  /**
   * Closes the PubSub for every process: sends reject with
   * ERR_CHANNEL_CLOSED; subscribers still get what is in the ring, then
   * recv() rejects and iteration ends.
   */
  close(): void {
    this.#assertAttached('close');
    // The claim lock is held by a writer id: borrow a publisher entry for it.
    const writer = this.#ring.registerPublisher();
    try {
      this.#ring.close(writer);
    } finally {
      if (writer !== 0) this.#ring.unregisterPublisher(writer);
    }
  }

  /** Marks the segment for removal (IPC_RMID): it goes once every process detached. */
  remove(): void {
    this.#shm.remove();
  }

  /** Closes this process's publishers and subscribers (the PubSub stays open), then detaches. */
  detach(): void {
    this.#assertAttached('detach');
    for (const endpoint of [...this.#endpoints]) endpoint.close();
    release(this.#registrations);
    reclaimer.forget(this.#registrations);
    this.#shm.detach();
  }

  [Symbol.dispose](): void {
    if (!this.#shm.detached) this.detach();
  }
}
