#!/usr/bin/python3
"""The attention formula written out in PyTorch, softmax(q kᵀ / sqrt(d) [+ causal mask]) v, its
forward and backward pass timed in this process: prints `median MEDIAN s min MIN s` for
--threads N. Called by bench/attention.py, which measures the process's peak memory."""
import argparse
import math
import statistics
import time

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", required=True, help="B,H,T,D")
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--budget", type=float, default=5.0)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    batch, heads, steps, depth = (int(extent) for extent in arguments.shape.split(","))
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, heads, steps, depth, generator=generator, requires_grad=True) for _ in range(3))
    g = torch.randn(batch, heads, steps, depth, generator=generator)
    # The standard library's mask: -1e9 above the diagonal, added to the scores.
    mask = torch.triu(torch.full((steps, steps), -1.0e9), diagonal=1) if arguments.causal else None

    def step():
        scores = q @ k.transpose(-1, -2) / math.sqrt(depth)
        if mask is not None:
            scores = scores + mask
        output = torch.softmax(scores, dim=-1) @ v
        (output * g).sum().backward()
        for tensor in (q, k, v):
            tensor.grad = None

    step()
    start = time.perf_counter()
    step()
    estimate = time.perf_counter() - start
    times = []
    for _ in range(max(3, min(50, math.ceil(arguments.budget / max(estimate, 1e-6))))):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(f"median {statistics.median(times)} s min {min(times)} s")


if __name__ == "__main__":
    main()
