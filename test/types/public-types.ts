// Type-level checks of names a program annotates its own code with: error
// codes, what shmctl returns for each command, the options of recvBatch. The
// build checks them against the sources; test/declarations.test.ts against
// the published declarations. Each @ts-expect-error line must be an error.
// The checks sit in a function that is never called, so running the compiled
// file does nothing.
import {
  type BridgeErrorCode,
  Channel,
  MessageQueue,
  SharedMemory,
  IPC_RMID,
  IPC_STAT,
  type RecvBatchOptions,
  type Receiver,
  SHM_LOCK,
  SHM_UNLOCK,
  type ShmidDs,
  StateError,
  type StateErrorCode,
  shmctl,
} from '../../src/index.js';

/** Options a program passes on from its own, possibly undefined (under exactOptionalPropertyTypes too). */
export async function passedOnOptions(
  receiver: Receiver<Uint8Array>,
  o: { timeoutMs?: number; signal?: AbortSignal; readOnly?: boolean; key?: number; codec?: 'json'; type?: number },
): Promise<void> {
  await receiver.recv({ timeoutMs: o.timeoutMs, signal: o.signal });
  SharedMemory.open({ key: 1, readOnly: o.readOnly });
  Channel.create({ capacity: 1 << 16, key: o.key });
  const json = Channel.create({ capacity: 1 << 16, codec: o.codec });
  const value: unknown = await json.receiver().recv();
  void value;
  const queue = MessageQueue.open({ key: 1 });
  await queue.receive({ type: o.type, timeoutMs: o.timeoutMs });
  queue.tryReceive({ type: o.type });
}

export async function publicTypeCases(error: unknown, receiver: Receiver<string>): Promise<void> {
  if (error instanceof StateError) {
    const code: StateErrorCode = error.code;
    void code;
    // @ts-expect-error a misspelled code is no StateError code
    if (error.code === 'ERR_SHM_DETACHD') return;
  }
  const bridgeCode: BridgeErrorCode = 'ERR_BRIDGE_CONNECT';
  void bridgeCode;
  const stat: ShmidDs = shmctl(1, IPC_STAT);
  void stat;
  const removed: void = shmctl(1, IPC_RMID);
  const locked: void = shmctl(1, SHM_LOCK);
  const unlocked: void = shmctl(1, SHM_UNLOCK);
  void [removed, locked, unlocked];
  // @ts-expect-error IPC_RMID returns nothing to read
  shmctl(1, IPC_RMID).shm_segsz;
  const options: RecvBatchOptions = { max: 16, timeoutMs: 100 };
  const batch: string[] = await receiver.recvBatch(options);
  void batch;
}
