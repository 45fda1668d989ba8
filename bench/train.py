#!/usr/bin/python3
"""Times a training step and an inference step of Kiln-compiled models, fused and built with
--no-fusion, against the same models in PyTorch (bench/peers/torch_models.py), at 1 and 2 threads
in the same run, and prints one Markdown table: median seconds per step, GFLOP/s as a percentage
of the FMA peak that fma-peak measures in this run at that thread count, what fusion gains, and
Kiln's speed over PyTorch's. Run by bench/train.sh, which builds
Kiln first; never part of the tests.

  bench/train.sh [--models mlp-small,gpt,...] [--threads 1,2] [--budget SECONDS]

Kiln's figures come from each built program's `time` command (runtime/Program.cpp), PyTorch's from
one process per model: both time calls in their own process, so that neither start-up nor data
loading counts, and take the median of calls that fill about --budget seconds after warm-up calls.

FLOP counts (the *_flops functions below) count the matrix products only, 2 M N K each: linear layers,
convolutions (as 2 * outputs * inputs per output), the recurrent products and the attention
products q k^T and a v (all T x T of them, also under the causal mask, which neither side skips).
A training step counts 3 times its forward pass (the forward product and two in the backward
pass), the usual convention; elementwise work, reductions and the optimizer are not counted.
"""
import argparse
import dataclasses
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def matmul(rows, columns, inner):
    return 2 * rows * columns * inner


def mlp_flops(batch, inputs, hidden, outputs):
    return matmul(batch, hidden, inputs) + matmul(batch, hidden, hidden) + matmul(batch, outputs, hidden)


def lenet_flops(batch):
    conv1 = 2 * batch * 6 * 28 * 28 * (1 * 5 * 5)
    conv2 = 2 * batch * 16 * 10 * 10 * (6 * 5 * 5)
    return conv1 + conv2 + matmul(batch, 120, 400) + matmul(batch, 84, 120) + matmul(batch, 10, 84)


def recurrent_flops(batch, steps, width, hidden, vocabulary, gates):
    cell = matmul(batch, gates * hidden, width) + matmul(batch, gates * hidden, hidden)
    return steps * cell + matmul(batch * steps, vocabulary, hidden)


def transformer_block_flops(batch, steps, width, hidden):
    projections = 4 * matmul(batch * steps, width, width)  # query, key, value, output
    attention = 2 * matmul(batch * steps, steps, width)  # q k^T and a v, summed over the heads
    return projections + attention + matmul(batch * steps, hidden, width) + matmul(batch * steps, width, hidden)


@dataclasses.dataclass
class Model:
    name: str  # bench/peers/torch_models.py's name for it
    title: str
    source: str
    kiln_model: str  # --model, or "" for the file's first
    dims: dict
    forward_flops: int


MODELS = [
    Model("mlp-small", "MLP 64-128-128-10, b32", "bench/models/mlp.kiln", "", {"B": 32, "I": 64, "H": 128, "O": 10},
          mlp_flops(32, 64, 128, 10)),
    Model("mlp-large", "MLP 784-256-256-10, b64", "bench/models/mlp.kiln", "",
          {"B": 64, "I": 784, "H": 256, "O": 10}, mlp_flops(64, 784, 256, 10)),
    Model("lenet", "LeNet-5, b32", "examples/lenet.kiln", "", {"B": 32}, lenet_flops(32)),
    Model("lstm", "char LSTM h128, T32, b16", "examples/char_rnn.kiln", "CharLSTM", {"B": 16, "T": 32, "H": 128},
          recurrent_flops(16, 32, 64, 128, 128, 4)),
    Model("gru", "char GRU h128, T32, b16", "examples/char_rnn.kiln", "CharGRU", {"B": 16, "T": 32, "H": 128},
          recurrent_flops(16, 32, 64, 128, 128, 3)),
    Model("encoder", "encoder d128, 4 heads, T64, b8", "bench/models/encoder.kiln", "",
          {"B": 8, "T": 64, "W": 128},
          matmul(8 * 64, 128, 8) + 2 * transformer_block_flops(8, 64, 128, 256) + matmul(8, 10, 128)),
    Model("gpt", "GPT 2 blocks d128, 4 heads, T128, b8", "examples/gpt.kiln", "", {"B": 8, "T": 128, "W": 128},
          2 * transformer_block_flops(8, 128, 128, 512) + matmul(8 * 128, 128, 128)),
]
STEPS = {"train": ("training", "train_step", 3), "infer": ("inference", "forward", 1)}


def run(command, **options):
    return subprocess.run(command, check=True, text=True, capture_output=True, **options).stdout


def fma_peaks(tool, peaks):
    """Runs fma-peak and keeps, per thread count, the highest figure seen in this run."""
    for line in run([tool]).splitlines():
        found = re.match(r"fma peak (\S+), (\d+) thread\(s\): ([\d.]+) GFLOP/s", line)
        if found:
            threads, gflops = int(found.group(2)), float(found.group(3))
            peaks[threads] = max(peaks.get(threads, 0.0), gflops)
    return peaks


def build(kiln, model, directory, fused):
    program = directory / (model.name if fused else f"{model.name}-unfused")
    source = ROOT / model.source
    if program.exists() and program.stat().st_mtime > max(source.stat().st_mtime, Path(kiln).stat().st_mtime):
        return program
    command = [kiln, "build", str(source), "-o", str(program)] + ([] if fused else ["--no-fusion"])
    if model.kiln_model:
        command += ["--model", model.kiln_model]
    for dim, size in model.dims.items():
        command += ["--dim", f"{dim}={size}"]
    run(command)
    return program


def time_kiln(program, function, threads, budget):
    """(median, min) seconds per call of `prog time`, with as many calls as fill `budget`."""
    def call(repeat, warmup):
        line = run([str(program), "--threads", str(threads), "time", "--function", function, "--repeat", str(repeat),
                    "--warmup", str(warmup)])
        found = re.match(r"@\S+: median (\S+) s, min (\S+) s per call", line)
        if not found:
            raise SystemExit(f"train.py: unexpected output of {program} time: {line!r}")
        return float(found.group(1)), float(found.group(2))

    estimate = call(1, 1)[1]
    return call(max(7, min(1000, math.ceil(budget / max(estimate, 1e-7)))), 3)


def peer_environment(arguments):
    """The environment of the PyTorch processes, each setting PyTorch's better one here:
    OPENBLAS_CORETYPE only when --openblas-coretype names one (else OpenBLAS detects the CPU,
    whatever the calling shell set); OMP_WAIT_POLICY from --omp-wait-policy (PASSIVE: on a busy
    machine, ATen's OpenMP threads spinning beside OpenBLAS's own made PyTorch's 2-thread steps up
    to 10 times slower); and glibc's malloc thresholds raised to 1 GB, unless --default-malloc,
    so that the tensors a step frees stay in the heap (with the defaults, large ones went back to
    the kernel every step and the page faults made the 784-256-256-10 MLP's training step 5 times
    slower). Kiln's programs allocate their arena once."""
    environment = {name: value for name, value in os.environ.items() if name != "OPENBLAS_CORETYPE"}
    if not arguments.default_malloc:
        environment.update(MALLOC_MMAP_THRESHOLD_=str(1 << 30), MALLOC_TRIM_THRESHOLD_=str(1 << 30))
    if arguments.openblas_coretype:
        environment["OPENBLAS_CORETYPE"] = arguments.openblas_coretype
    if arguments.omp_wait_policy:
        environment["OMP_WAIT_POLICY"] = arguments.omp_wait_policy
    return environment


def time_torch(model, threads, budget, environment):
    """{(step, threads): (median, min)} from one PyTorch process for the model."""
    output = run([sys.executable, str(ROOT / "bench/peers/torch_models.py"), "--model", model.name, "--threads",
                  ",".join(map(str, threads)), "--budget", str(budget)], env=environment)
    figures = {}
    for line in output.splitlines():
        _, _, step, count, _, median, _, fastest, _, _ = line.split()
        figures[(step, int(count))] = (float(median), float(fastest))
    return figures


def load():
    return ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(model.name for model in MODELS),
                        help="comma-separated, of: " + ", ".join(model.name for model in MODELS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of timed calls per figure and side")
    parser.add_argument("--kiln", default=str(ROOT / "build/bin/kiln"))
    parser.add_argument("--openblas-coretype", default="",
                        help="OpenBLAS's kernels for PyTorch (e.g. Haswell, SkylakeX); default: detected")
    parser.add_argument("--omp-wait-policy", default="PASSIVE", help="OMP_WAIT_POLICY for PyTorch ('' to inherit)")
    parser.add_argument("--default-malloc", action="store_true", help="keep glibc's malloc thresholds for PyTorch")
    parser.add_argument("--fma-peak", default=os.environ.get("KILN_FMA_PEAK", str(ROOT / "../shared/tools/fma-peak")))
    arguments = parser.parse_args()
    names = arguments.models.split(",")
    unknown = [name for name in names if name not in {model.name for model in MODELS}]
    if unknown:
        parser.error(f"no model {', '.join(unknown)} (the models: {', '.join(model.name for model in MODELS)})")
    models = [model for model in MODELS if model.name in names]
    threads = [int(count) for count in arguments.threads.split(",")]

    environment = peer_environment(arguments)
    directory = ROOT / "build/bench/train"
    directory.mkdir(parents=True, exist_ok=True)
    started, load_before = time.time(), load()
    programs = {(model.name, fused): build(arguments.kiln, model, directory, fused)
                for model in models for fused in (True, False)}
    peaks = fma_peaks(arguments.fma_peak, {})

    # Per model: Kiln's figures (fused, then unfused), then PyTorch's, so that a change in the
    # machine's load between models affects every side alike.
    results = {}
    for model in models:
        for count in threads:
            for step, (_, function, _) in STEPS.items():
                for fused, side in ((True, "kiln"), (False, "unfused")):
                    results[(model.name, step, count, side)] = time_kiln(programs[(model.name, fused)], function,
                                                                         count, arguments.budget)
        for key, figure in time_torch(model, threads, arguments.budget, environment).items():
            results[(model.name, *key, "torch")] = figure
        peaks = fma_peaks(arguments.fma_peak, peaks)
        print(f"train.py: {model.name} done", file=sys.stderr)

    describe = [sys.executable, str(ROOT / "bench/peers/torch_models.py"), "--describe"]
    blas = run(describe, env=environment).splitlines()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {load_before} before, {load()} after "
          f"({time.time() - started:.0f} s)")
    print(f"FMA peak (fma-peak, best of its {len(models) + 1} runs, before and after each model): " +
          ", ".join(f"{peaks[count]:.1f} GFLOP/s on {count} thread(s)" for count in sorted(peaks)))
    print(f"PyTorch: {blas[0] if blas else 'no OpenBLAS loaded'}; "
          f"OPENBLAS_CORETYPE={environment.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OMP_WAIT_POLICY={environment.get('OMP_WAIT_POLICY', '(unset)')}, "
          f"MALLOC_TRIM_THRESHOLD_={environment.get('MALLOC_TRIM_THRESHOLD_', '(unset)')}")
    print()
    print("| model | step | threads | Kiln ms | unfused ms | PyTorch ms | Kiln GFLOP/s (% peak) "
          "| PyTorch GFLOP/s (% peak) | fusion gain | Kiln/PyTorch |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for model in models:
        for step, (title, _, factor) in STEPS.items():
            for count in threads:
                kiln = results[(model.name, step, count, "kiln")][0]
                unfused = results[(model.name, step, count, "unfused")][0]
                torch = results[(model.name, step, count, "torch")][0]
                flops = factor * model.forward_flops

                def speed(seconds):
                    gflops = flops / seconds / 1e9
                    return f"{gflops:.1f} ({100 * gflops / peaks[count]:.1f}%)"

                print(f"| {model.title} | {title} | {count} | {1e3 * kiln:.3f} | {1e3 * unfused:.3f} "
                      f"| {1e3 * torch:.3f} | {speed(kiln)} | {speed(torch)} | {unfused / kiln:.2f} | {torch / kiln:.2f} |")
    print()
    print("Times are medians per step; fusion gain is the unfused program's time over the fused one's, "
          "Kiln/PyTorch PyTorch's time over Kiln's (above 1: Kiln is faster). "
          "GFLOP/s count the matrix products only (bench/train.py), a training step as 3 forward passes.")


if __name__ == "__main__":
    main()
