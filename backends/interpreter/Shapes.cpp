// Interpreter rules of the ops that move elements without arithmetic: broadcast, reshape,
// transpose, slice, concat, pad, gather, scatter_add and one_hot.
#include <numeric>

#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

namespace {

int64_t product(std::span<const int64_t> extents) {
  return std::accumulate(extents.begin(), extents.end(), int64_t{1}, std::multiplies<>());
}

// Walks `walkShape` and copies input[inputBase + index·inputStrides] to
// result[resultBase + index·resultStrides]: every layout change below is one such walk.
void copyWalk(const Tensor &input, Tensor &result, const Shape &walkShape, std::vector<int64_t> inputStrides,
              int64_t inputBase, std::vector<int64_t> resultStrides, int64_t resultBase) {
  visitDType(input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::span<const T> in = input.values<T>();
    std::span<T> out = result.values<T>();
    forEachIndex<2>(walkShape, {std::move(inputStrides), std::move(resultStrides)},
                    [&](const std::array<int64_t, 2> &at) { out[resultBase + at[1]] = in[inputBase + at[0]]; });
  });
}

llvm::Expected<Tensor> broadcastRule(const Operation &op, std::span<const Tensor> operands) {
  Tensor result(op.result()->type());
  copyWalk(operands[0], result, result.shape(), broadcastStrides(operands[0].shape(), result.shape()), 0,
           rowMajorStrides(result.shape()), 0);
  return result;
}

// Row-major order is unchanged by a reshape, so the elements carry over as they are.
llvm::Expected<Tensor> reshapeRule(const Operation &op, std::span<const Tensor> operands) {
  Tensor result(op.result()->type());
  copyWalk(operands[0], result, Shape{operands[0].elementCount()}, {1}, 0, {1}, 0);
  return result;
}

// result[i0, ..., in] = input at index j with j[perm[k]] = i_k.
llvm::Expected<Tensor> transposeRule(const Operation &op, std::span<const Tensor> operands) {
  Tensor result(op.result()->type());
  const Ints &perm = op.attributes().getInts("perm");
  std::vector<int64_t> inputStrides = rowMajorStrides(operands[0].shape());
  std::vector<int64_t> permutedStrides;
  for (int64_t axis : perm) permutedStrides.push_back(inputStrides[axis]);
  copyWalk(operands[0], result, result.shape(), permutedStrides, 0, rowMajorStrides(result.shape()), 0);
  return result;
}

// result[i] = input[start + i * stride] on every axis.
llvm::Expected<Tensor> sliceRule(const Operation &op, std::span<const Tensor> operands) {
  Tensor result(op.result()->type());
  const Ints &start = op.attributes().getInts("start");
  Ints stride = op.attributes().getInts("stride");
  if (stride.empty()) stride.assign(start.size(), 1);
  std::vector<int64_t> inputStrides = rowMajorStrides(operands[0].shape());
  int64_t base = 0;
  for (size_t axis = 0; axis < start.size(); ++axis) {
    base += start[axis] * inputStrides[axis];
    inputStrides[axis] *= stride[axis];
  }
  copyWalk(operands[0], result, result.shape(), inputStrides, base, rowMajorStrides(result.shape()), 0);
  return result;
}

// Each operand lands at the running offset along `axis`.
llvm::Expected<Tensor> concatRule(const Operation &op, std::span<const Tensor> operands) {
  Tensor result(op.result()->type());
  int64_t axis = op.attributes().getInt("axis");
  std::vector<int64_t> resultStrides = rowMajorStrides(result.shape());
  int64_t offsetAlongAxis = 0;
  for (const Tensor &operand : operands) {
    copyWalk(operand, result, operand.shape(), rowMajorStrides(operand.shape()), 0, resultStrides,
             offsetAlongAxis * resultStrides[axis]);
    offsetAlongAxis += operand.shape()[axis];
  }
  return result;
}

// The result is `value` everywhere, then the input is copied in, shifted by `low` on each axis.
llvm::Expected<Tensor> padRule(const Operation &op, std::span<const Tensor> operands) {
  Tensor result(op.result()->type());
  double value = op.attributes().getFloat("value");
  for (int64_t i = 0; i < result.elementCount(); ++i) result.setDouble(i, value);
  const Ints &low = op.attributes().getInts("low");
  std::vector<int64_t> resultStrides = rowMajorStrides(result.shape());
  int64_t base = 0;
  for (size_t axis = 0; axis < low.size(); ++axis) base += low[axis] * resultStrides[axis];
  copyWalk(operands[0], result, operands[0].shape(), rowMajorStrides(operands[0].shape()), 0, resultStrides, base);
  return result;
}

// The loop structure gather and scatter_add share, with P the params (or scatter result)
// shape, I the indices shape, a = axis and b = batch_dims:
//   result[o, m, n] = params[o, indices[batch(o), m], n]
// where o runs over P[:a], m over I[b:], n over P[a+1:], and batch(o) is o's first b axes.
struct GatherLayout {
  int64_t outerCount;   // prod P[:a]
  int64_t perBatch;     // prod P[b:a]: consecutive outer indices that share a batch
  int64_t middleCount;  // prod I[b:]
  int64_t axisExtent;   // P[a]
  int64_t innerCount;   // prod P[a+1:]

  GatherLayout(const Shape &params, const Shape &indices, int64_t axis, int64_t batchDims)
      : outerCount(product(std::span(params).first(axis))),
        perBatch(product(std::span(params).subspan(batchDims, axis - batchDims))),
        middleCount(product(std::span(indices).subspan(batchDims))), axisExtent(params[axis]),
        innerCount(product(std::span(params).subspan(axis + 1))) {}

  int64_t indexPosition(int64_t outer, int64_t middle) const { return outer / perBatch * middleCount + middle; }
  int64_t paramsPosition(int64_t outer, int64_t index, int64_t inner) const {
    return (outer * axisExtent + index) * innerCount + inner;
  }
  int64_t gatheredPosition(int64_t outer, int64_t middle, int64_t inner) const {
    return (outer * middleCount + middle) * innerCount + inner;
  }
};

// Visits (outer, middle, checked index); fails at the first index outside [0, P[a]).
template <typename Visitor>
llvm::Error forEachGathered(const GatherLayout &layout, const Tensor &indices, const TensorType &params, int64_t axis,
                            Visitor &&visit) {
  for (int64_t outer = 0; outer < layout.outerCount; ++outer)
    for (int64_t middle = 0; middle < layout.middleCount; ++middle) {
      int64_t position = layout.indexPosition(outer, middle);
      int64_t index = indices.getInt(position);
      if (index < 0 || index >= layout.axisExtent)
        return llvm::createStringError(
            fmt::format("index {} (element {} of the indices) is out of range [0, {}) for axis {} of {}", index,
                        position, layout.axisExtent, axis, toString(params)));
      visit(outer, middle, index);
    }
  return llvm::Error::success();
}

llvm::Expected<Tensor> gatherRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &params = operands[0];
  Tensor result(op.result()->type());
  int64_t axis = op.attributes().getInt("axis");
  GatherLayout layout(params.shape(), operands[1].shape(), axis, op.attributes().getInt("batch_dims"));
  llvm::Error error = visitDType(params.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::span<const T> in = params.values<T>();
    std::span<T> out = result.values<T>();
    return forEachGathered(layout, operands[1], params.type(), axis, [&](int64_t outer, int64_t middle, int64_t index) {
      for (int64_t inner = 0; inner < layout.innerCount; ++inner)
        out[layout.gatheredPosition(outer, middle, inner)] = in[layout.paramsPosition(outer, index, inner)];
    });
  });
  if (error) return error;
  return result;
}

// The adjoint of gather: result[o, indices[batch(o), m], n] += updates[o, m, n], starting
// from zeros. Float sums are accumulated in double and rounded once.
llvm::Expected<Tensor> scatterAddRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &updates = operands[0];
  Tensor result(op.result()->type());
  int64_t axis = op.attributes().getInt("axis");
  GatherLayout layout(result.shape(), operands[1].shape(), axis, op.attributes().getInt("batch_dims"));
  llvm::Error error = visitDType(result.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using Sum = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;
    std::vector<Sum> sums(result.elementCount(), Sum{0});
    std::span<const T> in = updates.values<T>();
    llvm::Error outOfRange =
        forEachGathered(layout, operands[1], result.type(), axis, [&](int64_t outer, int64_t middle, int64_t index) {
          for (int64_t inner = 0; inner < layout.innerCount; ++inner)
            sums[layout.paramsPosition(outer, index, inner)] +=
                static_cast<Sum>(in[layout.gatheredPosition(outer, middle, inner)]);
        });
    std::span<T> out = result.values<T>();
    for (size_t i = 0; i < sums.size(); ++i) out[i] = static_cast<T>(sums[i]);
    return outOfRange;
  });
  if (error) return error;
  return result;
}

// result[..., j] = (indices[...] == j); an index outside [0, depth) gives a row of zeros.
llvm::Expected<Tensor> oneHotRule(const Operation &op, std::span<const Tensor> operands) {
  Tensor result(op.result()->type());
  int64_t depth = op.attributes().getInt("depth");
  for (int64_t i = 0; i < operands[0].elementCount(); ++i) {
    int64_t index = operands[0].getInt(i);
    if (index >= 0 && index < depth) result.setInt(i * depth + index, 1);
  }
  return result;
}

const RuleEntry kRules[] = {
    {OpKind::Broadcast, broadcastRule}, {OpKind::Reshape, reshapeRule},       {OpKind::Transpose, transposeRule},
    {OpKind::Slice, sliceRule},         {OpKind::Concat, concatRule},         {OpKind::Pad, padRule},
    {OpKind::Gather, gatherRule},       {OpKind::ScatterAdd, scatterAddRule}, {OpKind::OneHot, oneHotRule},
};
}  // namespace

std::span<const RuleEntry> shapeRules() { return kRules; }

}  // namespace kiln::interpreter
