#!/usr/bin/env bash
# Writes examples/data/kjv.txt, the King James Bible as plain ASCII (4.3 MB), which the character
# models of examples/char_rnn.kiln and examples/gpt.kiln train on. The text comes from Debian's
# bible-kjv package (installed by scripts/setup.sh); the file is not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v bible > /dev/null || { echo "make-kjv: no 'bible' program; run scripts/setup.sh" >&2; exit 1; }
mkdir -p examples/data
bible "Gen1:1-Rev22:21" > examples/data/kjv.txt.partial
mv examples/data/kjv.txt.partial examples/data/kjv.txt
echo "examples/data/kjv.txt: $(wc -c < examples/data/kjv.txt) bytes"
