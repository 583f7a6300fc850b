// Type-level checks of where open() finds a segment: one of a key, a path or
// an id. The build checks them against the sources; test/declarations.test.ts
// against the published declarations. Each @ts-expect-error line must be an
// error. The checks sit in a function that is never called, so running the
// compiled file does nothing.
import { SharedMemory } from '../../src/index.js';

export function openOptionsCases(): void {
  SharedMemory.open({ key: 0x5100 });
  SharedMemory.open({ key: 0x5100, readOnly: true });
  SharedMemory.open({ path: '/tmp', projId: 2 });
  SharedMemory.open({ id: 7, readOnly: false });
  // @ts-expect-error an id and a key name two segments: one of them
  SharedMemory.open({ id: 7, key: 0x5100 });
  // @ts-expect-error a key and a path
  SharedMemory.open({ key: 0x5100, path: '/tmp' });
  // @ts-expect-error projId goes with path only
  SharedMemory.open({ id: 7, projId: 2 });
  // @ts-expect-error nothing to find it by
  SharedMemory.open({ readOnly: true });
}
