#!/bin/sh
# npm run build: the addon (node-gyp, configured again only when binding.gyp
# changed), the TypeScript (tsc of TypeScript 7), then the bundle, unless
# nothing it is made from changed since. A script of its own rather than npm
# scripts calling each other: npm test starts with it, and each npm run
# inside another costs a quarter of a second. The lock keeps two builds of
# one checkout (test files that pack or rebuild) from racing.
set -e
cd "$(dirname "$0")/.."
flock /tmp/shmkit-native-build.lock sh -c '{ [ build/Makefile -nt binding.gyp ] || node-gyp configure --loglevel=warn; } && node-gyp build --loglevel=warn'
node node_modules/typescript-7/bin/tsc -p tsconfig.json
bundle=dist/src/bundle/index.js
if [ ! -f "$bundle" ] || [ -n "$(find dist/src -path dist/src/bundle -prune -o -name '*.js' -newer "$bundle" -print | head -1)" ] ||
  [ scripts/bundle.mjs -nt "$bundle" ] || [ package-lock.json -nt "$bundle" ]; then
  node scripts/bundle.mjs
fi
