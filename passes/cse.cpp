// Common-subexpression elimination: an op equal to an earlier one (same kind, operands,
// attributes and result type) is replaced by the earlier one's result. Ops are pure and the
// function is straight-line, so every earlier op dominates every later one.
#include <map>
#include <tuple>
#include <unordered_map>

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
  std::unordered_map<Value *, Value *> replacement;
  auto replaced = [&](Value *value) {
    auto it = replacement.find(value);
    return it == replacement.end() ? value : it->second;
  };
  for (auto it = function.ops().begin(); it != function.ops().end();) {
    Operation &op = **it;
    for (size_t i = 0; i < op.operands().size(); ++i) op.setOperand(i, replaced(op.operand(i)));
    auto [existing, inserted] = seen.try_emplace(keyOf(op), op.result());
    if (inserted) {
      ++it;
      continue;
    }
    replacement[op.result()] = existing->second;
    it = function.ops().erase(it);
  }
  for (Value *&result : function.results()) result = replaced(result);
}
}  // namespace

llvm::Error runCommonSubexpressionElimination(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  for (const auto &function : module.functions()) eliminateCommonSubexpressions(*function);
  return llvm::Error::success();
}

}  // namespace kiln
