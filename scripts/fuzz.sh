#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz (clang-19, ASan + UBSan) into build-sanitize/ and runs
# TARGET, or every target in turn, for SECONDS each (default 30). Corpora grow in
# build-sanitize/corpus/TARGET across runs, seeded each time from examples/ and test/; a crashing
# input lands in build-sanitize/findings/TARGET/. Ends with one line per target: executions,
# executions per second, crashes; exits 1 if any target crashed.
# --prepare: only build every target (at -O0, in build-fuzz-smoke/) and write the seeds and
# dictionaries, for the smoke run that scripts/test.sh gives lit (test/fuzz/*.test: every seed,
# then a few seconds of fuzzing each).
# Usage: scripts/fuzz.sh [frontend|ir|npy|npz|idx|checkpoint|all] [SECONDS] | scripts/fuzz.sh --prepare
set -euo pipefail
cd "$(dirname "$0")/.."
all_targets=(frontend ir npy npz idx checkpoint)
prepare_only=false
if [ "${1:-}" = --prepare ]; then
  prepare_only=true
  set -- all
fi
which=${1:-all}
seconds=${2:-30}
if [ "$which" = all ]; then
  targets=("${all_targets[@]}")
elif [[ " ${all_targets[*]} " == *" $which "* ]]; then
  targets=("$which")
else
  echo "fuzz.sh: unknown target '$which' (expected one of: ${all_targets[*]} all, or --prepare)" >&2
  exit 2
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2; }

bash scripts/setup.sh
if $prepare_only; then
  build=build-fuzz-smoke
  bash scripts/configure-sanitize.sh "$build" 0
else
  build=build-sanitize  # shared with scripts/test.sh --sanitize
  bash scripts/configure-sanitize.sh "$build"
fi
nice -n 10 ninja -C "$build" "${targets[@]/#/fuzz-}"

# Seeds: the project's own files of each format. Models and IR come from examples and tests;
# .npy files from the golden tests; .npz archives, small IDX files and checkpoints are made here.
seeds="$build/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{frontend,ir,npy,npz,idx,checkpoint}
find examples test frontend/stdlib -name '*.kiln' -exec cp --backup=numbered -t "$seeds/frontend" {} +
find examples test -name '*.kir' -exec cp --backup=numbered -t "$seeds/ir" {} +
find test -name '*.npy' -size -64k -exec cp --backup=numbered -t "$seeds/npy" {} +
/usr/bin/python3 - "$seeds" <<'PYTHON'
import glob, gzip, os, struct, sys, zipfile
seeds = sys.argv[1]
npys = sorted(glob.glob(os.path.join(seeds, "npy", "*")))[:6]
for method, name in ((zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")):
    with zipfile.ZipFile(os.path.join(seeds, "npz", name + ".npz"), "w", method) as archive:
        for i, path in enumerate(npys[:3]):
            archive.write(path, "array%d.npy" % i)
# IDX: u8 images and labels shaped like Fashion-MNIST's, and one file of each other element type.
def idx(code, shape, data):
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + data
files = {
    "images.idx": idx(0x08, [2, 4, 4], bytes(range(32))),
    "labels.idx": idx(0x08, [4], bytes([9, 0, 3, 7])),
    "i8.idx": idx(0x09, [2], b"\x80\x7f"),
    "i16.idx": idx(0x0B, [2], struct.pack(">hh", -2, 300)),
    "i32.idx": idx(0x0C, [1, 2], struct.pack(">ii", -7, 1 << 30)),
    "f32.idx": idx(0x0D, [2], struct.pack(">ff", 1.5, -0.0)),
    "f64.idx": idx(0x0E, [1], struct.pack(">d", 3.25)),
}
for name, data in files.items():
    with open(os.path.join(seeds, "idx", name), "wb") as out:
        out.write(data)
    with open(os.path.join(seeds, "idx", name + ".gz"), "wb") as out:
        out.write(gzip.compress(data))
# Checkpoints (runtime/Checkpoint.h): a header member, then one .npy member per tensor, as files and
# as the member descriptions fuzz-checkpoint archives itself (an odd first byte, then the header and
# "\n=====\n" NAME "\n" BYTES per member).
def npy(descr, shape, data):
    shape_text = "(%s)" % "".join("%d," % n for n in shape) if len(shape) == 1 else "(%s)" % ", ".join(map(str, shape))
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data
tensors = [
    ("hidden.weight", "parameter", "f32[2,3]", npy("<f4", [2, 3], struct.pack("<6f", 1, -2, 0.5, 0, -0.0, 3))),
    ("adam.step", "state", "i64[]", npy("<i8", [], struct.pack("<q", 7))),
    ("adam.m.hidden.weight", "state", "f64[1,2]", npy("<f8", [1, 2], struct.pack("<2d", 0.25, -1))),
    ("tokens", "input", "i32[2]", npy("<i4", [2], struct.pack("<2i", 3, -4))),
    ("mask", "label", "i1[3]", npy("|b1", [3], bytes([1, 0, 1]))),
]
def header(chosen):
    lines = ["kiln-checkpoint 1", "model DigitClassifier", "field epoch 3", "field batch 0"]
    lines += ["tensor %s %s %s" % (name, role, kind) for name, role, kind, _ in chosen]
    return ("\n".join(lines) + "\n").encode()
for name, chosen, method in (("small.ckpt", tensors[:1], zipfile.ZIP_STORED), ("all.ckpt", tensors, zipfile.ZIP_STORED),
                             ("deflated.ckpt", tensors, zipfile.ZIP_DEFLATED), ("empty.ckpt", [], zipfile.ZIP_STORED)):
    with zipfile.ZipFile(os.path.join(seeds, "checkpoint", name), "w", method) as archive:
        archive.writestr("kiln-checkpoint.txt", header(chosen))
        for tensor, _, _, data in chosen:
            archive.writestr(tensor + ".npy", data)
    with open(os.path.join(seeds, "checkpoint", name + ".members"), "wb") as out:
        out.write(b"\x01" + header(chosen) + b"".join(b"\n=====\n" + t.encode() + b".npy\n" + d for t, _, _, d in chosen))
PYTHON
labels=/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
[ -f "$labels" ] && cp "$labels" "$seeds/idx/"

# Dictionaries: the syntax tokens of each language, plus the op mnemonics from the op table.
operations=$(grep -o 'KILN_OP([A-Za-z0-9]*, "[a-z_0-9]*"' ir/Ops.def | sed 's/.*, //')
{ cat test/fuzz/kiln.dict; echo "$operations"; } >"$build/kiln.dict"
{ cat test/fuzz/kir.dict; echo "$operations"; } >"$build/kir.dict"
cp test/fuzz/checkpoint.dict "$build/checkpoint.dict"
declare -A dictionary=([frontend]="$build/kiln.dict" [ir]="$build/kir.dict" [checkpoint]="$build/checkpoint.dict")
$prepare_only && exit 0

summary=()
status=0
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target"
  findings="$build/findings/$target"
  log="$build/fuzz-$target.log"
  mkdir -p "$corpus" "$findings"
  options=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
           -artifact_prefix="$findings/")
  [ -n "${dictionary[$target]:-}" ] && options+=(-dict="${dictionary[$target]}")
  echo "fuzz.sh: fuzz-$target for ${seconds}s (log: $log)" >&2
  if nice -n 10 "$build/bin/fuzz-$target" "${options[@]}" "$corpus" "$seeds/$target" >"$log" 2>&1; then
    result=ok
  else
    result="CRASHED: $(ls -t "$findings" | head -1)"
    status=1
  fi
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  per_second=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  summary+=("fuzz-$target: ${executions:-0} executions, ${per_second:-0}/s, corpus $(ls "$corpus" | wc -l), $result")
done
printf '%s\n' "${summary[@]}"
exit $status
