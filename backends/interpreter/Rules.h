// What the files of the interpreter share: the shape of an evaluation rule, the rule lists
// each file contributes to the dispatch table, and helpers for indexing and errors.
#pragma once

#include <array>
#include <span>
#include <utility>

#include <fmt/format.h>

#include "backends/interpreter/Tensor.h"
#include "ir/IR.h"

namespace kiln::interpreter {

// Evaluates one op. The operands have the op's operand types and the result type has passed
// checkTensorSize.
using EvaluationRule = llvm::Expected<Tensor> (*)(const Operation &op, std::span<const Tensor> operands);
using RuleEntry = std::pair<OpKind, EvaluationRule>;
// The rule of an op of several results (attention), giving them in order.
using ResultsRule = llvm::Expected<std::vector<Tensor>> (*)(const Operation &op, std::span<const Tensor> operands);
using ResultsRuleEntry = std::pair<OpKind, ResultsRule>;

// Each file's part of the dispatch table in Interpreter.cpp.
std::span<const RuleEntry> elementwiseRules();
std::span<const RuleEntry> creationRules();
std::span<const RuleEntry> shapeRules();
std::span<const RuleEntry> reductionRules();
std::span<const RuleEntry> convolutionRules();
std::span<const RuleEntry> attentionRules();
std::span<const ResultsRuleEntry> severalResultRules();  // Attention.cpp

// Row-major strides of a shape: element (i0, i1, ...) sits at sum(i_k * strides[k]).
inline std::vector<int64_t> rowMajorStrides(const Shape &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t axis = shape.size(); axis > 1; --axis) strides[axis - 2] = strides[axis - 1] * shape[axis - 1];
  return strides;
}

// The strides that read an operand of shape `operand` NumPy-broadcast to `result`: axes the
// operand lacks or holds once get stride 0.
inline std::vector<int64_t> broadcastStrides(const Shape &operand, const Shape &result) {
  std::vector<int64_t> own = rowMajorStrides(operand);
  std::vector<int64_t> strides(result.size(), 0);
  size_t missing = result.size() - operand.size();
  for (size_t axis = 0; axis < operand.size(); ++axis)
    if (operand[axis] != 1) strides[missing + axis] = own[axis];
  return strides;
}

// Walks every index of `shape` in row-major order and calls visit(offsets), where offsets[k]
// is the index dotted with strides[k]. Keeping the offsets incrementally avoids a division
// per element.
template <size_t N, typename Visitor>
void forEachIndex(const Shape &shape, const std::array<std::vector<int64_t>, N> &strides, Visitor &&visit) {
  for (int64_t extent : shape)
    if (extent == 0) return;
  std::vector<int64_t> index(shape.size(), 0);
  std::array<int64_t, N> offsets{};
  while (true) {
    visit(std::as_const(offsets));
    size_t axis = shape.size();
    while (true) {
      if (axis == 0) return;
      --axis;
      for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][axis];
      if (++index[axis] < shape[axis]) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][axis] * shape[axis];
      index[axis] = 0;
    }
  }
}

// Calls visit(T{}) with the C++ element type of dtype.
template <typename Visitor> decltype(auto) visitDType(DType dtype, Visitor &&visit) {
  switch (dtype) {
  case DType::F32: return visit(float{});
  case DType::F64: return visit(double{});
  case DType::I32: return visit(int32_t{});
  case DType::I64: return visit(int64_t{});
  case DType::I1: return visit(uint8_t{});
  }
  llvm_unreachable("unknown dtype");
}

}  // namespace kiln::interpreter
