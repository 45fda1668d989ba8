"""Random graphs: the graph a generated .kir function is made of, its types and its text.

A Graph is a list of arguments and a list of ops over named values, kept as data (not text) so
the reducer can edit it and re-derive every type. `result_type` below is this script's copy of
each op's result-type rule (ir/TypeRules.cpp): the generator uses it to build only legal graphs,
and kiln-opt's verifier stays the judge (a graph it refuses is a bug of the generator).
"""
import json
import math

FLOAT_DTYPES = ("f32", "f64")
INTEGER_DTYPES = ("i32", "i64")


class TypeError_(Exception):
    """An op whose operands and attributes have no result type."""


class TensorType:
    __slots__ = ("dtype", "shape")

    def __init__(self, dtype, shape):
        self.dtype, self.shape = dtype, tuple(shape)

    def __eq__(self, other):
        return isinstance(other, TensorType) and (self.dtype, self.shape) == (other.dtype, other.shape)

    def __hash__(self):
        return hash((self.dtype, self.shape))

    def __repr__(self):
        return text_of_type(self)

    def with_shape(self, shape):
        return TensorType(self.dtype, shape)

    @property
    def rank(self):
        return len(self.shape)

    @property
    def count(self):
        return math.prod(self.shape)

    @property
    def is_float(self):
        return self.dtype in FLOAT_DTYPES


def text_of_type(tensor_type):
    return f"{tensor_type.dtype}[{','.join(str(extent) for extent in tensor_type.shape)}]"


def parse_type(text):
    dtype, rest = text.split("[", 1)
    extents = rest.rstrip("]")
    return TensorType(dtype, [int(extent) for extent in extents.split(",") if extent])


def broadcast_shapes(lhs, rhs):
    rank = max(len(lhs), len(rhs))
    lhs, rhs = (1,) * (rank - len(lhs)) + tuple(lhs), (1,) * (rank - len(rhs)) + tuple(rhs)
    result = []
    for left, right in zip(lhs, rhs):
        if left != right and left != 1 and right != 1:
            return None
        result.append(right if left == 1 else left)
    return tuple(result)


def window_extent(extent, before, after, window, stride, dilation):
    span = dilation * (window - 1) + 1
    padded = extent + before + after
    return 0 if padded < span else (padded - span) // stride + 1


def conv_shape(image, kernel, attrs):
    stride, padding, dilation = attrs.get("stride", [1, 1]), attrs.get("padding", [0, 0, 0, 0]), attrs.get(
        "dilation", [1, 1])
    if image.rank != 4 or kernel.rank != 4 or image.shape[1] != kernel.shape[1] or image.dtype != kernel.dtype:
        raise TypeError_("conv2d operands")
    height = window_extent(image.shape[2], padding[0], padding[2], kernel.shape[2], stride[0], dilation[0])
    width = window_extent(image.shape[3], padding[1], padding[3], kernel.shape[3], stride[1], dilation[1])
    if height < 1 or width < 1:
        raise TypeError_("conv2d window larger than its input")
    return (image.shape[0], kernel.shape[0], height, width)


def pool_shape(image, attrs):
    window, stride, padding = attrs["window"], attrs["stride"], attrs.get("padding", [0, 0, 0, 0])
    if image.rank != 4 or any(padding[side] >= window[side % 2] for side in range(4)):
        raise TypeError_("pool operands")
    height = window_extent(image.shape[2], padding[0], padding[2], window[0], stride[0], 1)
    width = window_extent(image.shape[3], padding[1], padding[3], window[1], stride[1], 1)
    if height < 1 or width < 1:
        raise TypeError_("pool window larger than its input")
    return (image.shape[0], image.shape[1], height, width)


def reduced_shape(source, axes, keepdims):
    axes = list(range(source.rank)) if not axes else axes
    if len(set(axes)) != len(axes) or any(not 0 <= axis < source.rank for axis in axes):
        raise TypeError_("reduction axes")
    return tuple(1 if axis in axes else extent for axis, extent in enumerate(source.shape)
                 if keepdims or axis not in axes)


def gather_shape(table, indices, axis, batch_dims):
    if not 0 <= axis < table.rank or not 0 <= batch_dims <= min(axis, indices.rank):
        raise TypeError_("gather axis")
    if table.shape[:batch_dims] != indices.shape[:batch_dims]:
        raise TypeError_("gather batch axes")
    return table.shape[:axis] + indices.shape[batch_dims:] + table.shape[axis + 1:]


def result_type(mnemonic, operands, attrs, declared):
    """The result type of an op (raises TypeError_ when there is none); `declared` is the type
    written in the IR, which the rules named declared... in ir/Ops.def check instead of derive."""
    first = operands[0] if operands else None
    if mnemonic in UNARY or mnemonic in ("leaky_relu",):
        return first
    if mnemonic in BINARY or mnemonic in COMPARISONS:
        if operands[0].dtype != operands[1].dtype:
            raise TypeError_("binary dtypes")
        shape = broadcast_shapes(operands[0].shape, operands[1].shape)
        if shape is None:
            raise TypeError_("shapes do not broadcast")
        return TensorType("i1" if mnemonic in COMPARISONS else first.dtype, shape)
    if mnemonic == "select":
        if operands[0].dtype != "i1" or operands[1].dtype != operands[2].dtype:
            raise TypeError_("select operands")
        shape = broadcast_shapes(broadcast_shapes(operands[0].shape, operands[1].shape) or (-1,), operands[2].shape)
        if shape is None or -1 in shape:
            raise TypeError_("select shapes")
        return TensorType(operands[1].dtype, shape)
    if mnemonic in ("constant", "iota", "random_uniform", "random_normal", "random_bernoulli", "one_hot", "cast"):
        if mnemonic == "cast" and declared.shape != first.shape:
            raise TypeError_("cast keeps the shape")
        if mnemonic == "one_hot" and declared.shape != first.shape + (attrs["depth"],):
            raise TypeError_("one_hot shape")
        return declared
    if mnemonic == "broadcast":
        if declared.dtype != first.dtype or broadcast_shapes(first.shape, declared.shape) != declared.shape:
            raise TypeError_("broadcast")
        return declared
    if mnemonic == "reshape":
        if declared.dtype != first.dtype or declared.count != first.count:
            raise TypeError_("reshape")
        return declared
    if mnemonic == "transpose":
        if sorted(attrs["perm"]) != list(range(first.rank)):
            raise TypeError_("perm")
        return first.with_shape([first.shape[axis] for axis in attrs["perm"]])
    if mnemonic == "slice":
        start, limit = attrs["start"], attrs["limit"]
        stride = attrs.get("stride") or [1] * first.rank
        if not len(start) == len(limit) == len(stride) == first.rank:
            raise TypeError_("slice rank")
        shape = []
        for low, high, step, extent in zip(start, limit, stride, first.shape):
            if not (0 <= low <= high <= extent and step >= 1):
                raise TypeError_("slice bounds")
            shape.append((high - low + step - 1) // step)
        return first.with_shape(shape)
    if mnemonic == "concat":
        axis = attrs["axis"]
        if not 0 <= axis < first.rank:
            raise TypeError_("concat axis")
        for other in operands[1:]:
            if other.dtype != first.dtype or other.rank != first.rank or any(
                    a != b for i, (a, b) in enumerate(zip(other.shape, first.shape)) if i != axis):
                raise TypeError_("concat operands")
        shape = list(first.shape)
        shape[axis] = sum(operand.shape[axis] for operand in operands)
        return first.with_shape(shape)
    if mnemonic == "pad":
        low, high = attrs["low"], attrs["high"]
        if len(low) != first.rank or len(high) != first.rank or min(low + high, default=0) < 0:
            raise TypeError_("pad")
        return first.with_shape([extent + a + b for extent, a, b in zip(first.shape, low, high)])
    if mnemonic == "gather":
        if operands[1].dtype not in INTEGER_DTYPES:
            raise TypeError_("gather indices")
        return first.with_shape(gather_shape(first, operands[1], attrs["axis"], attrs.get("batch_dims", 0)))
    if mnemonic == "scatter_add":
        if operands[1].dtype not in INTEGER_DTYPES or declared.dtype != first.dtype:
            raise TypeError_("scatter_add")
        if gather_shape(declared, operands[1], attrs["axis"], attrs.get("batch_dims", 0)) != first.shape:
            raise TypeError_("scatter_add shapes")
        return declared
    if mnemonic in ("sum", "max", "min", "mean"):
        if first.dtype == "i1" or (mnemonic == "mean" and not first.is_float):
            raise TypeError_("reduction dtype")
        return first.with_shape(reduced_shape(first, attrs["axes"], attrs.get("keepdims", False)))
    if mnemonic == "argmax":
        axis = attrs["axis"]
        if not 0 <= axis < first.rank:
            raise TypeError_("argmax axis")
        shape = list(first.shape)
        if attrs.get("keepdims", False):
            shape[axis] = 1
        else:
            del shape[axis]
        return TensorType("i64", shape)
    if mnemonic == "matmul":
        lhs, rhs = operands
        if lhs.dtype != rhs.dtype or lhs.rank < 2 or rhs.rank < 2:
            raise TypeError_("matmul operands")
        rows, inner = (lhs.shape[-1], lhs.shape[-2]) if attrs.get("transpose_a") else lhs.shape[-2:]
        inner_rhs, columns = (rhs.shape[-1], rhs.shape[-2]) if attrs.get("transpose_b") else rhs.shape[-2:]
        batch = broadcast_shapes(lhs.shape[:-2], rhs.shape[:-2])
        if inner != inner_rhs or batch is None:
            raise TypeError_("matmul shapes")
        return lhs.with_shape(batch + (rows, columns))
    if mnemonic == "conv2d":
        return first.with_shape(conv_shape(operands[0], operands[1], attrs))
    if mnemonic == "conv2d_input_grad":
        if conv_shape(declared, operands[1], attrs) != operands[0].shape:
            raise TypeError_("conv2d_input_grad")
        return declared
    if mnemonic == "conv2d_filter_grad":
        if conv_shape(operands[0], declared, attrs) != operands[1].shape:
            raise TypeError_("conv2d_filter_grad")
        return declared
    if mnemonic in ("max_pool2d", "avg_pool2d"):
        return first.with_shape(pool_shape(first, attrs))
    if mnemonic in ("max_pool2d_grad", "avg_pool2d_grad"):
        if pool_shape(first, attrs) != operands[1].shape or operands[1].dtype != first.dtype:
            raise TypeError_("pool grad")
        return first
    if mnemonic in ("softmax", "log_softmax"):
        if not first.is_float or not 0 <= attrs["axis"] < first.rank:
            raise TypeError_("normalization")
        return first
    if mnemonic == "attention":
        # q [..., Tq, D], k and v [..., Tk, D], a bias broadcasting to [..., Tq, Tk]: o is shaped
        # like q (its second result, the log-sum-exp, is UNUSED_RESULTS's).
        query, key, value = operands[:3]
        if (not query.is_float or query.rank < 2 or key.shape != value.shape or key.rank != query.rank
                or key.shape[:-2] != query.shape[:-2] or key.shape[-1] != query.shape[-1]
                or any(operand.dtype != query.dtype for operand in operands)):
            raise TypeError_("attention operands")
        scores = query.shape[:-1] + (key.shape[-2],)
        if len(operands) == 4 and broadcast_shapes(operands[3].shape, scores) != scores:
            raise TypeError_("attention bias")
        return query
    raise TypeError_(f"no type rule for {mnemonic}")


UNARY = ("neg", "abs", "sign", "square", "relu", "exp", "log", "log1p", "sqrt", "rsqrt", "reciprocal", "tanh",
         "sigmoid", "gelu", "erf", "sin", "cos")
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
# Ops whose result type is written in the IR rather than derived (the declared... rules).
DECLARED = ("constant", "iota", "random_uniform", "random_normal", "random_bernoulli", "cast", "broadcast", "reshape",
            "scatter_add", "one_hot", "conv2d_input_grad", "conv2d_filter_grad")


class Op:
    __slots__ = ("result", "mnemonic", "operands", "attrs", "type")

    def __init__(self, result, mnemonic, operands, attrs, tensor_type):
        self.result, self.mnemonic, self.operands, self.attrs, self.type = result, mnemonic, list(operands), dict(
            attrs), tensor_type


class Argument:
    """A function argument; `index_bound` is set for integer arguments that index an extent, and
    `values` holds the values the driver feeds it (a flat list)."""
    __slots__ = ("name", "type", "index_bound", "values")

    def __init__(self, name, tensor_type, index_bound=None, values=None):
        self.name, self.type, self.index_bound, self.values = name, tensor_type, index_bound, values


class Graph:
    def __init__(self, name, arguments, ops, result):
        self.name, self.arguments, self.ops, self.result = name, arguments, ops, result

    def types(self):
        """Every value's type by name."""
        types = {argument.name: argument.type for argument in self.arguments}
        for op in self.ops:
            types[op.result] = op.type
        return types

    def retype(self):
        """Re-derives every op's type from its operands (after an edit); raises TypeError_."""
        types = {argument.name: argument.type for argument in self.arguments}
        for op in self.ops:
            declared = op.type if op.mnemonic in DECLARED else None
            op.type = result_type(op.mnemonic, [types[name] for name in op.operands], op.attrs, declared)
            types[op.result] = op.type
        if not types[self.result].is_float:
            raise TypeError_("the result is not a float")

    def result_type(self):
        return self.types()[self.result]

    def to_json(self):
        return {
            "name": self.name,
            "arguments": [[a.name, text_of_type(a.type), a.index_bound, a.values] for a in self.arguments],
            "ops": [[op.result, op.mnemonic, op.operands, op.attrs, text_of_type(op.type)] for op in self.ops],
            "result": self.result,
        }

    @staticmethod
    def from_json(data):
        arguments = [Argument(name, parse_type(type_text), bound, values)
                     for name, type_text, bound, values in data["arguments"]]
        ops = [Op(result, mnemonic, operands, attrs, parse_type(type_text))
               for result, mnemonic, operands, attrs, type_text in data["ops"]]
        return Graph(data["name"], arguments, ops, data["result"])

    def copy(self):
        return Graph.from_json(json.loads(json.dumps(self.to_json())))


def attribute_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(attribute_text(item) for item in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def widen(tensor_type, dtype_map):
    return TensorType(dtype_map.get(tensor_type.dtype, tensor_type.dtype), tensor_type.shape)


# The types of an op's results after its first, from the first's: the ops of several results.
UNUSED_RESULTS = {"attention": lambda first: [TensorType(first.dtype, first.shape[:-1])]}


def function_text(graph, dtype_map=None):
    """The graph as a .kir func; `dtype_map` ({"f32": "f64"}) gives its twin in another float type."""
    dtype_map = dtype_map or {}
    arguments = ", ".join(f"%{a.name}: {text_of_type(widen(a.type, dtype_map))}" for a in graph.arguments)
    lines = [f"func @{graph.name}({arguments}) -> {text_of_type(widen(graph.result_type(), dtype_map))} {{"]
    for op in graph.ops:
        operands = ", ".join(f"%{name}" for name in op.operands)
        attrs = ", ".join(f"{key} = {attribute_text(value)}" for key, value in op.attrs.items())
        result_type = text_of_type(widen(op.type, dtype_map))
        names = f"%{op.result}"
        if op.mnemonic in UNUSED_RESULTS:
            # Results after the first, which the graph never reads (attention's log-sum-exp).
            for index, extra in enumerate(UNUSED_RESULTS[op.mnemonic](op.type), 1):
                names += f", %{op.result}_{index}"
                result_type += f", {text_of_type(widen(extra, dtype_map))}"
            result_type = f"({result_type})"
        text = f"  {names} = {op.mnemonic}"
        text += f" {operands}" if operands else ""
        text += f" {{{attrs}}}" if attrs else ""
        lines.append(f"{text} : {result_type}")
    lines.append(f"  return %{graph.result}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def batch_text(graphs, dtype_map=None):
    """A module of the graphs and @main, which calls each one on its own arguments (prefixed with
    the graph's name) and returns every result, so that one process runs them all."""
    dtype_map = dtype_map or {}
    text = "\n".join(function_text(graph, dtype_map) for graph in graphs)
    arguments, calls, results, result_types = [], [], [], []
    for graph in graphs:
        names = [f"{graph.name}_{a.name}" for a in graph.arguments]
        arguments += [f"%{name}: {text_of_type(widen(a.type, dtype_map))}" for name, a in zip(names, graph.arguments)]
        result = widen(graph.result_type(), dtype_map)
        calls.append(f"  %{graph.name}_result = call @{graph.name}({', '.join('%' + n for n in names)}) : "
                     f"{text_of_type(result)}")
        results.append(f"%{graph.name}_result")
        result_types.append(text_of_type(result))
    text += f"\nfunc @main({', '.join(arguments)}) -> ({', '.join(result_types)}) {{\n"
    text += "\n".join(calls) + f"\n  return {', '.join(results)}\n}}\n"
    return text
