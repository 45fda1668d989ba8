#!/usr/bin/python3
"""check_embed.py PROGRAM_OUTPUT EXPECTED.npy: the scores examples/embed/main.c printed agree with
EXPECTED (rtol 1e-5, atol 1e-6).
check_embed.py --inputs DIR: writes the arguments main.c builds as DIR/NAME.npy, for the reference."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import npy  # noqa: E402


def fill(count, multiplier, modulus, scale):
    """main.c's fill()."""
    return [((i * multiplier) % modulus - modulus // 2) / scale for i in range(count)]


def main(arguments):
    if arguments[0] == "--inputs":
        directory = pathlib.Path(arguments[1])
        directory.mkdir(parents=True, exist_ok=True)
        npy.write(directory / "x.npy", "f32", [32, 64], fill(32 * 64, 7, 23, 16.0))
        npy.write(directory / "hidden.w.npy", "f32", [64, 128], fill(64 * 128, 5, 19, 64.0))
        npy.write(directory / "hidden.b.npy", "f32", [128], fill(128, 1, 5, 8.0))
        npy.write(directory / "output.w.npy", "f32", [128, 10], fill(128 * 10, 3, 17, 64.0))
        npy.write(directory / "output.b.npy", "f32", [10], fill(10, 1, 5, 8.0))
        return 0
    printed = pathlib.Path(arguments[0]).read_text().split("\n")
    _, shape, expected = npy.read(arguments[1])
    rows = [line.split() for line in printed if line.strip()]
    if len(rows) != len(expected):
        print(f"check_embed.py: {len(rows)} scores printed, {len(expected)} expected", file=sys.stderr)
        return 1
    rtol, atol = npy.TOLERANCES["<f4"]
    for row, column, value in rows:
        index = int(row) * shape[1] + int(column)
        if not abs(float(value) - expected[index]) <= atol + rtol * abs(expected[index]):
            print(f"check_embed.py: score [{row}, {column}] is {value}, expected {expected[index]}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
