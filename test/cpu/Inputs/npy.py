"""Reads and writes the .npy files of the CPU tests without NumPy: version 1.0, C order, the
dtypes Kiln uses (f4, f8, i4, i8, b1), and compares two files within a tolerance."""
import ast
import math
import struct

FORMATS = {"<f4": "f", "<f8": "d", "<i4": "i", "<i8": "q", "|b1": "?"}
DESCRIPTORS = {"f32": "<f4", "f64": "<f8", "i32": "<i4", "i64": "<i8", "i1": "|b1"}
# (rtol, atol) per float descriptor: the CPU tests' agreement with the interpreter; integers exact.
TOLERANCES = {"<f4": (1e-5, 1e-6), "<f8": (1e-12, 1e-14)}


def write(path, dtype, shape, values):
    """Writes `values` (a flat list) as a tensor of Kiln dtype `dtype` and `shape`."""
    descriptor = DESCRIPTORS[dtype]
    shape_text = "(" + "".join(f"{extent}," for extent in shape) + ")" if len(shape) != 1 else f"({shape[0]},)"
    header = f"{{'descr': '{descriptor}', 'fortran_order': False, 'shape': {shape_text}, }}"
    header += " " * ((64 - (len(header) + 11) % 64) % 64) + "\n"
    with open(path, "wb") as file:
        file.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        file.write(struct.pack("<" + FORMATS[descriptor] * len(values), *values))


def read(path):
    """Returns (descriptor, shape, flat list of values)."""
    with open(path, "rb") as file:
        data = file.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file")
    if data[6] == 1:
        length, start = struct.unpack("<H", data[8:10])[0], 10
    else:
        length, start = struct.unpack("<I", data[8:12])[0], 12
    header = ast.literal_eval(data[start:start + length].decode("latin1"))
    count = math.prod(header["shape"])
    code = FORMATS[header["descr"]]
    values = struct.unpack_from("<" + code * count, data, start + length)
    return header["descr"], tuple(header["shape"]), list(values)


def compare(actual_path, expected_path, rtol, atol):
    """None when the files agree (same dtype and shape, every element within atol + rtol * |expected|,
    NaN where NaN is expected), else a sentence saying where they differ."""
    actual, expected = read(actual_path), read(expected_path)
    if actual[:2] != expected[:2]:
        return f"{actual_path} holds {actual[0]}{list(actual[1])}, {expected_path} {expected[0]}{list(expected[1])}"
    for index, (a, e) in enumerate(zip(actual[2], expected[2])):
        if isinstance(e, float) and math.isnan(e):
            if not math.isnan(a):
                return f"element {index}: {a} where {expected_path} has NaN"
            continue
        error = abs(a - e)
        if not error <= atol + rtol * abs(e):
            return f"element {index}: {a} against {e} (error {error:.3g}, allowed {atol + rtol * abs(e):.3g})"
    return None


def main(arguments):
    """npy.py random FILE DTYPE SHAPE SEED [SCALE]
                                            writes seeded values (floats in [-1, 1) times SCALE, integers
                                            in [0, 8)); weights scaled by 1/sqrt(fan-in) keep sums near 1,
                                            where f32 rounding is within the tolerance whatever the order
    npy.py compare ACTUAL EXPECTED          exits 1, saying where, unless they agree (rtol 1e-5, atol 1e-6
                                            for f32; 1e-12, 1e-14 for f64; exact for integers)
    npy.py identical ACTUAL EXPECTED        the same, every element exactly equal"""
    import random
    import sys
    if len(arguments) in (5, 6) and arguments[0] == "random":
        _, path, dtype, shape_text, seed = arguments[:5]
        scale = float(arguments[5]) if len(arguments) == 6 else 1.0
        shape = [int(extent) for extent in shape_text.split(",") if extent]
        generator = random.Random(int(seed))
        count = math.prod(shape)
        if dtype in ("f32", "f64"):
            values = [generator.uniform(-1.0, 1.0) * scale for _ in range(count)]
        elif dtype == "i1":
            values = [generator.random() < 0.5 for _ in range(count)]
        else:
            values = [generator.randrange(8) for _ in range(count)]
        write(path, dtype, shape, values)
        return 0
    if len(arguments) == 3 and arguments[0] in ("compare", "identical"):
        descriptor = read(arguments[2])[0]
        rtol, atol = TOLERANCES.get(descriptor, (0.0, 0.0)) if arguments[0] == "compare" else (0.0, 0.0)
        problem = compare(arguments[1], arguments[2], rtol, atol)
        if problem:
            print(f"npy.py: {arguments[1]} and {arguments[2]} differ: {problem}", file=sys.stderr)
            return 1
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
