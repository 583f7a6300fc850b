// The broadcast ring's logic, deterministic and without processes: a plain
// ArrayBuffer stands for the segment, each "process" is a BroadcastRing over
// it with its own presence token, and liveness is a set the test controls.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BroadcastRing, BUSY, CLOSED, FULL } from '../src/channel/pubsub/broadcast-ring.js';
import * as F from '../src/channel/pubsub/format.js';
import { EMPTY, PENDING, ReadCursor } from '../src/channel/pubsub/read-cursor.js';
import { seeded } from './helpers/random.js';

const CAPACITY = 1024;

/** A segment with a fresh header whose cursors start at `start`, and "processes" on it. */
function segment(dropOldest: boolean, start = 0, capacity = CAPACITY) {
  const buffer = new ArrayBuffer(F.HEADER_SIZE + capacity);
  BroadcastRing.initialize(buffer, capacity, 0, dropOldest ? 1 : 0, new TextEncoder().encode('bytes'), 1);
  const i32 = new Int32Array(buffer);
  for (const offset of [F.OFF_TAIL, F.OFF_INTENT, F.OFF_OLDEST]) i32[offset >> 2] = start | 0;
  const dead = new Set<number>();
  /** `look`, if set, runs whenever someone asks whether a holder lives (what other processes do meanwhile). */
  const hooks: { look?: () => void } = {};
  const alive = (word0: number): boolean => {
    hooks.look?.();
    return !dead.has(word0);
  };
  const process = (pid: number) =>
    new BroadcastRing(buffer, capacity, dropOldest, { hold: () => [pid, 1], letGo: () => {}, alive, registrantAlive: alive }, pid);
  return { i32, dead, hooks, process };
}

/** (7 * j) & 0xff for j = 0, 1, ...: byte i of bytes(_, seed) is entry i + start, start = seed * 31 / 7 mod 256. */
let sevens = new Uint8Array(0);

function bytes(length: number, seed: number): Uint8Array {
  // A native copy of the pattern: a loop per byte was most of this file's CPU.
  if (sevens.length < 256 + length) sevens = Uint8Array.from({ length: 2 * (256 + length) }, (_, j) => (7 * j) & 0xff);
  const start = (((seed * 31) & 0xff) * 183) & 0xff; // 183 = 7^-1 mod 256
  const out = sevens.slice(start, start + length);
  if (length >= 4) new DataView(out.buffer).setUint32(0, seed, true);
  return out;
}

/** assert.deepEqual(actual, expected) for the hot loops: a native compare first, deepEqual's report on a mismatch. */
function assertBytes(actual: Uint8Array | null, expected: Uint8Array, message?: string): void {
  if (actual?.constructor === Uint8Array && Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)) return;
  assert.deepEqual(actual, expected, message);
}

/** Claims, fills and publishes one message; returns its position or the claim's failure. */
function send(ring: BroadcastRing, writer: number, message: Uint8Array): number {
  const position = ring.claim(message.length, writer);
  if (position < 0) return position;
  ring.u8.set(message, ring.payloadOffset(position));
  ring.publish(position, F.STATE_COMMITTED);
  return position;
}

/** Reads one message (a copy, checked whole), or null. */
function receive(ring: BroadcastRing, cursor: ReadCursor, reap = false): Uint8Array | null {
  for (;;) {
    const position = cursor.poll(reap);
    if (position === PENDING) continue;
    if (position === EMPTY) return null;
    const offset = ring.payloadOffset(position);
    const copy = ring.u8.slice(offset, offset + cursor.length);
    if (!cursor.intact(position)) continue;
    cursor.release();
    return copy;
  }
}

/**
 * A lossless ring where one publisher sent a small message and one subscriber
 * read it: a claim of the largest message then pads the end first.
 */
function oneMessageRead() {
  const { process, i32 } = segment(false);
  const publisher = process(1);
  const writer = publisher.registerPublisher();
  const reader = process(2);
  const cursor = ReadCursor.join(reader)!;
  assert.ok(send(publisher, writer, bytes(4, 1)) >= 0);
  assert.deepEqual(receive(reader, cursor), bytes(4, 1));
  return { process, i32, publisher, writer, reader, cursor };
}

const STARTS = [0, 2 ** 32 - 3 * CAPACITY - 48, 2 ** 31 - CAPACITY / 2];

describe('broadcast ring, lossless', () => {
  for (const start of STARTS) {
    it(`gives every subscriber every message in order while the cursors cross 2^32 from ${start >>> 0}`, () => {
      const { process, i32 } = segment(false, start);
      const publisher = process(1);
      const writer = publisher.registerPublisher();
      const readers = [process(2), process(3), process(4)];
      const cursors = readers.map((ring) => ReadCursor.join(ring)!);
      const next = [0, 0, 0];
      const random = seeded(start + 1);
      let sent = 0;
      let full = 0;
      for (let step = 0; step < 30_000; step++) {
        if (random() < 0.5) {
          const position = send(publisher, writer, bytes(4 + Math.floor(random() * 200), sent));
          if (position >= 0) sent++;
          else {
            assert.equal(position, FULL);
            full++;
          }
        } else {
          const r = Math.floor(random() * 3);
          const message = receive(readers[r]!, cursors[r]!);
          if (message) assertBytes(message, bytes(message.length, next[r]!++), `subscriber ${r}, message ${next[r]! - 1}`);
        }
      }
      for (let r = 0; r < 3; r++) {
        for (let message: Uint8Array | null; (message = receive(readers[r]!, cursors[r]!)); ) {
          assertBytes(message, bytes(message.length, next[r]!++));
        }
        assert.equal(next[r], sent, `subscriber ${r} got all ${sent}`);
        assert.equal(cursors[r]!.position, i32[F.OFF_TAIL >> 2]! >>> 0);
      }
      assert.ok(full > 100, 'the slowest subscriber held the publisher back');
      assert.ok((i32[F.OFF_TAIL >> 2]! - start) >>> 0 > 10 * CAPACITY, 'many laps');
      assert.equal(cursors[0]!.missed, 0);
    });
  }

  it('a claim whose passPadding throws lets go of the claim lock: no publisher is held back by it', () => {
    const { process, i32, publisher, writer } = oneMessageRead();
    publisher.passPadding = () => {
      throw new Error('a subscriber found the ring corrupt');
    };
    // The largest message fits only from position 0: padding goes in, then passPadding runs.
    assert.throws(() => publisher.claim(F.maxMessage(CAPACITY), writer), /corrupt/);
    assert.equal(i32[F.OFF_CLAIM_LOCK >> 2], 0, 'the claim lock is free');
    const other = process(3);
    const otherWriter = other.registerPublisher();
    assert.equal(other.claim(4, otherWriter), FULL, 'another publisher gets the lock (and finds the ring full), not BUSY');
  });

  it('a claim that pads the end and then finds no room wakes sleeping subscribers: only they can free that room', () => {
    const { i32, publisher, writer, reader, cursor } = oneMessageRead();
    // A subscriber says it sleeps on an empty ring (block.ts: the flag, then the futex word).
    i32[F.OFF_DATA_WAITING >> 2] = 1;
    const futex = i32[F.OFF_DATA_FUTEX >> 2]!;
    // The largest message fits only from position 0: padding goes in, then the ring is full.
    assert.equal(publisher.claim(F.maxMessage(CAPACITY), writer), FULL);
    assert.equal(i32[F.OFF_DATA_WAITING >> 2], 0, 'the flag taken down by the waker');
    assert.equal(i32[F.OFF_DATA_FUTEX >> 2], futex + 1, 'and the futex word bumped: a sleeper wakes');
    // Once it passes the padding, the message fits.
    assert.equal(receive(reader, cursor), null);
    assert.ok(send(publisher, writer, bytes(F.maxMessage(CAPACITY), 2)) >= 0);
    assert.deepEqual(receive(reader, cursor), bytes(F.maxMessage(CAPACITY), 2));
  });

  it('is full exactly when the slowest subscriber is a ring behind, and frees up as it reads or leaves', () => {
    const { process } = segment(false);
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    const slow = process(2);
    const cursor = ReadCursor.join(slow)!;
    const fast = process(3);
    const fastCursor = ReadCursor.join(fast)!;
    // 64-byte records (48 bytes of payload): 15 fit, plus the next record's header.
    for (let i = 0; i < 15; i++) assert.ok(send(publisher, writer, bytes(48, i)) >= 0, `message ${i}`);
    assert.equal(send(publisher, writer, bytes(48, 15)), FULL);
    for (let i = 0; i < 15; i++) assert.deepEqual(receive(fast, fastCursor), bytes(48, i));
    assert.equal(receive(fast, fastCursor), null, 'empty for the fast one');
    assert.equal(publisher.hasRoomFor(48), false, 'the slow one still holds the publisher back');
    assert.deepEqual(receive(slow, cursor), bytes(48, 0));
    assert.equal(publisher.hasRoomFor(48), true);
    assert.ok(send(publisher, writer, bytes(48, 15)) >= 0);
    assert.equal(send(publisher, writer, bytes(48, 16)), FULL);
    cursor.leave();
    assert.equal(publisher.subscriberCount(), 1);
    assert.ok(send(publisher, writer, bytes(48, 16)) >= 0, 'a subscriber that left holds nobody back');
  });

  it('a publisher idle while others moved TAIL 2 GiB on does not trust its old view of the slowest subscriber', () => {
    const { process, i32 } = segment(false);
    const idle = process(1);
    const idleWriter = idle.registerPublisher();
    const first = process(2);
    const firstCursor = ReadCursor.join(first)!;
    assert.ok(send(idle, idleWriter, bytes(40, 0)) >= 0, 'it learns where the subscriber is');
    assert.deepEqual(receive(first, firstCursor), bytes(40, 0));
    firstCursor.leave();
    // Others publish 2^31 + 512 bytes meanwhile; a new subscriber comes.
    const far = (i32[F.OFF_TAIL >> 2]! + 2 ** 31 + 512) | 0;
    i32[F.OFF_TAIL >> 2] = far;
    i32[((F.HEADER_SIZE + (far & (CAPACITY - 1))) >> 2) + F.RECORD.tag] = 0;
    const reader = process(3);
    const cursor = ReadCursor.join(reader)!;
    const other = process(4);
    const writer = other.registerPublisher();
    let sent = 0;
    while (send(other, writer, bytes(40, sent)) >= 0) sent++;
    assert.equal(send(idle, idleWriter, bytes(40, 999)), FULL, 'the ring is full for it too');
    for (let i = 0; i < sent; i++) assert.deepEqual(receive(reader, cursor), bytes(40, i));
  });

  it('without subscribers, publishing never blocks, and a late subscriber gets only what comes after it', () => {
    const { process } = segment(false);
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    for (let i = 0; i < 100; i++) assert.ok(send(publisher, writer, bytes(40, i)) >= 0);
    const late = process(2);
    const cursor = ReadCursor.join(late)!;
    assert.equal(receive(late, cursor), null);
    send(publisher, writer, bytes(40, 100));
    assert.deepEqual(receive(late, cursor), bytes(40, 100));
  });

  it('skips a record whose publisher died before publishing it, and frees a dead subscriber', () => {
    const { process, dead } = segment(false);
    const doomed = process(66);
    const doomedWriter = doomed.registerPublisher();
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    const reader = process(2);
    const cursor = ReadCursor.join(reader)!;
    send(publisher, writer, bytes(20, 0));
    assert.ok(doomed.claim(30, doomedWriter) >= 0, 'claimed, never published');
    send(publisher, writer, bytes(20, 1));
    assert.deepEqual(receive(reader, cursor), bytes(20, 0));
    assert.equal(receive(reader, cursor, true), null, 'its writer lives: wait for it');
    dead.add(66);
    assert.equal(receive(reader, cursor), null, 'without reaping, a pending record blocks');
    assert.deepEqual(receive(reader, cursor, true), bytes(20, 1), 'the dead writer’s record is skipped');
    // A subscriber that dies a ring behind: publishers free its place.
    const doomedReader = process(67);
    ReadCursor.join(doomedReader);
    while (send(publisher, writer, bytes(20, 2)) >= 0) receive(reader, cursor);
    dead.add(67);
    assert.equal(publisher.reapSubscribers(), 1);
    assert.ok(publisher.hasRoomFor(20));
  });

  it('takes over a claim lock whose owner died, and refuses claims once closed', () => {
    const { process, dead, i32 } = segment(false);
    const doomed = process(66);
    const doomedWriter = doomed.registerPublisher();
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    assert.ok(doomed.lock(doomedWriter));
    assert.equal(publisher.claim(10, writer, 256), BUSY, 'a live owner keeps it');
    dead.add(66);
    assert.ok(publisher.claim(10, writer) >= 0, 'a dead owner’s lock is taken over');
    publisher.close(writer);
    assert.equal(publisher.claim(10, writer), CLOSED);
    assert.equal(i32[F.OFF_CLAIM_LOCK >> 2], 0);
  });
});

describe('broadcast ring, closing', () => {
  it('a close that could not take the claim lock is not drained while a claim may be in flight; a dead owner’s lock is freed', () => {
    const { process, dead } = segment(false);
    const reader = process(2);
    const cursor = ReadCursor.join(reader)!;
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    // The publisher is inside a claim: it holds the lock and has read CLOSED as 0.
    assert.ok(publisher.lock(writer));
    // A closer without a publisher entry (the table was full) closes without the lock.
    process(3).close(0);
    assert.ok(reader.closed);
    assert.equal(cursor.drained(), false, 'the claim may still move TAIL');
    publisher.unlock();
    assert.equal(cursor.drained(), true);
    // A dead owner never lets go: the subscriber's slow path frees its lock.
    assert.ok(publisher.lock(writer));
    dead.add(1);
    assert.equal(cursor.drained(), false);
    reader.freeDeadLock();
    assert.equal(cursor.drained(), true);
  });
});

describe('broadcast ring, drop-oldest', () => {
  for (const start of STARTS) {
    it(`never waits for subscribers; an overtaken one counts exactly what it missed (from ${start >>> 0})`, () => {
      const { process } = segment(true, start);
      const publisher = process(1);
      const writer = publisher.registerPublisher();
      const reader = process(2);
      const cursor = ReadCursor.join(reader)!;
      const random = seeded(start + 7);
      let sent = 0;
      let received = 0;
      let last = -1;
      for (let step = 0; step < 30_000; step++) {
        if (random() < 0.7) {
          assert.ok(send(publisher, writer, bytes(4 + Math.floor(random() * 200), sent)) >= 0, 'never full');
          sent++;
        } else {
          const message = receive(reader, cursor);
          if (!message) continue;
          const seed = new DataView(message.buffer).getUint32(0, true);
          assert.ok(seed > last, 'in order, no duplicates');
          assertBytes(message, bytes(message.length, seed), `message ${seed} is whole`);
          last = seed;
          received++;
          assert.equal(cursor.missed, seed + 1 - received, 'missed counts exactly the messages skipped');
        }
      }
      while (receive(reader, cursor)) received++;
      assert.equal(received + cursor.missed, sent);
      assert.ok(cursor.missed > 1000, `it was overtaken (${cursor.missed} missed)`);
    });
  }

  it('detects a record overwritten while it was being copied (seqlock) and jumps to the oldest one left', () => {
    const { process } = segment(true);
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    const reader = process(2);
    const cursor = ReadCursor.join(reader)!;
    send(publisher, writer, bytes(100, 0));
    const position = cursor.poll();
    assert.equal(position, 0);
    // The publisher laps the reader between its poll and its check.
    for (let i = 1; i <= 20; i++) send(publisher, writer, bytes(100, i));
    assert.equal(cursor.intact(position), false);
    const message = receive(reader, cursor)!;
    const first = new DataView(message.buffer).getUint32(0, true);
    assert.deepEqual(message, bytes(100, first));
    assert.equal(cursor.missed, first, 'missed: every message before the oldest left');
    let count = 1;
    while (receive(reader, cursor)) count++;
    assert.equal(first + count, 21);
    // 128-byte records: 7 whole ones fit beside the next header in 1024 bytes.
    assert.equal(count, 7);
  });

  it('finds a subscriber overtaken by more than 2^31 bytes (asleep while 2 GiB went by)', () => {
    const { process, i32 } = segment(true);
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    const reader = process(2);
    const cursor = ReadCursor.join(reader)!;
    // As if 2^31 + 4096 bytes (message number 500 next) had been published since.
    const far = (2 ** 31 + 4096) | 0;
    for (const offset of [F.OFF_TAIL, F.OFF_INTENT, F.OFF_OLDEST]) i32[offset >> 2] = far;
    i32[((F.HEADER_SIZE + (far & (CAPACITY - 1))) >> 2) + F.RECORD.seq] = 500;
    for (let i = 0; i < 3; i++) send(publisher, writer, bytes(40, 500 + i));
    for (let i = 0; i < 3; i++) assert.deepEqual(receive(reader, cursor), bytes(40, 500 + i));
    assert.equal(cursor.missed, 500);
    assert.equal(receive(reader, cursor), null);
  });

  it('does not overwrite a record a live publisher is still writing, and overwrites a dead one’s', () => {
    const { process, dead } = segment(true);
    const slow = process(66);
    const slowWriter = slow.registerPublisher();
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    assert.ok(slow.claim(100, slowWriter) >= 0);
    let sent = 0;
    while (send(publisher, writer, bytes(100, sent)) >= 0) sent++;
    assert.ok(sent >= 6, 'the ring filled behind the slow record');
    assert.equal(publisher.claim(100, writer), BUSY, 'it would overwrite the record still being written');
    dead.add(66);
    assert.ok(send(publisher, writer, bytes(100, sent)) >= 0);
  });
});

// Found by test/pubsub-fuzz.test.ts: each once hung a call or threw V8's own error.
describe('broadcast ring, a header or record no publisher wrote', () => {
  it('OLDEST past TAIL: an overtaken reader says ERR_CHANNEL_FORMAT instead of spinning, and the next claim starts afresh', () => {
    const { process, i32 } = segment(true);
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    const reader = process(2);
    const cursor = ReadCursor.join(reader)!;
    for (let i = 0; i < 20; i++) send(publisher, writer, bytes(100, i)); // the reader is overtaken
    i32[F.OFF_OLDEST >> 2] = 107_865_222;
    assert.throws(() => receive(reader, cursor), {
      code: 'ERR_CHANNEL_FORMAT',
      message: /INTENT \d+ is more than a ring past OLDEST 107865222/,
    });
    assert.ok(send(publisher, writer, bytes(100, 20)) >= 0);
    assert.equal(i32[F.OFF_OLDEST >> 2], i32[F.OFF_TAIL >> 2]! - F.spanOf(100), 'OLDEST is the claim just made');
    assert.deepEqual(receive(reader, cursor), bytes(100, 20));
  });

  it('INTENT behind a reader, OLDEST behind it too: ERR_CHANNEL_FORMAT instead of jumping back and forth for ever', () => {
    const { process, i32 } = segment(true);
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    const reader = process(2);
    const cursor = ReadCursor.join(reader)!;
    for (let i = 0; i < 3; i++) send(publisher, writer, bytes(100, i));
    for (let i = 0; i < 3; i++) assert.deepEqual(receive(reader, cursor), bytes(100, i));
    i32[F.OFF_INTENT >> 2] = 7;
    i32[F.OFF_OLDEST >> 2] = 3;
    assert.throws(() => receive(reader, cursor), { code: 'ERR_CHANNEL_FORMAT', message: /jumps back to OLDEST 1001 is impossible/ });
  });

  it('INTENT more than a ring past TAIL: a subscriber that joins says ERR_CHANNEL_FORMAT and leaves its place; the next claim puts INTENT back', () => {
    const { process, i32 } = segment(true);
    const ring = process(2);
    i32[F.OFF_INTENT >> 2] = 5 * CAPACITY;
    assert.throws(() => ReadCursor.join(ring), { code: 'ERR_CHANNEL_FORMAT', message: /more than a ring past TAIL 0/ });
    assert.equal(ring.subscriberCount(), 0);
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    assert.ok(send(publisher, writer, bytes(100, 0)) >= 0);
    assert.equal(i32[F.OFF_INTENT >> 2], F.spanOf(100) + F.RECORD_HEADER, 'where this claim ends, plus the next header');
    const cursor = ReadCursor.join(ring)!;
    assert.ok(send(publisher, writer, bytes(100, 1)) >= 0);
    assert.deepEqual(receive(ring, cursor), bytes(100, 1));
  });

  for (const dropOldest of [false, true]) {
    it(`a record length near 2^31 at the cursor is ERR_CHANNEL_FORMAT, not a buffer of that length (${dropOldest ? 'drop-oldest' : 'lossless'})`, () => {
      const { process, i32 } = segment(dropOldest);
      const publisher = process(1);
      const writer = publisher.registerPublisher();
      const reader = process(2);
      const cursor = ReadCursor.join(reader)!;
      send(publisher, writer, bytes(100, 0));
      i32[(F.HEADER_SIZE >> 2) + F.RECORD.length] = 2 ** 31 - 1;
      assert.throws(() => receive(reader, cursor), { code: 'ERR_CHANNEL_FORMAT', message: /length 2147483647 is impossible/ });
    });
  }
  it('a record whose length makes a span of 0 never stalls the claim that must move OLDEST past it', () => {
    const { process, i32 } = segment(true);
    const publisher = process(1);
    const writer = publisher.registerPublisher();
    for (let i = 0; i < 9; i++) send(publisher, writer, bytes(100, i));
    i32[(F.HEADER_SIZE >> 2) + F.RECORD.length] = -16; // spanOf(-16) is 0: OLDEST would never move
    for (let i = 9; i < 30; i++) assert.ok(send(publisher, writer, bytes(100, i)) >= 0);
  });
});

describe('broadcast ring, records to skip that keep coming', () => {
  for (const dropOldest of [false, true]) {
    it(`publishers that die mid-message as fast as a reader skips their records: it polls again, never ERR_CHANNEL_FORMAT (${dropOldest ? 'drop-oldest' : 'lossless'})`, () => {
      // Each record the reader skips makes room (lossless) that the next doomed
      // publisher claims before the same poll gets there: a poll that bounded
      // its skipping by the ring's size called this ring corrupt.
      const { process, dead, hooks } = segment(dropOldest);
      const publisher = process(1);
      const writer = publisher.registerPublisher();
      const reader = process(2);
      const cursor = ReadCursor.join(reader)!;
      let pid = 100;
      /** A publisher process claims a record and dies before it publishes it. */
      const doom = (): boolean => {
        const ring = process(pid);
        const position = ring.claim(100, ring.registerPublisher());
        dead.add(pid++);
        return position >= 0;
      };
      // 128-byte records, 6 of 8 places: a claim need not overwrite one the reader has not passed.
      for (let i = 0; i < 6; i++) assert.ok(doom());
      let doomed = 6;
      let looking = false;
      // While the reader looks at a dead publisher's record, another dies mid-message.
      hooks.look = () => {
        if (looking || doomed >= 48) return;
        looking = true;
        if (doom()) doomed++;
        looking = false;
      };
      const results = new Set<number>();
      let message: Uint8Array | undefined;
      for (let polls = 0; message === undefined; polls++) {
        assert.ok(polls < 1000, 'the message after the doomed records came');
        const position = cursor.poll(true);
        if (position >= 0) {
          const offset = reader.payloadOffset(position);
          message = reader.u8.slice(offset, offset + cursor.length);
          assert.ok(cursor.intact(position));
          cursor.release();
        } else {
          results.add(position);
          if (position === EMPTY && doomed >= 48) assert.ok(send(publisher, writer, bytes(20, 7)) >= 0);
        }
      }
      assert.equal(doomed * F.spanOf(100), 48 * 128, 'six rings of records skipped');
      assert.ok(results.has(PENDING), 'a poll stopped at what was claimed when it began');
      assert.deepEqual(message, bytes(20, 7));
      assert.equal(cursor.missed, 0);
      assert.equal(receive(reader, cursor), null);
    });
  }
});
