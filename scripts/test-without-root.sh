#!/usr/bin/env bash
# Runs the test suite as a user other than root (default: nobody), as someone
# without root runs it: files one at a time in the shared IPC namespace, and
# the tests that need root skipped, each listed with its reason at the end.
# The user gets a copy of this working tree (node_modules hard-linked where
# it can be) whose directories it owns, and a TMPDIR of its own, so nothing
# of root's is in the way and the checkout itself may be 0700, as CI's is.
# Run it as root; it passes run-tests.mjs's arguments on.
#
#   bash scripts/test-without-root.sh [--user NAME] [run-tests.mjs arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
user=nobody
if [ "${1:-}" = --user ]; then
  user=${2:?--user needs a name}
  shift 2
fi
fail() {
  echo "test-without-root: $*" >&2
  exit 2
}
[ "$(id -u)" = 0 ] || fail "run it as root: it makes a copy of the checkout for $user"
id "$user" >/dev/null 2>&1 || fail "no user $user"
[ -d node_modules ] && [ -d build ] || fail 'run npm install first (node_modules and the built addon are shared with the copy)'
# Node opens /dev/null for every child started with stdio 'ignore'.
runuser -u "$user" -- test -r /dev/null -a -w /dev/null ||
  fail "$user cannot read and write /dev/null (mode $(stat -c %a /dev/null)): every child process would fail with EACCES"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/tmp" "$dir/home"
tar --exclude=./node_modules --exclude=./build --exclude=./dist --exclude=./.git -cf - . | tar -xf - -C "$dir" --one-top-level=shmkit
cp -al node_modules "$dir/shmkit/node_modules" 2>/dev/null || cp -a node_modules "$dir/shmkit/node_modules"
cp -r build "$dir/shmkit/build"
# Directories only: the files stay root's and readable (some are hard links to this checkout's).
find "$dir" -type d -exec chown "$user" {} +
quoted=''
[ $# -eq 0 ] || quoted=$(printf ' %q' "$@")
runuser -u "$user" -- env TMPDIR="$dir/tmp" HOME="$dir/home" bash -c \
  "cd '$dir/shmkit' && node node_modules/typescript-7/bin/tsc -p tsconfig.json && node scripts/bundle.mjs && node scripts/run-tests.mjs$quoted"
