// Several rounds of the transport suite, reduced to one: each number is the
// median over the rounds, with the lowest and highest beside it, so that a
// reader sees how much one run on a shared machine can vary.
import type { RoundTripResult, SuiteResult, ThroughputResult } from './channel.js';

/** The lowest and highest value over the rounds. */
export interface Range {
  min: number;
  max: number;
}

export interface RoundTripSummary extends RoundTripResult {
  /** How many rounds measured it, and the range of their medians. */
  rounds?: number;
  range_us?: Range;
}

export interface ThroughputSummary extends ThroughputResult {
  rounds?: number;
  range_messages_per_s?: Range;
  range_gb_per_s?: Range;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function range(values: number[]): Range {
  return { min: Math.min(...values), max: Math.max(...values) };
}

function roundTrips(results: RoundTripResult[]): RoundTripSummary {
  const medians = results.map((r) => r.median_us);
  return {
    size: results[0]!.size,
    count: results.reduce((sum, r) => sum + r.count, 0),
    median_us: median(medians),
    p99_us: median(results.map((r) => r.p99_us)),
    mean_us: median(results.map((r) => r.mean_us)),
    rounds: results.length,
    range_us: range(medians),
  };
}

function throughputs(results: ThroughputResult[]): ThroughputSummary {
  const rates = results.map((r) => r.messages_per_s);
  const rate = median(rates);
  return {
    size: results[0]!.size,
    count: results.reduce((sum, r) => sum + r.count, 0),
    seconds: results.reduce((sum, r) => sum + r.seconds, 0),
    messages_per_s: rate,
    gb_per_s: (rate * results[0]!.size) / 1e9,
    rounds: results.length,
    range_messages_per_s: range(rates),
    range_gb_per_s: range(results.map((r) => r.gb_per_s)),
    ...medianOf(results, 'faults_per_message'),
    ...medianOf(results, 'gc_us_per_message'),
  };
}

/** `{ [key]: median }` over the rounds that measured it, or nothing. */
function medianOf(results: ThroughputResult[], key: 'faults_per_message' | 'gc_us_per_message'): Partial<ThroughputResult> {
  const values = results.flatMap((r) => (r[key] === undefined ? [] : [r[key]]));
  return values.length === 0 ? {} : { [key]: median(values) };
}

/** The keys of any of `records`: a size that failed in the first round but not in the others still counts. */
function keysOf(records: Array<Record<string, unknown> | undefined>): string[] {
  return [...new Set(records.flatMap((record) => Object.keys(record ?? {})))];
}

/** Whatever some rounds measured, as one suite result of medians (a measurement that failed in every round stays absent). */
export function combineRounds(rounds: SuiteResult[]): SuiteResult {
  const first = rounds[0]!;
  const collect = <T>(pick: (suite: SuiteResult) => T | null | undefined): T[] =>
    rounds.map(pick).filter((value): value is T => value !== null && value !== undefined);
  const result: SuiteResult = {
    ...first,
    roundTrip: {},
    throughput: {},
    c: { memcpy: {}, pingPong: null, pingPongFutex: null },
    errors: {},
    seconds: rounds.reduce((sum, r) => sum + r.seconds, 0),
  };
  for (const { id } of first.transports) {
    const rtt = collect((suite) => suite.roundTrip[id]);
    if (rtt.length > 0) result.roundTrip[id] = roundTrips(rtt);
    const rows: Record<string, ThroughputResult> = {};
    for (const size of keysOf(rounds.map((suite) => suite.throughput[id]))) {
      const samples = collect((suite) => suite.throughput[id]?.[size]);
      if (samples.length > 0) rows[size] = throughputs(samples);
    }
    result.throughput[id] = rows;
  }
  for (const size of keysOf(rounds.map((suite) => suite.c.memcpy))) {
    const samples = collect((suite) => suite.c.memcpy[size]);
    if (samples.length > 0) result.c.memcpy[size] = throughputs(samples);
  }
  const ping = collect((suite) => suite.c.pingPong);
  if (ping.length > 0) result.c.pingPong = roundTrips(ping);
  const futex = collect((suite) => suite.c.pingPongFutex);
  if (futex.length > 0) result.c.pingPongFutex = roundTrips(futex);
  rounds.forEach((suite, index) => {
    for (const [what, message] of Object.entries(suite.errors))
      result.errors[rounds.length > 1 ? `round ${index + 1}: ${what}` : what] = message;
  });
  const costs = collect((suite) => suite.costs);
  if (costs.length > 0) {
    result.costs = Object.fromEntries(Object.keys(costs[0]!).map((key) => [key, median(costs.map((c) => c[key]!))]));
  }
  return result;
}
