#!/usr/bin/env bash
# Configures the sanitizer build shared by scripts/test.sh --sanitize and scripts/fuzz.sh: clang-19
# with ASan, UBSan and libFuzzer's coverage instrumentation, in the directory given (no -Werror:
# clang's warnings are not the ones the GCC build is kept clean of).
set -euo pipefail
cd "$(dirname "$0")/.."
# -O1, as libFuzzer's documentation builds: against -O2 it takes a quarter off the build, which
# scripts/test.sh makes for the fuzz smoke run on every CI run.
cmake -S . -B "${1:-build-sanitize}" -G Ninja -DKILN_SANITIZE=ON -DKILN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" \
  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
