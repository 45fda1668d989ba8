// Dead-code elimination: ops whose results are neither read nor returned are removed. Every op
// of the IR is pure (random ops are keyed by an operand), so unused means removable.
//
// 1. Walk the ops backwards, so that every reader of an op is seen before the op.
// 2. Erase an op when no op reads any of its results and the function returns none of them;
//    erasing it drops its own reads, which may make the ops it read dead in turn.
#include "passes/Passes.h"

namespace kiln {

void eliminateDeadCode(Function &function) {
  function.eraseIf([&](const Operation &op) {
    if (op.hasUses()) return false;
    for (const Value *result : op.results())
      if (function.returns(result)) return false;
    return true;
  });
}

}  // namespace kiln
