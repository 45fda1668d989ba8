// Common-subexpression elimination: an op equal to an earlier one (same kind, operands,
// attributes and result type) is replaced by the earlier one's result. Ops are pure and the
// function is straight-line, so every earlier op dominates every later one.
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
  return {op.kind(), std::vector<const Value *>(op.operands().begin(), op.operands().end()), attributes,
          toString(op.result()->type())};
}

void eliminateCommonSubexpressions(Function &function) {
  std::map<OpKey, Value *> seen;
  rewriteForward(function, [&](Operation &op, Function::OpList::iterator) -> Value * {
    auto [existing, inserted] = seen.try_emplace(keyOf(op), op.result());
    return inserted ? nullptr : existing->second;
  });
}
}  // namespace

llvm::Error runCommonSubexpressionElimination(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  for (const auto &function : module.functions()) eliminateCommonSubexpressions(*function);
  return llvm::Error::success();
}

}  // namespace kiln
