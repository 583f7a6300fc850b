// Type-level checks of names a program annotates its own code with: error
// codes, what shmctl returns for each command, the options of recvBatch, the
// request and reply types a Service's codec gives, what a raw open carries,
// where the open of a Channel, PubSub or Service finds its segment. The
// build checks them against the sources; test/declarations.test.ts against
// the published declarations. Each @ts-expect-error line must be an error.
// The checks sit in a function that is never called, so running the compiled
// file does nothing.
import {
  type BridgeErrorCode,
  Channel,
  type ChannelOpenOptions,
  type Codec,
  MessageQueue,
  PubSub,
  type PubSubOpenOptions,
  Service,
  type ServiceClient,
  SharedMemory,
  IPC_RMID,
  IPC_STAT,
  type RecvBatchOptions,
  type SegmentLocator,
  type Receiver,
  SHM_LOCK,
  SHM_UNLOCK,
  type ShmidDs,
  StateError,
  type StateErrorCode,
  shmctl,
} from '../../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertEqual<A, B>(_proof: Equal<A, B>): void {}

/** Options a program passes on from its own, possibly undefined (under exactOptionalPropertyTypes too). */
export async function passedOnOptions(
  receiver: Receiver<Uint8Array>,
  o: { timeoutMs?: number; signal?: AbortSignal; readOnly?: boolean; key?: number; codec?: 'json'; type?: number },
): Promise<void> {
  await receiver.recv({ timeoutMs: o.timeoutMs, signal: o.signal });
  SharedMemory.open({ key: 1, readOnly: o.readOnly });
  Channel.create({ capacity: 1 << 16, key: o.key });
  const json = Channel.create({ capacity: 1 << 16, codec: o.codec });
  const value: unknown = await json.receiver().recv();
  void value;
  const queue = MessageQueue.open({ key: 1 });
  await queue.receive({ type: o.type, timeoutMs: o.timeoutMs });
  queue.tryReceive({ type: o.type });
}

export async function publicTypeCases(error: unknown, receiver: Receiver<string>): Promise<void> {
  if (error instanceof StateError) {
    const code: StateErrorCode = error.code;
    void code;
    // @ts-expect-error a misspelled code is no StateError code
    if (error.code === 'ERR_SHM_DETACHD') return;
  }
  const bridgeCode: BridgeErrorCode = 'ERR_BRIDGE_CONNECT';
  void bridgeCode;
  const stat: ShmidDs = shmctl(1, IPC_STAT);
  void stat;
  const removed: void = shmctl(1, IPC_RMID);
  const locked: void = shmctl(1, SHM_LOCK);
  const unlocked: void = shmctl(1, SHM_UNLOCK);
  void [removed, locked, unlocked];
  // @ts-expect-error IPC_RMID returns nothing to read
  shmctl(1, IPC_RMID).shm_segsz;
  const options: RecvBatchOptions = { max: 16, timeoutMs: 100 };
  const batch: string[] = await receiver.recvBatch(options);
  void batch;
}

/** A Service's requests and replies are typed by its codec, as a Channel's messages are, unless the caller names them. */
export async function serviceCodecCases(id: number): Promise<void> {
  const bytes = Service.create({ capacity: 4096 });
  assertEqual<typeof bytes, Service<Uint8Array, Uint8Array>>(true);
  const text = Service.create({ capacity: 4096, codec: 'text' });
  assertEqual<typeof text, Service<string, string>>(true);
  using textClient = text.client();
  const reply: string = await textClient.request('hello');
  void reply;
  // @ts-expect-error a text service's requests are strings
  await textClient.request(new Uint8Array(1));
  // @ts-expect-error a text service's handler answers strings
  text.serve((value) => value.length);
  const json = Service.create({ capacity: 4096, codec: 'json' });
  assertEqual<typeof json, Service<unknown, unknown>>(true);
  const point: Codec<{ x: number }> = { name: 'point', encode: (v) => new Uint8Array([v.x]), decode: (b) => ({ x: b[0]! }) };
  const points = Service.create({ capacity: 4096, codec: point });
  assertEqual<typeof points, Service<{ x: number }, { x: number }>>(true);
  points.serve(({ x }) => ({ x: x + 1 }));
  // Opened with a codec: typed by it; without one: whatever the service records.
  const openedText = Service.open({ id }, { codec: 'text' });
  assertEqual<typeof openedText, Service<string, string>>(true);
  const openedPoints = Service.open({ id }, { codec: point });
  assertEqual<ReturnType<typeof openedPoints.client>, ServiceClient<{ x: number }, { x: number }>>(true);
  const openedAny = Service.open({ id });
  // biome-ignore lint/suspicious/noExplicitAny: what an open without a codec gives, by a team decision
  assertEqual<typeof openedAny, Service<any, any>>(true);
  // The caller may name the types, as before.
  const named = Service.create<{ a: number; b: number }, number>({ capacity: 4096, codec: 'json' });
  named.serve(({ a, b }) => a + b);
  const openedNamed = Service.open<{ a: number; b: number }, number>({ id }, { codec: 'json' });
  assertEqual<typeof openedNamed, Service<{ a: number; b: number }, number>>(true);
}

/** A raw open carries the encoded bytes whatever the codec: Uint8Array, not any. */
export async function rawOpenCases(id: number, raw: boolean): Promise<void> {
  const channel = Channel.open({ id, raw: true });
  assertEqual<typeof channel, Channel<Uint8Array>>(true);
  const received = await channel.receiver().recv();
  assertEqual<typeof received, Uint8Array>(true);
  channel.sender().trySend('as UTF-8');
  // @ts-expect-error a raw channel sends bytes, not values to encode
  channel.sender().trySend({ any: 'thing' });
  const topic = PubSub.open({ id }, { raw: true });
  assertEqual<typeof topic, PubSub<Uint8Array>>(true);
  // @ts-expect-error a raw PubSub publishes bytes, not values to encode
  topic.publisher().trySend({ any: 'thing' });
  // Raw or not, as the program decides at run time: whatever the segment records.
  const either = Channel.open({ id, raw });
  // biome-ignore lint/suspicious/noExplicitAny: what an open without a codec gives, by a team decision
  assertEqual<typeof either, Channel<any>>(true);
  // Options a program typed itself, passed on: raw or not, whatever the codec.
  const options: ChannelOpenOptions = { id, raw };
  Channel.open(options);
  const topicOptions: PubSubOpenOptions = { raw };
  PubSub.open({ id }, topicOptions);
}

/** Channel, PubSub and Service are found as SharedMemory.open finds a segment: by exactly one of a key, a path or an id. */
export function locatorCases(where: SegmentLocator): void {
  Channel.open({ key: 0x5100 });
  Channel.open({ path: '/tmp', projId: 2, codec: 'json' });
  Channel.open({ id: 7, raw: true });
  // @ts-expect-error an id and a key name two segments: one of them
  Channel.open({ id: 7, key: 0x5100 });
  // @ts-expect-error a key and a path
  Channel.open({ key: 0x5100, path: '/tmp', codec: 'json' });
  // @ts-expect-error projId goes with path only
  Channel.open({ id: 7, projId: 2, raw: true });
  // @ts-expect-error nothing to find it by
  Channel.open({ wait: 'spin' });
  PubSub.open({ key: 0x5100 }, { codec: 'text' });
  PubSub.open({ path: '/tmp' });
  // @ts-expect-error an id and a key
  PubSub.open({ id: 7, key: 0x5100 });
  // @ts-expect-error a key and a path
  PubSub.open({ key: 0x5100, path: '/tmp' }, { raw: true });
  // @ts-expect-error nothing to find it by
  PubSub.open({});
  Service.open({ id: 7 }, { codec: 'json' });
  Service.open({ path: '/tmp', projId: 3 });
  // @ts-expect-error an id and a key
  Service.open({ id: 7, key: 0x5100 });
  // @ts-expect-error an id and a path, with the types named
  Service.open<number, number>({ id: 7, path: '/tmp' });
  // @ts-expect-error projId alone finds nothing
  Service.open({ projId: 2 });
  // A locator a program keeps, passed on to each.
  Channel.open(where);
  PubSub.open(where);
  Service.open(where);
  const text = Channel.open({ ...where, codec: 'text' });
  assertEqual<typeof text, Channel<string>>(true);
  const options: ChannelOpenOptions = { id: 7, raw: true };
  Channel.open(options);
}
