#!/usr/bin/env bash
# Installs the benchmark peers (oneDNN, libxsmm, OpenBLAS, PyTorch) and hyperfine; idempotent. Not part of CI.
set -euo pipefail

packages=(libdnnl-dev libxsmm-dev libopenblas-dev hyperfine python3-torch)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bench setup: installing ${missing[*]}" >&2
as_root=()
[ "$(id -u)" -ne 0 ] && as_root=(sudo)
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
