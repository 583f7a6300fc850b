// atomic(view, field): lock-free operations on one integer field, atomic
// across processes. V8's Atomics work on integer views of any ArrayBuffer,
// and the segment's pages are the same physical memory in every process, so
// a lock-prefixed add here and a C11 atomic_fetch_add in C hit the same word.
import { invalidType, outOfRange } from '../core/errors.js';
import { checkScalar } from './codec.js';
import type { TypeLayout } from './layout.js';
import { fault, readOnlyError } from './memory.js';
import type { ArrayView, AtomicKind, Fields, ScalarType, StructView } from './types.js';
import { internalsOf } from './internals.js';
import { AtomicsCaptured, dataViewBuffer, dataViewByteOffset } from '../core/primordials.js';
import { type AtomicWaitOptions, type FutexWord, notifyWord, waitWord } from './atomic-wait.js';

export type { AtomicWaitOptions };

/**
 * Atomic operations on one int32, uint32, int64 or uint64 field, as
 * `Atomics` does them (sequentially consistent). 64-bit fields take and give
 * bigint. A 32-bit field is also a futex word: {@link Atomic.wait} and
 * {@link Atomic.notify}, which cross processes and meet C's futex(2).
 */
export interface Atomic<V extends number | bigint> {
  /** Reads the value. */
  load(): V;
  /** Writes `value`. */
  store(value: V): void;
  /** Adds `value` (wrapping around, like C) and returns the value before. */
  add(value: V): V;
  /** Subtracts `value` (wrapping around, like C) and returns the value before. */
  sub(value: V): V;
  /**
   * Writes `replacement` if the field holds `expected`, in one step. Returns
   * the value it held before (equal to `expected` when it wrote), like
   * `Atomics.compareExchange`.
   */
  compareExchange(expected: V, replacement: V): V;
  /**
   * Sleeps while the field holds `expected`, without blocking the event loop,
   * until {@link notify} (in any process, or C's `FUTEX_WAKE` on the field)
   * wakes it: resolves `'ok'` then, and `'not-equal'` at once if the field
   * does not hold `expected`, as `Atomics.waitAsync` does. A wake-up may come
   * without a change (as futex(2) allows): check the value and wait again.
   * Store, then notify: a wait never misses a change made before the notify.
   * A pending wait keeps the process alive. 32-bit fields only (a futex word
   * is 32 bits; on a 64-bit field it is `never`, and a call rejects with TypeError).
   * @throws (rejects) IpcError ETIMEDOUT after `timeoutMs`; AbortError;
   *   StateError ERR_SHM_DETACHED if the memory is detached, also while it waits.
   */
  wait: V extends number ? (expected: number, options?: AtomicWaitOptions) => Promise<'ok' | 'not-equal'> : never;
  /**
   * Wakes up to `count` waiters on the field (default: all), in every process
   * (C's `FUTEX_WAIT` on it too), and returns how many woke. Works on a
   * read-only view. 32-bit fields only, like {@link wait}.
   */
  notify: V extends number ? (count?: number) => number : never;
}

/** The names of a struct's fields that {@link atomic} accepts. */
export type AtomicFieldOf<F extends Fields> = {
  [K in keyof F]: F[K] extends ScalarType<AtomicKind> ? K : never;
}[keyof F] &
  string;

/** The value type of an atomic field type. */
export type AtomicValueOf<T> = T extends ScalarType<'int64' | 'uint64'> ? bigint : number;

type IntegerArray = Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

const ARRAYS = {
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
} as const;

/**
 * Atomic access to an integer field of a view: `int32`, `uint32`, `int64` or
 * `uint64`, naturally aligned (not in a packed struct at an odd offset).
 * Works across processes, and with C's `__atomic` builtins on the same field.
 * On a read-only view only `load` works; the others throw StateError
 * ERR_SHM_READ_ONLY. After detach every operation throws StateError ERR_SHM_DETACHED.
 * @param view a struct view from `.view()`, or an array view of such integers.
 * @param field the field's name (for an array view: the element's index).
 * @example
 * const hits = atomic(stats, 'hits');
 * hits.add(1);
 */
export function atomic<F extends Fields, K extends AtomicFieldOf<F>>(view: StructView<F>, field: K): Atomic<AtomicValueOf<F[K]>>;
export function atomic<E extends ScalarType<AtomicKind>>(view: ArrayView<E>, index: number): Atomic<AtomicValueOf<E>>;
export function atomic(view: object, field: string | number): Atomic<number | bigint> {
  const internals = internalsOf(view);
  if (internals === undefined) throw invalidType('view', 'a struct or array view (from .view())', view);
  const { type, dv, owner } = internals;
  let target: TypeLayout;
  let offset: number;
  let name: string;
  if (type.kind === 'struct') {
    if (typeof field !== 'string') throw invalidType('field', 'of type string', field);
    const member = type.layout.find((candidate) => candidate.name === field);
    if (member === undefined) throw invalidType('field', `a field of the struct (${type.layout.map((f) => f.name).join(', ')})`, field);
    target = member.type;
    offset = member.offset;
    name = field;
  } else {
    if (typeof field !== 'number') throw invalidType('field', 'of type number (an index of the array)', field);
    if (!Number.isInteger(field) || field < 0 || field >= type.length) {
      throw outOfRange('field', `an index >= 0 and < ${type.length}`, field);
    }
    target = type.element;
    offset = field * target.size;
    name = `[${field}]`;
  }
  const kind = target.kind;
  if (kind !== 'int32' && kind !== 'uint32' && kind !== 'int64' && kind !== 'uint64') {
    throw invalidType('field', `an int32, uint32, int64 or uint64 field ("${name}" is ${kind})`, field);
  }
  let cell: IntegerArray;
  let at: number;
  try {
    // Captured built-ins throughout: `dv` may cover a read-only attachment (src/core/primordials.ts).
    at = dataViewByteOffset(dv) + offset;
    if (at % target.size !== 0) {
      throw outOfRange(
        'field',
        `aligned to ${target.size} bytes for atomic access, but "${name}" is at byte ${at} of its memory (a packed struct, or a view at an unaligned offset)`,
        field,
      );
    }
    // Private to this closure: for a read-only attachment it covers memory
    // that must never be written.
    cell = new ARRAYS[kind](dataViewBuffer(dv) as ArrayBuffer, at, 1);
  } catch (error) {
    throw fault(owner, error, 'atomic');
  }
  const guarded = <T>(operation: string, writes: boolean, run: () => T): T => {
    if (writes && owner.readOnly) throw readOnlyError(owner, `atomic ${operation}`);
    try {
      return run();
    } catch (error) {
      throw fault(owner, error, `atomic ${operation}`);
    }
  };
  // Atomics' own typings do not follow a union of array types.
  const A = AtomicsCaptured as unknown as {
    load(a: IntegerArray, i: number): number | bigint;
    store(a: IntegerArray, i: number, v: number | bigint): number | bigint;
    add(a: IntegerArray, i: number, v: number | bigint): number | bigint;
    sub(a: IntegerArray, i: number, v: number | bigint): number | bigint;
    compareExchange(a: IntegerArray, i: number, e: number | bigint, r: number | bigint): number | bigint;
  };
  const load = () => guarded('load', false, () => A.load(cell, 0));
  const is32 = kind === 'int32' || kind === 'uint32';
  const word: FutexWord = {
    owner,
    memory: dataViewBuffer(dv),
    byteOffset: at,
    load: load as () => number,
    label: `field "${name}"`,
  };
  const not32 = (operation: string) =>
    invalidType('field', `a 32-bit field (int32 or uint32) for ${operation}: a futex word is 32 bits ("${name}" is ${kind})`, field);
  return Object.freeze({
    load,
    store(value: number | bigint): void {
      checkScalar(kind, value, 'value');
      guarded('store', true, () => A.store(cell, 0, value));
    },
    add(value: number | bigint) {
      checkScalar(kind, value, 'value');
      return guarded('add', true, () => A.add(cell, 0, value));
    },
    sub(value: number | bigint) {
      checkScalar(kind, value, 'value');
      return guarded('sub', true, () => A.sub(cell, 0, value));
    },
    compareExchange(expected: number | bigint, replacement: number | bigint) {
      checkScalar(kind, expected, 'expected');
      checkScalar(kind, replacement, 'replacement');
      return guarded('compareExchange', true, () => A.compareExchange(cell, 0, expected, replacement));
    },
    async wait(expected: number, options?: AtomicWaitOptions) {
      if (!is32) throw not32('wait');
      checkScalar(kind, expected, 'expected');
      return waitWord(word, expected, options);
    },
    notify(count?: number) {
      if (!is32) throw not32('notify');
      return notifyWord(word, count);
    },
  }) as Atomic<number | bigint>;
}
