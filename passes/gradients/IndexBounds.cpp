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

// The op table says which operands an op copies into its result and which hold indices; only
// the extent an index runs over, and integer casts, need the op itself.
OperandRole roleOf(const Operation &op, size_t operandIndex) {
  const OpInfo &info = op.info();
  if (info.indexesWith(operandIndex)) {
    const Attributes &attributes = op.attributes();
    switch (op.kind()) {
    // result[o, m, n] = params[o, indices[batch(o), m], n]: indices select along params' axis.
    case OpKind::Gather: return {OperandRole::Index, op.operand(0)->type().shape[attributes.getInt("axis")]};
    // The adjoint of gather: indices select along the result's axis.
    case OpKind::ScatterAdd: return {OperandRole::Index, op.result()->type().shape[attributes.getInt("axis")]};
    case OpKind::OneHot: return {OperandRole::Index, attributes.getInt("depth")};
    default: return {OperandRole::Unconstrained};  // an index operand whose extent nobody taught us
    }
  }
  if (info.copiesOperand(operandIndex)) return {OperandRole::CopiedToResult};
  // Integer to integer keeps small values; a float or boolean result cannot index anything.
  if (op.kind() == OpKind::Cast && isInteger(op.result()->type().dtype)) return {OperandRole::CopiedToResult};
  // Arithmetic, comparisons, reductions and calls compute new values: no index range carries over.
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
      if (role.kind == OperandRole::Index)
        bound = std::min(bound.value_or(role.limit), role.limit);
      else if (role.kind == OperandRole::CopiedToResult)
        carriers.insert(op->result());
    }
  return bound;
}

}  // namespace kiln
