// struct layouts equal gcc's: a few known declarations by hand, then many
// random schemas compiled into one C program that prints sizeof, _Alignof and
// every offsetof, compared with what struct() computed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
  struct,
  uint16,
  uint32,
  uint64,
  uint8,
  type StructType,
  type Type,
} from 'shmkit';
import { compileC } from './helpers/c.js';
import { run } from './helpers/processes.js';

describe('struct layout', () => {
  test('struct st_pid { int pid; char name[51]; } is 56 bytes, aligned to 4', () => {
    const StPid = struct({ pid: int32, name: char(51) });
    assert.equal(StPid.size, 56);
    assert.equal(StPid.align, 4);
    assert.equal(StPid.offsetOf('pid'), 0);
    assert.equal(StPid.offsetOf('name'), 4);
  });

  test('int64 and double are aligned to 8, padding goes between and after members', () => {
    const S = struct({ a: int8, b: int64, c: int16, d: float64, e: bool });
    assert.deepEqual(
      S.layout.map((f) => [f.name, f.offset]),
      [
        ['a', 0],
        ['b', 8],
        ['c', 16],
        ['d', 24],
        ['e', 32],
      ],
    );
    assert.equal(S.size, 40);
    assert.equal(S.align, 8);
  });

  test('packed removes all padding, and aligned(n) raises alignment and size', () => {
    const P = struct({ a: int8, b: int32, c: int16 }, { packed: true });
    assert.deepEqual([P.size, P.align, P.offsetOf('b'), P.offsetOf('c')], [7, 1, 1, 5]);
    const A = struct({ a: int8 }, { align: 16 });
    assert.deepEqual([A.size, A.align], [16, 16]);
    const PA = struct({ a: int8, b: int32 }, { packed: true, align: 4 });
    assert.deepEqual([PA.size, PA.align, PA.offsetOf('b')], [8, 4, 1]);
    // aligned(n) never lowers the alignment
    assert.equal(struct({ a: int64 }, { align: 2 }).align, 8);
  });

  test('offsetOf follows member paths into nested structs and arrays, as offsetof does', () => {
    const Point = struct({ x: float32, y: float32 });
    const S = struct({ tag: uint8, points: array(Point, 4), origin: Point, grid: array(array(int16, 3), 2) });
    assert.equal(S.offsetOf('points[2].y'), 4 + 2 * 8 + 4);
    assert.equal(S.offsetOf('origin.x'), 36);
    assert.equal(S.offsetOf('grid[1][2]'), 44 + 3 * 2 + 2 * 2);
    assert.throws(() => S.offsetOf('nope'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /no member "nope"/ });
    assert.throws(() => S.offsetOf('points[4]'), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => S.offsetOf('tag.x'), { name: 'TypeError', message: /no member "x" in a uint8\)/ });
    assert.throws(() => S.offsetOf('origin.x[1]'), { name: 'TypeError', message: /\(a float32 is not an array\)/ });
    assert.throws(() => S.offsetOf('grid[0][1].z'), { name: 'TypeError', message: /no member "z" in an int16\)/ });
    assert.throws(() => S.offsetOf('points..x'), { name: 'TypeError' });
    // What C's offsetof would not take, or would read otherwise (010 is octal 8 in C).
    assert.throws(() => S.offsetOf('.points'), { name: 'TypeError', message: /member name or path/ });
    assert.throws(() => S.offsetOf('points[01].x'), { name: 'TypeError', message: /member name or path/ });
    assert.equal(S.offsetOf('points[0].x'), S.offsetOf('points'));
  });

  test('offsetOf indexes a char(n) as the char array it is in C: name[3], tags[1][2]', () => {
    // offsetof(struct s, name[3]) and offsetof(struct s, tags[1][2]) are valid C (7 and 22).
    const S = struct({ id: int32, name: char(8), tags: array(char(8), 3) });
    assert.equal(S.offsetOf('name[3]'), 7);
    assert.equal(S.offsetOf('name[7]'), 11);
    assert.equal(S.offsetOf('tags[1][2]'), 22);
    assert.throws(() => S.offsetOf('name[8]'), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => S.offsetOf('name[1][0]'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /a char has no/ });
    assert.throws(() => S.offsetOf('name[1].x'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /a char has no/ });
  });

  test('bad schemas are TypeError or RangeError naming the argument', () => {
    assert.throws(() => struct({}), { name: 'RangeError', message: /"fields"/ });
    assert.throws(() => struct({ a: 'int32' as unknown as Type }), { name: 'TypeError', message: /"fields\.a"/ });
    assert.throws(() => struct({ 'not-c': int8 }), { name: 'TypeError', message: /C identifier/ });
    assert.throws(() => struct({ a: int8 }, { align: 3 }), { name: 'RangeError', message: /"options\.align"/ });
    assert.throws(() => struct({ a: int8 }, { packed: 1 as unknown as boolean }), { name: 'TypeError', message: /"options\.packed"/ });
    assert.throws(() => char(0), { name: 'RangeError', message: /"n"/ });
    assert.throws(() => char(1.5), { name: 'RangeError', message: /"n"/ });
    assert.throws(() => array(int8, 0), { name: 'RangeError', message: /"n"/ });
    assert.throws(() => array({} as Type, 2), { name: 'TypeError', message: /"type"/ });
  });

  test('an unknown option, a symbol key, a non-enumerable member or a fields object with a prototype is refused, not passed over', () => {
    const value = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' };
    assert.throws(() => struct({ a: int8, b: int32 }, { pack: true } as never), {
      ...value,
      message:
        /^The argument 'options\.pack' is invalid: not an option of struct\(\), which takes packed and align; did you mean 'packed'\?/,
    });
    assert.throws(() => struct({ a: int8 }, { aligned: 16 } as never), { ...value, message: /'options\.aligned'.*did you mean 'align'\?/ });
    assert.throws(() => struct({ a: int8 }, { [Symbol('packed')]: true } as never), { ...value, message: /'options\[Symbol\(packed\)\]'/ });
    assert.throws(() => struct({ a: int8, [Symbol('x')]: int32 }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: /^The "fields\[Symbol\(x\)\]" argument must be named by a C identifier, not a symbol/,
    });
    // In a literal, __proto__: sets the prototype: int32 would be lost, and `a` laid out alone.
    assert.throws(() => struct({ __proto__: int32, a: int8 } as never), { ...value, message: /'fields'.*prototype.*\['__proto__'\]/ });
    assert.throws(() => struct(Object.create({ a: int8 })), { ...value, message: /'fields'.*prototype/ });
    const hidden = Object.defineProperty({ a: int8 }, 'b', { value: int32, enumerable: false });
    assert.throws(() => struct(hidden), { ...value, message: /'fields\.b'.*non-enumerable/ });
    // Plain objects of either prototype, and a member named __proto__, are fine.
    const bare = Object.assign(Object.create(null) as Record<string, Type>, { a: int8, b: int32 });
    assert.equal(struct(bare).size, 8);
    assert.deepEqual(
      struct({ ['__proto__']: int32, a: int8 }).layout.map((f) => f.name),
      ['__proto__', 'a'],
    );
    assert.equal(struct({ a: int8, b: int32 }, Object.assign(Object.create(null), { packed: true })).size, 5);
  });

  test('each member is read once: a getter or a Proxy cannot pass one type to the check and lay out another', () => {
    // A view's code is compiled from the member types: a forged char with a
    // length of code in it once handed out a read-only view's DataView.
    const forged = { kind: 'char', size: 1, align: 1, length: '1, globalThis.leaked = 1' };
    let reads = 0;
    const getter = struct({
      get x() {
        return reads++ === 0 ? char(2) : forged;
      },
    } as unknown as { x: Type });
    assert.equal(reads, 1);
    assert.equal(getter.fields.x, getter.layout[0]!.type);
    assert.equal(getter.layout[0]!.type.size, 2);
    let gets = 0;
    const proxied = struct(new Proxy({ x: int32 as Type }, { get: (target, key) => (gets++ === 0 ? Reflect.get(target, key) : forged) }));
    assert.equal(proxied.layout[0]!.type, int32);
    assert.equal(proxied.size, 4);
    // The internal constructor path checks too.
    const make = (getter.constructor as unknown as { make(fields: object, packed: boolean, align?: number): unknown }).make;
    assert.throws(() => make({ x: forged }, false), { name: 'TypeError', message: /"fields\.x"/ });
    assert.equal((globalThis as { leaked?: number }).leaked, undefined);
  });
});

// ---------------------------------------------------------------------------
// Random schemas against gcc

const SEED = Number(process.env.SHMKIT_STRUCT_SEED ?? 0x5eed);
const SCHEMAS = 300;

/** mulberry32: small, seeded, good enough to pick schemas. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SCALARS = [int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64, bool];
const C_NAMES: Record<string, string> = {
  int8: 'int8_t',
  uint8: 'uint8_t',
  int16: 'int16_t',
  uint16: 'uint16_t',
  int32: 'int32_t',
  uint32: 'uint32_t',
  int64: 'int64_t',
  uint64: 'uint64_t',
  float32: 'float',
  float64: 'double',
  bool: '_Bool',
};

// The align option each random struct was made with (StructType keeps only
// the resulting alignment).
const alignOption = new WeakMap<StructType, number>();

function generator(seed: number) {
  const next = random(seed);
  const below = (n: number): number => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;

  function type(depth: number): Type {
    const roll = next();
    if (roll < 0.55 || depth >= 3) return pick(SCALARS);
    if (roll < 0.65) return char(1 + below(13));
    if (roll < 0.82) return array(type(depth + 1), 1 + below(4));
    return schema(depth + 1);
  }

  function schema(depth = 0): StructType {
    const fields: Record<string, Type> = {};
    const count = 1 + below(6);
    for (let i = 0; i < count; i++) fields[`f${i}`] = type(depth);
    const packed = next() < 0.25;
    const align = next() < 0.25 ? pick([1, 2, 4, 8, 16, 32, 64]) : undefined;
    const made = struct(fields, { packed, align });
    if (align !== undefined) alignOption.set(made, align);
    return made;
  }
  return schema;
}

/** Emits C declarations for `root` and the structs inside it, innermost first. */
class CEmitter {
  readonly names = new Map<StructType, string>();
  readonly definitions: string[] = [];

  name(s: StructType): string {
    let name = this.names.get(s);
    if (name !== undefined) return name;
    for (const field of s.layout) this.visit(field.type);
    name = `S${this.names.size}`;
    this.names.set(s, name);
    const align = alignOption.get(s);
    const attributes = [s.packed ? 'packed' : '', align !== undefined ? `aligned(${align})` : ''].filter(Boolean).join(', ');
    const members = s.layout.map((field) => `  ${this.declarator(field.type, field.name)};`).join('\n');
    this.definitions.push(`struct ${attributes ? `__attribute__((${attributes})) ` : ''}${name} {\n${members}\n};`);
    return name;
  }

  visit(type: Type): void {
    if (type.kind === 'struct') this.name(type);
    else if (type.kind === 'array') this.visit(type.element);
  }

  declarator(type: Type, name: string): string {
    let dims = '';
    let base: Type = type;
    for (;;) {
      if (base.kind === 'array') {
        dims += `[${base.length}]`;
        base = base.element;
      } else if (base.kind === 'char') {
        return `char ${name}${dims}[${base.length}]`;
      } else break;
    }
    const cType = base.kind === 'struct' ? `struct ${this.name(base)}` : C_NAMES[base.kind]!;
    return `${cType} ${name}${dims}`;
  }
}

/** Member paths worth checking: every member, and the first and last element of arrays and chars. */
function paths(type: Type, prefix: string, out: string[]): void {
  if (type.kind === 'char' && prefix) {
    for (const index of new Set([0, type.length - 1])) out.push(`${prefix}[${index}]`);
  }
  if (type.kind === 'struct') {
    for (const field of type.layout) {
      const path = prefix ? `${prefix}.${field.name}` : field.name;
      out.push(path);
      paths(field.type, path, out);
    }
  } else if (type.kind === 'array') {
    for (const index of new Set([0, type.length - 1])) {
      const path = `${prefix}[${index}]`;
      out.push(path);
      paths(type.element, path, out);
    }
  }
}

test(`${SCHEMAS} random struct layouts equal gcc's (seed ${SEED})`, async () => {
  const make = generator(SEED);
  const emitter = new CEmitter();
  const roots: StructType[] = [];
  for (let i = 0; i < SCHEMAS; i++) roots.push(make());
  const checks: string[] = [];
  const expected = new Map<string, number>();
  for (const root of roots) emitter.name(root);
  for (const [s, name] of emitter.names) {
    checks.push(`  printf("${name} sizeof %zu\\n", sizeof(struct ${name}));`);
    checks.push(`  printf("${name} alignof %zu\\n", _Alignof(struct ${name}));`);
    expected.set(`${name} sizeof`, s.size);
    expected.set(`${name} alignof`, s.align);
    const memberPaths: string[] = [];
    paths(s, '', memberPaths);
    for (const path of memberPaths) {
      checks.push(`  printf("${name} ${path} %zu\\n", offsetof(struct ${name}, ${path}));`);
      expected.set(`${name} ${path}`, s.offsetOf(path));
    }
  }
  const source = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <stdint.h>',
    ...emitter.definitions,
    'int main(void) {',
    ...checks,
    '  return 0;',
    '}',
  ].join('\n');
  const exe = await compileC('struct-layouts', source, ['-Wno-packed-not-aligned']);
  const result = await run(exe, []);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.length, expected.size);
  assert.ok(emitter.names.size >= SCHEMAS, `at least ${SCHEMAS} structs compared`);
  let mismatches = 0;
  const report: string[] = [];
  for (const line of lines) {
    const space = line.lastIndexOf(' ');
    const key = line.slice(0, space);
    const gcc = Number(line.slice(space + 1));
    if (expected.get(key) !== gcc) {
      mismatches++;
      if (report.length < 10) report.push(`${key}: gcc ${gcc}, shmkit ${expected.get(key)}`);
    }
  }
  assert.equal(mismatches, 0, `seed ${SEED}, ${mismatches} mismatches:\n${report.join('\n')}`);
});
