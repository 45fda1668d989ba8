// Checks that a module is well formed: every op against its table row, SSA order, results,
// calls against their callees' signatures, and no recursion.
#pragma once

#include <string>
#include <vector>

#include "ir/IR.h"

namespace kiln {

// A problem at one op, or at a function when `op` is null, found while the IR is alive (by the
// verifier, autodiff or the interpreter); ir/Diagnostics.h's OpProblem is its detached copy.
struct ProblemAtOp {
  const Function *function;
  const Operation *op;
  std::string message;
};

// Checks one function. Calls are checked against their callees when the function is in a module.
std::vector<ProblemAtOp> verify(const Function &function);
std::vector<ProblemAtOp> verify(const Module &module);

}  // namespace kiln
