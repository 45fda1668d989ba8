// Index-range inference for integer arguments: a forward walk over the values that hold
// copies of the argument's elements, collecting the extent each index use allows.
#include "passes/gradients/IndexBounds.h"

#include <algorithm>
#include <unordered_set>

namespace kiln {

namespace {
// What an op does with the integers of one of its operands.
struct OperandRole {
  enum Kind { Unconstrained, CopiedToResult, Index } kind = Unconstrained;
  int64_t limit = 0;  // for Index: valid values are [0, limit)
};

OperandRole roleOf(const Operation &op, size_t operandIndex) {
  const Attributes &attributes = op.attributes();
  switch (op.kind()) {
  // Every element of the result is an element of the operand (or a constant the op adds).
  case OpKind::Broadcast:
  case OpKind::Reshape:
  case OpKind::Transpose:
  case OpKind::Slice:
  case OpKind::Concat:
  case OpKind::Pad:
    return {OperandRole::CopiedToResult};
  case OpKind::Select:
    return {operandIndex == 0 ? OperandRole::Unconstrained : OperandRole::CopiedToResult};
  // Integer to integer keeps small values; a float or boolean result cannot index anything.
  case OpKind::Cast:
    return {isInteger(op.result()->type().dtype) ? OperandRole::CopiedToResult : OperandRole::Unconstrained};
  // result[o, m, n] = params[o, indices[batch(o), m], n]: indices select along params' axis.
  case OpKind::Gather:
    if (operandIndex == 0) return {OperandRole::CopiedToResult};
    return {OperandRole::Index, op.operand(0)->type().shape[attributes.getInt("axis")]};
  // The adjoint of gather: indices select along the result's axis.
  case OpKind::ScatterAdd:
    if (operandIndex == 0) return {OperandRole::Unconstrained};
    return {OperandRole::Index, op.result()->type().shape[attributes.getInt("axis")]};
  case OpKind::OneHot:
    return {OperandRole::Index, attributes.getInt("depth")};
  // Arithmetic, comparisons and reductions compute new values: no index range carries over.
  case OpKind::Neg: case OpKind::Abs: case OpKind::Sign: case OpKind::Square: case OpKind::Relu:
  case OpKind::LeakyRelu: case OpKind::Exp: case OpKind::Log: case OpKind::Log1p: case OpKind::Sqrt:
  case OpKind::Rsqrt: case OpKind::Reciprocal: case OpKind::Tanh: case OpKind::Sigmoid: case OpKind::Gelu:
  case OpKind::Erf: case OpKind::Sin: case OpKind::Cos: case OpKind::Add: case OpKind::Sub: case OpKind::Mul:
  case OpKind::Div: case OpKind::Pow: case OpKind::Maximum: case OpKind::Minimum: case OpKind::Eq:
  case OpKind::Ne: case OpKind::Lt: case OpKind::Le: case OpKind::Gt: case OpKind::Ge: case OpKind::Constant:
  case OpKind::Iota: case OpKind::RandomUniform: case OpKind::RandomNormal: case OpKind::RandomBernoulli:
  case OpKind::Sum: case OpKind::Mean: case OpKind::Max: case OpKind::Min: case OpKind::Argmax:
  case OpKind::Matmul: case OpKind::Conv2d: case OpKind::Conv2dInputGrad: case OpKind::Conv2dFilterGrad:
  case OpKind::MaxPool2d: case OpKind::MaxPool2dGrad: case OpKind::AvgPool2d: case OpKind::AvgPool2dGrad:
  case OpKind::Softmax: case OpKind::LogSoftmax:
    return {OperandRole::Unconstrained};
  }
  return {OperandRole::Unconstrained};
}
}  // namespace

// 1. The carriers start as {argument}.
// 2. In program order (operands are defined before use), for each operand that is a carrier:
//    an index use lowers the bound to its limit; an op that copies it makes its result a carrier.
// 3. The bound is the smallest limit seen, if any.
std::optional<int64_t> indexBound(const Function &function, const Value &argument) {
  std::unordered_set<const Value *> carriers{&argument};
  std::optional<int64_t> bound;
  for (const auto &op : function.ops())
    for (size_t operandIndex = 0; operandIndex < op->operands().size(); ++operandIndex) {
      if (!carriers.count(op->operand(operandIndex))) continue;
      OperandRole role = roleOf(*op, operandIndex);
      if (role.kind == OperandRole::Index) bound = std::min(bound.value_or(role.limit), role.limit);
      else if (role.kind == OperandRole::CopiedToResult) carriers.insert(op->result());
    }
  return bound;
}

}  // namespace kiln
