#!/usr/bin/env bash
# Builds Kiln and runs every test (lit text tests and gtest unit tests through lit); ends with
# one line `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh || { echo "0 passed, 1 failed"; exit 1; }
results=build/test-results.xml
rm -f "$results"
/usr/bin/python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv --xunit-xml-output="$results" \
  build/test build/test/unit
lit_status=$?
/usr/bin/python3 scripts/count-results.py "$results" || exit 1
exit $lit_status
