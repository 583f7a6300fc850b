#!/usr/bin/env bash
# Builds the addon's prebuilt binaries (Node-API, glibc) into prebuilds/ for
# linux-x64 and linux-arm64, the two at once. npm pack runs it (prepack), and
# so does a development checkout's npm install or npm ci (prepare, with
# --available). The host's own arch uses the usual compiler, the other one
# Debian's cross compiler (g++-aarch64-linux-gnu or g++-x86-64-linux-gnu).
# Each build runs in a scratch copy of the sources, so the development build
# in build/ is left alone, and file(1) checks that the result is for the
# right machine. A prebuild newer than every native source is kept.
#
#   bash scripts/prebuild.sh [--available]
#
# --available: an arch whose compiler is missing is skipped with a note
# instead of failing (a release, through prepack, needs both).
set -euo pipefail
cd "$(dirname "$0")/.."
available=false
[ "${1:-}" = --available ] && available=true
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr  # local headers: node-gyp downloads nothing
fi
host=$(node -p process.arch)

# build ARCH: one prebuild, from a scratch copy; its messages go to stderr.
build() {
  local arch=$1 triple machine cc cxx strip stage
  case $arch in
    x64) triple=x86_64-linux-gnu machine=x86-64 ;;
    arm64) triple=aarch64-linux-gnu machine='ARM aarch64' ;;
  esac
  local out=prebuilds/linux-$arch/shmkit.glibc.node
  if [ "$arch" = "$host" ]; then
    cc=${CC:-cc} cxx=${CXX:-c++} strip=strip
  else
    cc=$triple-gcc cxx=$triple-g++ strip=$triple-strip
  fi
  if ! command -v "$cxx" >/dev/null; then
    if $available; then
      echo "prebuild: skipped linux-$arch: it needs $cxx (Debian: apt-get install g++-${triple//_/-}); npm pack will need it" >&2
      return 0
    fi
    echo "prebuild: building linux-$arch needs $cxx (Debian: apt-get install g++-${triple//_/-})" >&2
    return 1
  fi
  stage=$(mktemp -d)
  cp -r native binding.gyp package.json "$stage/"
  ln -s "$PWD/node_modules" "$stage/node_modules"
  if ! CC=$cc CXX=$cxx prebuildify --cwd "$stage" --napi --strip --strip-bin "$strip" --tag-libc --arch "$arch" --quiet; then
    rm -rf "$stage"
    return 1
  fi
  local kind
  kind=$(file -b "$stage/$out")
  if [[ $kind != *"$machine"* ]]; then
    echo "prebuild: $out should be for $machine but is: $kind" >&2
    rm -rf "$stage"
    return 1
  fi
  mkdir -p "prebuilds/linux-$arch"
  cp "$stage/$out" "$out"
  rm -rf "$stage"
}

pids=()
for arch in x64 arm64; do
  out=prebuilds/linux-$arch/shmkit.glibc.node
  if [ -f "$out" ] && [ -z "$(find native binding.gyp \( -name "*.cc" -o -name "*.h" -o -name binding.gyp \) -newer "$out")" ]; then continue; fi
  build "$arch" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
