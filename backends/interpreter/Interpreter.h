// The reference interpreter: a plain, obviously-correct evaluator of the tensor IR, the
// oracle that every other execution of a model is checked against.
#pragma once

#include <span>
#include <vector>

#include <llvm/Support/Error.h>

#include "backends/interpreter/Tensor.h"
#include "ir/IR.h"

namespace kiln {

// Evaluates one op of one result on operand values of the op's operand types.
llvm::Expected<Tensor> evaluateOp(const Operation &op, std::span<const Tensor> operands);
// The same for any op but a call, giving each of its results.
llvm::Expected<std::vector<Tensor>> evaluateOpResults(const Operation &op, std::span<const Tensor> operands);

// Evaluates a function on its arguments and returns its results.
llvm::Expected<std::vector<Tensor>> interpret(const Function &function, std::span<const Tensor> arguments);

// Whether evaluateOp has a rule for the op (the `interp` column of `kiln-opt --list-ops`).
bool hasInterpreterRule(OpKind kind);

}  // namespace kiln
