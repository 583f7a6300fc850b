// The record the demo's writer and reader exchange: a C struct, laid out as
// gcc lays out
//   struct record { int32_t seq; int32_t pid; double value; char text[48]; };
import { char, float64, int32, struct } from '../../index.js';

export const Record = struct({ seq: int32, pid: int32, value: float64, text: char(48) });

/** Semaphore numbers in the demo's set: the slot is empty / full. */
export const EMPTY = 0;
export const FULL = 1;

/** How many records the demo sends. */
export const RECORDS = 5;
