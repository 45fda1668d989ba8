// The error of a failed evaluation: which op failed and why, so that a tool can point at the
// op in its source text as well as at its model location.
#pragma once

#include <string>

#include <llvm/Support/Error.h>

#include "ir/IR.h"

namespace kiln {

class EvaluationError : public llvm::ErrorInfo<EvaluationError> {
public:
  static char ID;

  EvaluationError(const Operation &op, std::string reason) : op_(&op), reason_(std::move(reason)) {}

  const Operation &op() const { return *op_; }
  // `gather: index 7 is out of range [0, 5)`, without a location.
  std::string messageWithoutLocation() const;
  // `model.kiln:3:5: gather: ...` when the op's location is known.
  void log(llvm::raw_ostream &out) const override;
  std::error_code convertToErrorCode() const override { return llvm::inconvertibleErrorCode(); }

private:
  const Operation *op_;
  std::string reason_;
};

}  // namespace kiln
