// The walk that cse, simplify and constant-fold share: ops visited in order, each seeing its
// operands already redirected to the values that replaced earlier ops.
#pragma once

#include <llvm/ADT/STLFunctionalExtras.h>

#include "ir/IR.h"

namespace kiln {

// `rewrite(op, position)` returns the value that takes the place of op's result, or null to
// keep the op; it sees only ops of one result (calls are left alone). It may insert new ops before `position` (the op's
// own place in the list). A replaced op is erased, and its uses, the function's results included, move to the
// replacement. Every op of the IR is pure, so erasing a replaced op is always safe.
using RewriteOp = llvm::function_ref<Value *(Operation &op, Function::OpList::iterator position)>;
void rewriteForward(Function &function, RewriteOp rewrite);

}  // namespace kiln
