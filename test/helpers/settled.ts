// Watching a promise that may hang, for tests of waits that must end.

/** What `promise` settled to ('resolved', or its error), or 'still pending' after `ms`: a bound against a hang, not a speed check. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise((resolve) => (timer = setTimeout(resolve, ms, 'still pending')));
  try {
    return await Promise.race([
      promise.then(
        () => 'resolved',
        (error: unknown) => error,
      ),
      bound,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
