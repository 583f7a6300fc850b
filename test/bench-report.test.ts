// The benchmark's arithmetic and wording, on numbers made up here (nothing
// is measured): rounds combined into medians, ratios printed beside their
// verdicts, and the check of what a verified (smoke) run receives.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SuiteResult, ThroughputResult } from '../bench/channel.js';
import { ratioText } from '../bench/format.js';
import { combineRounds } from '../bench/rounds.js';
import { evaluateTargets } from '../bench/targets.js';
import { checkMessage, payload, stamp } from '../bench/transports/types.js';

const rate = (messagesPerS: number): ThroughputResult => ({
  size: 64,
  count: 1000,
  seconds: 1000 / messagesPerS,
  messages_per_s: messagesPerS,
  gb_per_s: (messagesPerS * 64) / 1e9,
});

/** One round of a suite with one transport; `failed` loses its 64 B throughput and the 64 B memcpy. */
function round(messagesPerS: number, failed = false): SuiteResult {
  return {
    pinned: false,
    cpus: 2,
    scale: 'full',
    transports: [{ id: 'tcp', label: 'TCP' }],
    roundTrip: { tcp: { size: 64, count: 100, median_us: 70, p99_us: 90, mean_us: 75 } },
    throughput: { tcp: failed ? {} : { 64: rate(messagesPerS) } },
    c: { memcpy: failed ? {} : { 64: rate(messagesPerS * 1000) }, pingPong: null, pingPongFutex: null },
    errors: failed ? { 'tcp/throughput/64': 'no result within 180 s' } : {},
    seconds: 1,
  };
}

describe('combineRounds', () => {
  it('takes the median over the rounds that measured a size, also when the first round failed it', () => {
    const combined = combineRounds([round(0, true), round(100_000), round(300_000), round(200_000)]);
    assert.equal(combined.throughput['tcp']?.[64]?.messages_per_s, 200_000);
    assert.equal(combined.c.memcpy[64]?.messages_per_s, 200_000_000);
    assert.deepEqual(Object.keys(combined.errors), ['round 1: tcp/throughput/64']);
  });
});

describe('ratioText', () => {
  it('prints two decimals when they agree with the verdict', () => {
    assert.equal(ratioText(0.9213, '<= 1.2', true), '0.92');
    assert.equal(ratioText(1.03, '>= 2', false), '1.03');
    assert.equal(ratioText(0.00791, '<= 0.05', true), '0.0079');
  });
  it('prints more digits where two would put a missed target on the met side of its bound', () => {
    assert.equal(ratioText(1.2041, '<= 1.2', false), '1.204');
    assert.equal(ratioText(0.9981, '>= 1', false), '0.998');
    assert.equal(ratioText(1.0049, '<= 1', false), '1.005');
  });
});

describe('checkMessage', () => {
  it('accepts message i as stamp() made it, and nothing else', () => {
    const message = (i: number, size: number) => stamp(payload(size), i);
    checkMessage(message(7, 64), 7, 64);
    checkMessage(message(0, 2), 0, 2);
    assert.throws(() => checkMessage(message(8, 64), 7, 64), /message 7: byte 0 is 8, expected 7/);
    assert.throws(() => checkMessage(message(7, 64).subarray(0, 60), 7, 64), /message 7: 60 bytes, expected 64/);
    const damaged = message(7, 4096);
    damaged[4000] = 0;
    assert.throws(() => checkMessage(damaged, 7, 4096), /byte 4000/);
  });
});

describe('evaluateTargets', () => {
  it('explains a missed round trip only with what the run measured', () => {
    const rtt = (median: number, min: number, max: number) => ({
      size: 64,
      count: 100,
      median_us: median,
      p99_us: max,
      mean_us: median,
      rounds: 5,
      range_us: { min, max },
    });
    const suite = (handwrittenNs: number, spinMin: number): SuiteResult => ({
      ...round(1),
      roundTrip: { 'shm-typed-array': rtt(0.36, 0.32, 0.38), 'channel-spin': rtt(0.46, spinMin, 0.5) },
      costs: { channel_trySend_tryRecvInto_ns: 105, handwritten_protocol_ns: handwrittenNs },
    });
    const note = (s: SuiteResult) => evaluateTargets(s, null).find((t) => t.id === 'rtt64-spin-vs-peer')!.note;
    // The hand-written protocol costs less CPU, and no round of the channel met the bound.
    assert.doesNotMatch(note(suite(89, 0.45)), /not the gap|as wide as the miss/);
    assert.match(note(suite(110, 0.4)), /^The CPU work is not the gap: .*as wide as the miss\.$/);
  });
});
