"""Random graphs: generates well-typed random .kir functions from the op table.

Usage: generate.py (--kiln-opt PATH | --op-table LISTING) [--seed S] [--count N] [--dtype f32|f64]
                   [--scale K] [-o FILE]
prints N random funcs (@gS, @gS+1, ... from seeds S, S+1, ...) and an @main calling them as one
module; LISTING is saved output of `kiln-opt --list-ops`. A seed always gives the same graph.

The ops come from `kiln-opt --list-ops`: each row must have a maker (makers.MAKERS) or a reason
to be left out (makers.LEFT_OUT), so that an op added to ir/Ops.def stops this script until it
is typed there. How values are kept away from poles, overflow and jumps: generator.py.
"""
import argparse
import random
import re
import subprocess
import sys

from generator import Generator
from graph import Graph, TensorType, TypeError_, batch_text
from makers import LEFT_OUT, MAKERS


def table_ops(kiln_opt, listing=None):
    """The mnemonics of `kiln-opt --list-ops` (or of its saved `listing`), in table order."""
    listing = listing or subprocess.run([kiln_opt, "--list-ops"], check=True, capture_output=True, text=True).stdout
    rows = listing.splitlines()[1:]
    return [row.split()[0] for row in rows if re.match(r"^[a-z_0-9]+ +(\d+\+?|\d+) ", row)]


def check_table(ops):
    """The ops to draw from; an op of the table neither typed nor left out here is an error."""
    unknown = [op for op in ops if op not in MAKERS and op not in LEFT_OUT]
    if unknown:
        sys.exit(f"generate.py: error: the op table has {', '.join(unknown)}, which this generator neither types "
                 f"(MAKERS) nor leaves out with a reason (LEFT_OUT): add it to scripts/random_graphs/makers.py")
    return [op for op in ops if op in MAKERS]


def generate(seed, ops, dtype=None, size=None, name=None, scale=1):
    """The graph of `seed`: `size` ops drawn uniformly from `ops` (plus their guards), its
    tensors up to `scale` times the usual size."""
    chooser = random.Random(seed)
    dtype = dtype or chooser.choice(("f32", "f32", "f64"))
    gen = Generator(seed, dtype, name or f"g{seed}", scale)
    size = size or chooser.randint(3, 12)
    gen.argument(TensorType(dtype, gen.random_shape()))
    made = attempts = 0
    while made < size and attempts < size * 20:
        attempts += 1
        mnemonic = chooser.choice(ops)
        saved = (len(gen.ops), len(gen.values), len(gen.arguments), dict(gen.constants))
        try:
            value = MAKERS[mnemonic](gen, mnemonic)
        except TypeError_:
            value = None
        if value is None:
            del gen.ops[saved[0]:], gen.values[saved[1]:], gen.arguments[saved[2]:]
            gen.constants = saved[3]
            continue
        made += 1
    return finish(gen)


def finish(gen):
    """The graph's one float result: its last float value, plus the mean of every other float value
    nothing reads (so no op is dead)."""
    uses = {}
    for op in gen.ops:
        for operand in op.operands:
            uses[operand] = uses.get(operand, 0) + 1
    floats = [value for value in gen.values if value.type.is_float and not value.helper]
    result = floats[-1]
    for value in floats[:-1]:
        if uses.get(value.name) or value.name in {argument.name for argument in gen.arguments}:
            continue
        if value.type.dtype != result.type.dtype:
            value = gen.emit("cast", [value], declared=value.type.with_shape(value.type.shape).__class__(
                result.type.dtype, value.type.shape), low=value.low, high=value.high)
        mean = gen.emit("mean", [value], {"axes": []}, low=value.low, high=value.high)
        result = gen.emit("add", [result, mean], low=result.low + mean.low, high=result.high + mean.high)
    graph = live(Graph(gen.name, list(gen.arguments), list(gen.ops), result.name))
    if not any(argument.type.is_float for argument in graph.arguments):
        # A result of constants alone: add an argument's mean, so there is a gradient to check.
        argument = gen.argument(TensorType(result.type.dtype, gen.random_shape()))
        mean = gen.emit("mean", [argument], {"axes": []}, low=argument.low, high=argument.high)
        result = gen.emit("add", [result, mean], low=result.low + mean.low, high=result.high + mean.high)
        graph = live(Graph(gen.name, list(gen.arguments), list(gen.ops), result.name))
    return graph


def live(graph):
    """`graph` without the ops and arguments its result does not need (comparisons nothing read)."""
    needed = {graph.result}
    kept = []
    for op in reversed(graph.ops):
        if op.result in needed:
            kept.append(op)
            needed.update(op.operands)
    graph.ops = list(reversed(kept))
    graph.arguments = [argument for argument in graph.arguments if argument.name in needed]
    return graph


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiln-opt", default="kiln-opt")
    parser.add_argument("--op-table", help="saved output of kiln-opt --list-ops, read instead of running it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--dtype", choices=("f32", "f64"))
    parser.add_argument("--scale", type=int, default=1, help="tensors up to this many times larger")
    parser.add_argument("-o", "--output", default="-")
    options = parser.parse_args()
    listing = None
    if options.op_table:
        with open(options.op_table) as file:
            listing = file.read()
    ops = check_table(table_ops(options.kiln_opt, listing))
    graphs = [generate(options.seed + index, ops, options.dtype, scale=options.scale) for index in range(options.count)]
    text = batch_text(graphs)
    if options.output == "-":
        sys.stdout.write(text)
    else:
        with open(options.output, "w") as file:
            file.write(text)


if __name__ == "__main__":
    main()
