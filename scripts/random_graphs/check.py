"""Random graphs, three ways: runs generated graphs through every way Kiln evaluates them.

Usage: check.py --kiln-opt PATH --kiln PATH --seed S --count N [--batch B] [--work DIR] [--failures DIR]
                [--checks C1,C2,...] [--scale K] [--quiet]

Each batch of B graphs is one module whose @main calls every graph (graph.batch_text), run by
  interpreter   kiln-opt --run, the reference every other result is compared with
  jit-O0-t1, jit-O0-t2, jit-O3-t1, jit-O3-t2   kiln-opt --jit -O0/-O3 --threads 1/2
  exe-t1, exe-t2   a program built by `kiln build module.kir -o prog`, run at 1 and 2 threads
and compared within the CPU tests' tolerances (test/cpu/Inputs/npy.py: f32 rtol 1e-5, atol 1e-6;
f64 rtol 1e-12, atol 1e-14), and each graph's gradient is checked by `kiln-opt --check-grad` (f64
central differences). A result element is excused from the comparison when the graph is
ill-conditioned there: when the graph's all-f32 and all-f64 versions, both in the interpreter,
differ there by more than a quarter of the f32 tolerance, its own rounding already decides the
last digits, whichever backend runs it. A check-grad failure whose failing elements all sit at
kinks or jumps (kiln-opt says so) is counted apart, not as a failure.

A check that crashes or fails with an error for a batch is rerun graph by graph; each failing
graph is written to the failures directory as NAME.json (for reduce.py) and NAME.kir. The last
lines are the counts per check and outcome, the seconds per tool, and the summary:
`random graphs: N graphs (seeds A..B), F failing, mismatches M, crashes C, errors E, kinks K, ...`.
Stopped early (SIGTERM, Ctrl-C) the run prints them for the graphs it finished. Exit code 1 when
a graph failed.
"""
import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "cpu", "Inputs"))
import npy  # noqa: E402  (the CPU tests' .npy reader, writer and tolerances)

from graph import batch_text, function_text  # noqa: E402

RUN_CHECKS = ("jit-O0-t1", "jit-O0-t2", "jit-O3-t1", "jit-O3-t2", "exe-t1", "exe-t2")
ALL_CHECKS = ("interpreter",) + RUN_CHECKS + ("check-grad",)
TIMEOUT = 600  # seconds per command: a hang is a failure


class Tools:
    def __init__(self, kiln_opt, kiln):
        self.kiln_opt, self.kiln = kiln_opt, kiln


class Outcome:
    """How one check went for one graph: `kind` is ok, kink (check-grad only), mismatch, crash
    (a signal or an assertion), error (a non-zero exit) or hang; `detail` says what happened."""

    def __init__(self, kind, detail=""):
        self.kind, self.detail = kind, detail

    def __repr__(self):
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


SECONDS = {}  # seconds spent per command, by the tool and its mode


def execute(command):
    """(kind, output): ok, crash, error or hang, with stdout and stderr."""
    began = time.time()
    try:
        return run_command(command)
    finally:
        mode = next((word for word in command[1:] if word in ("--run", "--jit", "--check-grad", "build", "run")), "")
        key = f"{os.path.basename(command[0])} {mode}".strip()
        SECONDS[key] = SECONDS.get(key, 0.0) + time.time() - began


def run_command(command):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "hang", f"{' '.join(command)}: no answer after {TIMEOUT} s"
    output = done.stdout + done.stderr
    if done.returncode < 0 or "Stack dump" in output or "Assertion" in output or done.returncode > 2:
        return "crash", f"{' '.join(command)}: exit {done.returncode}\n{output[-3000:]}"
    if done.returncode != 0:
        return "error", f"{' '.join(command)}: exit {done.returncode}\n{output[-3000:]}"
    return "ok", output


def write_inputs(graphs, directory, dtype_map=None):
    """One .npy per argument of @main; returns the --input options."""
    dtype_map = dtype_map or {}
    os.makedirs(directory, exist_ok=True)
    options = []
    for graph in graphs:
        for argument in graph.arguments:
            name = f"{graph.name}_{argument.name}"
            path = os.path.join(directory, name + ".npy")
            npy.write(path, dtype_map.get(argument.type.dtype, argument.type.dtype), argument.type.shape,
                      argument.values)
            options.append(f"--input={name}={path}")
    return options


def write(path, text):
    with open(path, "w") as file:
        file.write(text)


def compare(actual, expected, narrow, wide, precision):
    """None when `actual` agrees with `expected` (npy.read triples) within the tolerances of
    `precision` (a .npy descriptor) wherever the graph is well-conditioned (by its all-f32
    `narrow` and all-f64 `wide` results), else where not."""
    if actual[:2] != expected[:2]:
        return f"holds {actual[0]}{list(actual[1])}, the interpreter {expected[0]}{list(expected[1])}"
    rtol, atol = npy.TOLERANCES.get(precision, (0.0, 0.0))
    narrow_rtol, narrow_atol = npy.TOLERANCES["<f4"]
    for index, (a, e) in enumerate(zip(actual[2], expected[2])):
        if isinstance(e, float) and math.isnan(e) and isinstance(a, float) and math.isnan(a):
            continue
        if abs(a - e) <= atol + rtol * abs(e):
            continue
        w, n = wide[2][index], narrow[2][index]
        if not math.isfinite(a):
            return f"element {index}: {a!r} against {e!r}"
        if not abs(n - w) <= (narrow_atol + narrow_rtol * abs(w)) / 4:
            continue  # ill-conditioned here: excused
        return f"element {index}: {a!r} against {e!r} (error {abs(a - e):.3g}, allowed {atol + rtol * abs(e):.3g})"
    return None


def precision(graph, descriptor):
    """The descriptor whose tolerances a result gets: f32's when the graph computes anything in f32
    (an f64 result of f32 values holds f32 rounding), else the result's own."""
    types = [argument.type for argument in graph.arguments] + [op.type for op in graph.ops]
    return "<f4" if any(tensor_type.dtype == "f32" for tensor_type in types) else descriptor


def excused_count(expected, narrow, wide):
    narrow_rtol, narrow_atol = npy.TOLERANCES["<f4"]
    return sum(1 for index, w in enumerate(wide[2])
               if not abs(narrow[2][index] - w) <= (narrow_atol + narrow_rtol * abs(w)) / 4)


class Batch:
    """A batch of graphs in a work directory, and what each check made of each graph."""

    def __init__(self, tools, graphs, directory, checks=ALL_CHECKS):
        self.tools, self.graphs, self.directory, self.checks = tools, graphs, directory, checks
        self.outcomes = {graph.name: {} for graph in graphs}
        self.excused = 0

    def path(self, name):
        return os.path.join(self.directory, name)

    def run(self):
        shutil.rmtree(self.directory, ignore_errors=True)
        os.makedirs(self.directory)
        write(self.path("module.kir"), batch_text(self.graphs))
        write(self.path("narrow.kir"), batch_text(self.graphs, {"f64": "f32"}))
        write(self.path("wide.kir"), batch_text(self.graphs, {"f32": "f64"}))
        inputs = write_inputs(self.graphs, self.path("inputs"))
        narrow_inputs = write_inputs(self.graphs, self.path("narrow-inputs"), {"f64": "f32"})
        wide_inputs = write_inputs(self.graphs, self.path("wide-inputs"), {"f32": "f64"})
        run = [self.tools.kiln_opt, "--function=main"]
        kind, output = execute(run + ["--run", self.path("module.kir"), "--output", self.path("interpreter")] + inputs)
        if kind != "ok":
            return self.fail_all("interpreter", kind, output)
        for graph in self.graphs:
            self.outcomes[graph.name]["interpreter"] = Outcome("ok")
        for name, module, options in (("narrow", "narrow.kir", narrow_inputs), ("wide", "wide.kir", wide_inputs)):
            kind, output = execute(run + ["--run", self.path(module), "--output", self.path(name)] + options)
            if kind != "ok":
                return self.fail_all("interpreter", kind, f"the {name} version: {output}")
        expected = self.results("interpreter")
        narrow, wide = self.results("narrow"), self.results("wide")
        for graph, values in zip(self.graphs, expected):
            if any(isinstance(v, float) and not math.isfinite(v) for v in values[2]):
                # The generator's intervals should have kept the graph finite.
                self.outcomes[graph.name]["interpreter"] = Outcome("error", "a non-finite result: a generator bug")
        self.excused = sum(excused_count(*triple) for triple in zip(expected, narrow, wide))

        commands = {}
        for level in ("0", "3"):
            for threads in ("1", "2"):
                commands[f"jit-O{level}-t{threads}"] = run + ["--jit", f"-O{level}", f"--threads={threads}",
                                                              self.path("module.kir"), "--output"]
        program = self.path("program")
        if any(check.startswith("exe") for check in self.checks):
            kind, output = execute([self.tools.kiln, "build", self.path("module.kir"), "-o", program])
            if kind != "ok":
                for check in ("exe-t1", "exe-t2"):
                    self.fail_all(check, kind, output)
            else:
                for threads in ("1", "2"):
                    commands[f"exe-t{threads}"] = [program, f"--threads={threads}", "run", "--function=main",
                                                   "--output"]
        for check, command in commands.items():
            if check not in self.checks:
                continue
            kind, output = execute(command + [self.path(check)] + inputs)
            if kind != "ok":
                self.fail_all(check, kind, output)
                continue
            for graph, actual, reference, n, w in zip(self.graphs, self.results(check), expected, narrow, wide):
                problem = compare(actual, reference, n, w, precision(graph, reference[0]))
                self.outcomes[graph.name][check] = Outcome("mismatch", problem) if problem else Outcome("ok")
        if "check-grad" in self.checks:
            self.check_gradients()
        return self

    def results(self, name):
        return [npy.read(self.path(f"{name}/result{index}.npy")) for index in range(len(self.graphs))]

    def fail_all(self, check, kind, detail):
        for graph in self.graphs:
            self.outcomes[graph.name][check] = Outcome(kind, detail)
        return self

    def check_gradients(self):
        write(self.path("gradients.kir"), "\n".join(function_text(graph) for graph in self.graphs))
        kind, output = execute([self.tools.kiln_opt, "--check-grad", self.path("gradients.kir")])
        if kind == "error" and "FAIL" in output and "error:" not in output:
            kind = "ok"  # exit 1: some check failed, as the report says
        if kind != "ok":
            return self.fail_all("check-grad", kind, output)
        reports = {graph.name: [] for graph in self.graphs}
        for line in output.splitlines():
            name = line[1:].split(" ", 1)[0] if line.startswith("@") else None
            if name in reports:
                reports[name].append(line)
        for graph in self.graphs:
            lines = reports[graph.name]
            failing = [line for line in lines if ": FAIL," in line]
            if not lines:
                outcome = Outcome("error", "no report")
            elif not failing:
                outcome = Outcome("ok")
            elif all(at_kinks(line) for line in failing):
                outcome = Outcome("kink", failing[0])
            else:
                outcome = Outcome("mismatch", "\n".join(failing))
            self.outcomes[graph.name]["check-grad"] = outcome


def at_kinks(line):
    """Whether every failing element of a check-grad report line sits at a kink or a jump."""
    if "sits at a kink" not in line and "sits at a jump" not in line:
        return False
    if "failing elements at kinks or jumps)" not in line:
        return True  # the only failing element is the one named
    counts = line.rsplit("(", 1)[1].split()
    return counts[0] == counts[2]


def check_graph(tools, graph, check, directory):
    """The outcome of one check on one graph alone."""
    batch = Batch(tools, [graph], directory, ("interpreter", check))
    batch.run()
    return batch.outcomes[graph.name].get(check) or batch.outcomes[graph.name].get("interpreter")


class Tally:
    """What a run found so far: outcomes per check and kind, failing graphs, excused elements."""

    def __init__(self, checks):
        self.counts = {check: {} for check in checks}
        self.graphs = self.failing = self.excused = 0

    def summary(self, first, elapsed):
        total = {kind: sum(c.get(kind, 0) for c in self.counts.values()) for kind in ("mismatch", "crash", "error",
                                                                                       "hang")}
        per_check = ", ".join(f"{check} {'/'.join(f'{n} {kind}' for kind, n in sorted(c.items()))}"
                              for check, c in self.counts.items())
        return (f"checks: {per_check}\n"
                f"seconds: {', '.join(f'{key} {seconds:.1f}' for key, seconds in SECONDS.items())}\n"
                f"random graphs: {self.graphs} graphs (seeds {first}..{first + self.graphs - 1}), {self.failing} "
                f"failing, mismatches {total['mismatch']}, crashes {total['crash']}, errors "
                f"{total['error'] + total['hang']}, kinks {self.counts.get('check-grad', {}).get('kink', 0)}, "
                f"excused elements {self.excused}, {elapsed:.0f} s ({elapsed / max(self.graphs, 1):.2f} s per graph)")


def run_batches(options, tools, ops, tally):
    """Generates and checks the graphs batch by batch, counting into `tally`."""
    from generate import generate
    failures = options.failures or os.path.join(options.work, "failures")
    began = time.time()
    for start in range(options.seed, options.seed + options.count, options.batch):
        seeds = range(start, min(start + options.batch, options.seed + options.count))
        graphs = [generate(seed, ops, scale=options.scale) for seed in seeds]
        batch = Batch(tools, graphs, os.path.join(options.work, f"batch-{start}"), tuple(tally.counts)).run()
        tally.excused += batch.excused
        for graph in graphs:
            outcomes = batch.outcomes[graph.name]
            bad = {check: outcome for check, outcome in outcomes.items() if outcome.kind not in ("ok", "kink")}
            # A batch-wide failure (a crash, an error) is pinned on graphs by running each alone.
            for check in [check for check, outcome in bad.items() if outcome.kind in ("crash", "error", "hang")]:
                alone = check_graph(tools, graph, check, os.path.join(options.work, "alone"))
                outcomes[check] = alone
                if alone.kind in ("ok", "kink"):
                    del bad[check]
                else:
                    bad[check] = alone
            for check, outcome in outcomes.items():
                tally.counts[check][outcome.kind] = tally.counts[check].get(outcome.kind, 0) + 1
            tally.graphs += 1
            if bad:
                tally.failing += 1
                os.makedirs(failures, exist_ok=True)
                with open(os.path.join(failures, graph.name + ".json"), "w") as file:
                    json.dump({"graph": graph.to_json(), "failures": {c: [o.kind, o.detail] for c, o in bad.items()}},
                              file, indent=1)
                write(os.path.join(failures, graph.name + ".kir"), function_text(graph))
                for check, outcome in bad.items():
                    print(f"FAIL {graph.name} {check}: {outcome}", flush=True)
        if not options.quiet:
            print(f"{tally.graphs} graphs, {time.time() - began:.0f} s", flush=True)
        shutil.rmtree(batch.directory, ignore_errors=True)


def stop(number, frame):
    raise KeyboardInterrupt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiln-opt", required=True)
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--work", default="random-graphs-work")
    parser.add_argument("--failures", default=None, help="where failing graphs are written (default: WORK/failures)")
    parser.add_argument("--checks", default=",".join(ALL_CHECKS))
    parser.add_argument("--scale", type=int, default=1, help="tensors up to this many times larger (generate.py)")
    parser.add_argument("--quiet", action="store_true")
    options = parser.parse_args()
    from generate import check_table, table_ops

    tools = Tools(options.kiln_opt, options.kiln)
    tally = Tally(options.checks.split(","))
    ops = check_table(table_ops(tools.kiln_opt))
    began = time.time()
    # Stopped early (Ctrl-C, SIGTERM), a run still prints the summary of the graphs it finished.
    signal.signal(signal.SIGTERM, stop)
    try:
        run_batches(options, tools, ops, tally)
    except KeyboardInterrupt:
        print(f"stopped after {tally.graphs} graphs", flush=True)
    print(tally.summary(options.seed, time.time() - began))
    return 1 if tally.failing else 0


if __name__ == "__main__":
    sys.exit(main())
