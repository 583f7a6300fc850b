// C-compatible struct layouts over shared memory.
export {
  int8,
  uint8,
  int16,
  uint16,
  int32,
  uint32,
  int64,
  uint64,
  float32,
  float64,
  bool,
  char,
  array,
  ScalarType,
  CharType,
  ArrayType,
  StructType,
} from './types.js';
export type {
  ScalarValues,
  AtomicKind,
  Type,
  Value,
  Input,
  View,
  StructView,
  ArrayView,
  ArrayViewMethods,
  Fields,
  FieldLayout,
} from './types.js';
export type { ScalarKind } from './layout.js';
export { struct } from './struct.js';
export type { StructOptions } from './struct.js';
export type { MemorySource } from './memory.js';
export { atomic } from './atomic.js';
export type { Atomic, AtomicFieldOf, AtomicValueOf, AtomicWaitOptions } from './atomic.js';
