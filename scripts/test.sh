#!/usr/bin/env bash
# Builds Kiln and runs every test (lit text tests and gtest unit tests through lit), and the
# libFuzzer targets' smoke run (test/fuzz/*.test: built with ASan and UBSan in build-fuzz-smoke/,
# every seed file of the project through them, then a few seconds of fuzzing each); ends with one
# line `N passed, N failed`.
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
fuzz_parameters=()
fuzz_failures=0
if bash scripts/fuzz.sh --prepare; then
  fuzz_parameters=(--param fuzz_build=build-fuzz-smoke)
else
  echo "test.sh: the fuzz targets did not build (scripts/fuzz.sh --prepare)" >&2
  fuzz_failures=1
fi
results=$build/test-results.xml
rm -f "$results"
/usr/bin/python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv --xunit-xml-output="$results" "${fuzz_parameters[@]}" \
  "$build/test" "$build/test/unit"
lit_status=$?
/usr/bin/python3 scripts/count-results.py "$results" "$fuzz_failures" || exit 1
exit $lit_status
