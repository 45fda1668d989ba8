// The shared forward walk: one pass over the ops, each replaced op's uses moved at once through
// its use list, O(uses) in all.
#include "passes/ForwardRewrite.h"

namespace kiln {

void rewriteForward(Function &function, RewriteOp rewrite) {
  for (auto it = function.ops().begin(); it != function.ops().end();) {
    Operation &op = **it;
    Value *substitute = op.resultCount() == 1 ? rewrite(op, it) : nullptr;
    if (!substitute) {
      ++it;
      continue;
    }
    function.replaceAllUses(op.result(), substitute);
    it = function.erase(it);
  }
}

}  // namespace kiln
