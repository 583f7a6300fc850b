// Type-level checks of struct schemas. The build checks them against the
// sources; test/declarations.test.ts against the published declarations.
// Each @ts-expect-error line must be an error. The checks sit in a function
// that is never called, so running the compiled file does nothing.
import {
  array,
  atomic,
  bool,
  char,
  float32,
  float64,
  int16,
  int32,
  int64,
  int8,
  struct,
  uint16,
  uint32,
  uint64,
  uint8,
  type Atomic,
  type Value,
} from '../../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T>(_value: T): void {}
function assertEqual<A, B>(_proof: Equal<A, B>): void {}

export function structTypeChecks(memory: ArrayBuffer): void {
  const Point = struct({ x: float32, y: float64 });
  const S = struct({
    i8: int8,
    u8: uint8,
    i16: int16,
    u16: uint16,
    i32: int32,
    u32: uint32,
    i64: int64,
    u64: uint64,
    f: float64,
    ok: bool,
    name: char(16),
    at: Point,
    nums: array(int16, 4),
    points: array(Point, 2),
    grid: array(array(uint8, 2), 2),
    tags: array(char(4), 3),
  });
  const view = S.view(memory);

  // Scalars are number, bigint or boolean; char(n) is string.
  assertEqual<typeof view.i32, number>(true);
  assertEqual<typeof view.u8, number>(true);
  assertEqual<typeof view.i64, bigint>(true);
  assertEqual<typeof view.u64, bigint>(true);
  assertEqual<typeof view.ok, boolean>(true);
  assertEqual<typeof view.name, string>(true);
  view.i32 = 1;
  view.i64 = 1n;
  view.ok = false;
  view.name = 'x';
  // @ts-expect-error a number field takes no string
  view.i32 = '1';
  // @ts-expect-error a 64-bit field takes bigint, not number
  view.i64 = 1;
  // @ts-expect-error a bool field takes boolean
  view.ok = 1;
  // @ts-expect-error a char field takes string
  view.name = 5;
  // @ts-expect-error no such field
  view.nope;
  // @ts-expect-error no such field, also when writing
  view.nope = 1;

  // Nested structs are views, with the same rules, and not assignable.
  assertEqual<typeof view.at.x, number>(true);
  view.at.y = 2;
  // @ts-expect-error a nested struct member is read-only (set its fields)
  view.at = { x: 1, y: 2 };
  // @ts-expect-error nested fields are checked too
  view.at.x = 'a';

  // Arrays: indexable views of the element type.
  expectType<number | undefined>(view.nums[0]);
  expectType<number>(view.nums.get(0));
  view.nums[1] = 3;
  view.nums.set(2, 4);
  // @ts-expect-error an int16 element takes a number
  view.nums[1] = 'x';
  expectType<string>(view.tags.get(0));
  view.tags[0] = 'ab';
  expectType<number>(view.points.get(1).x);
  view.points.get(1).y = 1;
  view.points.set(0, { x: 1, y: 2 });
  // @ts-expect-error a struct element is a view, not assignable by index
  view.points[0] = { x: 1, y: 2 };
  // @ts-expect-error set(i, value) takes a whole element
  view.points.set(0, { x: 1 });
  expectType<number>(view.grid.get(1).get(0));
  assertEqual<ReturnType<typeof view.nums.toArray>, number[]>(true);
  for (const point of view.points) expectType<number>(point.x);
  // @ts-expect-error array members are read-only
  view.nums = [1, 2, 3, 4];

  // read() gives plain values; write() wants every field.
  const value = S.read(memory);
  assertEqual<typeof value.i64, bigint>(true);
  assertEqual<typeof value.nums, number[]>(true);
  assertEqual<typeof value.points, { x: number; y: number }[]>(true);
  assertEqual<typeof value.tags, string[]>(true);
  assertEqual<typeof value.at, { x: number; y: number }>(true);
  assertEqual<Value<typeof Point>, { x: number; y: number }>(true);
  S.write(memory, value);
  S.write(memory, { ...value, nums: new Int16Array(4) });
  const { name: _name, ...withoutName } = value;
  // @ts-expect-error every field must be given
  S.write(memory, withoutName);
  // @ts-expect-error field types are checked
  S.write(memory, { ...value, i64: 1 });
  // @ts-expect-error array elements are checked
  S.write(memory, { ...value, tags: [1, 2, 3] });

  // Top-level arrays of structs.
  const Points = array(Point, 3);
  const points = Points.view(memory);
  expectType<number>(points.get(0).y);
  assertEqual<ReturnType<typeof Points.read>, { x: number; y: number }[]>(true);

  // atomic() takes only int32/uint32/int64/uint64 fields and types their values.
  expectType<Atomic<number>>(atomic(view, 'i32'));
  expectType<Atomic<number>>(atomic(view, 'u32'));
  expectType<Atomic<bigint>>(atomic(view, 'i64'));
  expectType<number>(atomic(view, 'i32').add(1));
  expectType<bigint>(atomic(view, 'u64').compareExchange(1n, 2n));
  // @ts-expect-error a float field is not atomic
  atomic(view, 'f');
  // @ts-expect-error an int8 field is not atomic
  atomic(view, 'i8');
  // @ts-expect-error a char field is not atomic
  atomic(view, 'name');
  // @ts-expect-error no such field
  atomic(view, 'nope');
  // @ts-expect-error a 64-bit atomic takes bigint
  atomic(view, 'i64').add(1);
  // A 32-bit field is a futex word: wait and notify; a 64-bit field has neither.
  assertEqual<Awaited<ReturnType<Atomic<number>['wait']>>, 'ok' | 'not-equal'>(true);
  expectType<Promise<'ok' | 'not-equal'>>(atomic(view, 'u32').wait(0, { timeoutMs: 5, signal: AbortSignal.timeout(5) }));
  expectType<number>(atomic(view, 'i32').notify(1));
  // @ts-expect-error a 32-bit atomic waits for a number
  atomic(view, 'i32').wait(0n);
  // @ts-expect-error a 64-bit field is no futex word
  atomic(view, 'i64').wait(0n);
  // @ts-expect-error a 64-bit field is no futex word
  atomic(view, 'u64').notify();
  const counters = struct({ list: array(uint32, 2) }).view(memory);
  expectType<Atomic<number>>(atomic(counters.list, 1));
  // @ts-expect-error an array of floats is not atomic
  atomic(struct({ list: array(float64, 2) }).view(memory).list, 1);
}
