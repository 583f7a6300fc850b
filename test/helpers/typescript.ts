// TypeScript 5's compiler API, for the tests that check with it in their own
// process (declarations, public-api).
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type * as TypeScript from 'typescript';

// Without V8's optimizing compiler: a check runs the compiler once, for about a
// second, and optimizing its hottest functions (on a thread of their own) cost
// more CPU than the optimized code saved: 0.2 to 0.3 s of CPU per file. It only
// changes how V8 runs the code, never what the code does.
setFlagsFromString('--no-opt');

// require, not import: importing the CommonJS compiler from an ES module makes
// Node scan all of its 9 MB for export names first, about 0.25 s of CPU.
export const ts = createRequire(import.meta.url)('typescript') as typeof TypeScript;
