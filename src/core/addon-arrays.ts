// V8 keeps the bytes of a small typed array (up to 64 bytes) on its own heap,
// and the first time the addon reads one, V8 moves them off the heap: about
// a microsecond, as much as the system call the addon then makes. Semaphore
// operations are packed into new small arrays on every call, and short
// messages are new small arrays too. So the addon is given, for each length,
// one array made once (moved on its first use) that the bytes are copied into.

/** V8's typed_array_max_size_in_heap: larger arrays live off the heap from the start. */
const ON_HEAP_MAX_BYTES = 64;
const int32s: Int32Array[] = [];
const uint8s: Uint8Array[] = [];

/** `a`'s contents in `made[a.length]`, made by `make` the first time (or `a` itself if V8 keeps it off its heap anyway). */
function reused<T extends Int32Array | Uint8Array>(a: T, made: T[], make: (length: number) => T): T {
  if (a.byteLength > ON_HEAP_MAX_BYTES) return a;
  let copy = made[a.length];
  if (copy === undefined) made[a.length] = copy = make(a.length);
  copy.set(a);
  return copy;
}

/**
 * @internal `a`'s contents in the Int32Array of its length that the addon
 * has read before (`a` itself if it is larger than V8 keeps on its heap).
 * Valid until the next call: for a native call that reads it at once.
 */
export function int32sForAddon(a: Int32Array): Int32Array {
  return reused(a, int32s, (length) => new Int32Array(length));
}

/** @internal {@link int32sForAddon} for bytes. */
export function bytesForAddon(a: Uint8Array): Uint8Array {
  return reused(a, uint8s, (length) => new Uint8Array(length));
}
