// The shared forward walk with a replacement map: one pass over the ops, O(uses) in all.
#include "passes/ForwardRewrite.h"

#include <unordered_map>

namespace kiln {

void rewriteForward(Function &function, RewriteOp rewrite) {
  std::unordered_map<Value *, Value *> replacement;
  auto replaced = [&](Value *value) {
    auto it = replacement.find(value);
    return it == replacement.end() ? value : it->second;
  };
  for (auto it = function.ops().begin(); it != function.ops().end();) {
    Operation &op = **it;
    for (size_t i = 0; i < op.operands().size(); ++i) op.setOperand(i, replaced(op.operand(i)));
    Value *substitute = rewrite(op, it);
    if (!substitute) {
      ++it;
      continue;
    }
    replacement[op.result()] = substitute;
    it = function.ops().erase(it);
  }
  for (Value *&result : function.results()) result = replaced(result);
}

}  // namespace kiln
