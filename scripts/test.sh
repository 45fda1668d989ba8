#!/usr/bin/env bash
# Builds Kiln and runs every test (lit text tests and gtest unit tests through lit); ends with
# one line `N passed, N failed`.
# --sanitize: the same suite on a clang-19 build with AddressSanitizer and UndefinedBehaviorSanitizer
# in build-sanitize/ (any report fails its test); it takes far longer, so it is not the default.
# The build also carries libFuzzer's coverage instrumentation: scripts/fuzz.sh builds its
# targets in the same directory, so that two cores compile the project once for both.
set -uo pipefail
cd "$(dirname "$0")/.."
build=build
if [ "${1:-}" = --sanitize ]; then
  build=build-sanitize
  bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
  bash scripts/configure-sanitize.sh "$build" &&
    nice -n 5 ninja -C "$build" || { echo "0 passed, 1 failed"; exit 1; }
  export UBSAN_OPTIONS=print_stacktrace=1
elif [ $# -gt 0 ]; then
  echo "test.sh: unknown argument '$1' (expected nothing or --sanitize)" >&2
  exit 2
else
  bash scripts/build.sh || { echo "0 passed, 1 failed"; exit 1; }
fi
results=$build/test-results.xml
rm -f "$results"
/usr/bin/python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv --xunit-xml-output="$results" \
  "$build/test" "$build/test/unit"
lit_status=$?
/usr/bin/python3 scripts/count-results.py "$results" || exit 1
exit $lit_status
