// Where gcc puts each member of a struct, on x86-64 and AArch64 alike: every
// scalar aligned to its size, `packed` drops member alignment to 1, and
// `aligned(n)` raises the struct's alignment (never lowers it). Also the
// shape of a laid-out type: all that the code reading and writing memory
// (access.ts, view.ts, codec.ts) needs to know of one, so that it does not
// depend on the type classes (types.ts), whose methods depend on it.

/** The names of the scalar types, as in `<stdint.h>` (plus `float32`, `float64`, `bool`). */
export type ScalarKind = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'bool';

/** A scalar's layout (a ScalarType is one). (Not exported from the package root.) */
export interface ScalarLayout {
  readonly kind: ScalarKind;
  readonly size: number;
  readonly align: number;
}

/** `char[length]`'s layout (a CharType is one). (Not exported from the package root.) */
export interface CharLayout {
  readonly kind: 'char';
  readonly length: number;
  readonly size: number;
  readonly align: number;
}

/** `element[length]`'s layout (an ArrayType is one). (Not exported from the package root.) */
export interface ArrayLayout {
  readonly kind: 'array';
  readonly element: TypeLayout;
  readonly length: number;
  readonly size: number;
  readonly align: number;
}

/** A struct's layout (a StructType is one). (Not exported from the package root.) */
export interface StructLayout {
  readonly kind: 'struct';
  readonly layout: readonly MemberLayout[];
  readonly size: number;
  readonly align: number;
}

/** The layout of any field type. (Not exported from the package root.) */
export type TypeLayout = ScalarLayout | CharLayout | ArrayLayout | StructLayout;

/** One member of a struct's layout, of a type `T`. (Not exported from the package root.) */
export interface MemberLayout<T extends TypeLayout = TypeLayout> {
  /** The member's name. */
  readonly name: string;
  /** Its type. */
  readonly type: T;
  /** Its byte offset in the struct (`offsetof`). */
  readonly offset: number;
}

function roundUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

/**
 * @internal The layout gcc gives `struct __attribute__((packed, aligned(align)))`
 * with these members in this order.
 */
export function layoutStruct<T extends TypeLayout>(
  members: ReadonlyArray<readonly [string, T]>,
  packed: boolean,
  align: number | undefined,
): { layout: readonly MemberLayout<T>[]; size: number; align: number } {
  let end = 0;
  let maxAlign = 1;
  const layout: MemberLayout<T>[] = [];
  for (const [name, type] of members) {
    // packed applies to each member, nested structs included, whatever
    // alignment their own type has.
    const memberAlign = packed ? 1 : type.align;
    const offset = roundUp(end, memberAlign);
    layout.push(Object.freeze({ name, type, offset }));
    end = offset + type.size;
    maxAlign = Math.max(maxAlign, memberAlign);
  }
  const structAlign = Math.max(maxAlign, align ?? 1);
  return { layout: Object.freeze(layout), size: roundUp(end, structAlign), align: structAlign };
}

/** @internal One step of a member path such as `a.b[2].c`. */
export type PathStep = { readonly field: string } | { readonly index: number };

/** @internal Splits `a.b[2].c` into steps; undefined if it is not such a path. */
export function parsePath(path: string): PathStep[] | undefined {
  const steps: PathStep[] = [];
  // A name at the start or after a dot, or a decimal index in brackets (no
  // leading zero: C would read 010 as octal 8, and 0x10 as 16).
  const token = /(?:^|\.)([A-Za-z_][A-Za-z0-9_]*)|\[(0|[1-9]\d*)\]/y;
  let position = 0;
  while (position < path.length) {
    token.lastIndex = position;
    const match = token.exec(path);
    // `.a` matched the dot at the start, where C's offsetof takes no dot.
    if (match === null || (position === 0 && match[0].startsWith('.'))) return undefined;
    if (match[1] !== undefined) steps.push({ field: match[1] });
    else steps.push({ index: Number(match[2]) });
    position = token.lastIndex;
  }
  return steps.length > 0 && 'field' in steps[0]! ? steps : undefined;
}
