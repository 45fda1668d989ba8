#!/usr/bin/env bash
# Configures the sanitizer build shared by scripts/test.sh --sanitize and scripts/fuzz.sh: clang-19
# with ASan, UBSan and libFuzzer's coverage instrumentation, in the directory given (no -Werror:
# clang's warnings are not the ones the GCC build is kept clean of).
set -euo pipefail
cd "$(dirname "$0")/.."
# Usage: configure-sanitize.sh [DIR] [LEVEL]. LEVEL is clang's optimisation level, 1 by default
# (as libFuzzer's documentation builds; against -O2 it takes a quarter off the build). The fuzz
# smoke run that scripts/test.sh makes on every CI run builds at 0, three times faster again with
# UBSan's checks, and only runs the seeds and a few seconds of fuzzing.
level=${2:-1}
cmake -S . -B "${1:-build-sanitize}" -G Ninja -DKILN_SANITIZE=ON -DKILN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O$level -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O$level -DNDEBUG" \
  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
