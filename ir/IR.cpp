// Ops, functions and modules.
#include "ir/IR.h"

#include <range/v3/algorithm/find_if.hpp>

namespace kiln {

Operation::Operation(OpKind kind, std::vector<Value *> operands, Attributes attributes, TensorType resultType,
                     Location location, std::string resultName)
    : kind_(kind), operands_(std::move(operands)), attributes_(std::move(attributes)),
      result_(std::move(resultType), this, std::move(resultName)), location_(std::move(location)) {}

Value *Function::addArgument(TensorType type, std::string name) {
  arguments_.push_back(std::make_unique<Value>(std::move(type), nullptr, std::move(name)));
  return arguments_.back().get();
}

void Function::replaceAllUses(Value *from, Value *to) {
  for (auto &op : ops_)
    for (size_t i = 0; i < op->operands().size(); ++i)
      if (op->operand(i) == from) op->setOperand(i, to);
  for (Value *&result : results_)
    if (result == from) result = to;
}

Function *Module::addFunction(std::unique_ptr<Function> function) {
  functions_.push_back(std::move(function));
  return functions_.back().get();
}

Function *Module::lookup(std::string_view name) const {
  auto it = ranges::find_if(functions_, [&](const auto &function) { return function->name() == name; });
  return it == functions_.end() ? nullptr : it->get();
}

}  // namespace kiln
