// shmkit's Channel, in each wait mode. Round trip: a request channel and a
// reply channel; throughput: the peer sends, this process receives (copying
// out with recv(), or reading in place with recvView()).
import { Channel, type WaitMode } from '../../src/index.js';
import { payload, peerDone, spawnPeer, throughputWarmup, warmupOf, type ThroughputSample, type Transport } from './types.js';

interface PeerParams {
  role: 'echo' | 'send';
  ids: number[];
  size: number;
  count: number;
  wait: WaitMode;
}

function ringFor(size: number): number {
  return Math.max(1 << 16, 8 * (size + 16));
}

export function channelTransport(wait: WaitMode, view = false): Transport {
  const id = view ? `channel-${wait}-view` : `channel-${wait}`;
  return {
    id,
    label: view ? `shmkit channel (${wait}, recvView zero-copy)` : `shmkit channel (${wait})`,
    async roundTrip(size, count) {
      using requests = Channel.create({ capacity: ringFor(size), wait, autoRemove: true });
      using replies = Channel.create({ capacity: ringFor(size), wait, autoRemove: true });
      const sender = requests.sender();
      const receiver = replies.receiver();
      const warmup = warmupOf(count);
      const peer = spawnPeer('channel', { role: 'echo', ids: [requests.id, replies.id], size, count: warmup + count, wait } satisfies PeerParams);
      try {
        const message = payload(size);
        const samples: number[] = [];
        for (let i = 0; i < warmup + count; i++) {
          const start = performance.now();
          await sender.send(message);
          await receiver.recv({ timeoutMs: 30_000 });
          if (i >= warmup) samples.push((performance.now() - start) * 1000);
        }
        await peerDone(peer);
        return samples;
      } finally {
        peer.kill();
      }
    },
    async throughput(size, count): Promise<ThroughputSample> {
      // Room for three of the largest messages: a ring that stays in cache.
      using channel = Channel.create({ capacity: Math.max(1 << 20, 3 * (size + 16)), wait, autoRemove: true });
      const receiver = channel.receiver();
      const peer = spawnPeer('channel', { role: 'send', ids: [channel.id], size, count, wait } satisfies PeerParams);
      const warmup = throughputWarmup(count);
      try {
        let start = 0;
        for (let i = 0; i < count; i++) {
          // Drain what is there without a promise per message; wait only when empty.
          if (view) {
            const message = receiver.tryRecvView() ?? (await receiver.recvView({ timeoutMs: 30_000 }));
            message.release();
          } else {
            receiver.tryRecv() ?? (await receiver.recv({ timeoutMs: 30_000 }));
          }
          if (i === warmup) start = performance.now();
        }
        const seconds = (performance.now() - start) / 1000;
        await peerDone(peer);
        return { size, count: count - 1 - warmup, seconds };
      } finally {
        peer.kill();
      }
    },
  };
}

export async function peer(params: PeerParams): Promise<void> {
  const channels = params.ids.map((id) => Channel.open({ id, wait: params.wait }));
  const message = payload(params.size);
  if (params.role === 'echo') {
    const receiver = channels[0]!.receiver();
    const sender = channels[1]!.sender();
    for (let i = 0; i < params.count; i++) {
      const request = await receiver.recv({ timeoutMs: 30_000 });
      await sender.send(request, { timeoutMs: 30_000 });
    }
    sender.close();
  } else {
    const sender = channels[0]!.sender();
    for (let i = 0; i < params.count; i++) {
      if (!sender.trySend(message)) await sender.send(message, { timeoutMs: 30_000 });
    }
    sender.close();
  }
  for (const channel of channels) channel.detach();
}
