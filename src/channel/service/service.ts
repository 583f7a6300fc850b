// Service: request/reply between processes on two kinds of channel. One
// request channel, which every client sends into and the server receives
// from, and one reply channel per client. A small segment of its own (the
// one a key names) records the request channel, the codec and the server.
import { ChannelError, channelError, IpcError, outOfRange } from '../../core/errors.js';
import { optionNames, validateMode, validateOptions } from '../../core/validate.js';
import { createUnfinished, finishCreation, type SegmentLocator, SharedMemory } from '../../shm/shared-memory.js';
import { awaitMagic, openSegment } from '../open-segment.js';
import { statById } from '../presence.js';
import { Channel } from '../channel.js';
import { builtInCodec, codecName, resolveCodec, type Codec, type CodecOption, type OpenedValue, type ValueOf } from '../codec.js';
import type { WaitMode } from '../format.js';
import type { Sender } from '../sender.js';
import { ServiceClient, type ServiceClientOptions } from './client.js';
import type { ServiceCore } from './core.js';
import * as F from './format.js';
import { serverBusy, ServiceServer, type ServeOptions, type ServiceHandler } from './server.js';

export interface ServiceCreateOptions<C extends CodecOption = CodecOption> {
  /** A System V key; without key or path the service is private (open it by id). */
  key?: number | undefined;
  /** A file whose identity gives the key through ftok(path, projId). */
  path?: string | undefined;
  /** The project id for ftok (default 1). */
  projId?: number | undefined;
  /** The request channel's capacity in bytes (see Channel.create); also the default of each client's reply channel. */
  capacity: number;
  /**
   * How requests and replies are encoded (default `'bytes'`); recorded, so an
   * opener with another codec is refused. Its value type (`ValueOf<C>`) is
   * the type of requests and replies, unless the caller names them.
   */
  codec?: C | undefined;
  /** Permission bits of the service's segments and of every client's reply channel; default 0o600. */
  mode?: number | undefined;
  /** How the service's channels wait (see Channel.create); default `'adaptive'`. */
  wait?: WaitMode | undefined;
}

/** Where a service is: exactly one of its key, ftok path or segment id. */
export type ServiceAddress = SegmentLocator;

export interface ServiceOpenOptions<C extends CodecOption | undefined = CodecOption | undefined> {
  /**
   * The codec, which must be the one the service was created with (by name:
   * a user codec's `name`). Default: the recorded one, if it is built in.
   * Its value type (`ValueOf<C>`) is the type of requests and replies,
   * unless the caller names them; without a codec they are `any`.
   */
  codec?: C | undefined;
  /** This process's wait mode; default: the one the service was created with. */
  wait?: WaitMode | undefined;
}

const CREATE_OPTIONS = optionNames<ServiceCreateOptions>()('key', 'path', 'projId', 'capacity', 'codec', 'mode', 'wait');
const ADDRESS_OPTIONS = optionNames<ServiceAddress>()('key', 'path', 'projId', 'id');
const OPEN_OPTIONS = optionNames<ServiceOpenOptions>()('codec', 'wait');

/**
 * Removes a service segment that this process just detached from if no
 * process has it attached any more (true if so): the last one to detach
 * removes it.
 * Counted after the detach, not before: two processes that detach at once
 * would each count the other and neither remove it, leaving the key taken by
 * a service whose request channel is gone.
 */
function removeIfUnattached(shm: SharedMemory): boolean {
  try {
    if (shm.stat().shm_nattch !== 0) return false;
    shm.remove();
    return true;
  } catch {
    return false; // removed already (a private service goes with its last detach), or not ours to remove
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Request/reply between processes: a server answers requests from any
 * number of clients in any processes, each with any number of requests
 * pending. A server that dies fails its clients' pending requests with
 * `ERR_CHANNEL_PEER_DEAD`; a client that dies costs the server nothing.
 *
 * ```ts
 * using service = Service.create<number, number>({ capacity: 1 << 16, codec: 'json' });
 * using server = service.serve((n: number) => n * 2);
 * // in any process: Service.open({ id }, { codec: 'json' }).client()
 * using client = service.client();
 * console.log(await client.request(21)); // 42
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: untyped unless the caller names the request and reply types
export class Service<Req = any, Res = any> implements Disposable {
  /** The service segment's id (shmid): what `Service.open({ id })` takes. */
  readonly id: number;
  /** The key it was created or opened by (0 if private). */
  readonly key: number;
  /** The request channel's capacity in bytes. */
  readonly capacity: number;
  /** The codec's recorded name (`'json'`, a user codec's name, or `'custom'`). */
  readonly codec: string;
  readonly #shm: SharedMemory;
  readonly #core: ServiceCore;
  readonly #endpoints = new Set<ServiceServer | ServiceClient>();
  #sender: Sender | undefined;

  private constructor(shm: SharedMemory, requests: Channel, codec: Codec<unknown>, mode: number) {
    this.#shm = shm;
    this.id = shm.id;
    this.key = shm.key;
    this.capacity = requests.capacity;
    this.codec = codecName(codec);
    this.#core = {
      header: new Int32Array(shm.buffer, 0, F.SEGMENT_SIZE >> 2),
      requests,
      codec,
      mode,
      capacity: requests.capacity,
      id: shm.id,
      name: `service ${shm.id}`,
      requestSender: () => {
        this.#sender ??= requests.sender();
        return this.#sender;
      },
      forget: (endpoint) => this.#endpoints.delete(endpoint as ServiceServer | ServiceClient),
    };
  }

  /**
   * Creates a service: its segment (exclusive: EEXIST if the key is taken)
   * and its request channel. The service lives while some process has it
   * attached: its channels are private and go with the last detach.
   *
   * Requests and replies are typed by the codec, as a Channel's messages are
   * (`ValueOf<C>`: `Uint8Array` for `'bytes'`, `string` for `'text'`,
   * `unknown` for `'json'` and `'v8'`, `T` for a `Codec<T>`), or as the caller
   * names them: `Service.create<Req, Res>(...)`.
   * @throws IpcError EEXIST, ENOSPC, EACCES; TypeError/RangeError for bad options.
   */
  static create<C extends CodecOption = 'bytes'>(options: ServiceCreateOptions<C>): Service<ValueOf<C>, ValueOf<C>>;
  /** Creates a service whose requests are `Req` and replies `Res`, as the caller names them (`any` if not named). */
  // biome-ignore lint/suspicious/noExplicitAny: untyped unless the caller names the request and reply types
  static create<Req = any, Res = any>(options: ServiceCreateOptions): Service<Req, Res>;
  static create(options: ServiceCreateOptions): Service {
    const opts = validateOptions(options, CREATE_OPTIONS, 'Service.create()') as unknown as ServiceCreateOptions;
    const codec = resolveCodec(opts.codec);
    const name = encoder.encode(codecName(codec));
    if (name.length > F.CODEC_NAME_MAX) {
      throw outOfRange(
        'options.codec.name',
        `at most ${F.CODEC_NAME_MAX} bytes of UTF-8 (a service records it); it has ${name.length}`,
        codecName(codec),
      );
    }
    const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
    const requests = Channel.create({ capacity: opts.capacity, mode, wait: opts.wait, autoRemove: true });
    let shm: SharedMemory;
    for (let attempt = 1; ; attempt++) {
      try {
        // Keyed, it is removed if this thread ends before the header is written: see createUnfinished.
        shm = createUnfinished({ key: opts.key, path: opts.path, projId: opts.projId, size: F.SEGMENT_SIZE, mode });
        break;
      } catch (error) {
        // The key of a service whose every process died (a server killed, then started again) is taken over.
        if (attempt === 1 && error instanceof IpcError && error.code === 'EEXIST' && Service.#removeDead(opts)) continue;
        requests.detach();
        throw error;
      }
    }
    const bytes = new Uint8Array(shm.buffer, 0, F.SEGMENT_SIZE);
    const view = new DataView(shm.buffer, 0, F.SEGMENT_SIZE);
    view.setUint32(F.OFF_VERSION, F.VERSION, true);
    view.setInt32(F.OFF_REQUESTS, requests.id, true);
    view.setUint32(F.OFF_MODE, mode, true);
    view.setUint32(F.OFF_CAPACITY, requests.capacity, true);
    view.setUint32(F.OFF_CODEC_LENGTH, name.length, true);
    bytes.set(name, F.OFF_CODEC_NAME);
    // The magic last: an opener that sees it sees the rest.
    Atomics.store(new Int32Array(shm.buffer, 0, 1), F.OFF_MAGIC >> 2, F.MAGIC | 0);
    finishCreation(shm);
    return new Service(shm, requests, codec, mode);
  }

  /**
   * Opens an existing service by key, path or id.
   * @throws ChannelError ERR_CHANNEL_FORMAT if the segment is not a service,
   *   or if `options.codec` is not the service's codec; ERR_CHANNEL_CLOSED if
   *   its request channel is gone (every process that had it ended or
   *   detached: a keyed one is taken over by the next Service.create); IpcError
   *   ENOENT, EINVAL/EIDRM, EACCES.
   *
   * Requests and replies are typed by `options.codec`, as a Channel's
   * messages are (`OpenedValue<C>`: `any` without a codec, since the service
   * records it), or as the caller names them: `Service.open<Req, Res>(...)`.
   */
  static open<C extends CodecOption | undefined = undefined>(
    where: ServiceAddress,
    options?: ServiceOpenOptions<C>,
  ): Service<OpenedValue<C>, OpenedValue<C>>;
  /** Opens a service whose requests are `Req` and replies `Res`, as the caller names them (`any` if not named). */
  // biome-ignore lint/suspicious/noExplicitAny: untyped unless the caller names the request and reply types
  static open<Req = any, Res = any>(where: ServiceAddress, options?: ServiceOpenOptions): Service<Req, Res>;
  static open(where: ServiceAddress, options: ServiceOpenOptions = {}): Service {
    const address = validateOptions(where, ADDRESS_OPTIONS, 'Service.open()', 'where') as ServiceAddress;
    const opts = validateOptions(options, OPEN_OPTIONS, 'Service.open()') as ServiceOpenOptions;
    const wanted = opts.codec === undefined ? undefined : resolveCodec(opts.codec);
    const shm = openSegment(address, 'Service');
    let service = false;
    try {
      const header = Service.#readHeader(shm);
      service = true;
      let codec = wanted;
      if (codec === undefined) {
        if (builtInCodec(header.codec) === undefined) {
          throw channelError(
            'ERR_CHANNEL_FORMAT',
            `Service.open: segment ${shm.id} is a service with the user codec '${header.codec}': pass it as options.codec`,
          );
        }
        codec = resolveCodec(header.codec as CodecOption);
      } else if (codecName(codec) !== header.codec) {
        throw channelError(
          'ERR_CHANNEL_FORMAT',
          `Service.open: segment ${shm.id} is a service whose codec is '${header.codec}', but options.codec is '${codecName(codec)}': open it with the same codec`,
        );
      }
      let requests: Channel;
      try {
        requests = Channel.open({ id: header.requests, wait: opts.wait });
      } catch (error) {
        if (error instanceof IpcError && (error.code === 'EINVAL' || error.code === 'EIDRM' || error.code === 'ENOENT')) {
          throw channelError(
            'ERR_CHANNEL_CLOSED',
            `Service.open: the request channel (segment ${header.requests}) of service ${shm.id} is gone: every process that had the service ended or detached from it; ` +
              (shm.key === 0
                ? `remove segment ${shm.id} (shmkit rm ${shm.id})`
                : `Service.create with its key takes its place (or remove it: shmkit rm ${shm.id})`),
          );
        }
        throw error;
      }
      return new Service(shm, requests, codec, header.mode);
    } catch (error) {
      shm.detach();
      // As in detach(): the last process that had it may have detached while this one had it.
      if (service && removeIfUnattached(shm) && error instanceof ChannelError && error.code === 'ERR_CHANNEL_CLOSED') {
        throw channelError(
          'ERR_CHANNEL_CLOSED',
          `Service.open: the request channel of service ${shm.id} is gone: every process that had the service ended or detached from it, and this open, the last to have it, removed it` +
            (shm.key === 0 ? '' : `; Service.create with its key makes a new one`),
        );
      }
      throw error;
    }
  }

  /**
   * Removes the service that the key of `where` names if it is dead: nobody
   * but this check has it attached (a service lives while some process does)
   * and its request channel is gone. True if it was removed (or went
   * meanwhile), false if the key names anything else: a live service, or a
   * segment that is not a service, which stays.
   */
  static #removeDead(where: Pick<ServiceCreateOptions, 'key' | 'path' | 'projId'>): boolean {
    let shm: SharedMemory;
    try {
      shm =
        where.key !== undefined
          ? SharedMemory.open({ key: where.key })
          : SharedMemory.open({ path: where.path as string, projId: where.projId });
    } catch (error) {
      return error instanceof IpcError && error.code === 'ENOENT';
    }
    try {
      const { requests } = Service.#readHeader(shm);
      if (shm.stat().shm_nattch !== 1 || statById(requests) !== 'gone') return false;
      shm.remove();
      return true;
    } catch {
      return false; // not a service of this format, or not ours to remove
    } finally {
      shm.detach();
    }
  }

  static #readHeader(shm: SharedMemory): { requests: number; mode: number; codec: string } {
    const what = `Service.open: segment ${shm.id}`;
    if (shm.size < F.SEGMENT_SIZE) {
      throw channelError('ERR_CHANNEL_FORMAT', `${what} is not a shmkit service (${shm.size} bytes, smaller than a service header)`);
    }
    const view = new DataView(shm.buffer, 0, F.SEGMENT_SIZE);
    // Its creator may still be writing the header (the magic comes last).
    const magic = awaitMagic(new Int32Array(shm.buffer, 0, 1), F.OFF_MAGIC >> 2);
    if (magic !== F.MAGIC) {
      throw channelError(
        'ERR_CHANNEL_FORMAT',
        `${what} is not a shmkit service (magic 0x${magic.toString(16)}, expected 0x${F.MAGIC.toString(16)})`,
      );
    }
    const version = view.getUint32(F.OFF_VERSION, true);
    if (version !== F.VERSION) {
      throw channelError(
        'ERR_CHANNEL_FORMAT',
        `${what} is a service of format version ${version}; this shmkit reads version ${F.VERSION} only`,
      );
    }
    const length = view.getUint32(F.OFF_CODEC_LENGTH, true);
    if (length === 0 || length > F.CODEC_NAME_MAX)
      throw channelError('ERR_CHANNEL_FORMAT', `${what} has a corrupt service header (codec name of ${length} bytes)`);
    return {
      requests: view.getInt32(F.OFF_REQUESTS, true),
      mode: view.getUint32(F.OFF_MODE, true) & 0o777,
      codec: decoder.decode(new Uint8Array(shm.buffer, F.OFF_CODEC_NAME, length)),
    };
  }

  /**
   * Starts serving: `handler(value, info)` answers each request with a value
   * or a promise of one; what it throws goes back as an error reply. One
   * server per service at a time (in any process).
   * @throws ChannelError ERR_CHANNEL_BUSY if a live process serves already.
   */
  serve(handler: ServiceHandler<Req, Res>, options: ServeOptions = {}): ServiceServer {
    this.#assertAttached('serve');
    let server: ServiceServer;
    try {
      server = ServiceServer.make(this.#core, handler, options);
    } catch (error) {
      throw serverBusy(error, this.#core.name);
    }
    this.#endpoints.add(server);
    return server;
  }

  /** A new client, with a reply channel of its own. */
  client(options: ServiceClientOptions = {}): ServiceClient<Req, Res> {
    this.#assertAttached('client');
    const client = ServiceClient.make<Req, Res>(this.#core, options);
    this.#endpoints.add(client);
    return client;
  }

  #assertAttached(what: string): void {
    if (this.#shm.detached) throw channelError('ERR_CHANNEL_CLOSED', `${what}: the service is detached`);
  }

  /**
   * Marks the service segment for removal (IPC_RMID): its key is free at once; it goes once every process detached.
   * @throws ChannelError ERR_CHANNEL_CLOSED after detach().
   */
  remove(): void {
    this.#assertAttached('remove');
    this.#shm.remove();
  }

  /**
   * Detaches this process: its server stops at once (replies of handlers
   * still running are dropped), its clients close (their pending requests
   * reject with ERR_CHANNEL_CLOSED). The last process to detach removes the
   * service segment.
   */
  detach(): void {
    this.#assertAttached('detach');
    for (const endpoint of [...this.#endpoints]) {
      if (endpoint instanceof ServiceServer) endpoint.stopNow();
      else endpoint.close();
    }
    this.#sender?.close();
    this.#core.requests.detach();
    this.#shm.detach();
    removeIfUnattached(this.#shm);
  }

  [Symbol.dispose](): void {
    if (!this.#shm.detached) this.detach();
  }
}
