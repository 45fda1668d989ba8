// Checks that a module is well formed: every op against its table row, SSA order, results.
#pragma once

#include <string>
#include <vector>

#include "ir/IR.h"

namespace kiln {

struct VerifierError {
  const Function *function;
  const Operation *op;  // null when the error is about the function itself
  std::string message;
};

std::vector<VerifierError> verify(const Function &function);
std::vector<VerifierError> verify(const Module &module);

}  // namespace kiln
