#!/usr/bin/env bash
# Builds Kiln and prints the attention table (bench/attention.py): fused attention forward and
# backward against Kiln unfused and PyTorch, in the same run. Arguments go to bench/attention.py.
# Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash bench/setup.sh
cmake -S . -B build -G Ninja -DKILN_WERROR=ON >/dev/null
ninja -C build kiln >/dev/null
exec /usr/bin/python3 bench/attention.py --fma-peak "${KILN_FMA_PEAK:-../shared/tools/fma-peak}" "$@"
