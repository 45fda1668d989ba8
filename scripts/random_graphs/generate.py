"""Random graphs: generates well-typed random .kir functions from the op table.

Usage: generate.py (--kiln-opt PATH | --op-table LISTING) [--seed S] [--count N] [--dtype f32|f64] [-o FILE]
prints N random funcs (@gS, @gS+1, ... from seeds S, S+1, ...) and an @main calling them as one
module; LISTING is saved output of `kiln-opt --list-ops`. A seed always gives the same graph.

The ops come from `kiln-opt --list-ops`: each row must have a maker below (MAKERS) or a reason
to be left out (LEFT_OUT), so that an op added to ir/Ops.def stops this script until it is typed
here. Values are kept where every backend computes the same function smoothly:
  - every float value carries an interval bounding it for arguments of magnitude at most 0.9
    (the inputs the driver and kiln-opt --check-grad use); a value outside [-64, 64] is scaled by a
    power of two, exp sees [-3, 3], and log, sqrt, rsqrt, reciprocal, log1p, pow's base and every
    divisor pass through a guard that keeps them in [0.13, 7.4];
  - ops that jump (sign, comparisons, argmax, casts to integers, the routing of max_pool2d_grad)
    only read exact values: arguments, constants and what index maps, neg, abs, relu and
    max/min make of them, which every backend computes bit for bit, so no rounding difference can
    flip them;
  - kinks (relu, abs, maximum, max, max_pool2d at ties) stay possible; kiln-opt --check-grad
    says when a failing element sits at one, and the driver counts those apart.
"""
import argparse
import math
import random
import re
import struct
import subprocess
import sys

from graph import (BINARY, COMPARISONS, UNARY, Argument, Graph, Op, TensorType, TypeError_, batch_text,
                   broadcast_shapes, conv_shape, pool_shape, result_type, window_extent)

CAP = 64.0  # a float value's bound; a larger one is scaled down by a power of two
MAX_ELEMENTS = 256  # per value, so that a full finite-difference check stays quick

# Ops of the table that no random graph contains, and why.
LEFT_OUT = {
    "call": "each batch's @main calls every graph, which is where calls are tested; a graph stays one function so "
            "that --check-grad (which checks one function) and the reducer see all of it",
}


def rounded(value, dtype):
    """`value` as the dtype stores it (f32 rounding), so the .npy and the interval agree."""
    return struct.unpack("<f", struct.pack("<f", value))[0] if dtype == "f32" else value


class Value:
    """A value of the graph being made: its interval, whether every backend computes it bit for bit
    alike (exact), whether it depends on a float argument (varied), and how often it is read."""
    __slots__ = ("name", "type", "low", "high", "exact", "varied", "uses", "helper")

    def __init__(self, name, tensor_type, low, high, exact, varied=False, helper=False):
        self.name, self.type, self.low, self.high, self.exact = name, tensor_type, low, high, exact
        self.varied, self.uses, self.helper = varied, 0, helper

    @property
    def bound(self):
        return max(abs(self.low), abs(self.high))


class Generator:
    def __init__(self, seed, dtype, name, scale=1):
        self.random = random.Random(seed)
        self.scale = scale  # element counts and long axes grow by this factor
        self.dtype = dtype
        self.name = name
        self.values = []
        self.arguments = []
        self.ops = []
        self.constants = {}

    # Values and ops.
    def new_name(self, prefix):
        return f"{prefix}{len(self.ops) + len(self.arguments)}"

    def argument(self, tensor_type, index_bound=None):
        name = self.new_name("a")
        if tensor_type.is_float:
            values = [rounded(self.random.choice((-1, 1)) * self.random.uniform(0.1, 0.9), tensor_type.dtype)
                      for _ in range(tensor_type.count)]
            value = Value(name, tensor_type, -0.9, 0.9, True, varied=True)
        else:
            values = [self.random.randrange(index_bound) for _ in range(tensor_type.count)]
            value = Value(name, tensor_type, 0, index_bound - 1, True)
        self.arguments.append(Argument(name, tensor_type, index_bound, values))
        self.values.append(value)
        return value

    def emit(self, mnemonic, operands, attrs=None, declared=None, low=None, high=None, exact=False, helper=False):
        attrs = attrs or {}
        tensor_type = result_type(mnemonic, [operand.type for operand in operands], attrs, declared)
        # Autodiff passes no gradient through integers: a float computed from an integer that
        # depends on a float argument is refused (passes/autodiff.cpp), except where the integer
        # only selects or indexes (select, gather, scatter_add).
        if tensor_type.is_float and mnemonic not in ("select", "gather", "scatter_add") and any(
                operand.varied and not operand.type.is_float for operand in operands):
            raise TypeError_("a gradient through an integer")
        if tensor_type.count > MAX_ELEMENTS * 4 * self.scale:
            raise TypeError_("too large")
        for operand in operands:
            operand.uses += 1
        name = self.new_name("v")
        self.ops.append(Op(name, mnemonic, [operand.name for operand in operands], attrs, tensor_type))
        if not tensor_type.is_float:
            low, high = (0, 1) if tensor_type.dtype == "i1" else (low, high)
        value = Value(name, tensor_type, low, high, exact and all(operand.exact for operand in operands),
                      any(operand.varied for operand in operands), helper)
        self.values.append(value)
        if tensor_type.is_float and value.bound > CAP:
            return self.bounded(value, CAP)
        return value

    def constant(self, number, dtype):
        """A scalar constant (shared)."""
        key = (number, dtype)
        if key not in self.constants:
            self.constants[key] = self.emit("constant", [], {"value": number}, TensorType(dtype, ()), number, number,
                                            exact=True, helper=True)
        return self.constants[key]

    def bounded(self, value, bound):
        """`value` scaled by a power of two into [-bound, bound] (exact: it keeps exact values exact)."""
        if value.bound <= bound:
            return value
        scale = 2.0**-math.ceil(math.log2(value.bound / bound))
        return self.emit("mul", [value, self.constant(scale, value.type.dtype)], low=value.low * scale,
                         high=value.high * scale, exact=True)

    def positive(self, value):
        """`value` mapped smoothly into [0.13, 7.4], away from the poles of log, sqrt and division."""
        dtype = value.type.dtype
        guard = self.random.randrange(3)
        if guard == 0:  # sigmoid(x) + 0.25
            squashed = self.emit("sigmoid", [value], low=0.0, high=1.0)
            return self.emit("add", [squashed, self.constant(0.25, dtype)], low=0.25, high=1.25)
        if guard == 1:  # e^x, x in [-2, 2]
            small = self.bounded(value, 2.0)
            return self.emit("exp", [small], low=math.exp(small.low), high=math.exp(small.high))
        small = self.bounded(value, 2.0)  # x^2 + 0.5
        square = self.emit("square", [small], low=0.0, high=small.bound**2)
        return self.emit("add", [square, self.constant(0.5, dtype)], low=0.5, high=square.high + 0.5)

    # Choosing operands.
    def random_shape(self, rank=None):
        if rank is None:
            rank = self.random.choices(range(5), weights=(1, 3, 4, 2, 1))[0]
        while True:
            shape = [self.random.choice((1, 2, 2, 3, 3, 4, 5)) for _ in range(rank)]
            # Now and then a long last axis, past a vector's width, for the vector loops and their tails.
            if shape and self.random.random() < 0.25:
                shape[-1] = self.random.randint(6, 40 * self.scale)
            if math.prod(shape) <= MAX_ELEMENTS * self.scale:
                return tuple(shape)

    def pick(self, accept, fresh=None):
        """A value accepted by `accept`, recent and unused ones likelier; else `fresh()` if given."""
        candidates = [value for value in self.values if accept(value) and not value.helper]
        if fresh and (not candidates or self.random.random() < 0.15):
            return fresh()
        if not candidates:
            return None
        weights = [(4 if value.uses == 0 else 1) * (1 + index)**2 for index, value in enumerate(candidates)]
        return self.random.choices(candidates, weights=weights)[0]

    def fresh_float(self, min_rank=0):
        rank = max(min_rank, self.random.choices(range(5), weights=(1, 3, 4, 2, 1))[0])
        return self.argument(TensorType(self.dtype, self.random_shape(rank)))

    def float_value(self, accept=lambda value: True, min_rank=0):
        return self.pick(lambda value: value.type.is_float and value.type.rank >= min_rank and accept(value),
                         lambda: self.fresh_float(min_rank))

    def numeric_value(self, accept=lambda value: True, min_rank=0):
        """A float or integer value (mostly floats: the graph makes few integers)."""
        return self.pick(lambda value: value.type.dtype != "i1" and value.type.rank >= min_rank and accept(value),
                         lambda: self.fresh_float(min_rank))

    def integer_value(self, accept=lambda value: True):
        return self.pick(lambda value: value.type.dtype in ("i32", "i64") and accept(value))

    def broadcast_partner(self, value, exact=False):
        """A value of value's dtype whose shape broadcasts with it: from the graph, a constant or a
        fresh argument of a compatible shape."""
        dtype = value.type.dtype

        def compatible(other):
            if other.type.dtype != dtype or other is value or (exact and not other.exact):
                return False
            shape = broadcast_shapes(value.type.shape, other.type.shape)
            return shape is not None and math.prod(shape) <= MAX_ELEMENTS * 4 * self.scale

        choice = self.random.random()
        if choice < 0.1 or dtype not in ("f32", "f64"):
            partner = self.pick(compatible)
            if partner is not None:
                return partner
            number = self.random.choice((2, 3)) if dtype in ("i32", "i64") else self.random.choice((0.5, -0.25, 1.5))
            return self.constant(number, dtype)
        partner = self.pick(compatible)
        if partner is not None and choice < 0.6:
            return partner
        shape = list(value.type.shape)
        shape = shape[self.random.randrange(len(shape) + 1):] if self.random.random() < 0.3 else shape
        shape = [1 if self.random.random() < 0.25 else extent for extent in shape]
        return self.argument(TensorType(dtype, shape))

    def exact_value(self):
        return self.pick(lambda value: value.exact and value.type.dtype != "i1" and not value.helper,
                         lambda: self.argument(TensorType(self.dtype, self.random_shape())))


# Makers: one per op of the table this script knows how to type. Each builds one op (and the
# guards its operands need) and returns its value, or None when the graph offers nothing fitting.
SMOOTH_BOUNDS = {  # unary ops defined everywhere: the interval of f over [low, high]
    "neg": lambda low, high: (-high, low * -1),
    "abs": lambda low, high: (0.0 if low <= 0 <= high else min(abs(low), abs(high)), max(abs(low), abs(high))),
    "square": lambda low, high: (0.0 if low <= 0 <= high else min(low * low, high * high), max(low * low, high * high)),
    "relu": lambda low, high: (max(low, 0.0), max(high, 0.0)),
    "leaky_relu": lambda low, high: (min(low, 0.01 * low), max(high, 0.01 * high)),
    "tanh": lambda low, high: (math.tanh(low), math.tanh(high)),
    "sigmoid": lambda low, high: (0.0, 1.0),
    "gelu": lambda low, high: (-0.17, max(high, 0.0)),
    "erf": lambda low, high: (math.erf(low), math.erf(high)),
    "sin": lambda low, high: (-1.0, 1.0),
    "cos": lambda low, high: (-1.0, 1.0),
    "exp": lambda low, high: (math.exp(low), math.exp(high)),
}
POSITIVE_DOMAIN = {  # unary ops needing positive operands, with their interval over [low, high] there
    "log": lambda low, high: (math.log(low), math.log(high)),
    "log1p": lambda low, high: (math.log1p(low), math.log1p(high)),
    "sqrt": lambda low, high: (math.sqrt(low), math.sqrt(high)),
    "rsqrt": lambda low, high: (1 / math.sqrt(high), 1 / math.sqrt(low)),
    "reciprocal": lambda low, high: (1 / high, 1 / low),
}
# Exact in, exact out: these compute bit for bit alike on every backend.
EXACT_OPS = {"neg", "abs", "relu", "maximum", "minimum", "max", "min", "broadcast", "reshape", "transpose", "slice",
             "concat", "pad", "gather", "select", "one_hot", "max_pool2d", "sign", "argmax"}


def corners(function, first, second):
    values = [function(a, b) for a in (first.low, first.high) for b in (second.low, second.high)]
    return min(values), max(values)


def make_unary(gen, mnemonic):
    if mnemonic == "sign":
        operand = gen.exact_value()
        return gen.emit("sign", [operand], low=-1, high=1, exact=True)
    if gen.random.random() < 0.15 and mnemonic in ("neg", "abs", "square", "relu"):
        operand = gen.integer_value(lambda value: value.bound <= 1000)
        if operand is not None:
            low, high = SMOOTH_BOUNDS[mnemonic](operand.low, operand.high)
            return gen.emit(mnemonic, [operand], low=low, high=high, exact=True)
    operand = gen.float_value()
    if mnemonic in POSITIVE_DOMAIN:
        operand = gen.positive(operand)
        low, high = POSITIVE_DOMAIN[mnemonic](operand.low, operand.high)
    else:
        operand = gen.bounded(operand, 3.0 if mnemonic == "exp" else CAP)
        low, high = SMOOTH_BOUNDS[mnemonic](operand.low, operand.high)
    attrs = {"alpha": gen.random.choice((0.01, 0.2))} if mnemonic == "leaky_relu" and gen.random.random() < 0.5 else {}
    return gen.emit(mnemonic, [operand], attrs, low=low, high=high, exact=mnemonic in EXACT_OPS)


def make_binary(gen, mnemonic):
    integers = gen.random.random() < 0.15 and mnemonic in ("add", "sub", "mul", "div", "maximum", "minimum")
    first = gen.integer_value(lambda value: value.bound <= 1000) if integers else None
    if first is None:
        first = gen.float_value()
    if mnemonic == "pow":
        base, exponent = gen.positive(first), gen.bounded(gen.broadcast_partner(first), 2.0)
        low, high = corners(lambda a, b: a**b, base, exponent)
        return gen.emit("pow", [base, exponent], low=low, high=high)
    if mnemonic == "div":
        if not first.type.is_float:  # truncating division by a positive constant
            divisor = gen.constant(gen.random.choice((2, 3)), first.type.dtype)
            return gen.emit("div", [first, divisor], low=-first.bound, high=first.bound, exact=True)
        divisor = gen.positive(gen.broadcast_partner(first))
        if gen.random.random() < 0.3:
            divisor = gen.emit("neg", [divisor], low=-divisor.high, high=-divisor.low)
        low, high = corners(lambda a, b: a / b, first, divisor)
        return gen.emit("div", [first, divisor], low=low, high=high)
    second = gen.broadcast_partner(first)
    bounds = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
              "maximum": max, "minimum": min}[mnemonic]
    low, high = corners(bounds, first, second)
    return gen.emit(mnemonic, [first, second], low=low, high=high,
                    exact=mnemonic in EXACT_OPS or not first.type.is_float)


def comparison(gen, mnemonic=None):
    first = gen.exact_value()
    second = gen.broadcast_partner(first, exact=True)
    return gen.emit(mnemonic or gen.random.choice(COMPARISONS), [first, second], exact=True)


def make_select(gen, mnemonic):
    condition = gen.pick(lambda value: value.type.dtype == "i1") or comparison(gen)
    first = gen.float_value(lambda value: broadcast_shapes(value.type.shape, condition.type.shape) is not None)
    second = gen.broadcast_partner(first)
    return gen.emit("select", [condition, first, second], low=min(first.low, second.low),
                    high=max(first.high, second.high), exact=True)


def make_constant(gen, mnemonic):
    if gen.random.random() < 0.3:
        tensor_type = TensorType(gen.random.choice(("i32", "i64")), gen.random_shape())
        values = [gen.random.randrange(-4, 5) for _ in range(tensor_type.count)]
    else:
        tensor_type = TensorType(gen.dtype, gen.random_shape())
        values = [round(gen.random.uniform(-0.9, 0.9), 2) for _ in range(tensor_type.count)]
    value = values if gen.random.random() < 0.8 or not values else values[0]
    if not isinstance(value, list):
        values = [value]
    return gen.emit("constant", [], {"value": value}, tensor_type, min(values, default=0), max(values, default=0),
                    exact=True)


def make_iota(gen, mnemonic):
    shape = gen.random_shape(gen.random.randint(1, 3))
    axis = gen.random.randrange(len(shape))
    dtype = gen.random.choice((gen.dtype, "i32", "i64"))
    return gen.emit("iota", [], {"axis": axis}, TensorType(dtype, shape), 0, shape[axis] - 1, exact=True)


def make_random(gen, mnemonic):
    key = gen.constant(gen.random.randrange(1, 1000), "i64")
    attrs, low, high = {}, 0.0, 1.0
    if mnemonic == "random_uniform" and gen.random.random() < 0.5:
        attrs, low, high = {"low": -1.0, "high": 2.0}, -1.0, 2.0
    if mnemonic == "random_normal":
        mean, stddev = gen.random.choice(((0.0, 1.0), (0.5, 0.25)))
        attrs, low, high = {"mean": mean, "stddev": stddev}, mean - 8 * stddev, mean + 8 * stddev
    if mnemonic == "random_bernoulli":
        attrs = {"p": gen.random.choice((0.5, 0.9))}
    return gen.emit(mnemonic, [key], attrs, TensorType(gen.dtype, gen.random_shape()), low, high,
                    exact=mnemonic != "random_normal")


def make_cast(gen, mnemonic):
    kind = gen.random.randrange(4)
    if kind == 0:  # between float types
        source = gen.float_value()
        target = {"f32": "f64", "f64": "f32"}[source.type.dtype]
        return gen.emit("cast", [source], declared=TensorType(target, source.type.shape), low=source.low,
                        high=source.high)
    if kind == 1:  # integers or booleans to floats
        source = gen.pick(lambda value: not value.type.is_float and value.bound <= 1000 and not value.varied)
        if source is None:
            return None
        return gen.emit("cast", [source], declared=TensorType(gen.dtype, source.type.shape), low=source.low,
                        high=source.high, exact=True)
    source = gen.exact_value()
    if not source.type.is_float:
        return None
    if kind == 2:  # exact floats, times 4, truncated to integers
        scaled = gen.emit("mul", [source, gen.constant(4.0, source.type.dtype)], low=source.low * 4,
                          high=source.high * 4, exact=True)
        target = gen.random.choice(("i32", "i64"))
        return gen.emit("cast", [scaled], declared=TensorType(target, source.type.shape), low=math.trunc(scaled.low),
                        high=math.trunc(scaled.high), exact=True)
    return gen.emit("cast", [source], declared=TensorType("i1", source.type.shape), exact=True)


def make_broadcast(gen, mnemonic):
    source = gen.numeric_value(lambda value: value.type.count <= 24)
    shape = [extent if extent != 1 or gen.random.random() < 0.3 else gen.random.randint(2, 4)
             for extent in source.type.shape]
    shape = list(gen.random_shape(gen.random.randint(0, 2))) + shape
    return gen.emit("broadcast", [source], declared=source.type.with_shape(shape), low=source.low, high=source.high,
                    exact=True)


def factorizations(count, rank):
    if rank == 0:
        return [()] if count == 1 else []
    return [(extent,) + rest for extent in range(1, count + 1) if count % extent == 0
            for rest in factorizations(count // extent, rank - 1)]


def make_reshape(gen, mnemonic):
    source = gen.numeric_value()
    shapes = [shape for rank in range(5) for shape in factorizations(source.type.count, rank)]
    return gen.emit("reshape", [source], declared=source.type.with_shape(gen.random.choice(shapes)), low=source.low,
                    high=source.high, exact=True)


def make_transpose(gen, mnemonic):
    source = gen.numeric_value(min_rank=2)
    perm = list(range(source.type.rank))
    gen.random.shuffle(perm)
    return gen.emit("transpose", [source], {"perm": perm}, low=source.low, high=source.high, exact=True)


def make_slice(gen, mnemonic):
    source = gen.numeric_value(min_rank=1)
    start, limit, stride = [], [], []
    for extent in source.type.shape:
        low = gen.random.randrange(extent)
        start.append(low)
        limit.append(gen.random.randint(low + 1, extent))
        stride.append(gen.random.choice((1, 1, 2, 3)))
    attrs = {"start": start, "limit": limit}
    if any(step != 1 for step in stride):
        attrs["stride"] = stride
    return gen.emit("slice", [source], attrs, low=source.low, high=source.high, exact=True)


def make_concat(gen, mnemonic):
    first = gen.numeric_value(min_rank=1)
    axis = gen.random.randrange(first.type.rank)
    operands = [first]
    for _ in range(gen.random.randint(1, 2)):
        def fits(value):
            return (value.type.dtype == first.type.dtype and value.type.rank == first.type.rank and all(
                a == b for index, (a, b) in enumerate(zip(value.type.shape, first.type.shape)) if index != axis))
        other = gen.pick(fits)
        if other is None or gen.random.random() < 0.3:
            shape = list(first.type.shape)
            shape[axis] = gen.random.randint(1, 3)
            other = gen.argument(first.type.with_shape(shape)) if first.type.is_float else first
        operands.append(other)
    return gen.emit("concat", operands, {"axis": axis}, low=min(value.low for value in operands),
                    high=max(value.high for value in operands), exact=True)


def make_pad(gen, mnemonic):
    source = gen.float_value()
    low = [gen.random.randint(0, 2) for _ in source.type.shape]
    high = [gen.random.randint(0, 2) for _ in source.type.shape]
    fill = gen.random.choice((0.0, 0.0, -1.5, 0.5))
    attrs = {"low": low, "high": high}
    if fill:
        attrs["value"] = fill
    return gen.emit("pad", [source], attrs, low=min(source.low, fill), high=max(source.high, fill), exact=True)


def indices(gen, shape, bound, varied_ok=True):
    """Integer indices of `shape` in [0, bound): a value of the graph that fits, or an argument."""
    existing = gen.pick(lambda value: value.type.dtype in ("i32", "i64") and tuple(value.type.shape) == tuple(shape)
                        and value.low >= 0 and value.high < bound and (varied_ok or not value.varied))
    if existing is not None and gen.random.random() < 0.7:
        return existing
    return gen.argument(TensorType(gen.random.choice(("i32", "i64")), shape), index_bound=bound)


def make_gather(gen, mnemonic):
    table = gen.numeric_value(min_rank=1)
    axis = gen.random.randrange(table.type.rank)
    batch_dims = 1 if axis >= 1 and gen.random.random() < 0.3 else 0
    shape = table.type.shape[:batch_dims] + gen.random_shape(gen.random.randint(0, 2))
    index = indices(gen, shape, table.type.shape[axis])
    attrs = {"axis": axis} if not batch_dims else {"axis": axis, "batch_dims": batch_dims}
    return gen.emit("gather", [table, index], attrs, low=table.low, high=table.high, exact=True)


def make_scatter_add(gen, mnemonic):
    updates = gen.float_value()
    rank = updates.type.rank
    axis = gen.random.randint(0, rank)
    extra = gen.random.randint(0, rank - axis)
    batch_dims = 1 if axis >= 1 and gen.random.random() < 0.3 else 0
    shape = updates.type.shape
    target = shape[:axis] + (gen.random.randint(1, 4),) + shape[axis + extra:]
    # With batch_dims the indices' first axis pairs with the target's.
    index = indices(gen, shape[:batch_dims] + shape[axis:axis + extra], target[axis])
    repeats = max(1, math.prod(shape[axis:axis + extra]))
    attrs = {"axis": axis} if not batch_dims else {"axis": axis, "batch_dims": batch_dims}
    return gen.emit("scatter_add", [updates, index], attrs, TensorType(updates.type.dtype, target),
                    low=min(0.0, repeats * updates.low), high=max(0.0, repeats * updates.high))


def make_one_hot(gen, mnemonic):
    depth = gen.random.randint(2, 5)
    index = indices(gen, gen.random_shape(gen.random.randint(0, 2)), depth, varied_ok=False)
    dtype = gen.random.choice((gen.dtype, gen.dtype, "i32"))
    return gen.emit("one_hot", [index], {"depth": depth}, TensorType(dtype, index.type.shape + (depth,)), 0, 1,
                    exact=True)


def make_reduction(gen, mnemonic):
    integers = mnemonic != "mean" and gen.random.random() < 0.15
    source = (gen.integer_value(lambda value: value.bound <= 1000) if integers else None) or gen.float_value()
    axes = [axis for axis in range(source.type.rank) if gen.random.random() < 0.5]
    attrs = {"axes": axes}
    if gen.random.random() < 0.4:
        attrs["keepdims"] = True
    count = math.prod(source.type.shape[axis] for axis in (axes or range(source.type.rank)))
    factor = count if mnemonic == "sum" else 1
    low, high = (min(source.low * factor, source.low), max(source.high * factor, source.high))
    return gen.emit(mnemonic, [source], attrs, low=low, high=high, exact=mnemonic in EXACT_OPS)


def make_argmax(gen, mnemonic):
    source = gen.pick(lambda value: value.exact and value.type.rank >= 1 and value.type.dtype != "i1",
                      lambda: gen.argument(TensorType(gen.dtype, gen.random_shape(gen.random.randint(1, 3)))))
    axis = gen.random.randrange(source.type.rank)
    attrs = {"axis": axis, "keepdims": True} if gen.random.random() < 0.3 else {"axis": axis}
    return gen.emit("argmax", [source], attrs, low=0, high=source.type.shape[axis] - 1, exact=True)


def make_matmul(gen, mnemonic):
    integers = gen.random.random() < 0.15
    first = gen.integer_value(lambda value: value.type.rank >= 2 and value.bound <= 100) if integers else None
    first = first or gen.float_value(min_rank=2)
    transpose_a, transpose_b = gen.random.random() < 0.3, gen.random.random() < 0.3
    inner = first.type.shape[-2] if transpose_a else first.type.shape[-1]
    columns = gen.random.randint(1, 5)
    batch = first.type.shape[:-2]
    batch = batch[gen.random.randrange(len(batch) + 1):] if gen.random.random() < 0.5 else batch
    shape = batch + ((columns, inner) if transpose_b else (inner, columns))

    def fits(value):
        return value.type.dtype == first.type.dtype and value.type.shape[-2:] == shape[-2:] and value.type.rank >= 2 \
               and broadcast_shapes(value.type.shape[:-2], first.type.shape[:-2]) is not None
    second = gen.pick(fits) if gen.random.random() < 0.5 else None
    if second is None:
        if not first.type.is_float:
            return None
        second = gen.argument(TensorType(first.type.dtype, shape))
    attrs = {}
    if transpose_a:
        attrs["transpose_a"] = True
    if transpose_b:
        attrs["transpose_b"] = True
    low, high = corners(lambda a, b: a * b, first, second)
    return gen.emit("matmul", [first, second], attrs, low=min(low * inner, low), high=max(high * inner, high),
                    exact=not first.type.is_float)


def image(gen):
    return gen.pick(lambda value: value.type.is_float and value.type.rank == 4,
                    lambda: gen.argument(TensorType(gen.dtype, (gen.random.randint(1, 2), gen.random.randint(1, 3),
                                                                gen.random.randint(2, 6), gen.random.randint(2, 6)))))


def window_attributes(gen):
    """stride, padding (top, left, bottom, right) and dilation, often asymmetric."""
    return {"stride": [gen.random.randint(1, 2), gen.random.randint(1, 2)],
            "padding": [gen.random.randint(0, 1) for _ in range(4)],
            "dilation": [gen.random.choice((1, 1, 2)), gen.random.choice((1, 1, 2))]}


def operand_of_shape(gen, dtype, shape):
    return gen.pick(lambda value: value.type.dtype == dtype and tuple(value.type.shape) == tuple(shape),
                    lambda: gen.argument(TensorType(dtype, shape)))


def make_conv(gen, mnemonic):
    source = image(gen)
    attrs = window_attributes(gen)
    dtype, (batch, channels, height, width) = source.type.dtype, source.type.shape
    kernel = (gen.random.randint(1, 3), channels, gen.random.randint(1, 3), gen.random.randint(1, 3))
    if mnemonic == "conv2d_input_grad":
        # The source is the result gradient; the declared result is an input it could come from.
        out_height, out_width = height, width
        batch, outputs = source.type.shape[:2]
        kernel = (outputs, gen.random.randint(1, 3), kernel[2], kernel[3])
        spans = [attrs["dilation"][axis] * (kernel[2 + axis] - 1) + 1 for axis in range(2)]
        extents = [(out_extent - 1) * attrs["stride"][axis] + spans[axis] - attrs["padding"][axis] -
                   attrs["padding"][axis + 2] + gen.random.randrange(attrs["stride"][axis])
                   for axis, out_extent in enumerate((out_height, out_width))]
        if min(extents) < 1:
            return None
        input_type = TensorType(dtype, (batch, kernel[1]) + tuple(extents))
        filter_value = operand_of_shape(gen, dtype, kernel)
        count = kernel[0] * kernel[2] * kernel[3]
        low, high = corners(lambda a, b: a * b, source, filter_value)
        return gen.emit(mnemonic, [source, filter_value], attrs, input_type, low=low * count, high=high * count)
    try:
        out_shape = conv_shape(source.type, TensorType(dtype, kernel), attrs)
    except TypeError_:
        return None
    if mnemonic == "conv2d":
        filter_value = operand_of_shape(gen, dtype, kernel)
        count = channels * kernel[2] * kernel[3]
        low, high = corners(lambda a, b: a * b, source, filter_value)
        return gen.emit(mnemonic, [source, filter_value], attrs, low=low * count, high=high * count)
    gradient = operand_of_shape(gen, dtype, out_shape)
    count = batch * out_shape[2] * out_shape[3]
    low, high = corners(lambda a, b: a * b, source, gradient)
    return gen.emit(mnemonic, [source, gradient], attrs, TensorType(dtype, kernel), low=low * count, high=high * count)


def make_pool(gen, mnemonic):
    routing = mnemonic == "max_pool2d_grad"  # picks each window's first maximum: the input must be exact
    source = gen.pick(lambda value: value.type.is_float and value.type.rank == 4 and (value.exact or not routing),
                      lambda: image(gen) if not routing else gen.argument(TensorType(gen.dtype, (
                          gen.random.randint(1, 2), gen.random.randint(1, 3), gen.random.randint(2, 6),
                          gen.random.randint(2, 6)))))
    window = [gen.random.randint(1, 3), gen.random.randint(1, 3)]
    attrs = {"window": window, "stride": [gen.random.randint(1, 3), gen.random.randint(1, 3)],
             "padding": [gen.random.randrange(window[side % 2]) for side in range(4)]}
    try:
        out_shape = pool_shape(source.type, attrs)
    except TypeError_:
        return None
    if mnemonic in ("max_pool2d", "avg_pool2d"):
        return gen.emit(mnemonic, [source], attrs, low=source.low, high=source.high, exact=mnemonic in EXACT_OPS)
    gradient = operand_of_shape(gen, source.type.dtype, out_shape)
    overlap = math.ceil(window[0] / attrs["stride"][0]) * math.ceil(window[1] / attrs["stride"][1])
    return gen.emit(mnemonic, [source, gradient], attrs, low=min(0.0, gradient.low * overlap),
                    high=max(0.0, gradient.high * overlap))


def make_normalization(gen, mnemonic):
    source = gen.bounded(gen.float_value(min_rank=1), 16.0)
    axis = gen.random.randrange(source.type.rank)
    low, high = (0.0, 1.0) if mnemonic == "softmax" else (
        -(source.high - source.low) - math.log(source.type.shape[axis]), 0.0)
    return gen.emit(mnemonic, [source], {"axis": axis}, low=low, high=high)


MAKERS = {mnemonic: make_unary for mnemonic in UNARY + ("leaky_relu",)}
MAKERS.update({mnemonic: make_binary for mnemonic in BINARY})
MAKERS.update({mnemonic: comparison for mnemonic in COMPARISONS})
MAKERS.update({mnemonic: make_random for mnemonic in ("random_uniform", "random_normal", "random_bernoulli")})
MAKERS.update({mnemonic: make_reduction for mnemonic in ("sum", "mean", "max", "min")})
MAKERS.update({mnemonic: make_conv for mnemonic in ("conv2d", "conv2d_input_grad", "conv2d_filter_grad")})
MAKERS.update({mnemonic: make_pool for mnemonic in ("max_pool2d", "avg_pool2d", "max_pool2d_grad",
                                                    "avg_pool2d_grad")})
MAKERS.update({mnemonic: make_normalization for mnemonic in ("softmax", "log_softmax")})
MAKERS.update({"select": make_select, "constant": make_constant, "iota": make_iota, "cast": make_cast,
               "broadcast": make_broadcast, "reshape": make_reshape, "transpose": make_transpose,
               "slice": make_slice, "concat": make_concat, "pad": make_pad, "gather": make_gather,
               "scatter_add": make_scatter_add, "one_hot": make_one_hot, "argmax": make_argmax,
               "matmul": make_matmul})


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
                 f"(MAKERS) nor leaves out with a reason (LEFT_OUT): add it to scripts/random_graphs/generate.py")
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
