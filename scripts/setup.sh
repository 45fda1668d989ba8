#!/usr/bin/env bash
# Installs what Kiln needs to build and test on Debian bookworm; idempotent and quick when all is present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build python3 clang-format
  llvm-19-dev llvm-19-tools
  libfmt-dev librange-v3-dev libgtest-dev
  zlib1g-dev libzstd-dev libxml2-dev libedit-dev libffi-dev libncurses-dev
  libzip-dev pkgconf      # .npz archives in runtime/Npz.cpp (found through pkg-config)
  dataset-fashion-mnist   # the IDX reader's test on real files; LeNet-5's training data
  bible-kjv               # the text the character models train on (scripts/make-kjv.sh)
  clang-19 libclang-rt-19-dev  # the compiler of scripts/build.sh; libFuzzer and the sanitizers
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
as_root=()
[ "$(id -u)" -ne 0 ] && as_root=(sudo)
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
