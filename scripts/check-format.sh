#!/usr/bin/env bash
# Fails, listing the files, when a C++ source of Kiln differs from what clang-format makes of it
# (.clang-format at the top). `scripts/check-format.sh --fix` reformats them instead.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t sources < <(find backends bench frontend ir passes runtime test/fuzz test/unit tools -name '*.cpp' -o -name '*.h' | sort)
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${sources[@]}"
  exit 0
fi
unformatted=()
for source in "${sources[@]}"; do
  clang-format --dry-run --Werror "$source" >/dev/null 2>&1 || unformatted+=("$source")
done
if [ ${#unformatted[@]} -ne 0 ]; then
  echo "not formatted (run scripts/check-format.sh --fix): ${unformatted[*]}"
  exit 1
fi
echo "${#sources[@]} sources formatted"
