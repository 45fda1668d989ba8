"""Random graphs: shrinks a failing graph while its failure persists, for a lit test.

Usage: reduce.py FAILURE.json --kiln-opt PATH --kiln PATH [--check CHECK | --interesting COMMAND]
                 [-o SMALL.kir] [--work DIR]

FAILURE.json is what check.py writes for a failing graph. The failure is the graph's first failing
check (or --check): a candidate is kept when that check fails on it the same way (the same kind:
mismatch, crash, error or hang; for a crash or an error also the same message, names and numbers
aside). With --interesting, a candidate is kept when COMMAND exits 0 instead, with {} replaced by
the path of the candidate's .kir (a func and the @main that calls it on constants).

Steps, repeated until none shrinks the graph:
  1. return an earlier float value instead (what follows it is dropped);
  2. replace an op's result by one of its operands of the same type, or by a new argument;
  3. shrink an argument's extents (to 1, to half, or by one), re-deriving every type;
  4. drop ops and arguments nothing reads.
The result is the reduced func with an @main that calls it on its arguments' values as
constants: `kiln-opt --run` and `--jit` on it, or --check-grad with --function, reproduce it.
"""
import argparse
import json
import os
import re
import subprocess
import sys

from graph import Argument, Graph, TensorType, TypeError_, attribute_text, function_text, text_of_type

import check as checks
from generate import live


def fresh_argument(graph, tensor_type):
    names = {argument.name for argument in graph.arguments} | {op.result for op in graph.ops}
    index = 0
    while f"r{index}" in names:
        index += 1
    if tensor_type.is_float:
        values = [(0.1 + 0.8 * ((7 * i) % 11) / 10) * (-1 if i % 3 == 1 else 1) for i in range(tensor_type.count)]
        return Argument(f"r{index}", tensor_type, None, values)
    # Integers: index 0 is valid for every extent.
    return Argument(f"r{index}", tensor_type, 1 if tensor_type.dtype != "i1" else None, [0] * tensor_type.count)


def replace_uses(graph, old, new):
    for op in graph.ops:
        op.operands = [new if name == old else name for name in op.operands]
    if graph.result == old:
        graph.result = new


def candidates(graph):
    """Smaller graphs, most promising first."""
    types = graph.types()
    for op in graph.ops:  # 1. an earlier result
        if types[op.result].is_float and op.result != graph.result:
            candidate = graph.copy()
            candidate.result = op.result
            yield live(candidate)
    for position in reversed(range(len(graph.ops))):  # 2. an op's result replaced
        op = graph.ops[position]
        same = [name for name in dict.fromkeys(op.operands) if types[name] == op.type]
        for replacement in same + [None]:
            candidate = graph.copy()
            if replacement is None:
                argument = fresh_argument(candidate, op.type)
                candidate.arguments.append(argument)
                replacement = argument.name
            replace_uses(candidate, op.result, replacement)
            yield live(candidate)
    for position, argument in enumerate(graph.arguments):  # 3. smaller arguments
        for axis, extent in enumerate(argument.type.shape):
            for smaller in sorted({1, extent - 1, extent // 2} - {0, extent}):
                candidate = graph.copy()
                shape = list(argument.type.shape)
                shape[axis] = smaller
                changed = candidate.arguments[position]
                changed.type = TensorType(argument.type.dtype, shape)
                changed.values = changed.values[:changed.type.count]
                try:
                    adapt_declared(candidate)
                except (TypeError_, KeyError, IndexError):
                    continue
                yield candidate


def adapt_declared(graph):
    """Re-derives every type after an argument changed shape; declared types that follow their
    operand's shape (cast, one_hot) follow it."""
    types = {argument.name: argument.type for argument in graph.arguments}
    for op in graph.ops:
        if op.mnemonic == "cast":
            op.type = TensorType(op.type.dtype, types[op.operands[0]].shape)
        elif op.mnemonic == "one_hot":
            op.type = TensorType(op.type.dtype, types[op.operands[0]].shape + (op.attrs["depth"],))
        types[op.result] = op.type
    graph.retype()


def size(graph):
    return (len(graph.ops), sum(argument.type.count for argument in graph.arguments) +
            sum(op.type.count for op in graph.ops))


def signature(outcome):
    """What must stay the same: the kind and, for a crash or an error, the message's words."""
    if outcome.kind not in ("crash", "error"):
        return outcome.kind
    lines = [line for line in outcome.detail.splitlines() if "error:" in line or "Assertion" in line]
    text = lines[0] if lines else outcome.detail.splitlines()[-1] if outcome.detail else ""
    text = text.split("error:", 1)[-1]
    return outcome.kind + ":" + re.sub(r"%\w+|@\w+|[0-9.e+-]+|\[[^]]*\]|/\S+", "_", text)


def standalone_text(graph):
    """The func and an @main calling it on its arguments' values, as constants."""
    lines = [f"func @main() -> {text_of_type(graph.result_type())} {{"]
    for argument in graph.arguments:
        values = attribute_text([int(v) if not argument.type.is_float else float(v) for v in argument.values])
        lines.append(f"  %{argument.name} = constant {{value = {values}}} : {text_of_type(argument.type)}")
    operands = ", ".join(f"%{argument.name}" for argument in graph.arguments)
    lines.append(f"  %result = call @{graph.name}({operands}) : {text_of_type(graph.result_type())}")
    lines.append("  return %result\n}\n")
    return function_text(graph) + "\n" + "\n".join(lines)


class Reducer:
    def __init__(self, tools, check, interesting, work):
        self.tools, self.check, self.interesting, self.work = tools, check, interesting, work
        self.tries = 0
        os.makedirs(work, exist_ok=True)

    def outcome(self, graph):
        self.tries += 1
        if self.interesting:
            path = os.path.join(self.work, "candidate.kir")
            with open(path, "w") as file:
                file.write(standalone_text(graph))
            done = subprocess.run(self.interesting.replace("{}", path), shell=True, capture_output=True)
            return "interesting" if done.returncode == 0 else "boring"
        return signature(checks.check_graph(self.tools, graph, self.check, os.path.join(self.work, "candidate")))

    def reduce(self, graph):
        target = self.outcome(graph)
        if target in ("ok", "kink", "boring"):
            sys.exit(f"reduce.py: error: the graph does not fail {self.check or 'the --interesting command'} "
                     f"({target})")
        shrinking = True
        while shrinking:
            shrinking = False
            for candidate in candidates(graph):
                if size(candidate) >= size(graph):
                    continue
                try:
                    candidate.retype()
                except (TypeError_, KeyError):
                    continue
                if not any(argument.type.is_float for argument in candidate.arguments) and self.check == "check-grad":
                    continue
                if self.outcome(candidate) == target:
                    graph, shrinking = candidate, True
                    break
        return graph, target


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("failure")
    parser.add_argument("--kiln-opt", required=True)
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--check", choices=checks.ALL_CHECKS)
    parser.add_argument("--interesting")
    parser.add_argument("-o", "--output", default="-")
    parser.add_argument("--work", default="reduce-work")
    options = parser.parse_args()
    with open(options.failure) as file:
        data = json.load(file)
    graph = Graph.from_json(data["graph"])
    check = options.check or (None if options.interesting else next(iter(data.get("failures", {})), None))
    if not check and not options.interesting:
        sys.exit("reduce.py: error: give --check or --interesting: the file names no failing check")
    reducer = Reducer(checks.Tools(options.kiln_opt, options.kiln), check, options.interesting, options.work)
    before = len(graph.ops)
    graph, target = reducer.reduce(graph)
    what = f"the check {check} still fails ({target})" if check else "the --interesting command still succeeds"
    text = f"// Reduced by scripts/random_graphs/reduce.py from {before} ops to {len(graph.ops)}: {what}.\n"
    text += standalone_text(graph)
    if options.output == "-":
        sys.stdout.write(text)
    else:
        with open(options.output, "w") as file:
            file.write(text)
    print(f"reduce.py: {before} ops to {len(graph.ops)} in {reducer.tries} tries", file=sys.stderr)


if __name__ == "__main__":
    main()
