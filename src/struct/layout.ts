// Where gcc puts each member of a struct, on x86-64 and AArch64 alike: every
// scalar aligned to its size, `packed` drops member alignment to 1, and
// `aligned(n)` raises the struct's alignment (never lowers it).
import type { Type } from './types.js';

/** One member of a struct's layout. */
export interface FieldLayout {
  /** The member's name. */
  readonly name: string;
  /** Its type. */
  readonly type: Type;
  /** Its byte offset in the struct (`offsetof`). */
  readonly offset: number;
}

/** @internal A struct's members, size and alignment. */
export interface StructLayout {
  readonly layout: readonly FieldLayout[];
  readonly size: number;
  readonly align: number;
}

function roundUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

/**
 * @internal The layout gcc gives `struct __attribute__((packed, aligned(align)))`
 * with these members in this order.
 */
export function layoutStruct(members: ReadonlyArray<readonly [string, Type]>, packed: boolean, align: number | undefined): StructLayout {
  let end = 0;
  let maxAlign = 1;
  const layout: FieldLayout[] = [];
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
  // A name at the start or after a dot, or an index in brackets.
  const token = /(?:^|\.)([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/y;
  let position = 0;
  while (position < path.length) {
    token.lastIndex = position;
    const match = token.exec(path);
    if (match === null) return undefined;
    if (match[1] !== undefined) steps.push({ field: match[1] });
    else steps.push({ index: Number(match[2]) });
    position = token.lastIndex;
  }
  return steps.length > 0 && 'field' in steps[0]! ? steps : undefined;
}
