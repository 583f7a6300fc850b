// IpcError can be made by a program too (to wrap its own failures in the
// same shape): with an errno number of either sign or an errno name. Wrong
// arguments are a TypeError or RangeError naming the argument, not a
// message from deep inside the addon. Its errno is negative, as in Node's
// own system errors; cErrno is C's positive one.
import assert from 'node:assert/strict';
import { constants as os } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { describe, it } from 'node:test';
import { statSync } from 'node:fs';
import { ftok, IpcError, shmget } from 'shmkit';
import { uniqueKey } from './helpers/ipc.js';
import { thrown } from './helpers/shm.js';

describe('new IpcError', () => {
  it('takes an errno name, a positive errno as in C, or a negative one as in Node, and says the same for each', () => {
    const byName = new IpcError('shmget', 'EEXIST', 'key 0x1234');
    const positive = new IpcError('shmget', os.errno.EEXIST, 'key 0x1234');
    const negative = new IpcError('shmget', -os.errno.EEXIST, 'key 0x1234');
    for (const e of [byName, positive, negative]) {
      assert.ok(e instanceof Error);
      assert.equal(e.name, 'IpcError');
      assert.equal(e.code, 'EEXIST');
      assert.equal(e.errno, -os.errno.EEXIST, "negative, as in Node's system errors");
      assert.equal(getSystemErrorName(e.errno), 'EEXIST');
      assert.equal(e.cErrno, os.errno.EEXIST, 'positive, as in C');
      assert.equal(e.syscall, 'shmget');
      assert.equal(e.message, 'shmget: EEXIST (File exists): key 0x1234');
    }
    assert.equal(new IpcError('semop', 'EIDRM').message, 'semop: EIDRM (Identifier removed)');
    assert.ok(!('hint' in byName), 'no hint given, no hint property');
  });

  it('takes a hint after the detail: its own property, and the end of the message', () => {
    const error = new IpcError('shmget', 'EEXIST', 'key 0x1234', 'remove the leftover');
    assert.equal(error.hint, 'remove the leftover');
    assert.equal(error.message, 'shmget: EEXIST (File exists): key 0x1234; remove the leftover');
  });

  it('refuses what is not an errno or a syscall with a coded TypeError or RangeError naming the argument', () => {
    const cases: Array<[unknown[], string, RegExp]> = [
      [['x', 'y'], 'ERR_OUT_OF_RANGE', /"errno".*an errno name such as 'EEXIST'.*Received type string \('y'\)/],
      [['x', 0], 'ERR_OUT_OF_RANGE', /"errno".*non-zero integer/],
      [['x', 1.5], 'ERR_OUT_OF_RANGE', /"errno"/],
      [['x', 1e9], 'ERR_OUT_OF_RANGE', /"errno"/],
      [['x', {}], 'ERR_INVALID_ARG_TYPE', /"errno" argument must be of type number or string/],
      [['x'], 'ERR_INVALID_ARG_TYPE', /"errno" argument/],
      [[1, 2], 'ERR_INVALID_ARG_TYPE', /"syscall" argument must be of type string/],
      [['x', 2, 3], 'ERR_INVALID_ARG_TYPE', /"detail" argument must be of type string/],
      [['x', 2, 'd', 4], 'ERR_INVALID_ARG_TYPE', /"hint" argument must be of type string/],
    ];
    for (const [args, code, message] of cases) {
      const error = thrown(() => new (IpcError as unknown as new (...a: unknown[]) => IpcError)(...args)) as Error & { code?: string };
      assert.ok(error instanceof TypeError || error instanceof RangeError, `${JSON.stringify(args)}: ${String(error)}`);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, message);
    }
  });
});

describe("IpcError's errno, as Node's system errors have it", () => {
  it("a failed call's errno is negative, the same number Node's fs gives for the same mistake, and getSystemErrorName reads it", () => {
    const missing = '/nonexistent-shmkit-errno-test/file';
    const fsError = thrown(() => statSync(missing)) as NodeJS.ErrnoException;
    const ipc = thrown(() => ftok(missing, 1)) as IpcError;
    assert.ok(ipc instanceof IpcError);
    assert.equal(ipc.code, 'ENOENT');
    assert.equal(ipc.errno, fsError.errno, 'the same sign and number as fs.statSync');
    assert.equal(ipc.errno, -os.errno.ENOENT);
    assert.equal(getSystemErrorName(ipc.errno), 'ENOENT');
    assert.equal(ipc.cErrno, os.errno.ENOENT);

    const fromShmget = thrown(() => shmget(uniqueKey(), 1, 0)) as IpcError; // no IPC_CREAT: ENOENT, nothing made
    assert.equal(getSystemErrorName(fromShmget.errno), fromShmget.code);
  });

  it('cErrno is a getter, not an own property: logged or serialized, the error shows errno as Node does', () => {
    const error = new IpcError('semop', 'EIDRM');
    assert.equal(error.cErrno, os.errno.EIDRM);
    assert.ok(!Object.keys(error).includes('cErrno'));
    assert.equal(JSON.parse(JSON.stringify(error)).errno, -os.errno.EIDRM);
  });
});
