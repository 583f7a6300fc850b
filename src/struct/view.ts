// Live views: one class per struct or array type (and per access mode),
// generated with `new Function` so that each field is a plain getter/setter
// with its offset as a constant. V8 then inlines `view.pid` to about the cost
// of `dataView.getInt32(0, true)` (see bench/struct.ts).
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
import { badScalar, bytesOf, checkValue, LITTLE_ENDIAN, readValue, SCALARS, storeValue } from './codec.js';
import { dataViewBuffer, dataViewByteLength, dataViewByteOffset, dataViewGet, DataViewCtor, Uint8ArrayCtor } from '../core/primordials.js';
import { decodeChar, encodeChar } from './char.js';
import { fault, readOnlyError, type Owner } from './memory.js';
import type { ArrayLayout, StructLayout, TypeLayout } from './layout.js';
import { invalidType, outOfRange } from '../core/errors.js';

/** @internal A generated view class. */
export type ViewClass = new (dv: DataView, owner: Owner) => object;

/** @internal What a view holds, for atomic() and snapshots. */
export interface ViewInternals {
  readonly type: StructLayout | ArrayLayout;
  readonly dv: DataView;
  readonly owner: Owner;
}

type Composite = StructLayout | ArrayLayout;

const internalsByPrototype = new WeakMap<object, { type: Composite; dv: (view: object) => DataView; owner: (view: object) => Owner }>();

/** @internal The internals of a view made by shmkit, or undefined for any other object. */
export function internalsOf(view: unknown): ViewInternals | undefined {
  if (typeof view !== 'object' || view === null) return undefined;
  const entry = internalsByPrototype.get(Object.getPrototypeOf(view) as object);
  if (entry === undefined) return undefined;
  return { type: entry.type, dv: entry.dv(view), owner: entry.owner(view) };
}

const classes = new WeakMap<Composite, { writable?: ViewClass; readOnly?: ViewClass }>();

/** @internal The view class of `type`, generated once per type and access mode. */
export function viewClass(type: Composite, readOnly: boolean): ViewClass {
  let entry = classes.get(type);
  if (entry === undefined) classes.set(type, (entry = {}));
  const key = readOnly ? 'readOnly' : 'writable';
  return (entry[key] ??= generate(type, readOnly));
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
  dvBuffer: dataViewBuffer,
  dvOffset: dataViewByteOffset,
  dvLength: dataViewByteLength,
  DV: DataViewCtor,
  U8: Uint8ArrayCtor,
  register(prototype: object, type: Composite, dv: (view: object) => DataView, owner: (view: object) => Owner) {
    internalsByPrototype.set(prototype, { type, dv, owner });
  },
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

function slotCode(
  type: TypeLayout,
  offset: string,
  name: string,
  cache: string,
  readOnly: boolean,
  refs: { classes: ViewClass[]; types: TypeLayout[] },
  elementSet: boolean,
): SlotCode {
  const le = LITTLE_ENDIAN ? 'true' : 'false';
  const nameLiteral = JSON.stringify(name);
  const readOnlySet = `throw D.readOnlyError(this.#owner, ${nameLiteral});`;
  switch (type.kind) {
    case 'char':
      return {
        get: `return D.decodeChar(this.#bytes(), ${offset}, ${type.length});`,
        set: readOnly ? readOnlySet : `D.encodeChar(this.#bytes(), ${offset}, ${type.length}, v, ${nameLiteral});`,
      };
    case 'struct':
    case 'array': {
      const ref = refs.classes.push(viewClass(type, readOnly)) - 1;
      refs.types.push(type);
      const child = `C[${ref}]`;
      const typeRef = `T[${ref}]`;
      return {
        get: `return ${cache} ??= new ${child}(new D.DV(D.dvBuffer(this.#dv), D.dvOffset(this.#dv) + ${offset}, ${type.size}), this.#owner);`,
        // Only array elements take whole values (view.items.set(i, {...})).
        set: !elementSet
          ? undefined
          : readOnly
            ? readOnlySet
            : `const c = D.checkValue(${typeRef}, v, ${nameLiteral}); D.storeValue(${typeRef}, this.#dv, () => this.#bytes(), ${offset}, c, ${nameLiteral});`,
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

const COMMON = `
  #dv; #owner; #u8;
  constructor(dv, owner) { this.#dv = dv; this.#owner = owner; Object.preventExtensions(this); }
  #bytes() { return this.#u8 ??= new D.U8(D.dvBuffer(this.#dv), D.dvOffset(this.#dv), D.dvLength(this.#dv)); }
  static { D.register(this.prototype, TYPE, (v) => v.#dv, (v) => v.#owner); }
`;

function generate(type: Composite, readOnly: boolean): ViewClass {
  const refs = { classes: [] as ViewClass[], types: [] as TypeLayout[] };
  let body: string;
  if (type.kind === 'struct') {
    const members: string[] = [];
    type.layout.forEach((field, i) => {
      const code = slotCode(field.type, String(field.offset), field.name, `this.#c${i}`, readOnly, refs, false);
      if (field.type.kind === 'struct' || field.type.kind === 'array') members.push(`#c${i};`);
      const key = JSON.stringify(field.name);
      members.push(`get [${key}]() { ${guard(code.get, field.name)} }`);
      if (code.set !== undefined) members.push(`set [${key}](v) { ${code.check ?? ''} ${guard(code.set, field.name)} }`);
    });
    body = `return class StructView { ${COMMON} ${members.join('\n')} }`;
  } else {
    const element = type.element;
    const composite = element.kind === 'struct' || element.kind === 'array';
    const code = slotCode(element, `i * ${element.size}`, 'value', 'this.#c[i]', readOnly, refs, true);
    const check = `if (!(typeof i === 'number' && (i >>> 0) === i && i < ${type.length})) throw D.badIndex(i, ${type.length});`;
    body = `return class ArrayView { ${COMMON}
      ${composite ? `#c = [];` : ''}
      get length() { return ${type.length}; }
      get(i) { ${check} ${guard(code.get, 'get')} }
      set(i, v) { ${check} ${code.check ?? ''} ${guard(code.set!, 'set')} }
      toArray() { ${guard('return D.readValue(TYPE, this.#dv, () => this.#bytes(), 0);', 'toArray')} }
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
      return readValue(type, internals.dv, bytesOf(internals.dv), 0, preview);
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
      if (index < 0) return Reflect.set(target, key, value, receiver);
      receiver.set(index, value);
      return true;
    },
    has(target, key) {
      const index = toIndex(key);
      return index >= 0 ? index < length : Reflect.has(target, key);
    },
  });
}
