#!/usr/bin/env bash
# Rewrites test/lit-test-times.txt from the test times lit recorded in build/ (after a full
# scripts/test.sh): a fresh build's first run reads it to start the longest tests first.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# SUITE SECONDS TEST: lit's times of one full run, longest first (test/lit_test_times.py reads it; scripts/lit-test-times.sh writes it)"
  for suite in Kiln:build/test/lit-output Kiln-Unit:build/test/unit; do
    sort -g -r "${suite#*:}/.lit_test_times.txt" | awk -v suite="${suite%%:*}" '{ printf "%s %.1f %s\n", suite, ($1 < 0 ? -$1 : $1), $2 }'
  done
} >test/lit-test-times.txt
echo "test/lit-test-times.txt: $(grep -vc '^#' test/lit-test-times.txt) tests"
