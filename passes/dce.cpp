// Dead-code elimination: ops that no returned value depends on are removed. Every op of the IR
// is pure (random ops are keyed by an operand), so unused means removable.
//
// 1. Mark the function's results live.
// 2. Walk the ops backwards; an op whose result is live makes its operands live.
// 3. Erase the ops whose results were never marked.
#include <unordered_set>

#include "passes/Passes.h"

namespace kiln {

namespace {
void eliminateDeadCode(Function &function) {
  std::unordered_set<const Value *> live(function.results().begin(), function.results().end());
  for (auto it = function.ops().rbegin(); it != function.ops().rend(); ++it)
    if (live.count((*it)->result()))
      for (Value *operand : (*it)->operands()) live.insert(operand);
  function.ops().remove_if([&](const std::unique_ptr<Operation> &op) { return !live.count(op->result()); });
}
}  // namespace

llvm::Error runDeadCodeElimination(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  for (const auto &function : module.functions()) eliminateDeadCode(*function);
  return llvm::Error::success();
}

}  // namespace kiln
