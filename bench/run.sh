#!/usr/bin/env bash
# Builds Kiln with the benchmarks and prints the matrix-product table (Kiln, oneDNN, libxsmm,
# OpenBLAS; 1 and 2 threads; % of the FMA peak measured in the same run). Extra arguments go to
# bench/matmul (e.g. --tile-rows 14 --tile-vectors 2). `bench/run.sh loops [--rounds N]` prints the
# loop-kernel table instead (softmax and sums, ns/element and GB/s). Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash bench/setup.sh
cmake -S . -B build -G Ninja -DKILN_WERROR=ON -DKILN_BENCH=ON >/dev/null
if [ "${1:-}" = loops ]; then
  shift
  ninja -C build bench-loops >/dev/null
  exec build/bench/loops "$@"
fi
ninja -C build bench-matmul >/dev/null
build/bench/matmul --fma-peak "${KILN_FMA_PEAK:-../shared/tools/fma-peak}" "$@"
