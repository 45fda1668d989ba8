#!/usr/bin/python3
"""Times attention's forward and backward pass, softmax(q kᵀ / sqrt(d) [+ causal mask]) v and the
gradients of sum(o ∘ g) with respect to q, k and v, compiled by Kiln with its fused attention
kernels, by Kiln with --no-fusion (the formula op by op, the T × T matrices stored), and written
out in PyTorch (bench/peers/torch_attention.py), in the same run, and prints one Markdown table:
median milliseconds, GFLOP/s as a percentage of the FMA peak fma-peak measures in this run, peak
resident memory of each process, and the speed-ups. Run by bench/attention.sh; never a test.

  bench/attention.sh [--shape 4,8,1024,64] [--threads 2] [--budget SECONDS]

FLOPs count the matrix products a forward and backward pass needs, 2 B H T² d for each of the
forward's q kᵀ and p v and the backward's four (dv, dp, dq, dk): 6 in all, also under the causal
mask, which Kiln skips half of and PyTorch computes whole. Kiln's fused backward also recomputes
q kᵀ twice (for the log-sum-exp and for p): those products are not counted.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402  (fma_peaks, time_kiln, peer_environment, load, cpu_name)

ROOT = Path(__file__).resolve().parents[1]

MODEL = """\
# softmax(q kᵀ / sqrt(D) [+ causal mask]) v with q, k, v as parameters, so that @loss_grad is the
# forward pass and the gradients with respect to q, k and v.
dim B = {batch}
dim H = {heads}
dim T = {steps}
dim D = {depth}

model Attention {{
  param q: f32[B, H, T, D] = normal(stddev: 1.0)
  param k: f32[B, H, T, D] = normal(stddev: 1.0)
  param v: f32[B, H, T, D] = normal(stddev: 1.0)
  fn forward(g: f32[B, H, T, D]) -> f32[] {{
    sum(masked_attention(q, k, v, causal: {causal}) * g, axes: [])
  }}
}}

train Attention {{
  input g: f32[B, H, T, D]
  loss = forward(g)
  optimizer = sgd(lr: 0.001)
  batch = B
  epochs = 1
}}
"""


def peak_memory(command, environment=None):
    """(stdout, peak resident bytes) of one process."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"attention.py: {command[0]} failed")
    return output, usage.ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="4,8,1024,64", help="B,H,T,D (default: B·H = 32, T = 1024, d = 64)")
    parser.add_argument("--threads", default="2")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds of timed calls per figure")
    parser.add_argument("--kiln", default=str(ROOT / "build/bin/kiln"))
    parser.add_argument("--fma-peak", default=os.environ.get("KILN_FMA_PEAK", str(ROOT / "../shared/tools/fma-peak")))
    parser.add_argument("--omp-wait-policy", default="PASSIVE")
    parser.add_argument("--openblas-coretype", default="")
    parser.add_argument("--default-malloc", action="store_true")
    arguments = parser.parse_args()
    batch, heads, steps, depth = (int(extent) for extent in arguments.shape.split(","))
    flops = 6 * 2 * batch * heads * steps * steps * depth
    environment = train.peer_environment(arguments)
    peaks = train.fma_peaks(arguments.fma_peak, {})
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for causal in (False, True):
            source = Path(directory) / f"attention-{causal}.kiln"
            source.write_text(MODEL.format(batch=batch, heads=heads, steps=steps, depth=depth,
                                           causal="true" if causal else "false"))
            programs = {}
            for fused in (True, False):
                programs[fused] = Path(directory) / f"attention-{causal}-{fused}"
                subprocess.run([arguments.kiln, "build", str(source), "-o", str(programs[fused])] +
                               ([] if fused else ["--no-fusion"]), check=True)
            for threads in map(int, arguments.threads.split(",")):
                figures = {}
                for fused in (True, False):
                    median, _ = train.time_kiln(programs[fused], "loss_grad", threads, arguments.budget)
                    _, memory = peak_memory([str(programs[fused]), "--threads", str(threads), "time", "--function",
                                             "loss_grad", "--repeat", "1", "--warmup", "0"])
                    figures["fused" if fused else "unfused"] = (median, memory)
                output, memory = peak_memory(
                    [sys.executable, str(ROOT / "bench/peers/torch_attention.py"), "--shape", arguments.shape,
                     "--threads", str(threads), "--budget", str(arguments.budget)] + (["--causal"] if causal else []),
                    environment)
                figures["pytorch"] = (float(re.match(r"median (\S+) s", output).group(1)), memory)
                peaks = train.fma_peaks(arguments.fma_peak, peaks)
                rows.append((causal, threads, figures))
    print(f"Attention forward + backward, B·H = {batch * heads}, T = {steps}, d = {depth}; {train.cpu_name()}; "
          f"load {train.load()}; FMA peak " + ", ".join(f"{gflops:.1f} GFLOP/s at {threads} thread(s)"
                                                        for threads, gflops in sorted(peaks.items())))
    print()
    print("| mask | threads | Kiln fused ms | % of peak | Kiln unfused ms | PyTorch ms | fused / unfused | "
          "fused / PyTorch | peak memory fused / unfused / PyTorch (MB) |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for causal, threads, figures in rows:
        fused, unfused, pytorch = figures["fused"], figures["unfused"], figures["pytorch"]
        percent = 100 * flops / fused[0] / 1e9 / peaks[threads]
        print(f"| {'causal' if causal else 'none'} | {threads} | {fused[0] * 1e3:.1f} | {percent:.0f}% | "
              f"{unfused[0] * 1e3:.1f} | {pytorch[0] * 1e3:.1f} | {unfused[0] / fused[0]:.2f}x | "
              f"{pytorch[0] / fused[0]:.2f}x | {fused[1] / 1e6:.0f} / {unfused[1] / 1e6:.0f} / {pytorch[1] / 1e6:.0f} |")


if __name__ == "__main__":
    main()
