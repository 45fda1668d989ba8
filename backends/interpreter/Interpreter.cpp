// The interpreter's dispatch table, keyed by OpKind and filled from each file's rule list,
// and the evaluation of whole functions.
#include "backends/interpreter/Interpreter.h"

#include <array>
#include <unordered_map>

#include "backends/interpreter/Rules.h"
#include "ir/Diagnostics.h"

namespace kiln {

namespace {
// Each op's rule: of one result, or of several.
struct Rules {
  std::array<interpreter::EvaluationRule, kOpCount> single{};
  std::array<interpreter::ResultsRule, kOpCount> several{};
};

Rules buildRuleTable() {
  Rules table;
  for (auto rules : {interpreter::elementwiseRules(), interpreter::creationRules(), interpreter::shapeRules(),
                     interpreter::reductionRules(), interpreter::convolutionRules(), interpreter::attentionRules()})
    for (const auto &[kind, rule] : rules) {
      assert(!table.single[static_cast<size_t>(kind)] && "two interpreter rules for one op");
      table.single[static_cast<size_t>(kind)] = rule;
    }
  for (const auto &[kind, rule] : interpreter::severalResultRules()) {
    assert(!table.single[static_cast<size_t>(kind)] && "two interpreter rules for one op");
    table.several[static_cast<size_t>(kind)] = rule;
  }
  return table;
}

const Rules &ruleTable() {
  static const Rules table = buildRuleTable();
  return table;
}

llvm::Error checkOperands(const Operation &op, std::span<const Tensor> operands) {
  if (operands.size() != op.operands().size())
    return llvm::createStringError(fmt::format("expected {} operands, got {}", op.operands().size(), operands.size()));
  for (size_t i = 0; i < operands.size(); ++i)
    if (operands[i].type() != op.operand(i)->type())
      return llvm::createStringError(fmt::format("operand {} should be {}, not {}", i, toString(op.operand(i)->type()),
                                                 toString(operands[i].type())));
  return llvm::Error::success();
}
}  // namespace

// A call is evaluated by interpreting its callee (interpret, below), which no rule of one op sees.
bool hasInterpreterRule(OpKind kind) {
  size_t row = static_cast<size_t>(kind);
  return kind == OpKind::Call || ruleTable().single[row] || ruleTable().several[row];
}

llvm::Expected<std::vector<Tensor>> evaluateOpResults(const Operation &op, std::span<const Tensor> operands) {
  size_t row = static_cast<size_t>(op.kind());
  interpreter::EvaluationRule single = ruleTable().single[row];
  interpreter::ResultsRule several = ruleTable().several[row];
  llvm::Error problem = !single && !several ? llvm::createStringError("the interpreter has no rule for this op")
                                            : checkOperands(op, operands);
  for (const Value *result : op.results())
    if (!problem) problem = checkTensorSize(result->type());
  auto failed = [&](llvm::Error error) {
    return llvm::createStringError(fmt::format("{}: {}", op.name(), llvm::toString(std::move(error))));
  };
  if (problem) return failed(std::move(problem));
  if (several) {
    llvm::Expected<std::vector<Tensor>> results = several(op, operands);
    if (!results) return failed(results.takeError());
    return results;
  }
  llvm::Expected<Tensor> result = single(op, operands);
  if (!result) return failed(result.takeError());
  std::vector<Tensor> results;
  results.push_back(std::move(*result));
  return results;
}

llvm::Expected<Tensor> evaluateOp(const Operation &op, std::span<const Tensor> operands) {
  if (op.resultCount() != 1)
    return llvm::createStringError(fmt::format("{}: has {} results, not one", op.name(), op.resultCount()));
  llvm::Expected<std::vector<Tensor>> results = evaluateOpResults(op, operands);
  if (!results) return results.takeError();
  return std::move(results->front());
}

namespace {
// The failure of one op as an OpErrors record, which holds no pointer it would follow, so that
// it outlives the function (the gradient check evaluates a copy it drops before reporting).
llvm::Error failedAt(const Function &function, const Operation &op, std::string message) {
  return llvm::make_error<OpErrors>(fmt::format("evaluation of @{} failed", function.name()),
                                    std::vector<ProblemAtOp>{ProblemAtOp{&function, &op, std::move(message)}});
}
}  // namespace

llvm::Expected<std::vector<Tensor>> interpret(const Function &function, std::span<const Tensor> arguments) {
  if (arguments.size() != function.arguments().size())
    return llvm::createStringError(
        fmt::format("@{} takes {} arguments, not {}", function.name(), function.arguments().size(), arguments.size()));
  std::unordered_map<const Value *, Tensor> values;
  for (size_t i = 0; i < arguments.size(); ++i) {
    const Value *argument = function.argument(i);
    if (arguments[i].type() != argument->type())
      return llvm::createStringError(fmt::format("argument %{} of @{} should be {}, not {}", argument->name(),
                                                 function.name(), toString(argument->type()),
                                                 toString(arguments[i].type())));
    values.emplace(argument, arguments[i]);
  }
  for (const auto &op : function.ops()) {
    std::vector<Tensor> operands;
    operands.reserve(op->operands().size());
    for (const Value *operand : op->operands()) {
      auto found = values.find(operand);
      if (found == values.end())
        return failedAt(function, *op, fmt::format("{}: an operand is used before it is defined", op->name()));
      operands.push_back(found->second);
    }
    if (op->kind() == OpKind::Call) {
      const Function *callee = function.parent() ? op->callee(*function.parent()) : nullptr;
      if (!callee)
        return failedAt(function, *op,
                        fmt::format("call: @{} is not a function of the module", op->attributes().getSymbol("callee")));
      llvm::Expected<std::vector<Tensor>> results = interpret(*callee, operands);
      if (!results) return results.takeError();
      for (size_t i = 0; i < op->resultCount(); ++i) values.insert_or_assign(op->result(i), std::move((*results)[i]));
      continue;
    }
    llvm::Expected<std::vector<Tensor>> results = evaluateOpResults(*op, operands);
    if (!results) return failedAt(function, *op, llvm::toString(results.takeError()));
    for (size_t i = 0; i < op->resultCount(); ++i) values.insert_or_assign(op->result(i), std::move((*results)[i]));
  }
  std::vector<Tensor> results;
  for (const Value *result : function.results()) {
    auto found = values.find(result);
    if (found == values.end())
      return llvm::createStringError(fmt::format("@{} returns a value it never defines", function.name()));
    results.push_back(found->second);
  }
  return results;
}

}  // namespace kiln
