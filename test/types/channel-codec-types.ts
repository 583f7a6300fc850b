// Type-level checks of channel codecs. The build checks them against the
// sources; test/declarations.test.ts against the published declarations.
// Each line marked to expect an error must be one. The checks sit in a
// function that is never called, so running the compiled file does nothing.
import { Channel, type Codec, PubSub, type Receiver, type Sender } from '../../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertEqual<A, B>(_proof: Equal<A, B>): void {}

export async function channelCodecTypeChecks(id: number): Promise<void> {
  // No codec: bytes, as before codecs (strings and views in, Uint8Array out).
  const bytes = Channel.create({ capacity: 4096 });
  assertEqual<typeof bytes, Channel<Uint8Array>>(true);
  bytes.sender().trySend('text');
  bytes.sender().trySend(new Float64Array(2));
  assertEqual<Awaited<ReturnType<Receiver<Uint8Array>['recv']>>, Uint8Array>(true);

  const text = Channel.create({ capacity: 4096, codec: 'text' });
  assertEqual<typeof text, Channel<string>>(true);
  const textSender: Sender<string> = text.sender();
  await textSender.send('hello');
  // @ts-expect-error a text channel sends strings
  await textSender.send(new Uint8Array(1));
  const received: string = await text.receiver().recv();
  assertEqual<typeof received, string>(true);
  assertEqual<ReturnType<Receiver<string>['tryRecv']>, string | null>(true);
  for await (const message of text.receiver()) assertEqual<typeof message, string>(true);

  const json = Channel.create({ capacity: 4096, codec: 'json' });
  assertEqual<typeof json, Channel<unknown>>(true);
  json.sender().trySend({ any: ['thing'] });

  const point: Codec<{ x: number }> = { name: 'point', encode: (v) => new Uint8Array([v.x]), decode: (b) => ({ x: b[0]! }) };
  const points = Channel.create({ capacity: 4096, codec: point });
  assertEqual<typeof points, Channel<{ x: number }>>(true);
  // @ts-expect-error a point channel sends points
  points.sender().trySend('x');
  const p = await points.receiver().recv();
  assertEqual<typeof p, { x: number }>(true);
  const batch = await points.receiver().recvBatch();
  assertEqual<typeof batch, { x: number }[]>(true);

  // Opened with a codec: typed by it; without one: whatever the segment records.
  const openedText = Channel.open({ id, codec: 'text' });
  assertEqual<typeof openedText, Channel<string>>(true);
  const openedAny = Channel.open({ id });
  await openedAny.sender().send({ anything: true });
  const view = await openedText.receiver().recvView();
  assertEqual<typeof view.data, Uint8Array>(true);

  // PubSub the same way: opened without a codec, whatever the segment records (not bytes).
  const topic = PubSub.create({ capacity: 4096, codec: 'text' });
  assertEqual<typeof topic, PubSub<string>>(true);
  const openedTopic = PubSub.open({ id }, { codec: 'text' });
  assertEqual<typeof openedTopic, PubSub<string>>(true);
  const anyTopic = PubSub.open({ id });
  anyTopic.publisher().trySend({ anything: true });
  // @ts-expect-error a text PubSub publishes strings
  openedTopic.publisher().trySend(new Uint8Array(1));
}
