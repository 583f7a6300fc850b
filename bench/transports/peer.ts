// Entry point of every benchmark peer: `node peer.js <transport> <params JSON>`,
// or a worker thread started with { transport, params } as workerData.
import { isMainThread, workerData } from 'node:worker_threads';

interface PeerModule {
  peer(params: unknown): Promise<void>;
}

const [transport, params] = isMainThread
  ? [process.argv[2]!, JSON.parse(process.argv[3]!) as unknown]
  : [(workerData as { transport: string }).transport, (workerData as { params: unknown }).params];
const module = (await import(`./${transport}.js`)) as PeerModule;
await module.peer(params);
