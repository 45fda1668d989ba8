// Functions callable by name that no Kiln source defines: every op of the IR table (its
// operands positional, its attributes named, negative axes normalised), the shape functions
// whose result type the op table cannot derive (reshape, cast, one_hot, ...), compile-time
// math on numbers; the parameter initializers are in Initializers.cpp.
#include <cmath>

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Support/CheckedArithmetic.h>

#include "frontend/BuiltinCall.h"

namespace kiln::lang {

namespace {
using Handler = BuiltinHandler;

// reshape(x, shape): one extent may be -1, inferred from the element count.
Object reshape(BuiltinCall &call) {
  if (!call.bind({"x", "shape"}, 2)) return Object::poison();
  kiln::Value *x = call.tensor(0);
  std::optional<Ints> extents = call.ints(1);
  if (!x || !extents) return Object::poison();
  int64_t known = 1, inferred = -1;
  for (size_t i = 0; i < extents->size(); ++i) {
    if ((*extents)[i] == -1 && inferred < 0) {
      inferred = static_cast<int64_t>(i);
      continue;
    }
    if ((*extents)[i] < 1)
      return call.error(call.range(1), fmt::format("cannot reshape to [{}]", fmt::join(*extents, ", ")));
    std::optional<int64_t> product = llvm::checkedMul(known, (*extents)[i]);
    if (!product) return call.error(call.range(1), "the shape has too many elements");
    known = *product;
  }
  Shape shape = *extents;
  int64_t count = x->type().elementCount();
  if (inferred >= 0) {
    if (count % known != 0)
      return call.error(call.range(1),
                        fmt::format("cannot reshape {} to [{}]", toString(x->type()), fmt::join(*extents, ", ")));
    shape[inferred] = count / known;
  }
  return call.create(OpKind::Reshape, {x}, {}, x->type().withShape(shape));
}

// flatten(x, start: 1): merges the axes from `start` on into one.
Object flatten(BuiltinCall &call) {
  if (!call.bind({"x", "start"}, 1)) return Object::poison();
  kiln::Value *x = call.tensor(0);
  if (!x) return Object::poison();
  std::optional<int64_t> start = call.axis(1, 1, x->type().rank());
  if (!start) return Object::poison();
  Shape shape(x->type().shape.begin(), x->type().shape.begin() + *start);
  int64_t merged = 1;
  for (int64_t axis = *start; axis < x->type().rank(); ++axis) merged *= x->type().shape[axis];
  shape.push_back(merged);
  return call.create(OpKind::Reshape, {x}, {}, x->type().withShape(shape));
}

// transpose(x): swaps the last two axes; transpose(x, perm: [...]) permutes them all.
Object transpose(BuiltinCall &call) {
  if (!call.bind({"x", "perm"}, 1)) return Object::poison();
  kiln::Value *x = call.tensor(0);
  if (!x) return Object::poison();
  int64_t rank = x->type().rank();
  Ints perm;
  if (call.has(1)) {
    std::optional<Ints> given = call.ints(1);
    if (!given) return Object::poison();
    for (int64_t axis : *given) perm.push_back(axis < 0 ? axis + rank : axis);
  } else {
    if (rank < 2)
      return call.error(call.range(0), fmt::format("transpose needs rank 2 or more, not {}", toString(x->type())));
    for (int64_t axis = 0; axis < rank; ++axis) perm.push_back(axis);
    std::swap(perm[rank - 1], perm[rank - 2]);
  }
  return call.create(OpKind::Transpose, {x}, {{"perm", perm}});
}

Object concat(BuiltinCall &call) {
  if (!call.bind({"tensors", "axis"}, 1)) return Object::poison();
  auto tensors = call.tensors(0);
  if (!tensors) return Object::poison();
  std::optional<int64_t> axis = call.axis(1, 0, tensors->front()->type().rank());
  if (!axis) return Object::poison();
  return call.create(OpKind::Concat, *tensors, {{"axis", *axis}});
}

// stack(tensors, axis: 0): a new axis of size one on each, then concat along it.
Object stack(BuiltinCall &call) {
  if (!call.bind({"tensors", "axis"}, 1)) return Object::poison();
  auto tensors = call.tensors(0);
  if (!tensors) return Object::poison();
  std::optional<int64_t> axis = call.axis(1, 0, tensors->front()->type().rank() + 1);
  if (!axis) return Object::poison();
  std::vector<kiln::Value *> expanded;
  for (kiln::Value *tensor : *tensors) {
    Shape shape = tensor->type().shape;
    shape.insert(shape.begin() + *axis, 1);
    Object reshaped = call.create(OpKind::Reshape, {tensor}, {}, tensor->type().withShape(shape));
    if (reshaped.isPoison()) return reshaped;
    expanded.push_back(reshaped.tensor);
  }
  return call.create(OpKind::Concat, expanded, {{"axis", *axis}});
}

Object expandDims(BuiltinCall &call) {
  if (!call.bind({"x", "axis"}, 2)) return Object::poison();
  kiln::Value *x = call.tensor(0);
  if (!x) return Object::poison();
  std::optional<int64_t> axis = call.axis(1, 0, x->type().rank() + 1);
  if (!axis) return Object::poison();
  Shape shape = x->type().shape;
  shape.insert(shape.begin() + *axis, 1);
  return call.create(OpKind::Reshape, {x}, {}, x->type().withShape(shape));
}

Object cast(BuiltinCall &call) {
  if (!call.bind({"x", "dtype"}, 2)) return Object::poison();
  kiln::Value *x = call.tensor(0);
  std::optional<DType> dtype = call.dtype(1, DType::F32);
  if (!x || !dtype) return Object::poison();
  return call.create(OpKind::Cast, {x}, {}, x->type().withDType(*dtype));
}

Object oneHot(BuiltinCall &call) {
  if (!call.bind({"indices", "depth", "dtype"}, 2)) return Object::poison();
  kiln::Value *indices = call.tensor(0);
  std::optional<int64_t> depth = call.integer(1, 1);
  std::optional<DType> dtype = call.dtype(2, DType::F32);
  if (!indices || !depth || !dtype) return Object::poison();
  Shape shape = indices->type().shape;
  shape.push_back(*depth);
  return call.create(OpKind::OneHot, {indices}, {{"depth", *depth}}, TensorType{*dtype, shape});
}

Object broadcastTo(BuiltinCall &call) {
  if (!call.bind({"x", "shape"}, 2)) return Object::poison();
  kiln::Value *x = call.tensor(0);
  std::optional<Shape> shape = call.shape(1);
  if (!x || !shape) return Object::poison();
  return call.create(OpKind::Broadcast, {x}, {}, x->type().withShape(*shape));
}

Object iota(BuiltinCall &call) {
  if (!call.bind({"shape", "axis", "dtype"}, 1)) return Object::poison();
  std::optional<Shape> shape = call.shape(0);
  if (!shape) return Object::poison();
  std::optional<int64_t> axis = call.axis(1, 0, static_cast<int64_t>(shape->size()));
  std::optional<DType> dtype = call.dtype(2, DType::I64);
  if (!axis || !dtype) return Object::poison();
  return call.create(OpKind::Iota, {}, {{"axis", *axis}}, TensorType{*dtype, *shape});
}

// zeros/ones/full(shape, value, dtype). In a `param` initializer, no shape: the parameter's.
Object filled(BuiltinCall &call, std::optional<double> fixedValue) {
  std::vector<std::string_view> names = {"shape", "dtype"};
  if (!fixedValue) names = {"shape", "value", "dtype"};
  const ParameterSlot *parameter = call.lowerer.initializing;
  if (!call.bind(names, parameter ? 0 : 1)) return Object::poison();
  std::optional<double> value = fixedValue ? fixedValue : call.number(1, 0.0);
  if (!fixedValue && !call.has(1)) return call.error(call.where, fmt::format("'{}' needs argument 'value'", call.name));
  std::optional<TensorType> type;
  if (call.has(0)) {
    std::optional<Shape> shape = call.shape(0);
    std::optional<DType> dtype = call.dtype(names.size() - 1, parameter ? parameter->type.dtype : DType::F32);
    if (!shape || !dtype) return Object::poison();
    type = TensorType{*dtype, *shape};
  } else {
    type = parameter->type;
  }
  if (!value) return Object::poison();
  AttrValue elements = isFloat(type->dtype) ? AttrValue(Floats{*value}) : AttrValue(Ints{static_cast<int64_t>(*value)});
  return call.create(OpKind::Constant, {}, {{"value", elements}}, *type);
}

Object length(BuiltinCall &call) {
  if (!call.bind({"sequence"}, 1)) return Object::poison();
  if (!call.value(0).isSequence())
    return call.error(call.range(0), fmt::format("len needs a list or tuple, not {}", describe(call.value(0))));
  return Object::ofInt(static_cast<int64_t>(call.value(0).elements->size()));
}

Object toFloat(BuiltinCall &call) {
  if (!call.bind({"x"}, 1)) return Object::poison();
  std::optional<double> value = call.number(0, 0.0);
  return value ? Object::ofFloat(*value) : Object::poison();
}

Object toInt(BuiltinCall &call) {
  if (!call.bind({"x"}, 1)) return Object::poison();
  std::optional<double> value = call.number(0, 0.0);
  if (!value) return Object::poison();
  if (!(std::fabs(*value) < 9.0e18)) return call.error(call.range(0), "the number does not fit an int");
  return Object::ofInt(static_cast<int64_t>(*value));
}

// expect_same_shape(a, b, what): nothing, or an error naming both shapes. Losses call it, since
// broadcasting a [B, 1] prediction against a [B] target silently averages B * B differences.
Object expectSameShape(BuiltinCall &call) {
  if (!call.bind({"a", "b", "what"}, 3)) return Object::poison();
  kiln::Value *a = call.tensor(0), *b = call.tensor(1);
  if (!a || !b) return Object::poison();
  if (call.value(2).kind != Object::Kind::String)
    return call.error(call.range(2), fmt::format("expected a string, found {}", describe(call.value(2))));
  if (a->type().shape != b->type().shape)
    return call.error(
        call.where,
        fmt::format("{}: the operands must have the same shape, but are {} and {} (a loss does not broadcast)",
                    call.value(2).text, toString(a->type()), toString(b->type())));
  return Object::ofSequence(Object::Kind::Tuple, {});
}

// A value as `require` writes it into its message: strings as they are, numbers and lists of them
// as literals ([3, 5]), tensors by type.
std::string messagePart(const Object &part) {
  switch (part.kind) {
  case Object::Kind::String: return part.text;
  case Object::Kind::Int: return std::to_string(part.integer);
  case Object::Kind::Float: return formatFloat(part.number);
  case Object::Kind::Bool: return part.integer ? "true" : "false";
  case Object::Kind::Tensor: return toString(part.tensor->type());
  case Object::Kind::List:
  case Object::Kind::Tuple: {
    bool list = part.kind == Object::Kind::List;
    std::vector<std::string> elements;
    for (const Object &element : *part.elements)
      elements.push_back(element.kind == Object::Kind::String ? fmt::format("\"{}\"", element.text)
                                                              : messagePart(element));
    std::string joined = fmt::format("{}", fmt::join(elements, ", "));
    if (list) return "[" + joined + "]";
    return elements.size() == 1 ? "(" + joined + ",)" : "(" + joined + ")";
  }
  default: return describe(part);
  }
}

// require(condition, message parts...): nothing when the compile-time bool holds, else an error
// whose message joins the parts (strings as they are, other values spelled): layers check their
// hyper-parameters with it, `require(p < 1, "Dropout: p must be below 1, not ", p)`.
Object require(BuiltinCall &call) {
  if (call.arguments.entries.size() < 2) return call.error(call.where, "'require' needs a condition and a message");
  for (const Arguments::Entry &entry : call.arguments.entries)
    if (!entry.name.empty()) return call.error(entry.range, "'require' takes positional arguments only");
  const Object &condition = call.arguments.entries.front().value;
  if (condition.kind != Object::Kind::Bool)
    return call.error(
        call.arguments.entries.front().range,
        fmt::format("the condition of 'require' must be a compile-time bool, found {}", describe(condition)));
  if (condition.integer) return Object::ofSequence(Object::Kind::Tuple, {});
  std::string message;
  for (size_t i = 1; i < call.arguments.entries.size(); ++i) message += messagePart(call.arguments.entries[i].value);
  return call.error(call.where, message);
}

// type_of(x): what kind of compile-time value x is, as a string, so that a library function can
// take an option in several forms (Conv2d's `kernel: 3` or `kernel: [3, 5]`).
Object typeOf(BuiltinCall &call) {
  if (!call.bind({"x"}, 1)) return Object::poison();
  const Object &value = call.value(0);
  switch (value.kind) {
  case Object::Kind::Int: return Object::ofString("int");
  case Object::Kind::Float: return Object::ofString("float");
  case Object::Kind::Bool: return Object::ofString("bool");
  case Object::Kind::String: return Object::ofString("string");
  case Object::Kind::DType: return Object::ofString("dtype");
  case Object::Kind::Tensor:
  case Object::Kind::Parameter: return Object::ofString("tensor");
  case Object::Kind::List: return Object::ofString("list");
  case Object::Kind::Tuple: return Object::ofString("tuple");
  case Object::Kind::Component: return Object::ofString("layer");
  case Object::Kind::Instance: return Object::ofString("instance");
  case Object::Kind::Function:
  case Object::Kind::Builtin: return Object::ofString("function");
  case Object::Kind::None: return Object::ofString("none");
  case Object::Kind::Poison: break;
  }
  return Object::poison();
}

// clamp(x, min: a, max: b): maximum(minimum(x, b), a), either bound optional (PyTorch's clamp).
Object clamp(BuiltinCall &call) {
  if (!call.bind({"x", "min", "max"}, 1)) return Object::poison();
  kiln::Value *x = call.tensor(0);
  if (!x) return Object::poison();
  if (!call.has(1) && !call.has(2)) return call.error(call.where, "'clamp' needs 'min', 'max' or both");
  Object result = Object::ofTensor(x);
  for (auto [slot, kind] : {std::pair{size_t{2}, OpKind::Minimum}, std::pair{size_t{1}, OpKind::Maximum}}) {
    if (!call.has(slot)) continue;
    kiln::Value *bound = call.tensor(slot, x->type().dtype);
    if (!bound) return Object::poison();
    result = call.create(kind, {result.tensor, bound});
    if (result.isPoison()) return result;
  }
  return result;
}

// bernoulli(x, p): of x's type, each element 1 with probability p, else 0; a new draw at every
// training step (dropout's mask).
Object bernoulli(BuiltinCall &call) {
  if (!call.bind({"x", "p"}, 2)) return Object::poison();
  kiln::Value *x = call.tensor(0);
  std::optional<double> p = call.number(1, 0.5);
  if (!x || !p) return Object::poison();
  if (!isFloat(x->type().dtype))
    return call.error(call.range(0),
                      fmt::format("'bernoulli' draws floats of x's type, but x is {}", toString(x->type())));
  if (!(*p >= 0 && *p <= 1)) return call.error(call.range(1), fmt::format("p must be in [0, 1], not {}", *p));
  kiln::Value *key = call.lowerer.trainingKey(call.name, call.where);
  if (!key) return Object::poison();
  return call.create(OpKind::RandomBernoulli, {key}, {{"p", *p}}, x->type());
}

const llvm::StringMap<Handler> &frontendBuiltins() {
  static const llvm::StringMap<Handler> table = {
      {"reshape", reshape},
      {"flatten", flatten},
      {"transpose", transpose},
      {"concat", concat},
      {"stack", stack},
      {"expand_dims", expandDims},
      {"cast", cast},
      {"one_hot", oneHot},
      {"broadcast_to", broadcastTo},
      {"iota", iota},
      {"expect_same_shape", expectSameShape},
      {"require", require},
      {"clamp", clamp},
      {"bernoulli", bernoulli},
      {"zeros", [](BuiltinCall &call) { return filled(call, 0.0); }},
      {"ones", [](BuiltinCall &call) { return filled(call, 1.0); }},
      {"full", [](BuiltinCall &call) { return filled(call, std::nullopt); }},
      {"len", length},
      {"type_of", typeOf},
      {"float", toFloat},
      {"int", toInt},
  };
  return table;
}

// Math on compile-time numbers, so that `x / sqrt(D)` divides by a number, not a tensor.
const llvm::StringMap<double (*)(double)> &numberFunctions() {
  static const llvm::StringMap<double (*)(double)> table = {
      {"sqrt", [](double x) { return std::sqrt(x); }}, {"exp", [](double x) { return std::exp(x); }},
      {"log", [](double x) { return std::log(x); }},   {"tanh", [](double x) { return std::tanh(x); }},
      {"abs", [](double x) { return std::fabs(x); }},  {"sin", [](double x) { return std::sin(x); }},
      {"cos", [](double x) { return std::cos(x); }},
  };
  return table;
}

// Converts a named argument to the attribute value it stands for, normalising negative axes
// against the rank of the first operand.
std::optional<AttrValue> attributeValue(BuiltinCall &call, const Arguments::Entry &entry, int64_t rank) {
  const Object &value = entry.value;
  auto normalise = [&](int64_t axis) { return axis < 0 ? axis + rank : axis; };
  bool isAxis = entry.name == "axis", isAxisList = entry.name == "axes" || entry.name == "perm";
  switch (value.kind) {
  case Object::Kind::Int:
    if (isAxisList) return Ints{normalise(value.integer)};
    return isAxis ? normalise(value.integer) : value.integer;
  case Object::Kind::Float: return value.number;
  case Object::Kind::Bool: return static_cast<bool>(value.integer);
  case Object::Kind::List:
  case Object::Kind::Tuple: {
    Ints ints;
    Floats floats;
    bool allInts = true;
    for (const Object &element : *value.elements) {
      if (element.kind == Object::Kind::Int)
        ints.push_back(isAxisList ? normalise(element.integer) : element.integer);
      else if (element.kind == Object::Kind::Float)
        allInts = false;
      else {
        call.error(entry.range, fmt::format("attribute '{}' must hold numbers, not {}", entry.name, describe(element)));
        return std::nullopt;
      }
      floats.push_back(element.asDouble());
    }
    for (int64_t element : ints)
      if (element > kMaxElementCount || element < -kMaxElementCount) {
        call.error(entry.range, fmt::format("attribute '{}' holds a number too large for a size", entry.name));
        return std::nullopt;
      }
    if (allInts) return ints;
    return floats;
  }
  default:
    call.error(entry.range, fmt::format("attribute '{}' cannot be {}", entry.name, describe(value)));
    return std::nullopt;
  }
}

// An op of the table: operands positional, attributes named.
Object callTableOp(BuiltinCall &call, OpKind kind) {
  std::vector<const Arguments::Entry *> operandEntries;
  for (const Arguments::Entry &entry : call.arguments.entries)
    if (entry.name.empty()) operandEntries.push_back(&entry);
  // Numbers among the operands take the dtype of the first non-boolean tensor operand.
  std::optional<DType> dtype;
  for (const Arguments::Entry *entry : operandEntries)
    if (entry->value.kind == Object::Kind::Tensor && (!dtype || *dtype == DType::I1))
      dtype = entry->value.tensor->type().dtype;
  std::vector<kiln::Value *> operands;
  for (const Arguments::Entry *entry : operandEntries) {
    kiln::Value *operand = call.lowerer.asTensor(entry->value, dtype, entry->range);
    if (!operand) return Object::poison();
    operands.push_back(operand);
  }
  int64_t rank = operands.empty() ? 0 : operands.front()->type().rank();
  std::vector<NamedAttribute> attributes;
  // sum(x), mean(x), max(x), min(x) with no axes reduce every axis, as in NumPy and PyTorch.
  bool reduction = kind == OpKind::Sum || kind == OpKind::Mean || kind == OpKind::Max || kind == OpKind::Min;
  if (reduction &&
      llvm::none_of(call.arguments.entries, [](const Arguments::Entry &entry) { return entry.name == "axes"; }))
    attributes.push_back({"axes", Ints{}});
  for (const Arguments::Entry &entry : call.arguments.entries) {
    if (entry.name.empty()) continue;
    std::optional<AttrValue> value = attributeValue(call, entry, rank);
    if (!value) return Object::poison();
    attributes.push_back({entry.name, std::move(*value)});
  }
  return call.create(kind, std::move(operands), std::move(attributes));
}
}  // namespace

// Names that PyTorch users reach for, for ops of the table: where(condition, a, b) is select.
static std::optional<OpKind> aliasedOp(llvm::StringRef name) {
  if (name == "where") return OpKind::Select;
  return std::nullopt;
}

bool Lowerer::isBuiltin(llvm::StringRef name) const {
  return frontendBuiltins().contains(name) || aliasedOp(name) || initializers().contains(name) ||
         lookupOp(std::string_view(name)).has_value();
}

Object Lowerer::callBuiltin(const std::string &name, Arguments &arguments, llvm::SMRange where) {
  BuiltinCall call(*this, name, arguments, where);
  if (auto it = initializers().find(name); it != initializers().end()) {
    if (!initializing)
      return call.error(where, fmt::format("'{}' is an initializer: it is used in `param` declarations only", name));
    return it->second(call);
  }
  if (auto it = frontendBuiltins().find(name); it != frontendBuiltins().end()) return it->second(call);
  // Math on numbers stays at compile time.
  if (auto it = numberFunctions().find(name); it != numberFunctions().end() && arguments.entries.size() == 1 &&
                                              arguments.entries[0].name.empty() &&
                                              (arguments.entries[0].value.kind == Object::Kind::Int ||
                                               arguments.entries[0].value.kind == Object::Kind::Float)) {
    double result = it->second(arguments.entries[0].value.asDouble());
    if (!std::isfinite(result))
      return call.error(where, fmt::format("{}({}) is not a finite number", name,
                                           formatFloat(arguments.entries[0].value.asDouble())));
    return Object::ofFloat(result);
  }
  if (std::optional<OpKind> kind = lookupOp(name)) return callTableOp(call, *kind);
  if (std::optional<OpKind> kind = aliasedOp(name)) return callTableOp(call, *kind);
  return call.error(where, fmt::format("unknown function '{}'", name));
}

}  // namespace kiln::lang
