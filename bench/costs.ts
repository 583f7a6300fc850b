// What one 64-byte message costs in CPU time, measured in one process so that
// no cache line crosses cores and no peer is descheduled: the explanation
// beside a missed target. Each is the best of a few runs of a tight loop.
import { Channel } from '../src/index.js';
import { handWrittenCost } from './transports/shm-typed-array.js';

function best(runs: number, fn: () => number): number {
  let result = Infinity;
  for (let i = 0; i < runs; i++) result = Math.min(result, fn());
  return result;
}

function nsPer(count: number, body: () => void): number {
  const start = performance.now();
  body();
  return ((performance.now() - start) * 1e6) / count;
}

/** ns per message: sender and receiver work of one 64-byte message, both halves. */
export async function messageCosts(count: number): Promise<Record<string, number>> {
  using channel = Channel.create({ capacity: 1 << 20, autoRemove: true });
  const sender = channel.sender();
  const receiver = channel.receiver();
  const message = new Uint8Array(64).fill(1);
  const into = new Uint8Array(64);
  const syncLoop = () =>
    nsPer(count, () => {
      for (let i = 0; i < count; i++) {
        sender.trySend(message);
        receiver.tryRecvInto(into);
      }
    });
  const sync = best(5, syncLoop);
  let awaited = Infinity;
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    for (let i = 0; i < count / 4; i++) {
      await sender.send(message);
      await receiver.recvInto(into);
    }
    awaited = Math.min(awaited, ((performance.now() - start) * 1e6) / (count / 4));
  }
  // 1 MiB, in µs: the copy out alone (recvInto, into a buffer used before)
  // against recv(), which also allocates the message's memory and faults it in.
  using big = Channel.create({ capacity: 4 << 20, autoRemove: true });
  const bigSender = big.sender();
  const bigReceiver = big.receiver();
  const mib = new Uint8Array(1 << 20).fill(2);
  const mibInto = new Uint8Array(1 << 20);
  const rounds = Math.max(20, Math.floor(count / 5000));
  const perMib = (receive: () => void) =>
    best(
      3,
      () =>
        nsPer(rounds, () => {
          for (let i = 0; i < rounds; i++) {
            bigSender.trySend(mib);
            receive();
          }
        }) / 1000,
    );
  const mibInto_us = perMib(() => bigReceiver.tryRecvInto(mibInto));
  const mibRecv_us = perMib(() => bigReceiver.tryRecv());
  return {
    mib_trySend_tryRecvInto_us: mibInto_us,
    mib_trySend_tryRecv_us: mibRecv_us,
    channel_trySend_tryRecvInto_ns: sync,
    channel_await_send_recvInto_ns: awaited,
    handwritten_protocol_ns: best(5, () => handWrittenCost(count)),
    // The same 1 MiB work by hand: one copy in, one copy out, through a ring as large as the channel's.
    mib_handwritten_us: best(3, () => handWrittenCost(rounds, 1 << 20, 4 << 20) / 1000),
  };
}
