// Live views: one class per struct or array type (and per access mode, and
// for types with fields of more than one byte per where a view starts, mod
// the largest of their sizes), generated with `new Function` so that each
// field is a plain getter/setter with its offset as a constant. A field of
// 2, 4 or 8 bytes aligned to its size in its buffer is an element of a typed
// array, at an index that is a constant: one access that no other process
// sees half done (codec.ts, "Multi-byte scalars"), as fast in optimized code
// as `dataView.getInt32(0, true)` (see bench/struct.ts). Others go through
// the DataView.
//
// Views are not extensible, so that a misspelt field (view.pdi = 1) throws
// in strict code instead of quietly making a property.
//
// Safety: the DataView a view reads through is a private field, never
// reachable from user code, because for a read-only attachment it covers
// memory that must not be written. Read-only classes have setters that only
// throw. Every access is wrapped so that a detached buffer (shmdt) gives a
// StateError instead of V8's TypeError. Read-only classes touch their memory
// only through built-ins captured at load (src/core/primordials.ts), so a patched
// DataView.prototype method never receives their DataView.
import { inspect, type InspectOptions } from 'node:util';
import {
  badScalar,
  type CellKind,
  Cells,
  cellSize,
  CELL_ARRAYS,
  cellIndex,
  cellSkip,
  cellSpan,
  checkValue,
  EMPTY_CELLS,
  isCell,
  LITTLE_ENDIAN,
  outsideError,
  readValue,
  SCALARS,
  storeValue,
} from './codec.js';
import { dataViewBuffer, dataViewByteLength, dataViewByteOffset, dataViewGet, DataViewCtor, Uint8ArrayCtor } from '../core/primordials.js';
import { decodeChar, encodeChar } from './char.js';
import { fault, readOnlyError, type Owner } from './memory.js';
import { internalsOf, registerView } from './internals.js';
import type { ArrayLayout, StructLayout, TypeLayout } from './layout.js';
import { invalidType, outOfRange } from '../core/errors.js';

/** @internal A generated view class. */
export type ViewClass = new (dv: DataView, owner: Owner) => object;

type Composite = StructLayout | ArrayLayout;

// Per type: the writable classes by start mod 8 (mod its grain), then the read-only ones.
const classes = new WeakMap<Composite, Array<ViewClass | undefined>>();
const grains = new WeakMap<Composite, number>();

/**
 * The size of the largest scalar of `type` that is read and written as one
 * access where aligned (1, 2, 4 or 8): its code depends on where a view
 * starts, modulo this. 1 for a type of bytes, bools and chars only.
 */
function grainOf(type: TypeLayout): number {
  if (type.kind === 'char') return 1;
  if (type.kind !== 'struct' && type.kind !== 'array') return isCell(type.kind) ? cellSize(type.kind) : 1;
  let grain = grains.get(type);
  if (grain === undefined) {
    const inner = type.kind === 'struct' ? type.layout.map((field) => field.type) : [type.element];
    grain = Math.max(1, ...inner.map(grainOf));
    grains.set(type, grain);
  }
  return grain;
}

/**
 * @internal The view class of `type` for a view starting at `byteOffset` of
 * its buffer, generated once per type, access mode and `byteOffset` modulo
 * the size of its largest multi-byte scalar (see grainOf).
 */
export function viewClass(type: Composite, readOnly: boolean, byteOffset: number): ViewClass {
  const misalign = byteOffset % grainOf(type);
  let entry = classes.get(type);
  if (entry === undefined) classes.set(type, (entry = []));
  return (entry[(readOnly ? 8 : 0) + misalign] ??= generate(type, readOnly, misalign));
}

function badIndex(index: unknown, length: number): Error {
  if (typeof index !== 'number') return invalidType('index', 'of type number', index);
  return outOfRange('index', `an integer >= 0 and < ${length}`, index);
}

const deps = {
  fault,
  readOnlyError,
  badScalar,
  badIndex,
  decodeChar,
  encodeChar,
  checkValue,
  storeValue,
  readValue,
  get: dataViewGet,
  arrays: CELL_ARRAYS,
  // Never written: an empty array reads undefined and ignores stores.
  none: EMPTY_CELLS,
  outside: outsideError,
  viewClass,
  Cells,
  dvBuffer: dataViewBuffer,
  dvOffset: dataViewByteOffset,
  dvLength: dataViewByteLength,
  DV: DataViewCtor,
  U8: Uint8ArrayCtor,
  register: registerView,
};

// Code that reads or writes one slot (a struct member or an array element) of
// type `type` at byte offset `offset` (a JavaScript expression).
interface SlotCode {
  get: string;
  /** Setter body taking `v`; undefined for struct and array members. */
  set: string | undefined;
  /** A check of `v` run before the setter's guarded body (outside its try, which is faster). */
  check?: string | undefined;
}

/** Where a slot is: its byte offset (an expression), and what that offset is mod 8 in the buffer. */
interface SlotPlace {
  /** The byte offset in the view, a JavaScript expression. */
  offset: string;
  /** (view's start + offset) mod 8, or undefined when it varies (an element of a packed struct's array). */
  misalign: number | undefined;
  /** For a multi-byte scalar aligned to its size: its index in the view's typed array of that kind (an expression). */
  index: string | undefined;
}

function slotCode(
  type: TypeLayout,
  place: SlotPlace,
  name: string,
  cache: string,
  readOnly: boolean,
  refs: { classes: ViewClass[]; types: TypeLayout[]; cells: Set<CellKind> },
  elementSet: boolean,
): SlotCode {
  const { offset } = place;
  const le = LITTLE_ENDIAN ? 'true' : 'false';
  const nameLiteral = JSON.stringify(name);
  const readOnlySet = `throw D.readOnlyError(this.#owner, ${nameLiteral});`;
  if (isCell(type.kind) && place.index !== undefined) {
    // One access (codec.ts). Element access looks nothing up, so it suits
    // read-only views too; what a detached or shrunk buffer gives
    // (undefined, a store that does nothing) is turned into the error.
    // The array is made on first use: until then the field holds an empty one
    // (`undefined` from every index), which sends the access to #new_<kind>().
    refs.cells.add(type.kind);
    const at = `[${place.index}]`;
    const field = `this.#${type.kind}`;
    const made = `this.#new_${type.kind}(${field})`;
    return {
      get: `let x = ${field}${at}; if (x === undefined) x = (${field} = ${made})${at}; return x;`,
      // A read back, not a.length, finds a buffer gone: free, where a length check cost a quarter of the speed.
      set: readOnly ? readOnlySet : `const a = ${field}; a${at} = v; if (a${at} === undefined) (${field} = ${made})${at} = v;`,
      check: readOnly ? undefined : `if (!(${SCALARS[type.kind].valid})) throw D.badScalar('${type.kind}', v, ${nameLiteral});`,
    };
  }
  switch (type.kind) {
    case 'char':
      return {
        get: `return D.decodeChar(this.#bytes(), ${offset}, ${type.length});`,
        set: readOnly ? readOnlySet : `D.encodeChar(this.#bytes(), ${offset}, ${type.length}, v, ${nameLiteral});`,
      };
    case 'struct':
    case 'array': {
      // The child's class by where it starts mod 8: fixed, or chosen as it is made.
      const ref = refs.classes.push(viewClass(type, readOnly, place.misalign ?? 0)) - 1;
      refs.types.push(type);
      const typeRef = `T[${ref}]`;
      const start = `D.dvOffset(this.#dv) + ${offset}`;
      const make =
        place.misalign !== undefined
          ? `new C[${ref}](new D.DV(D.dvBuffer(this.#dv), ${start}, ${type.size}), this.#owner)`
          : `{ const s = ${start}; return ${cache} = new (D.viewClass(${typeRef}, ${readOnly}, s))(new D.DV(D.dvBuffer(this.#dv), s, ${type.size}), this.#owner); }`;
      return {
        get: place.misalign !== undefined ? `return ${cache} ??= ${make};` : `if (${cache} !== undefined) return ${cache}; ${make}`,
        // Only array elements take whole values (view.items.set(i, {...})).
        set: !elementSet
          ? undefined
          : readOnly
            ? readOnlySet
            : `const c = D.checkValue(${typeRef}, v, ${nameLiteral}); D.storeValue(${typeRef}, new D.Cells(this.#dv), ${offset}, c, ${nameLiteral});`,
      };
    }
    case 'bool':
      return {
        get: readOnly ? `return D.get.Uint8(this.#dv, ${offset}) !== 0;` : `return this.#dv.getUint8(${offset}) !== 0;`,
        set: readOnly ? readOnlySet : `this.#dv.setUint8(${offset}, v ? 1 : 0);`,
        check: readOnly ? undefined : `if (typeof v !== 'boolean') throw D.badScalar('bool', v, ${nameLiteral});`,
      };
    default: {
      const access = SCALARS[type.kind];
      const wide = type.size > 1 ? `, ${le}` : '';
      return {
        // Writable views keep the method call (their DataView gives nothing a program could not write anyway).
        get: readOnly ? `return D.get.${access.dv}(this.#dv, ${offset}${wide});` : `return this.#dv.get${access.dv}(${offset}${wide});`,
        set: readOnly ? readOnlySet : `this.#dv.set${access.dv}(${offset}, v${wide});`,
        check: readOnly ? undefined : `if (!(${access.valid})) throw D.badScalar('${type.kind}', v, ${nameLiteral});`,
      };
    }
  }
}

const guard = (body: string, name: string): string =>
  `try { ${body} } catch (e) { throw D.fault(this.#owner, e, ${JSON.stringify(name)}); }`;

// `cells`: the kinds whose typed arrays the view holds. Each field starts
// with an empty array of its kind, not undefined: a field that only ever
// holds one kind of array lets V8 drop the checks of what it holds (sets were
// 40% slower with \`??=\`), and making the arrays with the view made view()
// 70% slower. Each kind's array is made by a method of its own, in which
// its start and length are constants: view() and a get of three kinds took
// 320 ns with one method for all kinds (the kind an argument), 220 ns so.
function common(type: Composite, misalign: number, cells: ReadonlySet<CellKind>): string {
  const makers = [...cells].map((kind) => {
    const { skip, count } = cellSpan(misalign, type.size, cellSize(kind));
    // The array the first time; `current` giving undefined after that: its buffer went away.
    return `#new_${kind}(current) {
      if (current !== D.none.${kind}) throw D.outside();
      return new D.arrays.${kind}(D.dvBuffer(this.#dv), D.dvOffset(this.#dv) + ${skip}, ${count});
    }`;
  });
  return `
  #dv; #owner; #u8; ${[...cells].map((kind) => `#${kind} = D.none.${kind};`).join(' ')}
  constructor(dv, owner) { this.#dv = dv; this.#owner = owner; Object.preventExtensions(this); }
  #bytes() { return this.#u8 ??= new D.U8(D.dvBuffer(this.#dv), D.dvOffset(this.#dv), D.dvLength(this.#dv)); }
  ${makers.join('\n')}
  static { D.register(this.prototype, TYPE, (v) => v.#dv, (v) => v.#owner); }
`;
}

/**
 * The index of a `type` at `offset` of a view starting at `misalign` (mod its
 * grain) in the view's array of its kind; undefined if it is no multi-byte
 * scalar or not aligned to its size.
 */
function slotIndex(type: TypeLayout, misalign: number, offset: number): string | undefined {
  if (!isCell(type.kind)) return undefined;
  const size = cellSize(type.kind);
  const index = cellIndex(cellSkip(misalign, size), size, offset);
  return index < 0 ? undefined : String(index);
}

function generate(type: Composite, readOnly: boolean, misalign: number): ViewClass {
  const refs = { classes: [] as ViewClass[], types: [] as TypeLayout[], cells: new Set<CellKind>() };
  let body: string;
  if (type.kind === 'struct') {
    const members: string[] = [];
    type.layout.forEach((field, i) => {
      const place = {
        offset: String(field.offset),
        misalign: (misalign + field.offset) % 8,
        index: slotIndex(field.type, misalign, field.offset),
      };
      const code = slotCode(field.type, place, field.name, `this.#c${i}`, readOnly, refs, false);
      if (field.type.kind === 'struct' || field.type.kind === 'array') members.push(`#c${i};`);
      const key = JSON.stringify(field.name);
      members.push(`get [${key}]() { ${guard(code.get, field.name)} }`);
      if (code.set !== undefined) members.push(`set [${key}](v) { ${code.check ?? ''} ${guard(code.set, field.name)} }`);
    });
    body = `return class StructView { ${common(type, misalign, refs.cells)} ${members.join('\n')} }`;
  } else {
    const element = type.element;
    const composite = element.kind === 'struct' || element.kind === 'array';
    // Every element starts at the same place mod its grain unless the size is
    // not a multiple of it (a packed struct's): then a child's class is chosen
    // as it is made. A scalar is aligned in every element or in none.
    const fixed = element.size % grainOf(element) === 0;
    const place = {
      offset: `i * ${element.size}`,
      misalign: fixed ? misalign : undefined,
      index: slotIndex(element, misalign, 0) === '0' ? 'i' : undefined,
    };
    const code = slotCode(element, place, 'value', 'this.#c[i]', readOnly, refs, true);
    const check = `if (!(typeof i === 'number' && (i >>> 0) === i && i < ${type.length})) throw D.badIndex(i, ${type.length});`;
    body = `return class ArrayView { ${common(type, misalign, refs.cells)}
      ${composite ? `#c = [];` : ''}
      get length() { return ${type.length}; }
      get(i) { ${check} ${guard(code.get, 'get')} }
      set(i, v) { ${check} ${code.check ?? ''} ${guard(code.set!, 'set')} }
      toArray() { ${guard('return D.readValue(TYPE, new D.Cells(this.#dv), 0);', 'toArray')} }
      *[Symbol.iterator]() { for (let i = 0; i < ${type.length}; i++) yield this.get(i); }
    }`;
  }
  const factory = new Function('D', 'C', 'T', 'TYPE', `'use strict'; ${body}`) as (
    d: typeof deps,
    c: ViewClass[],
    t: TypeLayout[],
    type: Composite,
  ) => ViewClass;
  const cls = factory(deps, refs.classes, refs.types, type);
  decorate(cls, type);
  return cls;
}

// What makes a view pleasant to look at: util.inspect and JSON.stringify show
// its values (unless a field is itself named toJSON), and arrays index like
// arrays.
function decorate(cls: ViewClass, type: Composite): void {
  const prototype = cls.prototype as Record<PropertyKey, unknown>;
  const snapshot = (view: object, preview?: number): unknown => {
    const internals = internalsOf(view)!;
    try {
      return readValue(type, new Cells(internals.dv), 0, preview);
    } catch (error) {
      throw fault(internals.owner, error);
    }
  };
  Object.defineProperty(prototype, inspect.custom, {
    value(this: object, _depth: number, options: InspectOptions, show: typeof inspect) {
      let value: unknown;
      try {
        // Only what is shown is read: a struct may hold a gigabyte of elements.
        value = snapshot(this, Math.max(0, options.maxArrayLength ?? Infinity));
      } catch {
        return `[${type.kind === 'struct' ? 'StructView' : 'ArrayView'}: detached]`;
      }
      return show(value, options);
    },
  });
  if (type.kind === 'struct' ? !type.layout.some((field) => field.name === 'toJSON') : true) {
    Object.defineProperty(prototype, 'toJSON', {
      value(this: object) {
        return jsonValue(snapshot(this));
      },
    });
  }
  if (type.kind === 'array') Object.setPrototypeOf(prototype, indexProxy(type.length));
}

/**
 * JSON has no bigint (JSON.stringify throws on one): int64 and uint64
 * values become decimal strings, which keep every digit.
 */
function jsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonValue);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, jsonValue(v)]));
  }
  return value;
}

/** Whether `key` is a canonical numeric string (CanonicalNumericIndexString): '-1', '1.5', 'NaN', '-0'. */
function isNumericKey(key: string | symbol): key is string {
  return typeof key === 'string' && (key === '-0' || String(Number(key)) === key);
}

// Index access `view[i]` for arrays of any length without one accessor per
// index: the prototype's prototype is a Proxy that turns the index into
// get(i)/set(i). Methods are found on the prototype first and stay fast.
function indexProxy(length: number): object {
  const toIndex = (key: string | symbol): number => {
    if (typeof key !== 'string') return -1;
    const index = Number(key);
    return index >>> 0 === index && String(index) === key ? index : -1;
  };
  type Indexed = { get(i: number): unknown; set(i: number, v: unknown): void };
  return new Proxy(Object.create(Object.prototype) as object, {
    get(target, key, receiver: Indexed) {
      const index = toIndex(key);
      if (index >= 0) return index < length ? receiver.get(index) : undefined;
      return Reflect.get(target, key, receiver);
    },
    set(target, key, value, receiver: Indexed) {
      const index = toIndex(key);
      if (index >= 0) {
        receiver.set(index, value);
        return true;
      }
      // view['-1'] = x, view['1.5'] = x: an index, as for a typed array, but
      // not one of the array's. Reflect.set would make no property on the
      // (non-extensible) view and return false: V8's uncoded TypeError in
      // strict code, nothing at all in sloppy code.
      if (isNumericKey(key)) throw outOfRange('index', `an integer >= 0 and < ${length}`, Number(key));
      return Reflect.set(target, key, value, receiver);
    },
    has(target, key) {
      const index = toIndex(key);
      return index >= 0 ? index < length : Reflect.has(target, key);
    },
  });
}
