"""Random graphs: the graph being made and the choices every maker shares (makers.py).

Values are kept where every backend computes the same function smoothly:
  - every float value carries an interval bounding it for arguments of magnitude at most 0.9
    (the inputs the driver and kiln-opt --check-grad use); a value outside [-64, 64] is scaled by a
    power of two (bounded), and log, sqrt, rsqrt, reciprocal, log1p, pow's base and every divisor
    pass through a guard that keeps them in [0.13, 7.4] (positive);
  - ops that jump (sign, comparisons, argmax, casts to integers, the routing of max_pool2d_grad)
    only read exact values: arguments, constants and what index maps, neg, abs, relu and
    max/min make of them, which every backend computes bit for bit, so no rounding difference can
    flip them;
  - kinks (relu, abs, maximum, max, max_pool2d at ties) stay possible; kiln-opt --check-grad
    says when a failing element sits at one, and the driver counts those apart.
"""
import math
import random
import struct

from graph import Argument, Op, TensorType, TypeError_, broadcast_shapes, result_type

CAP = 64.0  # a float value's bound; a larger one is scaled down by a power of two
MAX_ELEMENTS = 256  # per value, so that a full finite-difference check stays quick


def rounded(value, dtype):
    """`value` as the dtype stores it (f32 rounding), so the .npy and the interval agree."""
    return struct.unpack("<f", struct.pack("<f", value))[0] if dtype == "f32" else value


class Value:
    """A value of the graph being made: its interval, whether every backend computes it bit for bit
    alike (exact), and how often it is read."""
    __slots__ = ("name", "type", "low", "high", "exact", "uses", "helper")

    def __init__(self, name, tensor_type, low, high, exact, helper=False):
        self.name, self.type, self.low, self.high, self.exact = name, tensor_type, low, high, exact
        self.uses, self.helper = 0, helper

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
            value = Value(name, tensor_type, -0.9, 0.9, True)
        else:
            values = [self.random.randrange(index_bound) for _ in range(tensor_type.count)]
            value = Value(name, tensor_type, 0, index_bound - 1, True)
        self.arguments.append(Argument(name, tensor_type, index_bound, values))
        self.values.append(value)
        return value

    def emit(self, mnemonic, operands, attrs=None, declared=None, low=None, high=None, exact=False, helper=False):
        attrs = attrs or {}
        tensor_type = result_type(mnemonic, [operand.type for operand in operands], attrs, declared)
        if tensor_type.count > MAX_ELEMENTS * 4 * self.scale:
            raise TypeError_("too large")
        for operand in operands:
            operand.uses += 1
        name = self.new_name("v")
        self.ops.append(Op(name, mnemonic, [operand.name for operand in operands], attrs, tensor_type))
        if not tensor_type.is_float:
            low, high = (0, 1) if tensor_type.dtype == "i1" else (low, high)
        value = Value(name, tensor_type, low, high, exact and all(operand.exact for operand in operands), helper=helper)
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
        if self.random.random() < 0.3:  # wider: more leading axes, and value's axes of 1 stretched
            shape = [self.random.randint(2, 3)] * self.random.randint(0, 1) + [
                self.random.randint(2, 4) if extent == 1 else extent for extent in shape]
            if math.prod(shape) <= MAX_ELEMENTS * 4 * self.scale:
                return self.argument(TensorType(dtype, shape))
            shape = list(value.type.shape)
        shape = shape[self.random.randrange(len(shape) + 1):] if self.random.random() < 0.3 else shape
        shape = [1 if self.random.random() < 0.25 else extent for extent in shape]
        return self.argument(TensorType(dtype, shape))

    def exact_value(self):
        return self.pick(lambda value: value.exact and value.type.dtype != "i1" and not value.helper,
                         lambda: self.argument(TensorType(self.dtype, self.random_shape())))

