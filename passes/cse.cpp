// Common-subexpression elimination: an op equal to an earlier one (same kind, operands,
// attributes and result type; the operands in either order for a commutative op) is replaced
// by the earlier one's result. Ops are pure and the function is straight-line, so every
// earlier op dominates every later one.
#include <algorithm>
#include <functional>
#include <map>
#include <tuple>

#include "passes/ForwardRewrite.h"
#include "passes/Passes.h"

namespace kiln {

namespace {
// Attributes are compared through their printed form, which is exact (floats round-trip).
using OpKey = std::tuple<OpKind, std::vector<const Value *>, std::string, std::string>;

OpKey keyOf(const Operation &op) {
  std::string attributes;
  for (const NamedAttribute &attribute : op.attributes().entries())
    attributes += attribute.name + "=" + toString(attribute.value) + ";";
  std::vector<const Value *> operands(op.operands().begin(), op.operands().end());
  // a + b = b + a: the operands of a commutative op are keyed in one order, whichever was written.
  if (op.info().isCommutative()) std::sort(operands.begin(), operands.end(), std::less<const Value *>());
  return {op.kind(), std::move(operands), attributes, toString(op.result()->type())};
}

}  // namespace

void eliminateCommonSubexpressions(Function &function) {
  std::map<OpKey, Value *> seen;
  rewriteForward(function, [&](Operation &op, Function::OpList::iterator) -> Value * {
    auto [existing, inserted] = seen.try_emplace(keyOf(op), op.result());
    return inserted ? nullptr : existing->second;
  });
}

}  // namespace kiln
