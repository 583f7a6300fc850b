// What shmkit knows of each of its views, by the view's prototype: its type,
// DataView and owner, read through the generated class's private fields. Apart
// from view.ts, which registers each class, so that atomic() and the codec
// (a write from a view of the same type) can ask without importing view.ts.
import type { ArrayLayout, StructLayout } from './layout.js';
import type { Owner } from './memory.js';

type Composite = StructLayout | ArrayLayout;

/** @internal What a view holds, for atomic(), snapshots and copies. */
export interface ViewInternals {
  readonly type: Composite;
  readonly dv: DataView;
  readonly owner: Owner;
}

const internalsByPrototype = new WeakMap<object, { type: Composite; dv: (view: object) => DataView; owner: (view: object) => Owner }>();

/** @internal Records the prototype of a generated view class and how to read its views' private fields. */
export function registerView(prototype: object, type: Composite, dv: (view: object) => DataView, owner: (view: object) => Owner): void {
  internalsByPrototype.set(prototype, { type, dv, owner });
}

/** @internal The internals of a view made by shmkit, or undefined for any other object. */
export function internalsOf(view: unknown): ViewInternals | undefined {
  if (typeof view !== 'object' || view === null) return undefined;
  const entry = internalsByPrototype.get(Object.getPrototypeOf(view) as object);
  if (entry === undefined) return undefined;
  try {
    return { type: entry.type, dv: entry.dv(view), owner: entry.owner(view) };
  } catch {
    // An object that only inherits a view's prototype has none of its fields.
    return undefined;
  }
}
