#!/usr/bin/env bash
# Builds the addon's prebuilt binaries (Node-API, glibc) into prebuilds/ for
# linux-x64 and linux-arm64; npm pack runs it (prepack). The host's own arch
# uses the usual compiler, the other one Debian's cross compiler
# (g++-aarch64-linux-gnu or g++-x86-64-linux-gnu). Each build runs in a scratch
# copy of the sources, so the development build in build/ is left alone, and
# file(1) checks that the result is for the right machine. A prebuild newer
# than every native source is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr  # local headers: node-gyp downloads nothing
fi
host=$(node -p process.arch)
for arch in x64 arm64; do
  case $arch in
    x64) triple=x86_64-linux-gnu machine=x86-64 ;;
    arm64) triple=aarch64-linux-gnu machine='ARM aarch64' ;;
  esac
  out=prebuilds/linux-$arch/shmkit.glibc.node
  if [ -f "$out" ] && [ -z "$(find native binding.gyp \( -name "*.cc" -o -name "*.h" -o -name binding.gyp \) -newer "$out")" ]; then continue; fi
  if [ "$arch" = "$host" ]; then
    cc=${CC:-cc} cxx=${CXX:-c++} strip=strip
  else
    cc=$triple-gcc cxx=$triple-g++ strip=$triple-strip
  fi
  if ! command -v "$cxx" >/dev/null; then
    echo "prebuild: building linux-$arch needs $cxx (Debian: apt-get install g++-${triple//_/-})" >&2
    exit 1
  fi
  stage=$(mktemp -d)
  cp -r native binding.gyp package.json "$stage/"
  ln -s "$PWD/node_modules" "$stage/node_modules"
  CC=$cc CXX=$cxx prebuildify --cwd "$stage" --napi --strip --strip-bin "$strip" --tag-libc --arch "$arch" --quiet
  kind=$(file -b "$stage/$out")
  if [[ $kind != *"$machine"* ]]; then
    echo "prebuild: $out should be for $machine but is: $kind" >&2
    rm -rf "$stage"
    exit 1
  fi
  mkdir -p "prebuilds/linux-$arch"
  cp "$stage/$out" "$out"
  rm -rf "$stage"
done
