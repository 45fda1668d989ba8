"""A kiln-opt with a planted bug, for the tests of the random-graph driver and reducer: runs the
real kiln-opt (the first argument) on the rest, then, for a --jit run of a module with a sigmoid,
scales every float result it wrote by 1.001.
Usage: wrong_jit.py KILN-OPT ARGUMENTS..."""
import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "cpu", "Inputs"))
import npy  # noqa: E402

DTYPES = {descriptor: dtype for dtype, descriptor in npy.DESCRIPTORS.items()}


def main(arguments):
    status = subprocess.run(arguments).returncode
    modules = [argument for argument in arguments[1:] if argument.endswith(".kir")]
    outputs = [argument.split("=", 1)[1] for argument in arguments if argument.startswith("--output=")]
    outputs += [arguments[i + 1] for i, argument in enumerate(arguments[:-1]) if argument == "--output"]
    if status != 0 or "--jit" not in arguments or not modules or not outputs:
        return status
    with open(modules[0]) as file:
        if " = sigmoid " not in file.read():
            return status
    for path in glob.glob(os.path.join(outputs[0], "result*.npy")):
        descriptor, shape, values = npy.read(path)
        if descriptor in ("<f4", "<f8"):
            npy.write(path, DTYPES[descriptor], shape, [value * 1.001 for value in values])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
