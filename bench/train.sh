#!/usr/bin/env bash
# Builds Kiln and prints the training-step table: a training step and an inference step of the
# model zoo compiled by Kiln against the same models in PyTorch (Debian's python3-torch), at 1 and
# 2 threads, as milliseconds per step and % of the FMA peak measured in the same run. Arguments go
# to bench/train.py (e.g. --models mlp-small,gpt --budget 1). Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash bench/setup.sh
cmake -S . -B build -G Ninja -DKILN_WERROR=ON >/dev/null
ninja -C build kiln >/dev/null
exec /usr/bin/python3 bench/train.py --fma-peak "${KILN_FMA_PEAK:-../shared/tools/fma-peak}" "$@"
