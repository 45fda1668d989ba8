// The result-type rules of the op table. Each message names the op's operands' types so that a
// shape error can be understood without looking anything up.
#include "ir/TypeRules.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/Support/CheckedArithmetic.h>

namespace kiln::type_rules {

namespace {
const TensorType &operand(const TypeRuleInput &input, size_t index) { return input.operands[index]; }

llvm::Expected<TensorType> requireDeclared(const TypeRuleInput &input, std::string_view what) {
  if (!input.declared) return llvm::createStringError(fmt::format("the result type of {} must be written out", what));
  return *input.declared;
}

llvm::Error checkAxis(int64_t axis, int64_t rank, std::string_view what) {
  if (axis < 0 || axis >= rank)
    return llvm::createStringError(fmt::format("{} {} is out of range for rank {}", what, axis, rank));
  return llvm::Error::success();
}

llvm::Error checkAllPositive(const Ints &values, size_t count, std::string_view what) {
  if (values.size() != count)
    return llvm::createStringError(fmt::format("{} needs {} values, not {}", what, count, values.size()));
  for (int64_t value : values)
    if (value < 1)
      return llvm::createStringError(fmt::format("{} must be positive: [{}]", what, fmt::join(values, ", ")));
  return llvm::Error::success();
}

llvm::Error checkAllNonNegative(const Ints &values, size_t count, std::string_view what) {
  if (values.size() != count)
    return llvm::createStringError(fmt::format("{} needs {} values, not {}", what, count, values.size()));
  for (int64_t value : values)
    if (value < 0)
      return llvm::createStringError(fmt::format("{} must not be negative: [{}]", what, fmt::join(values, ", ")));
  return llvm::Error::success();
}

llvm::Error checkSameDType(const TypeRuleInput &input) {
  for (const TensorType &type : input.operands)
    if (type.dtype != input.operands[0].dtype)
      return llvm::createStringError(
          fmt::format("operand dtypes differ: {} and {}", toString(input.operands[0]), toString(type)));
  return llvm::Error::success();
}

llvm::Expected<Shape> broadcastOperands(const TypeRuleInput &input) {
  Shape shape = input.operands[0].shape;
  for (const TensorType &type : input.operands.subspan(1)) {
    std::optional<Shape> joined = broadcastShapes(shape, type.shape);
    if (!joined) {
      std::vector<std::string> types;
      for (const TensorType &each : input.operands) types.push_back(toString(each));
      return llvm::createStringError(fmt::format("shapes do not broadcast: {}", fmt::join(types, ", ")));
    }
    shape = std::move(*joined);
  }
  return shape;
}

// Output extent of a window of `window` taps dilated by `dilation`, slid by `stride`:
//   (extent + padBefore + padAfter - (dilation * (window - 1) + 1)) / stride + 1, at least 0.
// nullopt when an intermediate overflows 64 bits; every input is non-negative, stride and
// dilation positive.
std::optional<int64_t> windowOutputExtent(int64_t extent, int64_t padBefore, int64_t padAfter, int64_t window,
                                          int64_t stride, int64_t dilation) {
  std::optional<int64_t> span = llvm::checkedMulAdd(dilation, std::max<int64_t>(window - 1, 0), int64_t{1});
  std::optional<int64_t> padded = llvm::checkedAdd(extent, padBefore);
  if (padded) padded = llvm::checkedAdd(*padded, padAfter);
  if (!span || !padded) return std::nullopt;
  return *padded < *span ? 0 : (*padded - *span) / stride + 1;
}

llvm::Expected<Shape> convolutionShape(const TensorType &image, const TensorType &filter,
                                       const Attributes &attributes) {
  if (image.rank() != 4 || filter.rank() != 4)
    return llvm::createStringError(
        fmt::format("takes an NCHW input and an OIHW filter, not {} and {}", toString(image), toString(filter)));
  if (!isFloat(image.dtype) || image.dtype != filter.dtype)
    return llvm::createStringError(
        fmt::format("needs float operands of one dtype, not {} and {}", toString(image), toString(filter)));
  if (image.shape[1] != filter.shape[1])
    return llvm::createStringError(fmt::format("input channels {} differ from filter channels {}: {} and {}",
                                               image.shape[1], filter.shape[1], toString(image), toString(filter)));
  const Ints &stride = attributes.getInts("stride");
  const Ints &padding = attributes.getInts("padding");
  const Ints &dilation = attributes.getInts("dilation");
  if (auto error = checkAllPositive(stride, 2, "stride")) return error;
  if (auto error = checkAllNonNegative(padding, 4, "padding")) return error;
  if (auto error = checkAllPositive(dilation, 2, "dilation")) return error;
  if (filter.shape[2] < 1 || filter.shape[3] < 1)
    return llvm::createStringError(fmt::format("the filter {} has an empty window", toString(filter)));
  std::optional<int64_t> height =
      windowOutputExtent(image.shape[2], padding[0], padding[2], filter.shape[2], stride[0], dilation[0]);
  std::optional<int64_t> width =
      windowOutputExtent(image.shape[3], padding[1], padding[3], filter.shape[3], stride[1], dilation[1]);
  if (!height || !width)
    return llvm::createStringError(fmt::format("padding [{}] and dilation [{}] overflow 64 bits",
                                               fmt::join(padding, ", "), fmt::join(dilation, ", ")));
  if (*height < 1 || *width < 1) {
    if (dilation[0] == 1 && dilation[1] == 1)
      return llvm::createStringError(
          fmt::format("the filter {} is larger than the padded input {}", toString(filter), toString(image)));
    // A dilated filter spans dilation * (taps - 1) + 1 elements per axis.
    return llvm::createStringError(
        fmt::format("the filter {} dilated by [{}] spans [{}, {}], more than the padded input {}", toString(filter),
                    fmt::join(dilation, ", "), dilation[0] * (filter.shape[2] - 1) + 1,
                    dilation[1] * (filter.shape[3] - 1) + 1, toString(image)));
  }
  return Shape{image.shape[0], filter.shape[0], *height, *width};
}

llvm::Expected<Shape> poolShape(const TensorType &image, const Attributes &attributes) {
  if (image.rank() != 4 || !isFloat(image.dtype))
    return llvm::createStringError(fmt::format("pooling takes a float NCHW input, not {}", toString(image)));
  const Ints &window = attributes.getInts("window");
  const Ints &stride = attributes.getInts("stride");
  const Ints &padding = attributes.getInts("padding");
  if (auto error = checkAllPositive(window, 2, "window")) return error;
  if (auto error = checkAllPositive(stride, 2, "stride")) return error;
  if (auto error = checkAllNonNegative(padding, 4, "padding")) return error;
  for (int side = 0; side < 4; ++side)
    if (padding[side] >= window[side % 2])
      return llvm::createStringError(fmt::format("padding [{}] must be smaller than the window [{}]",
                                                 fmt::join(padding, ", "), fmt::join(window, ", ")));
  std::optional<int64_t> height = windowOutputExtent(image.shape[2], padding[0], padding[2], window[0], stride[0], 1);
  std::optional<int64_t> width = windowOutputExtent(image.shape[3], padding[1], padding[3], window[1], stride[1], 1);
  if (!height || !width)
    return llvm::createStringError(
        fmt::format("padding [{}] of {} overflows 64 bits", fmt::join(padding, ", "), toString(image)));
  if (*height < 1 || *width < 1)
    return llvm::createStringError(
        fmt::format("the window [{}] is larger than the padded input {}", fmt::join(window, ", "), toString(image)));
  return Shape{image.shape[0], image.shape[1], *height, *width};
}

// result = params[:axis] + indices[batch_dims:] + params[axis+1:]
llvm::Expected<Shape> gatherShape(const TensorType &params, const TensorType &indices, const Attributes &attributes) {
  int64_t axis = attributes.getInt("axis");
  int64_t batchDims = attributes.getInt("batch_dims");
  if (!isInteger(indices.dtype))
    return llvm::createStringError(fmt::format("indices must be i32 or i64, not {}", toString(indices)));
  if (auto error = checkAxis(axis, params.rank(), "axis")) return error;
  if (batchDims < 0 || batchDims > axis || batchDims > indices.rank())
    return llvm::createStringError(fmt::format("batch_dims {} must be between 0 and min(axis {}, rank of indices {})",
                                               batchDims, axis, indices.rank()));
  for (int64_t i = 0; i < batchDims; ++i)
    if (params.shape[i] != indices.shape[i])
      return llvm::createStringError(
          fmt::format("the first {} axes of {} and {} must agree", batchDims, toString(params), toString(indices)));
  Shape shape(params.shape.begin(), params.shape.begin() + axis);
  shape.insert(shape.end(), indices.shape.begin() + batchDims, indices.shape.end());
  shape.insert(shape.end(), params.shape.begin() + axis + 1, params.shape.end());
  return shape;
}

llvm::Error expectDeclaredShape(const TensorType &declared, const Shape &expected, std::string_view why) {
  if (declared.shape != expected)
    return llvm::createStringError(
        fmt::format("result type {} should have shape {} ({})", toString(declared), toString(expected), why));
  return llvm::Error::success();
}
}  // namespace

llvm::Expected<TensorType> unaryNumeric(const TypeRuleInput &input) {
  if (operand(input, 0).dtype == DType::I1)
    return llvm::createStringError(fmt::format("needs a numeric operand, not {}", toString(operand(input, 0))));
  return operand(input, 0);
}

llvm::Expected<TensorType> unaryFloat(const TypeRuleInput &input) {
  if (!isFloat(operand(input, 0).dtype))
    return llvm::createStringError(fmt::format("needs a float operand, not {}", toString(operand(input, 0))));
  return operand(input, 0);
}

llvm::Expected<TensorType> binaryArithmetic(const TypeRuleInput &input) {
  if (auto error = checkSameDType(input)) return error;
  if (operand(input, 0).dtype == DType::I1)
    return llvm::createStringError(fmt::format("needs numeric operands, not {}", toString(operand(input, 0))));
  auto shape = broadcastOperands(input);
  if (!shape) return shape.takeError();
  return TensorType{operand(input, 0).dtype, *shape};
}

llvm::Expected<TensorType> binaryFloat(const TypeRuleInput &input) {
  if (auto error = checkSameDType(input)) return error;
  if (!isFloat(operand(input, 0).dtype))
    return llvm::createStringError(fmt::format("needs float operands, not {}", toString(operand(input, 0))));
  auto shape = broadcastOperands(input);
  if (!shape) return shape.takeError();
  return TensorType{operand(input, 0).dtype, *shape};
}

llvm::Expected<TensorType> comparison(const TypeRuleInput &input) {
  if (auto error = checkSameDType(input)) return error;
  auto shape = broadcastOperands(input);
  if (!shape) return shape.takeError();
  return TensorType{DType::I1, *shape};
}

llvm::Expected<TensorType> select(const TypeRuleInput &input) {
  if (operand(input, 0).dtype != DType::I1)
    return llvm::createStringError(fmt::format("the condition must be i1, not {}", toString(operand(input, 0))));
  if (operand(input, 1).dtype != operand(input, 2).dtype)
    return llvm::createStringError(fmt::format("both choices need one dtype: {} and {}", toString(operand(input, 1)),
                                               toString(operand(input, 2))));
  auto shape = broadcastOperands(input);
  if (!shape) return shape.takeError();
  return TensorType{operand(input, 1).dtype, *shape};
}

llvm::Expected<TensorType> declaredConstant(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "a constant");
  if (!result) return result;
  const AttrValue *value = input.attributes.find("value");
  size_t count = 0;
  if (const auto *floats = std::get_if<Floats>(value)) {
    if (!isFloat(result->dtype))
      return llvm::createStringError(fmt::format("float elements for {}", toString(*result)));
    // A finite number f32 cannot hold would silently become infinite.
    if (result->dtype == DType::F32)
      for (double element : *floats)
        if (std::isfinite(element) && std::isinf(static_cast<float>(element)))
          return llvm::createStringError(fmt::format("{} is beyond the range of f32 (largest {})", formatFloat(element),
                                                     formatFloat(std::numeric_limits<float>::max(), DType::F32)));
    count = floats->size();
  } else if (const auto *ints = std::get_if<Ints>(value)) {
    if (isFloat(result->dtype))
      return llvm::createStringError(fmt::format("integer elements for {}", toString(*result)));
    if (result->dtype == DType::I1)
      for (int64_t element : *ints)
        if (element != 0 && element != 1)
          return llvm::createStringError(fmt::format("i1 elements must be 0 or 1, not {}", element));
    if (result->dtype == DType::I32)
      for (int64_t element : *ints)
        if (element < std::numeric_limits<int32_t>::min() || element > std::numeric_limits<int32_t>::max())
          return llvm::createStringError(fmt::format("{} is beyond the range of i32 [{}, {}]", element,
                                                     std::numeric_limits<int32_t>::min(),
                                                     std::numeric_limits<int32_t>::max()));
    count = ints->size();
  }
  if (count != 1 && static_cast<int64_t>(count) != result->elementCount())
    return llvm::createStringError(
        fmt::format("{} elements for {}, which holds {}", count, toString(*result), result->elementCount()));
  return result;
}

llvm::Expected<TensorType> declaredIota(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "iota");
  if (!result) return result;
  if (result->dtype == DType::I1)
    return llvm::createStringError(fmt::format("needs a numeric result, not {}", toString(*result)));
  if (auto error = checkAxis(input.attributes.getInt("axis"), result->rank(), "axis")) return error;
  return result;
}

llvm::Expected<TensorType> declaredRandom(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "a random op");
  if (!result) return result;
  if (operand(input, 0) != TensorType{DType::I64, {}})
    return llvm::createStringError(fmt::format("the key must be i64[], not {}", toString(operand(input, 0))));
  if (!isFloat(result->dtype))
    return llvm::createStringError(fmt::format("random values are floats, not {}", toString(*result)));
  if (const AttrValue *p = input.attributes.find("p"); p && !(std::get<double>(*p) >= 0 && std::get<double>(*p) <= 1))
    return llvm::createStringError(fmt::format("p must lie in [0, 1], not {}", formatFloat(std::get<double>(*p))));
  if (const AttrValue *low = input.attributes.find("low");
      low && !(std::get<double>(*low) <= input.attributes.getFloat("high")))
    return llvm::createStringError(fmt::format("need low <= high, not low = {} and high = {}",
                                               formatFloat(std::get<double>(*low)),
                                               formatFloat(input.attributes.getFloat("high"))));
  if (const AttrValue *stddev = input.attributes.find("stddev"); stddev && !(std::get<double>(*stddev) >= 0))
    return llvm::createStringError(fmt::format("need stddev >= 0, not {}", formatFloat(std::get<double>(*stddev))));
  return result;
}

llvm::Expected<TensorType> declaredCast(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "a cast");
  if (!result) return result;
  if (auto error = expectDeclaredShape(*result, operand(input, 0).shape, "a cast keeps the shape")) return error;
  return result;
}

llvm::Expected<TensorType> declaredBroadcast(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "a broadcast");
  if (!result) return result;
  if (result->dtype != operand(input, 0).dtype)
    return llvm::createStringError(
        fmt::format("broadcast keeps the dtype: {} to {}", toString(operand(input, 0)), toString(*result)));
  std::optional<Shape> joined = broadcastShapes(operand(input, 0).shape, result->shape);
  if (!joined || *joined != result->shape)
    return llvm::createStringError(
        fmt::format("{} does not broadcast to {}", toString(operand(input, 0)), toString(*result)));
  return result;
}

llvm::Expected<TensorType> declaredReshape(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "a reshape");
  if (!result) return result;
  if (result->dtype != operand(input, 0).dtype || result->elementCount() != operand(input, 0).elementCount())
    return llvm::createStringError(
        fmt::format("cannot reshape {} to {}", toString(operand(input, 0)), toString(*result)));
  return result;
}

llvm::Expected<TensorType> transpose(const TypeRuleInput &input) {
  const TensorType &source = operand(input, 0);
  const Ints &perm = input.attributes.getInts("perm");
  Ints sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool isPermutation = static_cast<int64_t>(perm.size()) == source.rank();
  for (size_t i = 0; isPermutation && i < sorted.size(); ++i) isPermutation = sorted[i] == static_cast<int64_t>(i);
  if (!isPermutation)
    return llvm::createStringError(
        fmt::format("perm [{}] is not a permutation of the axes of {}", fmt::join(perm, ", "), toString(source)));
  Shape shape;
  for (int64_t axis : perm) shape.push_back(source.shape[axis]);
  return source.withShape(shape);
}

llvm::Expected<TensorType> slice(const TypeRuleInput &input) {
  const TensorType &source = operand(input, 0);
  const Ints &start = input.attributes.getInts("start");
  const Ints &limit = input.attributes.getInts("limit");
  Ints stride = input.attributes.getInts("stride");
  if (stride.empty()) stride.assign(source.shape.size(), 1);
  size_t rank = source.shape.size();
  if (start.size() != rank || limit.size() != rank || stride.size() != rank)
    return llvm::createStringError(
        fmt::format("start, limit and stride need {} values each for {}", rank, toString(source)));
  Shape shape;
  for (size_t axis = 0; axis < rank; ++axis) {
    if (start[axis] < 0 || start[axis] > limit[axis] || limit[axis] > source.shape[axis] || stride[axis] < 1)
      return llvm::createStringError(fmt::format("slice [{}:{}:{}] is out of bounds on axis {} of {}", start[axis],
                                                 limit[axis], stride[axis], axis, toString(source)));
    // ceil((limit - start) / stride), written so that a huge stride cannot overflow.
    int64_t extent = limit[axis] - start[axis];
    shape.push_back(extent == 0 ? 0 : (extent - 1) / stride[axis] + 1);
  }
  return source.withShape(shape);
}

llvm::Expected<TensorType> concat(const TypeRuleInput &input) {
  if (auto error = checkSameDType(input)) return error;
  const TensorType &first = operand(input, 0);
  int64_t axis = input.attributes.getInt("axis");
  if (auto error = checkAxis(axis, first.rank(), "axis")) return error;
  Shape shape = first.shape;
  for (const TensorType &type : input.operands.subspan(1)) {
    bool compatible = type.rank() == first.rank();
    for (int64_t i = 0; compatible && i < first.rank(); ++i) compatible = i == axis || type.shape[i] == first.shape[i];
    if (!compatible)
      return llvm::createStringError(
          fmt::format("cannot concatenate {} and {} along axis {}", toString(first), toString(type), axis));
    std::optional<int64_t> joined = llvm::checkedAdd(shape[axis], type.shape[axis]);
    if (!joined) return llvm::createStringError(fmt::format("concatenation along axis {} overflows 64 bits", axis));
    shape[axis] = *joined;
  }
  return first.withShape(shape);
}

llvm::Expected<TensorType> pad(const TypeRuleInput &input) {
  const TensorType &source = operand(input, 0);
  const Ints &low = input.attributes.getInts("low");
  const Ints &high = input.attributes.getInts("high");
  if (auto error = checkAllNonNegative(low, source.shape.size(), "low")) return error;
  if (auto error = checkAllNonNegative(high, source.shape.size(), "high")) return error;
  Shape shape = source.shape;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    std::optional<int64_t> padded = llvm::checkedAdd(shape[axis], low[axis]);
    if (padded) padded = llvm::checkedAdd(*padded, high[axis]);
    if (!padded)
      return llvm::createStringError(fmt::format("padding {} by low [{}] and high [{}] overflows 64 bits",
                                                 toString(source), fmt::join(low, ", "), fmt::join(high, ", ")));
    shape[axis] = *padded;
  }
  return source.withShape(shape);
}

llvm::Expected<TensorType> gather(const TypeRuleInput &input) {
  auto shape = gatherShape(operand(input, 0), operand(input, 1), input.attributes);
  if (!shape) return shape.takeError();
  return operand(input, 0).withShape(*shape);
}

llvm::Expected<TensorType> declaredScatterAdd(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "scatter_add");
  if (!result) return result;
  const TensorType &updates = operand(input, 0);
  if (result->dtype != updates.dtype || updates.dtype == DType::I1)
    return llvm::createStringError(
        fmt::format("updates {} and result {} need one numeric dtype", toString(updates), toString(*result)));
  auto gathered = gatherShape(*result, operand(input, 1), input.attributes);
  if (!gathered) return gathered.takeError();
  if (*gathered != updates.shape)
    return llvm::createStringError(fmt::format("updates {} should have shape {}, what gather of {} by {} gives",
                                               toString(updates), toString(*gathered), toString(*result),
                                               toString(operand(input, 1))));
  return result;
}

llvm::Expected<TensorType> declaredOneHot(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "one_hot");
  if (!result) return result;
  const TensorType &indices = operand(input, 0);
  if (!isInteger(indices.dtype))
    return llvm::createStringError(fmt::format("indices must be i32 or i64, not {}", toString(indices)));
  int64_t depth = input.attributes.getInt("depth");
  if (depth < 1) return llvm::createStringError(fmt::format("depth must be positive, not {}", depth));
  Shape shape = indices.shape;
  shape.push_back(depth);
  if (auto error = expectDeclaredShape(*result, shape, "the indices' shape and then depth")) return error;
  return result;
}

llvm::Expected<TensorType> reduction(const TypeRuleInput &input) {
  const TensorType &source = operand(input, 0);
  if (source.dtype == DType::I1)
    return llvm::createStringError(fmt::format("needs a numeric operand, not {}", toString(source)));
  Ints axes = reducedAxes(input.attributes.getInts("axes"), source.rank());
  std::vector<bool> reduced(source.shape.size(), false);
  for (int64_t axis : axes) {
    if (auto error = checkAxis(axis, source.rank(), "axis")) return error;
    if (reduced[axis]) return llvm::createStringError(fmt::format("axis {} is listed twice", axis));
    reduced[axis] = true;
  }
  bool keepDims = input.attributes.getBool("keepdims");
  Shape shape;
  for (size_t axis = 0; axis < source.shape.size(); ++axis) {
    if (!reduced[axis])
      shape.push_back(source.shape[axis]);
    else if (keepDims)
      shape.push_back(1);
  }
  return source.withShape(shape);
}

llvm::Expected<TensorType> reductionFloat(const TypeRuleInput &input) {
  if (!isFloat(operand(input, 0).dtype))
    return llvm::createStringError(fmt::format("needs a float operand, not {}", toString(operand(input, 0))));
  return reduction(input);
}

llvm::Expected<TensorType> argmax(const TypeRuleInput &input) {
  const TensorType &source = operand(input, 0);
  if (source.dtype == DType::I1)
    return llvm::createStringError(fmt::format("needs a numeric operand, not {}", toString(source)));
  int64_t axis = input.attributes.getInt("axis");
  if (auto error = checkAxis(axis, source.rank(), "axis")) return error;
  Shape shape = source.shape;
  if (input.attributes.getBool("keepdims"))
    shape[axis] = 1;
  else
    shape.erase(shape.begin() + axis);
  return TensorType{DType::I64, shape};
}

llvm::Expected<TensorType> matmul(const TypeRuleInput &input) {
  const TensorType &lhs = operand(input, 0);
  const TensorType &rhs = operand(input, 1);
  if (auto error = checkSameDType(input)) return error;
  if (lhs.dtype == DType::I1)
    return llvm::createStringError(fmt::format("needs numeric operands, not {} and {}", toString(lhs), toString(rhs)));
  if (lhs.rank() < 2 || rhs.rank() < 2)
    return llvm::createStringError(
        fmt::format("needs operands of rank 2 or more: {} @ {}", toString(lhs), toString(rhs)));
  bool transposeLhs = input.attributes.getBool("transpose_a");
  bool transposeRhs = input.attributes.getBool("transpose_b");
  int64_t rows = lhs.shape[lhs.rank() - (transposeLhs ? 1 : 2)];
  int64_t lhsInner = lhs.shape[lhs.rank() - (transposeLhs ? 2 : 1)];
  int64_t rhsInner = rhs.shape[rhs.rank() - (transposeRhs ? 1 : 2)];
  int64_t columns = rhs.shape[rhs.rank() - (transposeRhs ? 2 : 1)];
  if (lhsInner != rhsInner) {
    // With a transpose requested the shapes alone no longer show which sizes met.
    if (!transposeLhs && !transposeRhs)
      return llvm::createStringError(fmt::format("inner dimensions differ: {} @ {}", toString(lhs), toString(rhs)));
    return llvm::createStringError(
        fmt::format("inner dimensions differ after the requested transposes ({} and {}): {} @ {}", lhsInner, rhsInner,
                    toString(lhs), toString(rhs)));
  }
  Shape lhsBatch(lhs.shape.begin(), lhs.shape.end() - 2);
  Shape rhsBatch(rhs.shape.begin(), rhs.shape.end() - 2);
  std::optional<Shape> batch = broadcastShapes(lhsBatch, rhsBatch);
  if (!batch)
    return llvm::createStringError(
        fmt::format("batch dimensions do not broadcast: {} @ {}", toString(lhs), toString(rhs)));
  batch->push_back(rows);
  batch->push_back(columns);
  return lhs.withShape(*batch);
}

llvm::Expected<TensorType> conv2d(const TypeRuleInput &input) {
  auto shape = convolutionShape(operand(input, 0), operand(input, 1), input.attributes);
  if (!shape) return shape.takeError();
  return operand(input, 0).withShape(*shape);
}

llvm::Expected<TensorType> declaredConv2dInputGrad(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "conv2d_input_grad");
  if (!result) return result;
  auto forward = convolutionShape(*result, operand(input, 1), input.attributes);
  if (!forward) return forward.takeError();
  if (*forward != operand(input, 0).shape || operand(input, 0).dtype != result->dtype)
    return llvm::createStringError(fmt::format("the result gradient {} does not match conv2d of {} by {}",
                                               toString(operand(input, 0)), toString(*result),
                                               toString(operand(input, 1))));
  return result;
}

llvm::Expected<TensorType> declaredConv2dFilterGrad(const TypeRuleInput &input) {
  auto result = requireDeclared(input, "conv2d_filter_grad");
  if (!result) return result;
  auto forward = convolutionShape(operand(input, 0), *result, input.attributes);
  if (!forward) return forward.takeError();
  if (*forward != operand(input, 1).shape || operand(input, 1).dtype != result->dtype)
    return llvm::createStringError(fmt::format("the result gradient {} does not match conv2d of {} by {}",
                                               toString(operand(input, 1)), toString(operand(input, 0)),
                                               toString(*result)));
  return result;
}

llvm::Expected<TensorType> pool2d(const TypeRuleInput &input) {
  auto shape = poolShape(operand(input, 0), input.attributes);
  if (!shape) return shape.takeError();
  return operand(input, 0).withShape(*shape);
}

llvm::Expected<TensorType> pool2dGrad(const TypeRuleInput &input) {
  auto shape = poolShape(operand(input, 0), input.attributes);
  if (!shape) return shape.takeError();
  if (*shape != operand(input, 1).shape || operand(input, 1).dtype != operand(input, 0).dtype)
    return llvm::createStringError(fmt::format("the result gradient {} does not match pooling {}, which gives {}",
                                               toString(operand(input, 1)), toString(operand(input, 0)),
                                               toString(operand(input, 0).withShape(*shape))));
  return operand(input, 0);
}

llvm::Expected<TensorType> normalization(const TypeRuleInput &input) {
  const TensorType &source = operand(input, 0);
  if (!isFloat(source.dtype))
    return llvm::createStringError(fmt::format("needs a float operand, not {}", toString(source)));
  if (auto error = checkAxis(input.attributes.getInt("axis"), source.rank(), "axis")) return error;
  return source;
}

llvm::Expected<TensorTypes> declaredCall(const TypeRuleInput &input) {
  return TensorTypes(input.allDeclared.begin(), input.allDeclared.end());
}

}  // namespace kiln::type_rules
