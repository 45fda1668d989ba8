#!/usr/bin/env bash
# The long run of random graphs, three ways (scripts/random_graphs/check.py): COUNT graphs from
# seed FIRST (default 10000 from 1000000, past the seeds CI's test/random uses), in batches of 50,
# with the build in build/. Progress every batch; failing graphs land in
# build/random-graphs/failures/ as NAME.json (for scripts/random_graphs/reduce.py) and NAME.kir;
# the last line is the summary. Exits 1 if any graph failed.
# Usage: scripts/random-graphs.sh [COUNT] [FIRST]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
first=${2:-1000000}
for number in "$count" "$first"; do
  [[ "$number" =~ ^[0-9]+$ ]] || { echo "random-graphs.sh: COUNT and FIRST are whole numbers, not '$number'" >&2; exit 2; }
done
[ -x build/bin/kiln-opt ] && [ -x build/bin/kiln ] || { echo "random-graphs.sh: build first (scripts/build.sh)" >&2; exit 2; }
exec nice -n 10 /usr/bin/python3 scripts/random_graphs/check.py --kiln-opt build/bin/kiln-opt --kiln build/bin/kiln \
  --seed "$first" --count "$count" --batch 50 --work build/random-graphs
