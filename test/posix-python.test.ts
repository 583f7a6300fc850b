// Interop with Python's multiprocessing.shared_memory.SharedMemory, both ways,
// minding Python's resource tracker: before Python 3.13 it unlinks at exit
// every block a process created or attached (so a peer must unregister), and
// from 3.13 `track=False` keeps it away. Also runs README's Node <-> Python
// example exactly as printed there.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { PosixSharedMemory } from 'shmkit';
import { assertExitedCleanly, lastJson, ROOT, run } from './helpers/processes.js';
import { cleanUpPosixNames, shmExists, uniqueName, unlinkQuietly } from './helpers/posix.js';

cleanUpPosixNames();

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).replace(/\0.*$/s, '');

// Python's SharedMemory without the resource tracker, on any Python 3.8+.
const PY_ATTACH = `
import json, sys
from multiprocessing import resource_tracker, shared_memory

def untracked(name, create=False, size=0):
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name, create=create, size=size, track=False)
    shm = shared_memory.SharedMemory(name, create=create, size=size)
    resource_tracker.unregister(shm._name, "shared_memory")
    return shm
`;

// The python3 on PATH runs the first script and names its sys.executable
// (first on stderr), which runs the rest, README's example too: where python3
// is a version manager's shim (pyenv's is a bash script that runs some 250
// programs, 0.05 s of CPU), only the first call pays it.
let executable: string | undefined;

async function python(script: string, args: string[]) {
  if (executable !== undefined) return run(executable, ['-c', script, ...args], { timeoutMs: 60_000 });
  const result = await run('python3', ['-c', `import sys; print(sys.executable, file=sys.stderr)\n${script}`, ...args], {
    timeoutMs: 60_000,
  });
  const [first, ...rest] = result.stderr.split('\n');
  if (first) executable = first;
  return { ...result, stderr: rest.join('\n') };
}

/** The python3 on PATH (its sys.executable). */
async function python3(): Promise<string> {
  if (executable === undefined) assertExitedCleanly(await python('', []), 'python3');
  assert.ok(executable, 'python3 names its executable');
  return executable;
}

describe('Python multiprocessing.shared_memory', () => {
  it("Python opens a block Node created, reads it and writes back; the block outlives Python's exit", async () => {
    const name = uniqueName('py-open');
    const shm = PosixSharedMemory.create({ name, size: 5000 });
    try {
      shm.write(0, 'hello from Node\0');
      const result = await python(
        `${PY_ATTACH}
shm = untracked(sys.argv[1])
got = bytes(shm.buf[:32]).split(b"\\0")[0].decode()
shm.buf[100:118] = b"hello from Python\\0"
print(json.dumps({"name": shm.name, "size": shm.size, "text": got, "version": list(sys.version_info[:2])}))
shm.close()
`,
        [name.slice(1)],
      );
      assertExitedCleanly(result, 'python');
      const out = lastJson<{ name: string; size: number; text: string; version: number[] }>(result);
      assert.equal(out.name, name.slice(1), "Python's name is ours without the slash");
      assert.equal(out.size, 5000);
      assert.equal(out.text, 'hello from Node');
      assert.equal(text(shm.read(100, 32)), 'hello from Python');
      assert.equal(shmExists(name), true, "Python's resource tracker left the block alone");
    } finally {
      shm.detach();
      unlinkQuietly(name);
    }
  });

  it('Node opens a block Python created (mode 0600) and left for it, reads, writes, and unlinks it', async () => {
    const name = uniqueName('py-create');
    try {
      const result = await python(
        `${PY_ATTACH}
shm = untracked(sys.argv[1], create=True, size=6000)
shm.buf[:17] = b"made by Python\\0\\0\\0"
print(json.dumps({"size": shm.size}))
shm.close()
`,
        [name.slice(1)],
      );
      assertExitedCleanly(result, 'python');
      assert.deepEqual(lastJson(result), { size: 6000 });
      using shm = PosixSharedMemory.open({ name });
      assert.equal(shm.size, 6000);
      assert.equal(text(shm.read(0, 32)), 'made by Python');
      assert.equal(shm.stat().mode & 0o777, 0o600);
      shm.write(200, 'and Node wrote here');
      const check = await python(
        `${PY_ATTACH}
shm = untracked(sys.argv[1])
print(json.dumps({"text": bytes(shm.buf[200:219]).decode()}))
shm.close()
`,
        [name.slice(1)],
      );
      assertExitedCleanly(check, 'python reader');
      assert.deepEqual(lastJson(check), { text: 'and Node wrote here' });
      shm.unlink();
      assert.equal(shmExists(name), false);
    } finally {
      unlinkQuietly(name);
    }
  });

  it("README's Node <-> Python example runs as printed", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = (marker: string) => {
      // The marker, then any other comments (a norun: docs.test cannot run the pair alone), then the block.
      const found = new RegExp(`<!-- ${marker} -->\\n(?:<!--.*-->\\n)*\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``).exec(readme);
      assert.ok(found, `README has the block marked ${marker}`);
      return found[1]!;
    };
    // Inside the package, so that \`import ... from 'shmkit'\` resolves to this build (a package may import itself by name).
    const dir = join(ROOT, 'dist', `readme-python-${process.pid}`);
    const name = uniqueName('readme');
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(join(dir, 'node-side.mjs'), block('example: node-python, node'));
      writeFileSync(join(dir, 'peer.py'), block('example: node-python, python'));
      // The example runs python3 by name: that same one.
      const env = { ...process.env, PATH: `${dirname(await python3())}${delimiter}${process.env.PATH}` };
      const result = await run(process.execPath, ['node-side.mjs', name], { cwd: dir, env, timeoutMs: 60_000 });
      assertExitedCleanly(result, 'README example');
      assert.equal(result.stdout, 'Python read: hello from Node\nNode read: hello from Python\n');
      assert.equal(shmExists(name), false, 'the example unlinks its block');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      unlinkQuietly(name);
    }
  });
});
