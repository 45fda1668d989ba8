"""Random graphs: one maker per op of the table (MAKERS), and the ops left out with a reason.

A maker builds one op of its kind on values of the graph (generator.Generator), with the guards
its operands need, and returns its value, or None when the graph offers nothing fitting.
"""
import math

from generator import CAP
from graph import BINARY, COMPARISONS, UNARY, TensorType, TypeError_, broadcast_shapes, conv_shape, pool_shape

# Ops of the table that no random graph contains, and why.
LEFT_OUT = {
    "attention_grad": "autodiff has no rule for it (a second derivative through attention is refused), so a graph "
                      "reading it fails --check-grad; every graph with attention checks it by finite differences "
                      "there, and test/unit/CpuDifferentialTest.cpp compares its kernel with the interpreter",
    "call": "each batch's @main calls every graph, which is where calls are tested; a graph stays one function so "
            "that --check-grad (which checks one function) and the reducer see all of it",
}

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
        source = gen.pick(lambda value: not value.type.is_float and value.bound <= 1000)
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


def indices(gen, shape, bound):
    """Integer indices of `shape` in [0, bound): a value of the graph that fits, or an argument."""
    existing = gen.pick(lambda value: value.type.dtype in ("i32", "i64") and tuple(value.type.shape) == tuple(shape)
                        and value.low >= 0 and value.high < bound)
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
    index = indices(gen, gen.random_shape(gen.random.randint(0, 2)), depth)
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


def make_attention(gen, mnemonic):
    """softmax(q kᵀ · scale [+ bias], causal) v: q [..., Tq, D], k and v [..., Tk, D], a bias of
    [Tq, Tk] or [Tk]. Each output row is a weighted mean of v's rows (causal or not, key 0 is never
    dropped), so it stays within v's bounds; the scores are bounded so that the weights are not
    all on one key, where the finite differences would see a flat softmax."""
    query = gen.bounded(gen.float_value(min_rank=2), 4.0)
    dtype, shape = query.type.dtype, tuple(query.type.shape)
    key_shape = shape[:-2] + (gen.random.randint(1, 7), shape[-1])
    key = gen.bounded(operand_of_shape(gen, dtype, key_shape), 4.0)
    value = operand_of_shape(gen, dtype, key_shape)
    operands = [query, key, value]
    if gen.random.random() < 0.5:
        bias_shape = (shape[-2], key_shape[-2]) if gen.random.random() < 0.5 else (key_shape[-2],)
        operands.append(gen.bounded(operand_of_shape(gen, dtype, bias_shape), 4.0))
    attrs = {"scale": gen.random.choice((0.125, 0.25, 0.5))}
    if gen.random.random() < 0.5:
        attrs["causal"] = True
    return gen.emit("attention", operands, attrs, low=min(value.low, 0.0), high=max(value.high, 0.0))


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
               "matmul": make_matmul, "attention": make_attention})

