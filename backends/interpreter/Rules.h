// What the files of the interpreter share: the shape of an evaluation rule, the rule lists
// each file contributes to the dispatch table, and helpers for indexing and errors.
#pragma once

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

// Each file's part of the dispatch table in Interpreter.cpp.
std::span<const RuleEntry> elementwiseRules();
std::span<const RuleEntry> creationRules();
std::span<const RuleEntry> shapeRules();
std::span<const RuleEntry> reductionRules();
std::span<const RuleEntry> convolutionRules();

inline llvm::Error fail(std::string message) {
  return llvm::make_error<llvm::StringError>(std::move(message), llvm::inconvertibleErrorCode());
}

// Row-major strides of a shape: element (i0, i1, ...) sits at sum(i_k * strides[k]).
inline std::vector<int64_t> rowMajorStrides(const Shape &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t axis = shape.size(); axis > 1; --axis) strides[axis - 2] = strides[axis - 1] * shape[axis - 1];
  return strides;
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
