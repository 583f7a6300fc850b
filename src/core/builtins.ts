// Node's built-in modules that only some of shmkit's calls need, loaded on
// first use: Node 20 compiles a built-in that its startup snapshot lacks when
// it is first imported, and `node:stream` and `node:crypto` together cost
// every process that imports shmkit about 6 ms of CPU at start, streams or
// not; `node:v8`, which only the v8 codec uses, loads the streams as well
// (for its heap snapshots). A synchronous require keeps the calls that use
// them synchronous.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

let stream: typeof import('node:stream') | undefined;
let crypto: typeof import('node:crypto') | undefined;
let v8: typeof import('node:v8') | undefined;

/** `node:stream`, loaded on first use. */
export function nodeStream(): typeof import('node:stream') {
  stream ??= require('node:stream') as typeof import('node:stream');
  return stream;
}

/** `node:crypto`, loaded on first use. */
export function nodeCrypto(): typeof import('node:crypto') {
  crypto ??= require('node:crypto') as typeof import('node:crypto');
  return crypto;
}

/** `node:v8`, loaded on first use. */
export function nodeV8(): typeof import('node:v8') {
  v8 ??= require('node:v8') as typeof import('node:v8');
  return v8;
}
