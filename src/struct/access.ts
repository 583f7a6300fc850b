// The three ways into a struct or array in memory: a live view, a snapshot,
// and a whole-value write.
import { Cells, checkValue, readValue, storeValue } from './codec.js';
import { checkIntact, fault, readOnlyError, regionOf, reserveFor } from './memory.js';
import type { ArrayLayout, StructLayout } from './layout.js';
import { viewClass } from './view.js';
import { dataViewByteOffset } from '../core/primordials.js';

type Composite = StructLayout | ArrayLayout;

/** @internal `type.view(source, offset)` */
export function viewOf(type: Composite, source: unknown, offset: unknown): object {
  const { dv, owner } = regionOf(source, offset, type.size, 'view');
  if (!owner.readOnly) reserveFor(owner, 'view', dv, type.size);
  const View = viewClass(type, owner.readOnly, dataViewByteOffset(dv));
  return new View(dv, owner);
}

/** @internal `type.read(source, offset)` */
export function readOf(type: Composite, source: unknown, offset: unknown): unknown {
  const { dv, owner } = regionOf(source, offset, type.size, 'read');
  let value: unknown;
  try {
    value = readValue(type, new Cells(dv), 0);
  } catch (error) {
    throw fault(owner, error, 'read');
  }
  checkIntact(owner, 'read');
  return value;
}

/** @internal `type.write(source, value, offset)`: checks all of `value`, then writes it. */
export function writeOf(type: Composite, source: unknown, value: unknown, offset: unknown): void {
  const { dv, owner } = regionOf(source, offset, type.size, 'write');
  if (owner.readOnly) throw readOnlyError(owner, 'write');
  const checked = checkValue(type, value, 'value');
  reserveFor(owner, 'write', dv, type.size);
  try {
    storeValue(type, new Cells(dv), 0, checked, 'value');
  } catch (error) {
    throw fault(owner, error, 'write');
  }
  checkIntact(owner, 'write');
}
