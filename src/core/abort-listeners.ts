// One 'abort' listener per signal, whatever the number of waits that share
// it. A program often hands one signal (its shutdown) to every pending wait,
// and an AbortSignal warns of a leak (MaxListenersExceededWarning) past ten
// listeners of its own; raising the user's limit would hide their own leaks.

interface Listeners {
  readonly calls: Set<() => void>;
  /** The one listener on the signal. */
  readonly onAbort: () => void;
}

const bySignal = new WeakMap<AbortSignal, Listeners>();

/**
 * @internal Calls `listener` once when `signal` aborts, unless the returned
 * function was called first. Nothing is called for a signal that has already
 * aborted (as with addEventListener): callers check `signal.aborted` first.
 * `signal` undefined: nothing to listen to.
 */
export function whenAborted(signal: AbortSignal | undefined, listener: () => void): () => void {
  if (signal === undefined) return noop;
  const listeners = bySignal.get(signal) ?? listen(signal);
  // An entry of its own: the same function registered twice is stopped once each.
  const entry = (): void => listener();
  listeners.calls.add(entry);
  return () => {
    // Also during the dispatch, which then skips it, as removeEventListener would.
    if (!listeners.calls.delete(entry) || listeners.calls.size > 0 || bySignal.get(signal) !== listeners) return;
    // The last one gone: the signal may live on (a program's whole life) with nothing to call.
    bySignal.delete(signal);
    signal.removeEventListener('abort', listeners.onAbort);
  };
}

function listen(signal: AbortSignal): Listeners {
  const calls = new Set<() => void>();
  const listeners = { calls, onAbort: () => dispatch(signal, calls) };
  bySignal.set(signal, listeners);
  signal.addEventListener('abort', listeners.onAbort, { once: true });
  return listeners;
}

function dispatch(signal: AbortSignal, calls: Set<() => void>): void {
  bySignal.delete(signal);
  for (const call of calls) {
    // As with listeners of their own, one that throws leaves the others their call.
    try {
      call();
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

function noop(): void {}
