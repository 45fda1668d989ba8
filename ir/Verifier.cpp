// The verifier. It re-derives every result type with the op table's rule, so a pass that
// builds a wrong op is caught right after it runs.
#include "ir/Verifier.h"

#include <unordered_set>

#include <fmt/format.h>
#include <llvm/ADT/StringSet.h>

namespace kiln {

std::vector<VerifierError> verify(const Function &function) {
  std::vector<VerifierError> errors;
  std::unordered_set<const Value *> defined;
  for (const auto &argument : function.arguments()) defined.insert(argument.get());

  for (const auto &op : function.ops()) {
    std::vector<TensorType> operandTypes;
    bool operandsDefined = true;
    for (size_t i = 0; i < op->operands().size(); ++i) {
      const Value *operand = op->operand(i);
      if (!defined.count(operand)) {
        errors.push_back({&function, op.get(), fmt::format("operand {} of '{}' is not defined before it is used", i, op->name())});
        operandsDefined = false;
        continue;
      }
      operandTypes.push_back(operand->type());
    }
    if (operandsDefined) {
      auto inferred = inferResultType(op->kind(), operandTypes, op->attributes(), op->result()->type());
      if (!inferred)
        errors.push_back({&function, op.get(), fmt::format("'{}': {}", op->name(), llvm::toString(inferred.takeError()))});
      else if (*inferred != op->result()->type())
        errors.push_back({&function, op.get(),
                          fmt::format("'{}' gives {}, but its result is declared {}", op->name(), toString(*inferred),
                                      toString(op->result()->type()))});
    }
    defined.insert(op->result());
  }

  for (size_t i = 0; i < function.results().size(); ++i)
    if (!defined.count(function.results()[i]))
      errors.push_back({&function, nullptr, fmt::format("result {} of @{} is not defined in it", i, function.name())});
  return errors;
}

std::vector<VerifierError> verify(const Module &module) {
  std::vector<VerifierError> errors;
  llvm::StringSet<> names;
  for (const auto &function : module.functions()) {
    if (!names.insert(function->name()).second)
      errors.push_back({function.get(), nullptr, fmt::format("function @{} is defined twice", function->name())});
    auto functionErrors = verify(*function);
    errors.insert(errors.end(), functionErrors.begin(), functionErrors.end());
  }
  return errors;
}

}  // namespace kiln
