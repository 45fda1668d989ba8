#!/usr/bin/env bash
# Installs what is missing, then configures and builds Kiln into build/ (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DKILN_WERROR=ON >/dev/null
ninja -C build "$@"
