# Mutation test of the frontend: builds mechanical variants of model files (a line deleted,
# duplicated or swapped; a token deleted, duplicated or swapped; a number changed) and checks that
# `kiln build` either succeeds or reports a located error with exit code 1: never a signal,
# a hang or an internal compiler error.
import argparse
import concurrent.futures
import os
import random
import re
import subprocess
import sys

TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+\.\d*|\d+|\.\.\.|\.\.|->|==|!=|<=|>=|\S")
LOCATED_ERROR = re.compile(rb":\d+:\d+: error: |kiln: error: ")
ODD_NUMBERS = [0, 1, 2, 3, 7, 64, -1, 100000, 99999999999, 2**62, 2**63]


def mutate(source: str, rng: random.Random) -> str:
    lines = source.split("\n")
    kind = rng.randrange(7)
    if kind == 0:
        del lines[rng.randrange(len(lines))]
        return "\n".join(lines)
    if kind == 1:
        lines.insert(rng.randrange(len(lines)), lines[rng.randrange(len(lines))])
        return "\n".join(lines)
    if kind == 2:
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]
        return "\n".join(lines)
    tokens = [(m.start(), m.end()) for m in TOKEN.finditer(source)]
    start, end = rng.choice(tokens)
    if kind == 3:
        return source[:start] + source[end:]
    if kind == 4:
        other_start, other_end = rng.choice(tokens)
        return source[:start] + source[other_start:other_end] + source[end:]
    if kind == 5:
        (first_start, first_end), (second_start, second_end) = sorted([(start, end), rng.choice(tokens)])
        if first_end > second_start:
            return source
        return (source[:first_start] + source[second_start:second_end] + source[first_end:second_start]
                + source[first_start:first_end] + source[second_end:])
    rest = re.sub(r"\d+", lambda m: str(rng.choice(ODD_NUMBERS)), source[start:], count=1)
    return source[:start] + rest


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--work", required=True, help="directory for the variants")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sources = [open(path).read() for path in args.files]
    os.makedirs(args.work, exist_ok=True)
    # The variants are written first, from the seed alone, so a run is reproducible whatever
    # the order in which the workers finish.
    paths = []
    for index in range(args.count):
        path = os.path.join(args.work, f"variant{index}.kiln")
        with open(path, "w") as out:
            out.write(mutate(rng.choice(sources), rng))
        paths.append(path)

    def build(path):
        try:
            result = subprocess.run([args.kiln, "build", path], capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            return path, None
        return path, result

    failures = succeeded = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
        for path, result in pool.map(build, paths):
            if result is None:
                print(f"{path}: timed out")
                failures += 1
                continue
            fine = result.returncode == 0 or (
                result.returncode == 1 and LOCATED_ERROR.search(result.stderr)
                and b"internal compiler error" not in result.stderr)
            if fine:
                succeeded += result.returncode == 0
            else:
                failures += 1
                print(f"{path}: exit code {result.returncode}\n{result.stderr.decode(errors='replace')[-2000:]}")
    print(f"{args.count} variants: {succeeded} built, {args.count - succeeded - failures} rejected with located errors, "
          f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
