// Channel: a ring of variable-length messages in one shared-memory segment,
// for any number of senders and one receiver, in any processes (and C
// programs that follow docs/channel-format.md).
import { createUnfinished, finishCreation, type SegmentLocator, type SharedMemory } from '../shm/shared-memory.js';
import { awaitMagic, openSegment } from './open-segment.js';
import { channelError, invalidType, invalidValue, outOfRange } from '../core/errors.js';
import { optionNames, validateInteger, validateOptions } from '../core/validate.js';
import { validateWaitMode } from '../core/wait-options.js';
import {
  builtInCodec,
  type Codec,
  type CodecOption,
  codecName,
  isBytesCodec,
  type OpenedValue,
  resolveCodec,
  type ValueOf,
} from './codec.js';
import * as F from './format.js';
import { threadLiveness } from './liveness.js';
import { Reclaimer } from './reclaim.js';
import { Ring } from './ring.js';
import { Receiver } from './receiver.js';
import { Sender, type EndpointHooks } from './sender.js';

export interface ChannelCreateOptions<C extends CodecOption = CodecOption> {
  /** A System V key; without key or path the channel is private (open it by id). */
  key?: number | undefined;
  /** A file whose identity gives the key through ftok(path, projId). */
  path?: string | undefined;
  /** The project id for ftok (default 1). */
  projId?: number | undefined;
  /** Ring size in bytes, rounded up to a power of two (at least 256, at most 1 GiB). A message may be up to capacity - 32 bytes once encoded. */
  capacity: number;
  /** Permission bits; default 0o600. */
  mode?: number | undefined;
  /**
   * How endpoints wait (the default for every process that opens it):
   * `'adaptive'` (default) spins ~50 µs then sleeps; `'spin'` spins up to
   * 2 ms first (lowest latency, costs CPU); `'sleep'` sleeps at once.
   */
  wait?: F.WaitMode | undefined;
  /** Remove the segment when the last process detaches, even after a crash; it is then opened by id only. */
  autoRemove?: boolean | undefined;
  /**
   * How messages are encoded (recorded in the segment): `'bytes'` (default:
   * bytes and strings in, `Uint8Array` out), `'text'` (strings), `'json'`,
   * `'v8'` (structured clone) or a user {@link Codec} (its name, at most 64
   * bytes of UTF-8 and none of those four, is recorded; `'custom'` if it has none).
   */
  codec?: C | undefined;
}

/** Options of {@link Channel.open}: where the channel is (exactly one of a key, a path or an id), and how to open it. */
export type ChannelOpenOptions<C extends CodecOption | undefined = CodecOption | undefined> = SegmentLocator & {
  /** This process's wait mode; default: the one the channel was created with. */
  wait?: F.WaitMode | undefined;
  /**
   * The codec; it must be the one the channel was created with (its name is
   * compared). Default: the built-in codec the channel records; a channel
   * made with a user codec needs that codec here.
   */
  codec?: C | undefined;
  /**
   * Opens at the byte level, whatever codec the channel records: sends take
   * and receives give the encoded bytes, undecoded (a `Channel<Uint8Array>`).
   * For tools that move messages without reading them (the NATS bridge
   * does); not with `codec`.
   */
  raw?: boolean | undefined;
};

const CREATE_OPTIONS = optionNames<ChannelCreateOptions>()('key', 'path', 'projId', 'capacity', 'mode', 'wait', 'autoRemove', 'codec');
const OPEN_OPTIONS = optionNames<ChannelOpenOptions>()('key', 'path', 'projId', 'id', 'wait', 'codec', 'raw');

/**
 * What one Channel object registered in its segment. Kept apart from the
 * Channel (which may be garbage collected without detach()) so that exiting,
 * or the collector, can still take it back.
 */
interface Registrations {
  readonly ring: Ring;
  readonly writers: Set<number>;
  receiver: boolean;
}

/**
 * @internal A channel's header words (over its first HEADER_SIZE bytes), for
 * the marks a Service writes in its reserved space (service/format.ts).
 */
export let channelHeader: (channel: Channel<unknown>) => Int32Array;

function release(registrations: Registrations): void {
  const { ring, writers } = registrations;
  try {
    for (const writer of writers) ring.unregisterSender(writer);
    if (registrations.receiver) ring.unregisterReceiver();
  } catch {
    // The segment went away under us (detached elsewhere): nothing to take back.
  }
  writers.clear();
  registrations.receiver = false;
}

/** Takes back what a channel dropped without detach(), or left open at exit, registered. */
const reclaimer = new Reclaimer<Registrations>(release);

/**
 * A message channel in one shared-memory segment. Many senders and one
 * receiver, in any processes; each message arrives exactly once, in order
 * per sender; a crashed sender never leaves half a message or a stuck ring.
 * Waits never block the event loop.
 *
 * ```ts
 * using channel = Channel.create({ capacity: 1 << 20, autoRemove: true });
 * const receiver = channel.receiver();
 * // in a worker: Channel.open({ id }).sender().send('hello')
 * for await (const message of receiver) console.log(new TextDecoder().decode(message));
 * ```
 */
export class Channel<T = Uint8Array> implements Disposable {
  /** The segment's id (shmid). */
  readonly id: number;
  /** The key it was created or opened by (0 if private). */
  readonly key: number;
  /** The ring's size in bytes. */
  readonly capacity: number;
  /** How this process's endpoints wait. */
  readonly wait: F.WaitMode;
  /** The name of the channel's codec, as recorded in the segment (`'bytes'`, `'text'`, `'json'`, `'v8'` or a user codec's). */
  readonly codec: string;
  /** The codec endpoints use; undefined for bytes, which keep the plain byte path. */
  readonly #codec: Codec<T> | undefined;
  readonly #shm: SharedMemory;
  readonly #ring: Ring;
  readonly #endpoints = new Set<Sender<T> | Receiver<T>>();
  readonly #hooks: EndpointHooks;
  readonly #registrations: Registrations;

  static {
    channelHeader = (channel) => new Int32Array(channel.#shm.buffer, 0, F.HEADER_SIZE >> 2);
  }

  private constructor(shm: SharedMemory, capacity: number, wait: F.WaitMode, codec: Codec<T>, recorded = codecName(codec)) {
    this.#shm = shm;
    this.codec = recorded;
    this.#codec = isBytesCodec(codec) ? undefined : codec;
    this.id = shm.id;
    this.key = shm.key;
    this.capacity = capacity;
    this.wait = wait;
    this.#ring = new Ring(shm.buffer, capacity, threadLiveness, process.pid);
    const registrations: Registrations = { ring: this.#ring, writers: new Set(), receiver: false };
    this.#registrations = registrations;
    this.#hooks = {
      mode: wait,
      forget: (endpoint, writer) => {
        this.#endpoints.delete(endpoint as Sender<T> | Receiver<T>);
        if (writer === undefined) registrations.receiver = false;
        else registrations.writers.delete(writer);
      },
      close: () => this.close(),
    };
    reclaimer.track(this, registrations);
  }

  /**
   * Creates a channel in a new segment (exclusive: fails with EEXIST if the key is taken).
   * @throws IpcError EEXIST, ENOSPC, EINVAL (capacity beyond the kernel's shmmax), EACCES;
   *   TypeError ERR_INVALID_ARG_VALUE for a user codec named after a built-in one.
   */
  static create<C extends CodecOption = 'bytes'>(options: ChannelCreateOptions<C>): Channel<ValueOf<C>> {
    const opts = validateOptions(options, CREATE_OPTIONS, 'Channel.create()') as unknown as ChannelCreateOptions;
    const requested = validateInteger(opts.capacity, 'options.capacity', 1, F.MAX_CAPACITY);
    const wait = validateWaitMode(opts.wait, 'options.wait') ?? 'adaptive';
    const codec = resolveCodec(opts.codec);
    const name = new TextEncoder().encode(codecName(codec));
    if (name.length > F.CODEC_NAME_MAX) {
      throw outOfRange('options.codec.name', `at most ${F.CODEC_NAME_MAX} bytes of UTF-8 (it is recorded in the header)`, codecName(codec));
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
    // The bytes codec is recorded as nothing, as channels were before codecs.
    Ring.initialize(shm.buffer, capacity, F.WAIT_MODES.indexOf(wait), process.pid, isBytesCodec(codec) ? undefined : name);
    finishCreation(shm);
    return new Channel(shm, capacity, wait, codec);
  }

  /**
   * Opens an existing channel by key, path or id at the byte level
   * (`raw: true`): a `Channel<Uint8Array>` whatever codec the segment
   * records, whose sends take and receives give the encoded bytes.
   * @throws ChannelError ERR_CHANNEL_FORMAT if the segment is not a channel of
   *   this format version; IpcError ENOENT, EINVAL/EIDRM, EACCES.
   */
  static open(options: ChannelOpenOptions<undefined> & { raw: true }): Channel<Uint8Array>;
  /**
   * Opens an existing channel by key, path or id: typed by `options.codec`
   * (`OpenedValue<C>`), or `Channel<any>` without one, as the codec is then
   * the one the segment records.
   * @throws ChannelError ERR_CHANNEL_FORMAT if the segment is not a channel of
   *   this format version, or was created with another codec than
   *   `options.codec` (or with a user codec, and none is given); IpcError
   *   ENOENT, EINVAL/EIDRM, EACCES.
   */
  static open<C extends CodecOption | undefined = undefined>(options: ChannelOpenOptions<C>): Channel<OpenedValue<C>>;
  static open(options: ChannelOpenOptions): Channel<unknown> {
    const opts = validateOptions(options, OPEN_OPTIONS, 'Channel.open()') as unknown as ChannelOpenOptions;
    const wait = validateWaitMode(opts.wait, 'options.wait');
    const asked = opts.codec === undefined ? undefined : resolveCodec(opts.codec);
    const raw = opts.raw ?? false;
    if (typeof raw !== 'boolean') throw invalidType('options.raw', 'of type boolean', raw);
    if (raw && asked !== undefined)
      throw invalidValue('options.raw', 'a raw opener takes the bytes as they are: give no codec with it', raw);
    const shm = openSegment(opts, 'Channel');
    try {
      const [capacity, created, recorded] = Channel.#readHeader(shm);
      const codec = raw ? resolveCodec(undefined) : Channel.#codecFor(shm, recorded, asked);
      return new Channel(shm, capacity, wait ?? created, codec, recorded);
    } catch (error) {
      shm.detach();
      throw error;
    }
  }

  /** The codec an opener uses: the one it asked for if the segment records the same name, else the recorded built-in one. */
  static #codecFor(shm: SharedMemory, recorded: string, asked: Codec<unknown> | undefined): Codec<unknown> {
    const what = `Channel.open: segment ${shm.id}`;
    if (asked !== undefined) {
      if (codecName(asked) === recorded) return asked;
      throw channelError(
        'ERR_CHANNEL_FORMAT',
        `${what} carries messages of the '${recorded}' codec, but options.codec is '${codecName(asked)}': open it with codec '${recorded}'`,
      );
    }
    const codec = builtInCodec(recorded);
    if (codec === undefined) {
      throw channelError(
        'ERR_CHANNEL_FORMAT',
        `${what} was created with the user codec '${recorded}', which cannot be found from its name: pass that codec as options.codec`,
      );
    }
    return codec;
  }

  static #readHeader(shm: SharedMemory): [number, F.WaitMode, string] {
    const what = `Channel.open: segment ${shm.id}`;
    if (shm.size < F.HEADER_SIZE) {
      throw channelError('ERR_CHANNEL_FORMAT', `${what} is not a shmkit channel (${shm.size} bytes, smaller than a channel header)`);
    }
    const i32 = new Int32Array(shm.buffer, 0, F.HEADER_SIZE >> 2);
    // Its creator may still be writing the header (the magic comes last).
    const magic = awaitMagic(i32, F.OFF_MAGIC >> 2);
    if (magic !== F.MAGIC) {
      throw channelError(
        'ERR_CHANNEL_FORMAT',
        `${what} is not a shmkit channel (magic 0x${magic.toString(16)}, expected 0x${F.MAGIC.toString(16)})`,
      );
    }
    const version = i32[F.OFF_VERSION >> 2]!;
    if (version !== F.VERSION) {
      const hint =
        version < F.VERSION
          ? ': it was made by an older shmkit; create the channel again with this one (docs/channel-format.md lists the changes)'
          : ': it was made by a newer shmkit; open it with that version';
      throw channelError(
        'ERR_CHANNEL_FORMAT',
        `${what} is a channel of format version ${version}; this shmkit reads version ${F.VERSION} only${hint}`,
      );
    }
    const headerSize = i32[F.OFF_HEADER_SIZE >> 2]!;
    const capacity = i32[F.OFF_CAPACITY >> 2]!;
    const maxSenders = i32[F.OFF_MAX_SENDERS >> 2]!;
    const corrupt = (why: string) => channelError('ERR_CHANNEL_FORMAT', `${what} has a corrupt channel header (${why})`);
    if (headerSize !== F.HEADER_SIZE) throw corrupt(`header_size ${headerSize}, not ${F.HEADER_SIZE}`);
    if (capacity < F.MIN_CAPACITY || capacity > F.MAX_CAPACITY || (capacity & (capacity - 1)) !== 0)
      throw corrupt(`capacity ${capacity}, not a power of two from ${F.MIN_CAPACITY} to ${F.MAX_CAPACITY}`);
    if (F.HEADER_SIZE + capacity > shm.size) throw corrupt(`capacity ${capacity}: the ring does not fit a segment of ${shm.size} bytes`);
    if (maxSenders !== F.MAX_SENDERS) throw corrupt(`max_senders ${maxSenders}, not ${F.MAX_SENDERS}`);
    const nameLength = i32[F.OFF_CODEC_LENGTH >> 2]!;
    if (nameLength < 0 || nameLength > F.CODEC_NAME_MAX) {
      throw channelError('ERR_CHANNEL_FORMAT', `${what} has a corrupt channel header (codec name of ${nameLength} bytes)`);
    }
    // A name that is not UTF-8 reads with U+FFFD: it then matches no codec, and the opener is told.
    const codec = nameLength === 0 ? 'bytes' : new TextDecoder().decode(new Uint8Array(shm.buffer, F.OFF_CODEC_NAME, nameLength));
    return [capacity, F.WAIT_MODES[i32[F.OFF_WAIT_MODE >> 2]!] ?? 'adaptive', codec];
  }

  /**
   * Whether the channel was closed (by any process), or this Channel object
   * detached: then nothing can be sent or received through it, as through a
   * closed one.
   */
  get closed(): boolean {
    // Its segment must not be read once detached (its views are empty): that reads as closed.
    return this.#shm.detached || this.#ring.closed;
  }

  #assertAttached(what: string): void {
    if (this.#shm.detached) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the channel is detached`);
  }

  /**
   * A new sender, registered in the segment until it is closed.
   * @throws ChannelError ERR_CHANNEL_CLOSED, ERR_CHANNEL_BUSY (256 live senders already).
   */
  sender(): Sender<T> {
    this.#assertAttached('sender');
    if (this.#ring.closed) throw channelError('ERR_CHANNEL_CLOSED', 'sender: the channel is closed');
    const writer = this.#ring.registerSender();
    if (writer === 0) throw channelError('ERR_CHANNEL_BUSY', `sender: the channel has ${F.MAX_SENDERS} live senders already`);
    const sender = Sender.make<T>(this.#ring, writer, this.#hooks, this.#codec);
    this.#endpoints.add(sender);
    this.#registrations.writers.add(writer);
    return sender;
  }

  /**
   * Becomes the channel's receiver. One at a time: a receiver whose process
   * died is replaced (it may get the message the dead one was reading again).
   * @throws ChannelError ERR_CHANNEL_BUSY if a live process is the receiver.
   */
  receiver(): Receiver<T> {
    this.#assertAttached('receiver');
    const owner = this.#ring.registerReceiver();
    if (owner !== 0) {
      const who = owner > 0 ? `process ${owner} (a pid as its own PID namespace sees it)` : 'a live process';
      throw channelError('ERR_CHANNEL_BUSY', `receiver: ${who} is the channel's receiver already`);
    }
    const receiver = Receiver.make<T>(this.#ring, this.#hooks, this.#codec);
    this.#endpoints.add(receiver);
    this.#registrations.receiver = true;
    return receiver;
  }

  /** Closes the channel for every process; the same as `receiver.close()`. */
  close(): void {
    this.#assertAttached('close');
    // The claim lock is held by a writer id: borrow an entry of the sender table for it.
    const writer = this.#ring.registerSender();
    try {
      this.#ring.close(writer);
    } finally {
      if (writer !== 0) this.#ring.unregisterSender(writer);
    }
  }

  /** Marks the segment for removal (IPC_RMID): it goes once every process detached. */
  remove(): void {
    this.#shm.remove();
  }

  /**
   * Detaches this process: its senders close, its receiver steps down (the
   * channel itself stays open), then the segment is detached.
   */
  detach(): void {
    this.#assertAttached('detach');
    this.#detachEndpoints();
    reclaimer.forget(this.#registrations);
    this.#shm.detach();
  }

  [Symbol.dispose](): void {
    if (!this.#shm.detached) this.detach();
  }

  #detachEndpoints(): void {
    for (const endpoint of [...this.#endpoints]) {
      if (endpoint instanceof Sender) endpoint.close();
      else endpoint.detach();
    }
  }
}
