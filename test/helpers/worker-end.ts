// Child-process code (a string to put into a child's source) that ends a
// worker one of the two ways a worker ends: it exits by itself, or it is
// terminated from outside once it has said it is ready.

/**
 * Defines `async endWorker(worker, how)` in child code: 'terminate' waits for
 * the worker's first message, then terminates it; 'exit' waits for its own
 * process.exit(0) (not for a message: one posted right before
 * process.exit() can be lost) and throws on another exit code.
 */
export const END_WORKER = `
async function endWorker(worker, how) {
  const { once } = await import('node:events');
  if (how === 'terminate') {
    await once(worker, 'message');
    await worker.terminate();
    return;
  }
  const [code] = await once(worker, 'exit');
  if (code !== 0) throw new Error('the worker exited with ' + code);
}
`;
