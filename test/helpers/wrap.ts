// A message that wraps around a ring and finds no room behind its padding,
// for the channel (channel-basics) and PubSub (pubsub) tests: the largest
// message fits only from position 0, so after any other message its sender
// pads to the end and waits for the reader to pass the padding. The reader
// sleeps on what looks like an empty ring; only a wake from the sender ends
// that sleep before its 100 ms liveness tick. That wake is checked without
// a clock by the ring tests (channel-ring, pubsub-ring: "a claim that pads
// the end and then finds no room wakes ..."); here, that the messages reach
// a reader asleep in its wait, intact, round after round.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** A writer and a reader of one ring (a channel's sender and receiver, a publisher and a subscriber). */
export interface RingEnds {
  maxMessageSize: number;
  send(data: Uint8Array, options?: { timeoutMs?: number }): Promise<void>;
  recv(options?: { timeoutMs?: number }): Promise<unknown>;
}

/** Asserts that, round after round, a max-size message after a one-byte one reaches a sleeping reader, intact. */
export async function assertWrapWakesReader({ maxMessageSize, send, recv }: RingEnds): Promise<void> {
  const rounds = 10;
  for (let i = 0; i < rounds; i++) {
    await send(new Uint8Array([1]));
    assert.deepEqual([...((await recv()) as Uint8Array)], [1]);
    const received = recv({ timeoutMs: 10_000 });
    await sleep(2); // asleep by now
    await send(new Uint8Array(maxMessageSize).fill(i), { timeoutMs: 10_000 });
    const message = (await received) as Uint8Array;
    assert.equal(message.length, maxMessageSize);
    assert.equal(message[0], i);
    assert.equal(message[message.length - 1], i);
  }
}
