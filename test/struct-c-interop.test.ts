// Values cross between C and TypeScript through a real segment, both ways:
// extremes of every integer, NaN and -0, bools, multibyte strings, arrays
// and arrays of structs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  array,
  bool,
  char,
  float32,
  float64,
  int16,
  int32,
  int64,
  int8,
  SharedMemory,
  struct,
  uint16,
  uint32,
  uint64,
  uint8,
  type Value,
} from 'shmkit';
import { compileC } from './helpers/c.js';
import { assertNoLeaks } from './helpers/ipc.js';
import { budget } from './helpers/soak.js';
import { assertExitedCleanly, lastJson, run, runNode } from './helpers/processes.js';

assertNoLeaks();

const Point = struct({ x: float32, y: float64 });
const Record = struct({
  i8: int8,
  u8: uint8,
  i16: int16,
  u16: uint16,
  i32: int32,
  u32: uint32,
  i64: int64,
  u64: uint64,
  f32: float32,
  f64: float64,
  nan: float64,
  negzero: float64,
  yes: bool,
  no: bool,
  name: char(32),
  empty: char(8),
  nums: array(int16, 5),
  points: array(Point, 3),
  tags: array(char(8), 2),
});

const C_STRUCT = `
struct point { float x; double y; };
struct record {
  int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32; int64_t i64; uint64_t u64;
  float f32; double f64; double nan; double negzero; _Bool yes; _Bool no;
  char name[32]; char empty[8]; int16_t nums[5]; struct point points[3]; char tags[2][8];
};`;

// The same values on both sides. The strings are UTF-8 in the C source.
const NAME = 'héllo wörld € 😀';
const EXPECTED: Value<typeof Record> = {
  i8: -128,
  u8: 255,
  i16: -32768,
  u16: 65535,
  i32: -2147483648,
  u32: 4294967295,
  i64: -(2n ** 63n),
  u64: 2n ** 64n - 1n,
  f32: -1.5,
  f64: Math.PI,
  nan: NaN,
  negzero: -0,
  yes: true,
  no: false,
  name: NAME,
  empty: '',
  nums: [-1, 2, -300, 32767, -32768],
  points: [
    { x: 1.5, y: -2.5 },
    { x: -0.25, y: 1e300 },
    { x: 3, y: -0 },
  ],
  tags: ['ab', 'çà'],
};

const C_PROGRAM = `
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
${C_STRUCT}

static int bad = 0;
#define CHECK(cond) do { if (!(cond)) { printf("bad %s\\n", #cond); bad = 1; } } while (0)

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  struct record *r = shmat(atoi(argv[2]), NULL, 0);
  if (r == (void *)-1) { perror("shmat"); return 2; }
  if (strcmp(argv[1], "write") == 0) {
    memset(r, 0xab, sizeof *r); /* garbage in padding and after each NUL */
    r->i8 = INT8_MIN; r->u8 = UINT8_MAX; r->i16 = INT16_MIN; r->u16 = UINT16_MAX;
    r->i32 = INT32_MIN; r->u32 = UINT32_MAX; r->i64 = INT64_MIN; r->u64 = UINT64_MAX;
    r->f32 = -1.5f; r->f64 = 3.141592653589793; r->nan = NAN; r->negzero = -0.0; r->yes = 1; r->no = 0;
    strcpy(r->name, "${NAME}");
    r->empty[0] = 0;
    int16_t nums[5] = { -1, 2, -300, 32767, -32768 };
    memcpy(r->nums, nums, sizeof nums);
    r->points[0].x = 1.5f; r->points[0].y = -2.5;
    r->points[1].x = -0.25f; r->points[1].y = 1e300;
    r->points[2].x = 3.0f; r->points[2].y = -0.0;
    strcpy(r->tags[0], "ab"); strcpy(r->tags[1], "çà");
  } else {
    CHECK(r->i8 == INT8_MIN); CHECK(r->u8 == UINT8_MAX); CHECK(r->i16 == INT16_MIN); CHECK(r->u16 == UINT16_MAX);
    CHECK(r->i32 == INT32_MIN); CHECK(r->u32 == UINT32_MAX); CHECK(r->i64 == INT64_MIN); CHECK(r->u64 == UINT64_MAX);
    CHECK(r->f32 == -1.5f); CHECK(r->f64 == 3.141592653589793); CHECK(isnan(r->nan));
    CHECK(r->negzero == 0.0 && signbit(r->negzero)); CHECK(r->yes == 1); CHECK(r->no == 0);
    CHECK(strcmp(r->name, "${NAME}") == 0); CHECK(r->empty[0] == 0);
    CHECK(r->nums[0] == -1 && r->nums[1] == 2 && r->nums[2] == -300 && r->nums[3] == 32767 && r->nums[4] == -32768);
    CHECK(r->points[0].x == 1.5f && r->points[0].y == -2.5);
    CHECK(r->points[1].x == -0.25f && r->points[1].y == 1e300);
    CHECK(r->points[2].x == 3.0f && r->points[2].y == 0.0 && signbit(r->points[2].y));
    CHECK(strcmp(r->tags[0], "ab") == 0); CHECK(strcmp(r->tags[1], "çà") == 0);
    /* write() and setters zero what follows the NUL, as strncpy does */
    CHECK(r->name[sizeof r->name - 1] == 0 && r->tags[0][7] == 0);
  }
  printf("sizeof %zu\\n", sizeof(struct record));
  shmdt(r);
  return bad;
}
`;

describe('struct values cross between C and TypeScript', () => {
  let peer: string;
  before(async () => {
    peer = await compileC('struct-interop', C_PROGRAM);
  });

  const segments: SharedMemory[] = [];
  // A private segment: removed by the kernel once everyone has detached.
  function segment(): SharedMemory {
    const shm = SharedMemory.create({ size: Record.size });
    segments.push(shm);
    return shm;
  }
  after(() => {
    for (const shm of segments) shm[Symbol.dispose]();
  });

  test('C and shmkit agree on sizeof(struct record)', async () => {
    const shm = segment();
    const result = await run(peer, ['write', String(shm.id)]);
    assertExitedCleanly(result, 'C writer');
    assert.equal(result.stdout.trim(), `sizeof ${Record.size}`);
  });

  test('what a C program writes, read() and a view read back exactly', async () => {
    const shm = segment();
    assertExitedCleanly(await run(peer, ['write', String(shm.id)]), 'C writer');
    assert.deepEqual(Record.read(shm), EXPECTED); // deepEqual tells NaN and -0 apart
    const view = Record.view(shm);
    assert.ok(Object.is(view.negzero, -0));
    assert.ok(Number.isNaN(view.nan));
    assert.equal(view.i64, -(2n ** 63n));
    assert.equal(view.u64, 2n ** 64n - 1n);
    assert.equal(view.name, NAME);
    assert.equal(view.tags[1], 'çà');
    assert.equal(view.points[1]!.y, 1e300);
    assert.deepEqual([...view.nums], EXPECTED.nums);
  });

  test('what write() writes, a C program reads back exactly', async () => {
    const shm = segment();
    shm.bytes.fill(0xab);
    Record.write(shm, EXPECTED);
    const result = await run(peer, ['check', String(shm.id)]);
    assertExitedCleanly(result, 'C checker');
  });

  test('what view setters write, a C program reads back exactly', async () => {
    const shm = segment();
    shm.bytes.fill(0xab);
    const view = Record.view(shm);
    for (const key of ['i8', 'u8', 'i16', 'u16', 'i32', 'u32', 'f32', 'f64', 'nan', 'negzero'] as const) view[key] = EXPECTED[key];
    view.i64 = EXPECTED.i64;
    view.u64 = EXPECTED.u64;
    view.yes = true;
    view.no = false;
    view.name = NAME;
    view.empty = '';
    EXPECTED.nums.forEach((n, i) => {
      view.nums[i] = n;
    });
    EXPECTED.points.forEach((p, i) => {
      view.points.set(i, p);
    });
    view.tags[0] = 'ab';
    view.tags[1] = 'çà';
    const result = await run(peer, ['check', String(shm.id)]);
    assertExitedCleanly(result, 'C checker');
  });
});

// Multi-byte fields cross whole: a C program and a Node process each store
// 0 and all ones (0.0 and pi for floats) in every field in turn while the
// other reads for READ_MS, and on (at most 10 s) until its reads are enough
// for the checks (over 50,000 and both values seen): a busy machine makes the
// reading longer, instead of failing it. A value that is neither was seen half
// written: V8's DataView moved a BigInt64 as two 32-bit halves, and every
// type byte by byte in code not yet optimized. So the Node child runs as it
// is and with --jitless, where all of its code is interpreted: a C reader saw
// 44 million of 3.9 billion int32 reads torn there. The reader announces
// itself (ready 1) and the writer starts (ready 2): neither works while the
// other process is still starting.
describe('int16, uint16, int32, uint32, float32, int64, uint64 and float64 fields are never seen half written', () => {
  const Word = struct({ p: int64, u: uint64, d: float64, i: int32, n: uint32, f: float32, h: int16, k: uint16 });
  const Shared = struct({ stop: int32, ready: int32, w: Word });
  const TEAR_C = `
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/shm.h>
struct word { int64_t p; uint64_t u; double d; int32_t i; uint32_t n; float f; int16_t h; uint16_t k; };
struct shared { int32_t stop; int32_t ready; struct word w; };
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
#define STORE(field, value) __atomic_store_n(&s->w.field, value, __ATOMIC_RELAXED)
#define LOAD(field) __atomic_load_n(&s->w.field, __ATOMIC_RELAXED)
/* Naps (1 ms) until ready holds at least value, or the deadline. */
static void await_ready(struct shared *s, int value, double end) {
  while (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST) < value && now() < end) usleep(1000);
}
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  struct shared *s = shmat(atoi(argv[2]), NULL, 0);
  if (s == (void *)-1) { perror("shmat"); return 2; }
  const double pi = 3.141592653589793, zero = 0.0;
  const float pif = 3.14159265f, zerof = 0.0f; /* 0x40490fdb: no zero byte */
  double end = now() + 10;
  if (strcmp(argv[1], "write") == 0) {
    await_ready(s, 1, end);
    __atomic_store_n(&s->ready, 2, __ATOMIC_SEQ_CST);
    long rounds = 0;
    while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST) && now() < end) {
      for (int i = 0; i < 10000; i++) {
        STORE(p, 0); STORE(p, -1); STORE(u, 0); STORE(u, UINT64_MAX);
        __atomic_store(&s->w.d, &zero, __ATOMIC_RELAXED); __atomic_store(&s->w.d, &pi, __ATOMIC_RELAXED);
        STORE(i, 0); STORE(i, -1); STORE(n, 0); STORE(n, UINT32_MAX);
        __atomic_store(&s->w.f, &zerof, __ATOMIC_RELAXED); __atomic_store(&s->w.f, &pif, __ATOMIC_RELAXED);
        STORE(h, 0); STORE(h, -1); STORE(k, 0); STORE(k, UINT16_MAX);
      }
      rounds++;
    }
    printf("{\\"rounds\\":%ld}\\n", rounds);
  } else {
    __atomic_store_n(&s->ready, 1, __ATOMIC_SEQ_CST);
    await_ready(s, 2, end);
    long reads = 0, ones = 0, torn[8] = { 0 };
    double enough = now() + atoi(argv[3]) / 1000.0;
    while (now() < end && (now() < enough || reads <= 50000 || ones == 0 || ones == reads)) {
      for (int i = 0; i < 10000; i++, reads++) {
        int64_t p = LOAD(p); uint64_t u = LOAD(u);
        double d; __atomic_load(&s->w.d, &d, __ATOMIC_RELAXED);
        int32_t i32 = LOAD(i); uint32_t n = LOAD(n);
        float f; __atomic_load(&s->w.f, &f, __ATOMIC_RELAXED);
        int16_t h = LOAD(h); uint16_t k = LOAD(k);
        torn[0] += p != 0 && p != -1; torn[1] += u != 0 && u != UINT64_MAX; torn[2] += d != 0.0 && d != pi;
        torn[3] += i32 != 0 && i32 != -1; torn[4] += n != 0 && n != UINT32_MAX; torn[5] += f != 0.0f && f != pif;
        torn[6] += h != 0 && h != -1; torn[7] += k != 0 && k != UINT16_MAX;
        ones += i32 == -1;
      }
    }
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    printf("{\\"reads\\":%ld,\\"ones\\":%ld,\\"torn\\":{\\"p\\":%ld,\\"u\\":%ld,\\"d\\":%ld,\\"i\\":%ld,\\"n\\":%ld,\\"f\\":%ld,\\"h\\":%ld,\\"k\\":%ld}}\\n",
      reads, ones, torn[0], torn[1], torn[2], torn[3], torn[4], torn[5], torn[6], torn[7]);
  }
  shmdt(s);
  return 0;
}
`;
  const NODE = `
    import { SharedMemory, struct, atomic, int16, uint16, int32, uint32, float32, int64, uint64, float64 } from 'SHMKIT';
    const Word = struct({ p: int64, u: uint64, d: float64, i: int32, n: uint32, f: float32, h: int16, k: uint16 });
    const Shared = struct({ stop: int32, ready: int32, w: Word });
    const [mode, id, ms] = process.argv.slice(1);
    const shm = SharedMemory.open({ id: Number(id) });
    const view = Shared.view(shm);
    const w = view.w;
    const stop = atomic(view, 'stop');
    const ready = atomic(view, 'ready');
    const MAX = 2n ** 64n - 1n;
    const PI32 = Math.fround(Math.PI);
    const ZERO = { p: 0n, u: 0n, d: 0, i: 0, n: 0, f: 0, h: 0, k: 0 };
    const ONES = { p: -1n, u: MAX, d: Math.PI, i: -1, n: 2 ** 32 - 1, f: PI32, h: -1, k: 0xffff };
    const deadline = Date.now() + 10_000;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const awaitReady = (value) => { while (ready.load() < value && Date.now() < deadline) Atomics.wait(nap, 0, 0, 1); };
    if (mode === 'read') {
      ready.store(1);
      awaitReady(2);
      let reads = 0, ones = 0;
      const torn = { p: 0, u: 0, d: 0, i: 0, n: 0, f: 0, h: 0, k: 0 };
      const enough = Date.now() + Number(ms);
      while (Date.now() < deadline && (Date.now() < enough || reads <= 50_000 || ones === 0 || ones === reads)) {
        for (let j = 0; j < 10_000; j++, reads++) {
          // Mostly the getters; every 16th a whole read().
          const { p, u, d, i, n, f, h, k } = (j & 15) === 0 ? Word.read(shm, 8)
            : { p: w.p, u: w.u, d: w.d, i: w.i, n: w.n, f: w.f, h: w.h, k: w.k };
          if (p !== 0n && p !== -1n) torn.p++;
          if (u !== 0n && u !== MAX) torn.u++;
          if (d !== 0 && d !== Math.PI) torn.d++;
          if (i !== 0 && i !== -1) torn.i++;
          if (n !== 0 && n !== ONES.n) torn.n++;
          if (f !== 0 && f !== PI32) torn.f++;
          if (h !== 0 && h !== -1) torn.h++;
          if (k !== 0 && k !== 0xffff) torn.k++;
          if (i === -1) ones++;
        }
      }
      stop.store(1);
      console.log(JSON.stringify({ reads, ones, torn }));
    } else {
      awaitReady(1);
      ready.store(2);
      let rounds = 0;
      while (stop.load() === 0 && Date.now() < deadline) {
        for (let j = 0; j < 10_000; j++) {
          if ((j & 15) === 0) {
            Word.write(shm, ZERO, 8);
            Word.write(shm, ONES, 8);
          } else {
            w.p = 0n; w.p = -1n;
            w.u = 0n; w.u = MAX;
            w.d = 0; w.d = Math.PI;
            w.i = 0; w.i = -1;
            w.n = 0; w.n = ONES.n;
            w.f = 0; w.f = PI32;
            w.h = 0; w.h = -1;
            w.k = 0; w.k = 0xffff;
          }
        }
        rounds++;
      }
      console.log(JSON.stringify({ rounds }));
    }
    shm.detach();`;
  // Reading time of each case, ms. Against 24d3aab~1 (int64 fields through the
  // DataView) 500 ms found tears in 8 of 8 runs of the four cases on a busy
  // 2-CPU machine, where reader and writer seldom ran at once (250 ms: 13 of 17).
  const READ_MS = budget(500, 1000);
  let peer: string;
  before(async () => {
    peer = await compileC('struct-tear', TEAR_C);
  });

  // As it is, Node's code is soon optimized; under --jitless never, and
  // the DataView's builtins would move every field byte by byte.
  for (const flags of [[], ['--jitless']]) {
    for (const [reader, writer] of [
      ['Node', 'C'],
      ['C', 'Node'],
    ] as const) {
      test(`${reader} reading while ${writer} writes sees only whole values${flags.length > 0 ? ` (Node ${flags.join(' ')})` : ''}`, async () => {
        using shm = SharedMemory.create({ size: Shared.size });
        const id = String(shm.id);
        const ms = String(READ_MS);
        const node = { timeoutMs: 30_000, nodeFlags: flags };
        const [read, wrote] = await Promise.all(
          reader === 'Node'
            ? [runNode(NODE, ['read', id, ms], node), run(peer, ['write', id, ms], { timeoutMs: 30_000 })]
            : [run(peer, ['read', id, ms], { timeoutMs: 30_000 }), runNode(NODE, ['write', id, ms], node)],
        );
        assertExitedCleanly(read, `${reader} reader`);
        assertExitedCleanly(wrote, `${writer} writer`);
        const seen = lastJson<{ reads: number; ones: number; torn: Record<string, number> }>(read);
        assert.ok(seen.reads > 50_000, `${seen.reads} reads`);
        // Both values seen: the reads overlapped the writes.
        assert.ok(seen.ones > 0 && seen.ones < seen.reads, `${seen.ones} of ${seen.reads} reads saw -1`);
        // Every field by name, so that a failure says which tore and how often.
        assert.deepEqual(seen.torn, { p: 0, u: 0, d: 0, i: 0, n: 0, f: 0, h: 0, k: 0 }, `torn of ${seen.reads} reads`);
      });
    }
  }
});

// A write from a view of the same type copies the bytes, as C's struct
// assignment does. Through values, what C may put in a struct but a
// JavaScript value cannot carry was changed or refused: a char(n) filled to
// the last byte with no NUL, bytes that are not UTF-8, a float32 signalling
// NaN, a bool's byte 2, and the padding.
describe('write() from a view of the same type copies what C wrote, byte for byte', () => {
  const Odd = struct({ c: int8, name: char(7), bad: char(6), f: float32, d: float64, b: bool, fa: array(float32, 2) });
  const ODD_C = `
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
struct odd { int8_t c; char name[7]; char bad[6]; float f; double d; _Bool b; float fa[2]; };
int main(int argc, char **argv) {
  unsigned char *s = shmat(atoi(argv[1]), NULL, 0);
  if (s == (void *)-1) { perror("shmat"); return 2; }
  struct odd *o = (struct odd *)s;
  memset(s, 0xab, sizeof *o); /* padding too */
  o->c = 1;
  memcpy(o->name, "abcdefg", 7); /* the whole array, no NUL */
  memcpy(o->bad, "ab\\xff\\0zz", 6); /* not UTF-8, and bytes after the NUL */
  uint32_t f = 0x7fa00001, fa0 = 0xffc00001, fa1 = 0x7f800001; /* a signalling NaN, a quiet one with a payload, another signalling one */
  uint64_t d = 0x7ff4000000000123ull;
  memcpy(&o->f, &f, 4); memcpy(&o->d, &d, 8); memcpy(&o->fa[0], &fa0, 4); memcpy(&o->fa[1], &fa1, 4);
  memset(&o->b, 2, 1); /* a _Bool byte other than 0 and 1 */
  printf("sizeof %zu\\n", sizeof *o);
  shmdt(s);
  return 0;
}
`;
  let peer: string;
  before(async () => {
    peer = await compileC('struct-odd-bytes', ODD_C);
  });

  test('struct, nested array and array-element copies keep every byte, padding included', async () => {
    using shm = SharedMemory.create({ size: 4 * Odd.size });
    const result = await run(peer, [String(shm.id)]);
    assertExitedCleanly(result, 'C writer');
    assert.equal(result.stdout.trim(), `sizeof ${Odd.size}`);
    const original = shm.bytes.slice(0, Odd.size);
    const source = Odd.view(shm);
    const copies = new Uint8Array(3 * Odd.size);
    Odd.write(copies, source);
    assert.deepEqual(copies.subarray(0, Odd.size), original, 'write(dst, view)');
    // The same declaration made again is the same type.
    const Again = struct({ c: int8, name: char(7), bad: char(6), f: float32, d: float64, b: bool, fa: array(float32, 2) });
    Again.write(copies, source, Odd.size);
    assert.deepEqual(copies.subarray(Odd.size, 2 * Odd.size), original, 'a view of an equal declaration');
    const Pair = array(Odd, 2);
    Pair.view(copies, Odd.size).set(1, source);
    assert.deepEqual(copies.subarray(2 * Odd.size), original, 'set(i, view)');
    // Values, in contrast, are what JavaScript can hold.
    assert.equal(source.name, 'abcdefg');
    assert.equal(source.bad, 'ab\uFFFD');
    assert.ok(Number.isNaN(source.f));
    // In place, overlapping, as memmove: the segment's first struct copied 8 bytes on.
    Pair.write(shm, Pair.view(shm, 0), 8);
    assert.deepEqual(shm.bytes.slice(8, 8 + Odd.size), original);
  });
});
