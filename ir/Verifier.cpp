// The verifier. It re-derives every result type with the op table's rule, so a pass that
// builds a wrong op is caught right after it runs; calls are checked against the callee's
// signature, which no rule of one op can see.
#include "ir/Verifier.h"

#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/ADT/StringSet.h>

namespace kiln {

namespace {
std::string typesText(const std::vector<TensorType> &types) {
  std::vector<std::string> texts;
  for (const TensorType &type : types) texts.push_back(toString(type));
  return fmt::format("({})", fmt::join(texts, ", "));
}

// A call reads the callee's arguments and gives its results, type for type.
void verifyCall(const Function &function, const Operation &call, std::vector<ProblemAtOp> &problems) {
  if (function.isKernel()) {
    problems.push_back(
        {&function, &call, fmt::format("kernel @{} calls a function: kernels are leaves", function.name())});
    return;
  }
  if (!function.parent()) return;
  const std::string &name = call.attributes().getSymbol("callee");
  const Function *callee = call.callee(*function.parent());
  if (!callee) {
    problems.push_back({&function, &call, fmt::format("call of @{}, which the module does not define", name)});
    return;
  }
  std::vector<TensorType> operandTypes, argumentTypes, resultTypes, calleeResultTypes;
  for (const Value *operand : call.operands()) operandTypes.push_back(operand->type());
  for (const auto &argument : callee->arguments()) argumentTypes.push_back(argument->type());
  for (const Value *result : call.results()) resultTypes.push_back(result->type());
  for (const Value *result : callee->results()) calleeResultTypes.push_back(result->type());
  if (operandTypes != argumentTypes)
    problems.push_back({&function, &call,
                        fmt::format("call of @{} passes {}, but @{} takes {}", name, typesText(operandTypes), name,
                                    typesText(argumentTypes))});
  if (resultTypes != calleeResultTypes)
    problems.push_back({&function, &call,
                        fmt::format("call of @{} declares results {}, but @{} returns {}", name, typesText(resultTypes),
                                    name, typesText(calleeResultTypes))});
}

// Depth-first search of the call graph; a call that reaches a function on the current path
// closes a cycle and is reported.
class RecursionFinder {
public:
  explicit RecursionFinder(const Module &module) : module_(module) {}

  void visit(const Function &function, std::vector<ProblemAtOp> &problems) {
    if (done_.count(&function)) return;
    onPath_.insert(&function);
    for (const auto &op : function.ops()) {
      const Function *callee = op->callee(module_);
      if (!callee) continue;
      if (onPath_.count(callee))
        problems.push_back(
            {&function, op.get(),
             fmt::format("call of @{} is recursive: a function may not reach itself through calls", callee->name())});
      else
        visit(*callee, problems);
    }
    onPath_.erase(&function);
    done_.insert(&function);
  }

private:
  const Module &module_;
  std::unordered_set<const Function *> onPath_, done_;
};
}  // namespace

std::vector<ProblemAtOp> verify(const Function &function) {
  std::vector<ProblemAtOp> errors;
  std::unordered_set<const Value *> defined;
  for (const auto &argument : function.arguments()) defined.insert(argument.get());

  for (const auto &op : function.ops()) {
    std::vector<TensorType> operandTypes;
    bool operandsDefined = true;
    for (size_t i = 0; i < op->operands().size(); ++i) {
      const Value *operand = op->operand(i);
      if (!defined.count(operand)) {
        errors.push_back(
            {&function, op.get(), fmt::format("operand {} of '{}' is not defined before it is used", i, op->name())});
        operandsDefined = false;
        continue;
      }
      operandTypes.push_back(operand->type());
    }
    std::vector<TensorType> declared;
    for (const Value *result : op->results()) declared.push_back(result->type());
    if (operandsDefined) {
      auto inferred = inferResultTypes(op->kind(), operandTypes, op->attributes(), declared);
      if (!inferred)
        errors.push_back(
            {&function, op.get(), fmt::format("'{}': {}", op->name(), llvm::toString(inferred.takeError()))});
      else if (*inferred != declared && declared.size() == 1 && inferred->size() == 1)
        errors.push_back({&function, op.get(),
                          fmt::format("'{}' gives {}, but its result is declared {}", op->name(),
                                      toString(inferred->front()), toString(declared.front()))});
      else if (*inferred != declared)
        errors.push_back({&function, op.get(),
                          fmt::format("'{}' gives {}, but its results are declared {}", op->name(),
                                      typesText(*inferred), typesText(declared))});
    }
    if (op->kind() == OpKind::Call) verifyCall(function, *op, errors);
    for (const Value *result : op->results()) defined.insert(result);
  }

  for (size_t i = 0; i < function.results().size(); ++i)
    if (!defined.count(function.results()[i]))
      errors.push_back({&function, nullptr, fmt::format("result {} of @{} is not defined in it", i, function.name())});
  return errors;
}

std::vector<ProblemAtOp> verify(const Module &module) {
  std::vector<ProblemAtOp> errors;
  llvm::StringSet<> names;
  for (const auto &function : module.functions()) {
    if (!names.insert(function->name()).second)
      errors.push_back({function.get(), nullptr, fmt::format("function @{} is defined twice", function->name())});
    auto functionErrors = verify(*function);
    errors.insert(errors.end(), functionErrors.begin(), functionErrors.end());
  }
  RecursionFinder recursion(module);
  for (const auto &function : module.functions()) recursion.visit(*function, errors);
  return errors;
}

}  // namespace kiln
