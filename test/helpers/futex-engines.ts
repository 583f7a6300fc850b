// The two ways a channel's futex sleep reaches the kernel (src/sysv/futex.ts):
// io_uring where the kernel offers FUTEX_WAIT there and io_uring is allowed,
// the addon's waiter threads otherwise or with SHMKIT_IO_URING=0. Tests that
// depend on which one runs take each in turn, in children given `env`.
import { futexEngine } from '../../src/sysv/futex.js';

export interface FutexEngineCase {
  readonly name: 'io_uring' | 'thread';
  /** The environment of a child that uses this engine. */
  readonly env: NodeJS.ProcessEnv;
  /** Why this machine cannot test it (`{ skip }`), or false. */
  readonly skip: string | false;
}

// This process asks once; its children run on the same kernel, under the same seccomp profile.
const here = futexEngine();
const { SHMKIT_IO_URING: _unset, ...inherited } = process.env;

export const futexEngines: readonly FutexEngineCase[] = [
  {
    name: 'io_uring',
    env: inherited,
    skip: here.kind === 'io_uring' ? false : `no io_uring futex waits here (${here.kind === 'thread' ? here.reason : ''})`,
  },
  { name: 'thread', env: { ...inherited, SHMKIT_IO_URING: '0' }, skip: false },
];
