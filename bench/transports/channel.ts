// shmkit's Channel, in each wait mode. Round trip: a request channel and a
// reply channel, with `await send`/`await recv` (or, for the 'spin' row, the
// synchronous trySend/tryRecvInto in a spin loop, as the shm-typed-array row
// does); throughput: the peer sends, this process receives, copying out with
// recv(), into one reused buffer with tryRecvInto()/recvInto(), or reading in
// place with recvView().
import { Channel, type WaitMode } from '../../src/index.js';
import { spinUntil } from './spin.js';
import {
  checkMessage,
  payload,
  peerDone,
  receiverCounters,
  spawnPeer,
  stamp,
  throughputWarmup,
  warmupOf,
  type ThroughputSample,
  type Transport,
} from './types.js';

/** How the receiving side takes messages in the throughput run. */
export type Receive = 'copy' | 'into' | 'view';

interface PeerParams {
  role: 'echo' | 'echo-sync' | 'send';
  ids: number[];
  size: number;
  count: number;
  wait: WaitMode;
  /** Stamp each sent message with its index (a verified run). */
  verify?: boolean;
}

const LABELS: Record<Receive, string> = { copy: '', into: ', recvInto reused buffer', view: ', recvView zero-copy' };

export function channelTransport(wait: WaitMode, receive: Receive = 'copy'): Transport {
  const sync = wait === 'spin';
  return {
    id: receive === 'copy' ? `channel-${wait}` : `channel-${wait}-${receive}`,
    label: `shmkit channel (${wait}${LABELS[receive]})`,
    async roundTrip(size, count) {
      using requests = Channel.create({ capacity: 1 << 16, wait, autoRemove: true });
      using replies = Channel.create({ capacity: 1 << 16, wait, autoRemove: true });
      const sender = requests.sender();
      const receiver = replies.receiver();
      const warmup = warmupOf(count);
      const role = sync ? 'echo-sync' : 'echo';
      const peer = spawnPeer('channel', { role, ids: [requests.id, replies.id], size, count: warmup + count, wait } satisfies PeerParams);
      try {
        const message = payload(size);
        const reply = new Uint8Array(size);
        const samples: number[] = [];
        for (let i = 0; i < warmup + count; i++) {
          const start = performance.now();
          if (sync) {
            if (!sender.trySend(message)) throw new Error('the request ring is full');
            spinUntil(() => receiver.tryRecvInto(reply) !== null);
          } else {
            await sender.send(message);
            await receiver.recvInto(reply, { timeoutMs: 30_000 });
          }
          if (i >= warmup) samples.push((performance.now() - start) * 1000);
        }
        await peerDone(peer);
        return samples;
      } finally {
        peer.kill();
      }
    },
    async throughput(size, count, verify = false): Promise<ThroughputSample> {
      // Room for three of the largest messages: a ring that stays in cache.
      using channel = Channel.create({ capacity: Math.max(1 << 20, 3 * (size + 32)), wait, autoRemove: true });
      const receiver = channel.receiver();
      const peer = spawnPeer('channel', { role: 'send', ids: [channel.id], size, count, wait, verify } satisfies PeerParams);
      const warmup = throughputWarmup(count);
      const into = new Uint8Array(size);
      const counters = receiverCounters();
      try {
        let start = 0;
        for (let i = 0; i < count; i++) {
          // Take what is there without a promise per message; wait only when empty.
          if (receive === 'view') {
            const message = receiver.tryRecvView() ?? (await receiver.recvView({ timeoutMs: 30_000 }));
            if (verify) checkMessage(message.data, i, size);
            message.release();
          } else if (receive === 'into') {
            const length = receiver.tryRecvInto(into) ?? (await receiver.recvInto(into, { timeoutMs: 30_000 }));
            if (verify) checkMessage(into.subarray(0, length), i, size);
          } else {
            const message = receiver.tryRecv() ?? (await receiver.recv({ timeoutMs: 30_000 }));
            if (verify) checkMessage(message, i, size);
          }
          if (i === warmup) {
            counters.start();
            start = performance.now();
          }
        }
        const seconds = (performance.now() - start) / 1000;
        const receiverCost = await counters.stop(count - 1 - warmup);
        await peerDone(peer);
        return { size, count: count - 1 - warmup, seconds, receiver: receiverCost };
      } finally {
        peer.kill();
      }
    },
  };
}

export async function peer(params: PeerParams): Promise<void> {
  const channels = params.ids.map((id) => Channel.open({ id, wait: params.wait }));
  const message = payload(params.size);
  const request = new Uint8Array(params.size);
  if (params.role === 'echo-sync') {
    const receiver = channels[0]!.receiver();
    const sender = channels[1]!.sender();
    for (let i = 0; i < params.count; i++) {
      spinUntil(() => receiver.tryRecvInto(request) !== null);
      if (!sender.trySend(request)) throw new Error('the reply ring is full');
    }
    sender.close();
  } else if (params.role === 'echo') {
    const receiver = channels[0]!.receiver();
    const sender = channels[1]!.sender();
    for (let i = 0; i < params.count; i++) {
      await receiver.recvInto(request, { timeoutMs: 30_000 });
      await sender.send(request, { timeoutMs: 30_000 });
    }
    sender.close();
  } else {
    const sender = channels[0]!.sender();
    for (let i = 0; i < params.count; i++) {
      if (params.verify) stamp(message, i); // the channel copies at send: the next stamp does not touch this one
      if (!sender.trySend(message)) await sender.send(message, { timeoutMs: 30_000 });
    }
    sender.close();
  }
  for (const channel of channels) channel.detach();
}
