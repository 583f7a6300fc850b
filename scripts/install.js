// npm's install step for shmkit. Nothing to do when a built or prebuilt addon
// for this machine loads (node-gyp-build finds it in build/ or prebuilds/).
// Otherwise it compiles the addon with node-gyp, printing nothing on success;
// if the tools for that are missing it says so in one line instead of
// node-gyp's screenful. Plain JavaScript: it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build');

// A prebuild whose tags match may still not load (a glibc older than the one
// it was built against): then compile too.
try {
  require(nodeGypBuild.path(root));
  process.exit(0);
} catch {
  // No usable match: compile.
}

const onPath = (name) => (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name)));
const command = (value) => value?.trim().split(/\s+/)[0];
const missing = [];
if (!onPath(command(process.env.npm_config_python) ?? 'python3') && !onPath('python')) missing.push('python3');
if (!onPath('make')) missing.push('make');
if (!onPath(command(process.env.CXX) ?? 'c++') && !onPath('g++') && !onPath('clang++')) missing.push('a C++ compiler (g++)');
// As node-gyp-build tells them apart.
const libc = process.env.LIBC || (existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
const target = `${process.platform}-${process.arch} (${libc}, Node-API)`;
if (missing.length > 0) {
  console.error(
    `shmkit: no prebuilt addon for ${target}; compiling it needs python3, make and a C++ compiler, and ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing (Debian/Ubuntu: apt-get install python3 make g++)`,
  );
  process.exit(1);
}

// npm tells scripts where its own node-gyp is; otherwise the one on PATH.
const gyp = process.env.npm_config_node_gyp;
const result = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild', '--loglevel=warn'], { cwd: root, encoding: 'utf8' })
  : spawnSync('node-gyp', ['rebuild', '--loglevel=warn'], { cwd: root, encoding: 'utf8' });
if (result.status !== 0) {
  process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  console.error(
    `shmkit: no prebuilt addon for ${target}, and compiling it failed (${result.error?.message ?? `node-gyp exited with ${result.status}`}); see above`,
  );
  process.exit(1);
}
