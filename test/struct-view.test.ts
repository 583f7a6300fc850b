// Views, snapshots and whole writes: live in place (also across processes),
// all-or-nothing writes, C string rules, and the foundation's safety rules
// for read-only and detached memory.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, describe, test } from 'node:test';
import { IpcError } from '../src/core/errors.js';
import { SharedMemory } from '../src/shm/shared-memory.js';
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
} from '../src/struct/index.js';
import { IPC_CREAT, IPC_RMID } from '../src/sysv/constants.js';
import { shmat, shmctl, shmdt, shmget } from '../src/sysv/shm.js';
import { assertNoLeaks, removeSegment, uniqueKey } from './helpers/ipc.js';
import { assertExitedCleanly, lastJson, runNode } from './helpers/processes.js';
import { Cells, readValue } from '../src/struct/codec.js';
import { budget } from './helpers/soak.js';

/**
 * Rounds of 50,000 calls that warm a function up before the detach, 20 in a
 * soak run. V8 had it optimized by TurboFan after its second round
 * (%GetOptimizationStatus, in 18 runs of 18, six at once); the rest only ran it
 * optimized, about 10 ms of CPU each.
 */
const WARM_ROUNDS = budget(5, 20);

const Point = struct({ x: float32, y: float64 });
const Rec = struct({
  id: int32,
  name: char(12),
  big: int64,
  ubig: uint64,
  flag: bool,
  small: int8,
  u8: uint8,
  i16: int16,
  u16: uint16,
  u32: uint32,
  at: Point,
  nums: array(int16, 4),
  points: array(Point, 2),
  grid: array(array(uint8, 3), 2),
  tags: array(char(6), 2),
});

// Private segments go when detached; the detaching hook is registered before
// the leak check so that it runs first.
const segments: SharedMemory[] = [];
function segment(size = Rec.size): SharedMemory {
  const shm = SharedMemory.create({ size });
  segments.push(shm);
  return shm;
}
after(() => {
  for (const shm of segments) shm[Symbol.dispose]();
});
assertNoLeaks();

const sample = {
  id: 7,
  name: 'abc',
  big: -5n,
  ubig: 5n,
  flag: true,
  small: -1,
  u8: 200,
  i16: -2,
  u16: 60000,
  u32: 4000000000,
  at: { x: 0.5, y: -1 },
  nums: [1, -2, 3, -4],
  points: [
    { x: 1, y: 2 },
    { x: 3, y: 4 },
  ],
  grid: [
    [1, 2, 3],
    [4, 5, 6],
  ],
  tags: ['a', 'bé'],
};

describe('struct views', () => {
  test('a view reads and writes the memory itself, at its offset', () => {
    const buffer = new ArrayBuffer(Rec.size + 16);
    const view = Rec.view(buffer, 8);
    view.id = 0x01020304;
    assert.equal(new DataView(buffer).getInt32(8, true), 0x01020304);
    new DataView(buffer).setInt32(8, -9, true);
    assert.equal(view.id, -9);
    const other = Rec.view(new Uint8Array(buffer, 8));
    other.at.y = 2.5;
    assert.equal(view.at.y, 2.5);
    assert.equal(new DataView(buffer).getFloat64(8 + Rec.offsetOf('at.y'), true), 2.5);
  });

  test('write() then read() round-trips a whole value, and a snapshot does not change afterwards', () => {
    const shm = segment();
    Rec.write(shm, sample);
    const snapshot = Rec.read(shm);
    assert.deepEqual(snapshot, sample);
    Rec.view(shm).id = 99;
    assert.equal(snapshot.id, 7);
    assert.equal(Rec.read(shm).id, 99);
  });

  test('another process sees a set at once, and its sets show in this view without re-reading', async () => {
    const shm = segment();
    const view = Rec.view(shm);
    view.id = 4242;
    view.name = 'parent';
    const child = await runNode(
      `import { SharedMemory, struct, int32, char, int64, uint64, bool, int8, uint8, int16, uint16, uint32, float32, float64, array } from 'SHMKIT';
       const Point = struct({ x: float32, y: float64 });
       const Rec = struct({ id: int32, name: char(12), big: int64, ubig: uint64, flag: bool, small: int8, u8: uint8, i16: int16, u16: uint16, u32: uint32, at: Point, nums: array(int16, 4), points: array(Point, 2), grid: array(array(uint8, 3), 2), tags: array(char(6), 2) });
       const shm = SharedMemory.open({ id: Number(process.argv[1]) });
       const view = Rec.view(shm);
       const seen = { id: view.id, name: view.name };
       view.name = 'child';
       view.points[1].y = 6.25;
       shm.detach();
       console.log(JSON.stringify(seen));`,
      [String(shm.id)],
    );
    assertExitedCleanly(child);
    assert.deepEqual(lastJson(child), { id: 4242, name: 'parent' });
    assert.equal(view.name, 'child');
    assert.equal(view.points[1]!.y, 6.25);
  });

  test('an invalid whole value is refused before anything is written', () => {
    const shm = segment();
    Rec.write(shm, sample);
    const before = shm.read();
    const bad = [
      { ...sample, tags: ['a', 'too long!'] },
      { ...sample, nums: [1, 2, 3] },
      { ...sample, big: 1 },
      {
        ...sample,
        grid: [
          [1, 2, 3],
          [4, 5, 256],
        ],
      },
      { ...sample, at: { x: 1 } },
    ];
    for (const value of bad) {
      assert.throws(
        () => Rec.write(shm, value as never),
        (error: Error) => error instanceof TypeError || error instanceof RangeError,
      );
      assert.deepEqual(shm.read(), before);
    }
    assert.throws(() => Rec.write(shm, { ...sample, tags: ['a', 'too long!'] }), { name: 'RangeError', message: /"value\.tags\[1\]"/ });
    assert.throws(() => Rec.write(shm, { ...sample, big: 1 } as never), {
      name: 'TypeError',
      message: /"value\.big" argument must be of type bigint/,
    });
  });

  test('a member missing from a whole value is reported as missing, also one named like an Object.prototype member', () => {
    const Named = struct({ constructor: int32, toString: int32, ['__proto__']: int32, z: int32 });
    const memory = new ArrayBuffer(Named.size);
    const missing = (member: string, inherited: boolean) => ({
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: new RegExp(
        `^The "value\\.${member}" argument must be given: a whole value has every member of the struct${inherited ? ` \\(Object\\.prototype's ${member} is not one\\)` : '\\.'}`,
      ),
    });
    assert.throws(() => Named.write(memory, { z: 1 } as never), missing('constructor', true));
    assert.throws(() => Named.write(memory, { constructor: 1, z: 1 } as never), missing('toString', true));
    assert.throws(() => Named.write(memory, { constructor: 1, toString: 2, z: 1 } as never), missing('__proto__', true));
    const whole = Object.defineProperty({ constructor: 1, toString: 2, z: 4 }, '__proto__', { value: 3, enumerable: true });
    assert.throws(() => Named.write(memory, { ...whole, z: undefined } as never), missing('z', false));
    assert.deepEqual(new Int32Array(memory), new Int32Array(4), 'nothing written');
    Named.write(memory, whole as never);
    assert.deepEqual([...new Int32Array(memory)], [1, 2, 3, 4]);
    // Members a prototype other than Object.prototype gives count: a view of another type, or a class's getter.
    const Other = struct({ constructor: int32, toString: int32, ['__proto__']: int32, z: int16 });
    const otherMemory = new ArrayBuffer(Other.size);
    Other.write(
      otherMemory,
      Object.defineProperty({ constructor: 5, toString: 6, z: 8 }, '__proto__', { value: 7, enumerable: true }) as never,
    );
    Named.write(memory, Other.view(otherMemory) as never);
    assert.deepEqual([...new Int32Array(memory)], [5, 6, 7, 8]);
  });

  test('each member of a whole value is read once: what was checked is what is written', () => {
    const S = struct({ a: int32, b: int32, c: int64 });
    const memory = new ArrayBuffer(S.size);
    // A getter that answers differently the second time was checked on its
    // first answer and written with its second ('oops' became 0).
    const flipping = (valid: unknown, invalid: unknown) => {
      let reads = 0;
      return () => (reads++ === 0 ? valid : invalid);
    };
    const b = flipping(1, 'oops');
    S.write(memory, {
      a: 7,
      get b() {
        return b();
      },
      c: 5n,
    } as never);
    assert.deepEqual(S.read(memory), { a: 7, b: 1, c: 5n });
    const c = flipping(6n, 'x');
    S.write(memory, {
      a: 8,
      b: 2,
      get c() {
        return c();
      },
    } as never);
    assert.deepEqual(S.read(memory), { a: 8, b: 2, c: 6n });
    // The same through an array view's set(i, value).
    const Outer = struct({ items: array(S, 2) });
    const outer = Outer.view(new ArrayBuffer(Outer.size));
    const d = flipping(3, 2 ** 40);
    outer.items.set(1, {
      a: 1,
      get b() {
        return d();
      },
      c: 0n,
    } as never);
    assert.equal(outer.items.get(1).b, 3);
    // A view of the memory being written is a value too: an overlapping copy
    // moves what was there before, as memmove does.
    const Four = array(int32, 4);
    const bytes = new Int32Array([1, 2, 3, 4, 0]);
    Four.write(bytes, Four.view(bytes), 4);
    assert.deepEqual([...bytes], [1, 1, 2, 3, 4]);
  });

  test('setters check values: TypeError for the wrong type, RangeError outside the C type, naming the field', () => {
    const view = Rec.view(new ArrayBuffer(Rec.size));
    const cases: Array<[string, unknown, string]> = [
      ['id', 2 ** 31, 'RangeError'],
      ['id', 1.5, 'RangeError'],
      ['id', '1', 'TypeError'],
      ['id', NaN, 'RangeError'],
      ['small', -129, 'RangeError'],
      ['u8', 256, 'RangeError'],
      ['u8', -1, 'RangeError'],
      ['i16', 32768, 'RangeError'],
      ['u16', 65536, 'RangeError'],
      ['u32', -1, 'RangeError'],
      ['u32', 2 ** 32, 'RangeError'],
      ['big', 2n ** 63n, 'RangeError'],
      ['big', 1, 'TypeError'],
      ['ubig', -1n, 'RangeError'],
      ['ubig', 2n ** 64n, 'RangeError'],
      ['flag', 1, 'TypeError'],
      ['name', 5, 'TypeError'],
    ];
    for (const [field, value, name] of cases) {
      assert.throws(
        () => ((view as Record<string, unknown>)[field] = value),
        { name, message: new RegExp(`"${field}"`) },
        `${field} = ${String(value)}`,
      );
    }
    view.u32 = 2 ** 32 - 1;
    view.big = -(2n ** 63n);
    view.ubig = 2n ** 64n - 1n;
    view.at.x = NaN;
    assert.deepEqual([view.u32, view.big, view.ubig, Number.isNaN(view.at.x)], [2 ** 32 - 1, -(2n ** 63n), 2n ** 64n - 1n, true]);
    view.at.x = 1.1; // float32 rounds, as in C
    assert.equal(view.at.x, Math.fround(1.1));
  });

  test('an error shows the value it refuses bounded and escaped, as Node shows values', () => {
    const view = Rec.view(new ArrayBuffer(Rec.size));
    const message = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        return (error as Error).message;
      }
      assert.fail('no error');
    };
    const long = message(() => (view.name = 'x'.repeat(1e7)));
    assert.ok(long.length < 300, `${long.length} characters`);
    assert.match(long, /it has 10000000\. Received type string \('x{25}\.\.\.'\)$/);
    // No NUL or escape sequence goes into a message raw.
    assert.match(
      message(() => (view.name = 'abc\0')),
      /Received type string \('abc\\x00'\)$/,
    );
    assert.match(
      message(() => (view.name = 'red\x1b[31m'.repeat(2))),
      /Received type string \('red\\x1B\[31mred\\x1B\[31m'\)$/,
    );
    assert.match(
      message(() => (view.name = 5 as never)),
      /Received 5$/,
    );
    const big = message(() => (view.big = -(2n ** 100_000n)));
    assert.ok(big.length < 300, `${big.length} characters`);
    assert.match(big, /Received a negative bigint of 100001 bits$/);
    assert.match(
      message(() => (view.big = 2n ** 64n)),
      /Received 18446744073709551616n$/,
    );
    const badName = message(() => struct({ [`a\0${'b'.repeat(1e6)}`]: int8 }));
    assert.ok(badName.length < 300 && !badName.includes('\0'), badName.slice(0, 300));
    assert.match(badName, /^The "fields\['a\\x00b{23}\.\.\.'\]" argument must be named by a C identifier/);
    const path = message(() => Rec.offsetOf('a'.repeat(1e6)));
    assert.ok(path.length < 300, path.slice(0, 300));
    // Outside structs too: every error that describes a value.
    const errno = message(() => new IpcError('shmget', `E${'\n'.repeat(1e6)}`));
    assert.ok(errno.length < 300 && !errno.includes('\n'), errno.slice(0, 300));
  });

  test('struct and array members are views, not assignable, and a misspelt field throws', () => {
    const view = Rec.view(new ArrayBuffer(Rec.size));
    assert.throws(() => {
      (view as unknown as { idd: number }).idd = 1;
    }, TypeError);
    assert.throws(() => {
      (view.nums as unknown as { size: number }).size = 1;
    }, TypeError);
    assert.throws(() => {
      (view as { at: unknown }).at = { x: 1, y: 2 };
    }, TypeError);
    assert.equal(view.at, view.at, 'the same nested view each time');
  });
});

describe('char(n) fields', () => {
  const S = struct({ s: char(5), after: uint8 });

  test('hold at most n-1 bytes of UTF-8; a longer value is a RangeError and changes nothing', () => {
    const buffer = new ArrayBuffer(S.size);
    const view = S.view(buffer);
    view.after = 0x77;
    view.s = 'abcd';
    assert.equal(view.s, 'abcd');
    assert.deepEqual([...new Uint8Array(buffer)], [0x61, 0x62, 0x63, 0x64, 0, 0x77]);
    assert.throws(() => (view.s = 'abcde'), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /at most 4 bytes/ });
    // 'aé€' is 1 + 2 + 3 = 6 bytes; 'aé' + '€' would cut the euro sign: refused whole.
    assert.throws(() => (view.s = 'aé€'), RangeError);
    assert.throws(() => (view.s = 'é😀'), RangeError);
    assert.equal(view.s, 'abcd');
    view.s = 'é';
    assert.deepEqual([...new Uint8Array(buffer)], [0xc3, 0xa9, 0, 0, 0, 0x77], 'the rest is zeroed');
    view.s = '😀';
    assert.equal(view.s, '😀');
    view.s = '';
    assert.equal(view.s, '');
  });

  test('a string with a NUL is refused; a C string without NUL reads all n bytes', () => {
    const buffer = new ArrayBuffer(S.size);
    const view = S.view(buffer);
    assert.throws(() => (view.s = 'a\0b'), { name: 'TypeError', message: /null bytes/ });
    new Uint8Array(buffer).set([0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x21]);
    assert.equal(view.s, 'hello');
    new Uint8Array(buffer).set([0x61, 0x62, 0x63, 0xe2, 0x82]); // a C program cut a character
    assert.equal(view.s, 'abc\ufffd');
  });

  test('a string with a lone surrogate is refused, naming the field, rather than stored as U+FFFD', () => {
    const buffer = new ArrayBuffer(S.size);
    const view = S.view(buffer);
    view.s = 'ok';
    for (const text of ['\uD800', 'é\uDC00', '\uDE00😀', 'a\uD83D']) {
      assert.throws(() => (view.s = text), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_VALUE',
        message: /^The argument 's' is invalid: .*lone surrogate/,
      });
      assert.throws(() => S.write(buffer, { s: text, after: 1 }), { code: 'ERR_INVALID_ARG_VALUE', message: /'value\.s'/ });
      assert.throws(() => array(char(3), 2).view(buffer).set(0, text), { code: 'ERR_INVALID_ARG_VALUE', message: /'value'/ });
    }
    assert.deepEqual([...new Uint8Array(buffer)], [0x6f, 0x6b, 0, 0, 0, 0], 'nothing written');
    view.s = '😀';
    assert.equal(view.s, '😀', 'a surrogate pair is a character');
  });

  test('a short string in a large char(n) takes room for itself, not n bytes kept for good', () => {
    // 4 MiB: a buffer sized by the field shows as 4 times the bound below, and
    // a string of n-1 bytes is still far over the 64 KiB kept between writes.
    // (2^26 took 0.5 s of CPU, filling, encoding and decoding 64 MiB.)
    const n = 2 ** 22;
    const Log = struct({ text: char(n) });
    const memory = new ArrayBuffer(Log.size);
    const view = Log.view(memory);
    const before = process.memoryUsage().arrayBuffers;
    view.text = 'hi';
    Log.write(memory, { text: 'héllo' });
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 2 ** 20, `writing 7 bytes into a char(2^22) allocated ${grown} bytes more`);
    assert.equal(view.text, 'héllo');
    assert.throws(() => (view.text = 'x'.repeat(n)), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    view.text = `${'é'.repeat(n / 2 - 1)}a`; // exactly n-1 bytes
    assert.equal(view.text.length, n / 2);
    assert.equal(new Uint8Array(memory)[n - 1], 0);
  });
});

describe('array views', () => {
  test('index, length, iteration, toArray, set(i) and nested arrays', () => {
    const view = Rec.view(new ArrayBuffer(Rec.size));
    view.nums[0] = -7;
    view.nums.set(3, 9);
    assert.equal(view.nums.length, 4);
    assert.deepEqual([...view.nums], [-7, 0, 0, 9]);
    assert.deepEqual(view.nums.toArray(), [-7, 0, 0, 9]);
    assert.equal(view.nums[4], undefined);
    assert.ok(3 in view.nums && !(4 in view.nums));
    assert.throws(() => (view.nums[4] = 1), { name: 'RangeError', message: /"index"/ });
    assert.throws(() => view.nums.get(-1), RangeError);
    assert.throws(() => view.nums.get(1.5), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /"index"/ });
    for (const index of ['1', 1n, undefined, null]) {
      assert.throws(() => view.nums.get(index as unknown as number), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_TYPE',
        message: /"index"/,
      });
      assert.throws(() => view.nums.set(index as unknown as number, 1), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_TYPE',
        message: /"index"/,
      });
    }
    assert.throws(() => (view.nums[1] = 40000), { name: 'RangeError' });
    view.grid[1]![2] = 255;
    assert.deepEqual(view.grid.toArray(), [
      [0, 0, 0],
      [0, 0, 255],
    ]);
    view.tags[1] = 'ü';
    assert.equal(view.tags.get(1), 'ü');
  });

  test('view[key] = x with a numeric key that is no index of the array is the RangeError of an index out of range, also in sloppy code', () => {
    const view = Rec.view(new ArrayBuffer(Rec.size));
    // new Function: sloppy code, where a refused set used to do nothing at all.
    const sloppySet = new Function('target', 'key', 'target[key] = 1;') as (target: object, key: string) => void;
    for (const key of ['-1', '1.5', 'NaN', '-0', 'Infinity', '1e+21', '4']) {
      const outOfRange = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /"index"/ };
      assert.throws(() => ((view.nums as unknown as Record<string, number>)[key] = 1), outOfRange, `strict view.nums['${key}']`);
      assert.throws(() => sloppySet(view.nums, key), outOfRange, `sloppy view.nums['${key}']`);
      assert.equal((view.nums as unknown as Record<string, unknown>)[key], undefined);
    }
    assert.throws(() => ((view.nums as unknown as Record<string, number>)['-0'] = 1), { message: /Received -0$/ });
    assert.deepEqual(view.nums.toArray(), [0, 0, 0, 0], 'nothing written');
    // Other names are properties: a view has none to add, as before.
    assert.throws(() => ((view.nums as unknown as Record<string, number>)['01'] = 1), TypeError);
  });

  test('arrays of structs: element views, whole-element set, and array(...) as a top-level type', () => {
    const Points = array(Point, 3);
    assert.equal(Points.size, 48);
    const shm = segment(Points.size);
    const points = Points.view(shm);
    points[2]!.y = 8;
    points.set(0, { x: 1, y: 2 });
    assert.deepEqual(Points.read(shm), [
      { x: 1, y: 2 },
      { x: 0, y: 0 },
      { x: 0, y: 8 },
    ]);
    assert.deepEqual(
      [...points].map((p) => p.y),
      [2, 0, 8],
    );
    Points.write(shm, [
      { x: 3, y: 3 },
      { x: 4, y: 4 },
      { x: 5, y: 5 },
    ]);
    assert.equal(points[1]!.x, 4);
    assert.throws(() => points.set(1, { x: 1 } as never), TypeError);
  });

  test('util.inspect and JSON.stringify show values', () => {
    const S = struct({ a: int32, b: array(uint8, 2) });
    const view = S.view(new ArrayBuffer(S.size));
    view.a = 3;
    assert.equal(JSON.stringify(view), '{"a":3,"b":[0,0]}');
    assert.match(inspect(view), /a: 3/);
    // As docs/api.md says: a field named toJSON is what JSON.stringify finds.
    const WithToJSON = struct({ toJSON: int32, z: int32 });
    const memory = new ArrayBuffer(WithToJSON.size);
    WithToJSON.write(memory, { toJSON: 9, z: 1 });
    assert.equal(JSON.stringify(WithToJSON.view(memory)), '{}');
    assert.equal(JSON.stringify(WithToJSON.read(memory)), '{"toJSON":9,"z":1}');
    assert.match(inspect(WithToJSON.view(memory)), /toJSON: 9, z: 1/);
  });

  test('util.inspect shows long arrays as Node shows arrays, and reads only the elements it shows', () => {
    const S = struct({ a: int32, xs: array(int16, 150), grid: array(array(uint8, 3), 2), name: char(8) });
    const buffer = new ArrayBuffer(S.size);
    const view = S.view(buffer);
    for (let i = 0; i < 150; i++) view.xs[i] = i - 75;
    view.grid[1]![2] = 9;
    view.name = 'cell';
    const whole = S.read(buffer);
    for (const options of [{}, { maxArrayLength: 2 }, { maxArrayLength: 0 }, { maxArrayLength: null }, { depth: 0 }]) {
      assert.equal(inspect(view, options), inspect(whole, options), JSON.stringify(options));
    }
    assert.match(inspect(view), /\.\.\. 50 more items/);
    // What inspect is given: the elements it shows and one more (a 404-byte DataView has no more), and the length by a last element far off.
    const big = array(int32, 50_000_000);
    const preview = readValue(big, new Cells(new DataView(new ArrayBuffer(404))), 0, 100) as unknown[];
    assert.equal(preview.length, 50_000_000);
    assert.equal(Object.keys(preview).length, 102);
  });

  test('JSON.stringify gives int64 and uint64 values as decimal strings, every digit kept, also nested and in arrays', () => {
    const S = struct({ a: int64, b: array(uint64, 2), c: int32, n: struct({ d: int64 }) });
    const view = S.view(new ArrayBuffer(S.size));
    view.a = -(2n ** 63n);
    view.b.set(1, 2n ** 64n - 1n);
    view.c = 7;
    view.n.d = 2n ** 53n + 1n;
    const json = '{"a":"-9223372036854775808","b":["0","18446744073709551615"],"c":7,"n":{"d":"9007199254740993"}}';
    assert.equal(JSON.stringify(view), json);
    assert.equal(JSON.stringify(view.b), '["0","18446744073709551615"]');
    assert.equal(JSON.stringify(view.n), '{"d":"9007199254740993"}');
    assert.equal(JSON.stringify(array(int64, 2).view(new ArrayBuffer(16))), '["0","0"]');
    // Snapshots (read) keep bigint; only JSON turns them into strings.
    const buffer = new ArrayBuffer(S.size);
    S.view(buffer).a = 5n;
    assert.equal(S.read(buffer).a, 5n);
  });
});

describe('struct view sources and offsets', () => {
  test('accepts ArrayBuffer, typed arrays, SharedMemory and Attachment; refuses others naming "source"', () => {
    const S = struct({ a: int32 });
    const shm = segment(64);
    S.view(shm, 4).a = 5;
    assert.equal(S.view(new Uint8Array(shm.buffer, 4)).a, 5);
    assert.equal(S.read(shm.buffer, 4).a, 5);
    const shared = new SharedArrayBuffer(struct({ s: char(8) }).size);
    struct({ s: char(8) }).view(shared).s = 'é€';
    assert.equal(struct({ s: char(8) }).read(new Uint8Array(shared)).s, 'é€');
    assert.throws(() => S.view({} as never), { name: 'TypeError', message: /"source"/ });
    assert.throws(() => S.view(shm, 61), { name: 'RangeError', message: /"offset"/ });
    assert.throws(() => S.view(shm, -1), { name: 'RangeError', message: /"offset"/ });
    // Memory smaller than the struct: the source is at fault, not the offset.
    const small = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /"source".*at least 4 bytes \(the struct's size\); it has 3\./ };
    assert.throws(() => S.view(new ArrayBuffer(3)), small);
    assert.throws(() => S.read(new Uint8Array(8).subarray(5)), small);
    assert.throws(() => S.write(new DataView(new ArrayBuffer(3)), { a: 1 }, 0), small);
    assert.throws(() => Rec.view(shm), {
      name: 'RangeError',
      message: new RegExp(
        `^The value of "source" is out of range\\. It must be at least ${Rec.size} bytes \\(the struct's size\\); it has 64\\.`,
      ),
    });
    const id = shmget(uniqueKey(), 64, IPC_CREAT | 0o600);
    try {
      const attachment = shmat(id);
      S.view(attachment).a = 11;
      assert.equal(S.read(attachment).a, 11);
      shmdt(attachment);
    } finally {
      removeSegment(id);
    }
  });

  // A field aligned to its size is an element of a typed array starting at
  // the view's first aligned byte, at an index worked out from where the view
  // starts mod 8; any other goes through the DataView. DataView calls at the
  // offsetOf() of each are the reference, in every case.
  test('every field of 2, 4 or 8 bytes is its own bytes at every start mod 8, packed or not, by view, read() and write()', () => {
    const fields = {
      a: int8,
      b: int16,
      c: uint16,
      d: int32,
      e: uint32,
      f: float32,
      g: int64,
      h: uint64,
      i: float64,
      j: array(int16, 3),
      k: array(float32, 2),
      l: struct({ m: int8, n: int32 }),
      p: array(struct({ q: int8, r: int64 }, { packed: true }), 2),
    };
    // Every byte of each value differs from its neighbours, so that a slot off by any amount shows.
    const expected = [
      ['b', 'Int16', -0x1234],
      ['c', 'Uint16', 0xbeef],
      ['d', 'Int32', -0x12345678],
      ['e', 'Uint32', 0x9abcdef0],
      ['f', 'Float32', Math.fround(-Math.PI)],
      ['g', 'BigInt64', -0x0123456789abcdefn],
      ['h', 'BigUint64', 0xfedcba9876543210n],
      ['i', 'Float64', Math.PI],
      ['j[1]', 'Int16', 0x5566],
      ['j[2]', 'Int16', -0x7788],
      ['k[1]', 'Float32', Math.fround(1.1)],
      ['l.n', 'Int32', 0x7a6b5c4d],
      ['p[1].r', 'BigInt64', 0x1122334455667788n],
    ] as const;
    const value = {
      a: -1,
      b: -0x1234,
      c: 0xbeef,
      d: -0x12345678,
      e: 0x9abcdef0,
      f: Math.fround(-Math.PI),
      g: -0x0123456789abcdefn,
      h: 0xfedcba9876543210n,
      i: Math.PI,
      j: [0, 0x5566, -0x7788],
      k: [0, Math.fround(1.1)],
      l: { m: 0, n: 0x7a6b5c4d },
      p: [
        { q: 0, r: 0n },
        { q: 0, r: 0x1122334455667788n },
      ],
    };
    for (const packed of [false, true]) {
      const T = struct(fields, { packed });
      for (let start = 0; start < 8; start++) {
        const where = `${packed ? 'packed, ' : ''}at ${start}`;
        const check = (buffer: ArrayBuffer, how: string): void => {
          const dv = new DataView(buffer, start);
          for (const [path, kind, v] of expected) {
            assert.equal(
              (dv[`get${kind}`] as (at: number, le: boolean) => unknown).call(dv, T.offsetOf(path), true),
              v,
              `${path} ${how}, ${where}`,
            );
          }
        };
        const written = new ArrayBuffer(T.size + 8);
        T.write(written, value, start);
        check(written, 'by write()');
        assert.deepEqual(T.read(written, start), value, `read(), ${where}`);
        const set = new ArrayBuffer(T.size + 8);
        const target = T.view(set, start);
        for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] as const) (target[key] as unknown) = value[key];
        target.j[1] = 0x5566;
        target.j.set(2, -0x7788);
        target.k[1] = Math.fround(1.1);
        target.l.n = 0x7a6b5c4d;
        target.p[1]!.r = 0x1122334455667788n;
        check(set, 'by setters');
        // Getters read what DataView calls wrote.
        new Uint8Array(written).set(new Uint8Array(set));
        const read = T.view(written, start);
        for (const [path, , v] of expected) {
          const got = path
            .split(/[.[\]]+/)
            .filter(Boolean)
            .reduce<unknown>((at, step) => (at as Record<string, unknown>)[step], read);
          assert.equal(got, v, `${path} by getter, ${where}`);
        }
      }
    }
  });
});

describe('read-only and detached memory', () => {
  test('a view of a read-only SharedMemory reads in place; every write throws ERR_SHM_READ_ONLY', () => {
    const key = uniqueKey();
    const keyed = SharedMemory.create({ key, size: Rec.size });
    segments.push(keyed);
    const reader = SharedMemory.open({ key, readOnly: true });
    segments.push(reader);
    keyed.remove();
    const live = Rec.view(keyed);
    const view = Rec.view(reader);
    live.id = 1;
    live.name = 'first';
    assert.equal(view.id, 1);
    live.id = 2;
    live.points[1]!.x = 3;
    assert.equal(view.id, 2, 'reads the memory in place, not a copy');
    assert.equal(view.points[1]!.x, 3);
    assert.equal(view.name, 'first');
    const readOnly = { name: 'StateError', code: 'ERR_SHM_READ_ONLY' };
    assert.throws(() => (view.id = 3), readOnly);
    assert.throws(() => (view.name = 'x'), readOnly);
    assert.throws(() => (view.at.x = 1), readOnly);
    assert.throws(() => (view.nums[0] = 1), readOnly);
    assert.throws(() => view.points.set(0, { x: 1, y: 1 }), readOnly);
    assert.throws(() => Rec.write(reader, sample), readOnly);
    assert.equal(atomic(view, 'id').load(), 2);
    assert.throws(() => atomic(view, 'id').add(1), readOnly);
    assert.deepEqual(Rec.read(reader).id, 2);
    assert.equal(live.id, 2);
    // Nothing on a view leads to the (writable) ArrayBuffer of the mapping.
    for (const object of [view, view.at, view.nums, view.points]) {
      assert.deepEqual(Object.getOwnPropertyNames(object), []);
      assert.deepEqual(Object.getOwnPropertySymbols(object), []);
    }
  });

  test('a resizable ArrayBuffer shrunk under a view gives StateError ERR_SHM_DETACHED, not an uncoded TypeError', () => {
    // Resizable ArrayBuffers (ES2024, in Node 20) are past the lib this project compiles against.
    const Resizable = ArrayBuffer as unknown as new (
      size: number,
      options: { maxByteLength: number },
    ) => ArrayBuffer & { resize(size: number): void };
    const memory = new Resizable(Rec.size + 8, { maxByteLength: 4096 });
    const view = Rec.view(memory, 8);
    const nested = view.at;
    const nums = view.nums;
    const counter = atomic(view, 'u32');
    memory.resize(12);
    const gone = { name: 'StateError', code: 'ERR_SHM_DETACHED', message: /shrank to 12 bytes/ };
    assert.throws(() => view.big, gone);
    assert.throws(() => (view.big = 1n), gone);
    assert.throws(() => view.name, gone);
    assert.throws(() => (view.name = 'x'), gone);
    assert.throws(() => nested.y, gone);
    assert.throws(() => nums[1], gone);
    assert.throws(() => nums.toArray(), gone);
    assert.throws(() => view.points.get(0), gone);
    assert.throws(() => JSON.stringify(view), gone);
    assert.throws(() => counter.add(1), gone);
    assert.match(inspect(view), /detached/);
    // A view is out of bounds as a whole (as its DataView is), until the buffer grows back.
    assert.throws(() => view.id, gone);
    memory.resize(Rec.size + 8);
    view.big = 5n;
    assert.equal(Rec.read(memory, 8).big, 5n);
  });

  test('after detach every access throws StateError ERR_SHM_DETACHED, never crashes', () => {
    const shm = SharedMemory.create({ size: Rec.size });
    const view = Rec.view(shm);
    const nested = view.at;
    const nums = view.nums;
    const counter = atomic(view, 'id');
    shm.detach();
    const detached = { name: 'StateError', code: 'ERR_SHM_DETACHED' };
    assert.throws(() => view.id, detached);
    assert.throws(() => (view.id = 1), detached);
    assert.throws(() => view.name, detached);
    assert.throws(() => (view.name = 'x'), detached);
    assert.throws(() => nested.y, detached);
    assert.throws(() => view.points, detached, 'a nested view made after detach');
    assert.throws(() => nums[0], detached);
    assert.throws(() => nums.toArray(), detached);
    assert.throws(() => counter.load(), detached);
    assert.throws(() => counter.add(1), detached);
    assert.throws(() => Rec.view(shm), detached);
    assert.throws(() => Rec.read(shm), detached);
    assert.throws(() => Rec.write(shm, sample), detached);
    assert.match(inspect(view), /detached/);
  });

  test('code that V8 optimized while attached throws StateError after detach, never touches unmapped memory', () => {
    const S = struct({ a: int32, f: float64, s: char(8), arr: array(int32, 4), big: int64 });
    const shm = SharedMemory.create({ size: S.size });
    const view = S.view(shm);
    const counter = atomic(view, 'a');
    const hot = (n: number): number => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        view.a = i;
        sum += view.a + view.f + view.arr[1]! + view.s.length;
        view.arr[2] = i;
        view.big = 1n;
        counter.add(1);
      }
      return sum;
    };
    for (let round = 0; round < WARM_ROUNDS; round++) hot(50_000);
    shm.detach();
    assert.throws(() => hot(1), { name: 'StateError', code: 'ERR_SHM_DETACHED' });
  });

  test('a view over the buffer of a detached Attachment throws StateError too', () => {
    const id = shmget(uniqueKey(), Rec.size, IPC_CREAT | 0o600);
    try {
      const attachment = shmat(id);
      const buffer = attachment.buffer;
      const view = Rec.view(buffer);
      view.id = 3;
      shmdt(attachment);
      assert.equal(buffer.byteLength, 0);
      assert.throws(() => view.id, { name: 'StateError', code: 'ERR_SHM_DETACHED' });
      assert.throws(() => (view.tags[0] = 'a'), { name: 'StateError', code: 'ERR_SHM_DETACHED' });
      assert.throws(() => Rec.view(buffer), { name: 'StateError', code: 'ERR_SHM_DETACHED' });
    } finally {
      shmctl(id, IPC_RMID);
    }
  });
});
