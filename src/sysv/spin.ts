// The spin before a sleep, shared by every wait that offers a WaitMode (the
// channel's endpoints, semaphore operations): a hand-off between two
// spinning processes takes about a microsecond, a wake-up from a sleep in the
// kernel tens of them. The check is the caller's: a word in shared memory,
// or a system call that does not block (semop with IPC_NOWAIT).
import { availableParallelism } from 'node:os';
import type { WaitMode } from '../core/wait-options.js';
import { schedYield } from './process.js';

/** How long each mode spins before it sleeps, in ms. */
export const SPIN_MS: Readonly<Record<WaitMode, number>> = { adaptive: 0.05, spin: 2, sleep: 0 };
/**
 * With one CPU (taskset), the peer cannot run while we spin: each check
 * yields the CPU instead, and adaptive mode tries only a few times.
 */
const SINGLE_CPU = availableParallelism() === 1;
const SINGLE_CPU_ADAPTIVE_YIELDS = 4;

/** Whether a wait of `mode` limited to `timeoutMs` spins first: not in 'sleep', nor when the limit is shorter than the spin. */
export function spinsFirst(mode: WaitMode, timeoutMs: number | undefined): boolean {
  return mode !== 'sleep' && (timeoutMs === undefined || timeoutMs > SPIN_MS[mode]);
}

/** How {@link spin} spins, beyond its mode. */
export interface SpinOptions {
  /** Spin this much longer than the mode does, in ms (room for a large message). */
  extraMs?: number;
  /**
   * The clock is read every this many checks: 32 suits a check that reads
   * memory (the channel's), 1 a check that is a system call of about a
   * microsecond (semop, msgsnd, msgrcv), which would otherwise overrun the
   * budget by tens of µs.
   */
  checksPerClock?: number;
  /** The wait's time limit: one shorter than the mode's spin (0, a poll) is not spun past ({@link spinsFirst}). */
  timeoutMs?: number | undefined;
}

/**
 * Spins while `ready()` is false, within the mode's budget (plus
 * `extraMs`), never when the wait's time limit is shorter than the spin.
 * True if it became ready.
 */
export function spin(mode: WaitMode, ready: () => boolean, { extraMs = 0, checksPerClock = 32, timeoutMs }: SpinOptions = {}): boolean {
  if (!spinsFirst(mode, timeoutMs)) return false;
  if (SINGLE_CPU) {
    const rounds = mode === 'spin' ? Infinity : SINGLE_CPU_ADAPTIVE_YIELDS;
    const end = performance.now() + SPIN_MS[mode];
    for (let i = 0; i < rounds && performance.now() < end; i++) {
      schedYield();
      if (ready()) return true;
    }
    return false;
  }
  const end = performance.now() + SPIN_MS[mode] + extraMs;
  for (let left = checksPerClock; ; ) {
    if (ready()) return true;
    if (--left === 0) {
      if (performance.now() >= end) return false;
      left = checksPerClock;
    }
  }
}

/** {@link spin} for a check that is a system call: the clock is read after each. */
export function spinOnCalls(mode: WaitMode, ready: () => boolean, timeoutMs: number | undefined): boolean {
  return spin(mode, ready, { checksPerClock: 1, timeoutMs });
}
