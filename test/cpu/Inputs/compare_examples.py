#!/usr/bin/python3
"""Runs @forward and @loss_grad of every example three ways and compares each with the reference
interpreter: in the JIT (`kiln run`), and in a program built by `kiln build -o`.

For each example: `kiln build --emit=grad-ir` gives the IR the interpreter runs (`kiln-opt
--run`); the arguments are seeded pseudo-random .npy files (floats in [-1, 1), parameters scaled
by 1/sqrt of their first extent, integers in [0, 8)); every result must agree with the
interpreter's within rtol 1e-5, atol 1e-6 (f32) and rtol 1e-12, atol 1e-14 (f64).

A func with an op that has no lowering rule yet is left out of the program with a warning by
`kiln build`; such a function is reported as SKIP with the warning's reason, so that it is
compared as soon as its ops lower. Prints one line per example and function:
  <example> @<function>: PASS | SKIP (<reason>) | FAIL (<reason>)
and exits 1 if any failed."""
import argparse
import pathlib
import random
import re
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import npy  # noqa: E402

FUNCTIONS = ["forward", "loss_grad"]
SIGNATURE = re.compile(r"^func @(\w+)\((.*)\) -> ")
ARGUMENT = re.compile(r"(?:(input|label|param|state) )?%([\w.]+): (\w+)\[([\d,]*)\]")


def run(command):
    return subprocess.run(command, capture_output=True, text=True)


def arguments_of(ir_text, function):
    for line in ir_text.splitlines():
        match = SIGNATURE.match(line)
        if match and match.group(1) == function:
            return [(role, name, dtype, [int(e) for e in shape.split(",") if e])
                    for role, name, dtype, shape in ARGUMENT.findall(match.group(2))]
    return None


def write_inputs(directory, example, arguments):
    generator = random.Random(f"{example}")
    inputs = []
    for role, name, dtype, shape in arguments:
        count = 1
        for extent in shape:
            count *= extent
        if dtype in ("f32", "f64"):
            scale = 1.0 / max(shape[0], 1) ** 0.5 if role == "param" and shape else 1.0
            values = [generator.uniform(-1.0, 1.0) * scale for _ in range(count)]
        elif dtype == "i1":
            values = [generator.random() < 0.5 for _ in range(count)]
        else:
            values = [generator.randrange(8) for _ in range(count)]
        path = directory / f"{name}.npy"
        npy.write(path, dtype, shape, values)
        inputs += ["--input", f"{name}={path}"]
    return inputs


def compare_directories(actual, expected):
    expected_files = sorted(expected.glob("result*.npy"))
    actual_files = sorted(actual.glob("result*.npy"))
    if [f.name for f in actual_files] != [f.name for f in expected_files]:
        return f"results {[f.name for f in actual_files]} against {[f.name for f in expected_files]}"
    for actual_file, expected_file in zip(actual_files, expected_files):
        rtol, atol = npy.TOLERANCES.get(npy.read(expected_file)[0], (0.0, 0.0))
        problem = npy.compare(actual_file, expected_file, rtol, atol)
        if problem:
            return f"{actual_file.parent.name}/{actual_file.name}: {problem}"
    return None


def check_example(kiln, kiln_opt, model, work):
    name = model.stem
    directory = work / name
    directory.mkdir(parents=True, exist_ok=True)
    ir_path = directory / f"{name}.kir"
    built = run([kiln, "build", str(model), "--emit=grad-ir", "-o", str(ir_path)])
    if built.returncode != 0:
        return [f"{name}: FAIL (kiln build --emit=grad-ir: {built.stderr.strip()})"]
    ir_text = ir_path.read_text()
    program = directory / "program"
    linked = run([kiln, "build", str(model), "-o", str(program)])
    left_out = dict(re.findall(r"kiln: warning: @(\w+) is left out: (.*)", linked.stderr))
    lines = []
    for function in FUNCTIONS:
        arguments = arguments_of(ir_text, function)
        if arguments is None:
            continue
        label = f"{name} @{function}"
        if function in left_out:
            lines.append(f"{label}: SKIP ({left_out[function]})")
            continue
        if linked.returncode != 0:
            lines.append(f"{label}: FAIL (kiln build -o: {linked.stderr.strip()})")
            continue
        inputs_directory = directory / f"{function}-inputs"
        inputs_directory.mkdir(exist_ok=True)
        inputs = write_inputs(inputs_directory, f"{name}/{function}", arguments)
        outputs = {way: directory / f"{function}-{way}" for way in ("interpreter", "jit", "program")}
        commands = {
            "interpreter": [kiln_opt, str(ir_path), "--run", "--function", function, *inputs,
                            "--output", str(outputs["interpreter"])],
            "jit": [kiln, "run", str(model), "--function", function, *inputs, "--output", str(outputs["jit"])],
            "program": [str(program), "run", "--function", function, *inputs, "--output", str(outputs["program"])],
        }
        problem = None
        for way, command in commands.items():
            result = run(command)
            if result.returncode != 0:
                problem = f"{way}: {result.stderr.strip()}"
                break
        for way in ("jit", "program"):
            problem = problem or compare_directories(outputs[way], outputs["interpreter"])
        lines.append(f"{label}: FAIL ({problem})" if problem else f"{label}: PASS")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--kiln-opt", required=True)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    parser.add_argument("examples", nargs="+", type=pathlib.Path)
    options = parser.parse_args()
    failed = False
    for model in options.examples:
        for line in check_example(options.kiln, options.kiln_opt, model, options.work):
            print(line, flush=True)
            failed |= ": FAIL" in line
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
