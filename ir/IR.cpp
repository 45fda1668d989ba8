// Values and their uses, ops, functions and modules.
#include "ir/IR.h"

#include <algorithm>
#include <cassert>
#include <unordered_map>

#include <range/v3/algorithm/find.hpp>
#include <range/v3/algorithm/find_if.hpp>

namespace kiln {

std::vector<Operation *> Value::users() const {
  std::vector<Operation *> users;
  for (const Use &use : uses_)
    if (ranges::find(users, use.user) == users.end()) users.push_back(use.user);
  return users;
}

void Value::replaceAllUsesWith(Value *replacement) {
  if (replacement == this) return;
  // setOperand edits uses_, so walk a copy.
  std::vector<Use> uses = uses_;
  for (const Use &use : uses) use.user->setOperand(use.operandIndex, replacement);
}

void Value::removeUse(Use use) {
  auto it = ranges::find(uses_, use);
  assert(it != uses_.end() && "a use list lost track of an operand");
  *it = uses_.back();
  uses_.pop_back();
}

Operation::Operation(OpKind kind, std::vector<Value *> operands, Attributes attributes,
                     std::vector<TensorType> resultTypes, Location location, std::vector<std::string> resultNames)
    : kind_(kind), operands_(std::move(operands)), attributes_(std::move(attributes)), location_(std::move(location)) {
  for (size_t i = 0; i < resultTypes.size(); ++i) {
    ownedResults_.push_back(
        std::make_unique<Value>(std::move(resultTypes[i]), this, static_cast<unsigned>(i),
                                i < resultNames.size() ? std::move(resultNames[i]) : std::string()));
    results_.push_back(ownedResults_.back().get());
  }
  for (size_t i = 0; i < operands_.size(); ++i) operands_[i]->addUse({this, static_cast<unsigned>(i)});
}

Operation::Operation(OpKind kind, std::vector<Value *> operands, Attributes attributes, TensorType resultType,
                     Location location, std::string resultName)
    : Operation(kind, std::move(operands), std::move(attributes), std::vector<TensorType>{std::move(resultType)},
                std::move(location), std::vector<std::string>{std::move(resultName)}) {}

Operation::~Operation() { dropOperands(); }

void Operation::dropOperands() {
  for (size_t i = 0; i < operands_.size(); ++i) operands_[i]->removeUse({this, static_cast<unsigned>(i)});
  operands_.clear();
}

void Operation::setOperand(size_t index, Value *value) {
  if (operands_[index] == value) return;
  Use use{this, static_cast<unsigned>(index)};
  operands_[index]->removeUse(use);
  operands_[index] = value;
  value->addUse(use);
}

Value *Operation::result() const {
  assert(results_.size() == 1 && "result() of an op with several results");
  return results_.front();
}

bool Operation::hasUses() const {
  return std::any_of(results_.begin(), results_.end(), [](const Value *result) { return result->hasUses(); });
}

Function *Operation::callee(const Module &module) const {
  const AttrValue *callee = attributes_.find("callee");
  if (kind_ != OpKind::Call || !callee) return nullptr;
  return module.lookup(std::get<Symbol>(*callee).name);
}

std::string_view functionKindKeyword(FunctionKind kind) { return kind == FunctionKind::Kernel ? "kernel" : "func"; }

std::string_view argumentRoleKeyword(ArgumentRole role) {
  switch (role) {
  case ArgumentRole::None: return "";
  case ArgumentRole::Input: return "input";
  case ArgumentRole::Label: return "label";
  case ArgumentRole::Parameter: return "param";
  case ArgumentRole::OptimizerState: return "state";
  case ArgumentRole::Buffer: return "buffer";
  case ArgumentRole::Key: return "key";
  }
  return "";
}

std::optional<ArgumentRole> parseArgumentRole(std::string_view keyword) {
  for (ArgumentRole role : {ArgumentRole::Input, ArgumentRole::Label, ArgumentRole::Parameter,
                            ArgumentRole::OptimizerState, ArgumentRole::Buffer, ArgumentRole::Key})
    if (argumentRoleKeyword(role) == keyword) return role;
  return std::nullopt;
}

Function::~Function() {
  // No op may outlive a value it reads, whatever the order of the ops (valid or not).
  for (auto &op : ops_) op->dropOperands();
}

Value *Function::addArgument(TensorType type, std::string name, ArgumentRole role) {
  arguments_.push_back(
      std::make_unique<Value>(std::move(type), nullptr, static_cast<unsigned>(arguments_.size()), std::move(name)));
  roles_.push_back(role);
  return arguments_.back().get();
}

void Function::eraseArgument(size_t index) {
  assert(!arguments_[index]->hasUses() && !returns(arguments_[index].get()) && "erasing an argument still in use");
  arguments_.erase(arguments_.begin() + static_cast<std::ptrdiff_t>(index));
  roles_.erase(roles_.begin() + static_cast<std::ptrdiff_t>(index));
  for (size_t i = index; i < arguments_.size(); ++i) arguments_[i]->index_ = static_cast<unsigned>(i);
}

std::vector<Value *> Function::argumentsWithRole(ArgumentRole role) const {
  std::vector<Value *> chosen;
  for (size_t i = 0; i < arguments_.size(); ++i)
    if (roles_[i] == role) chosen.push_back(arguments_[i].get());
  return chosen;
}

void Function::eraseIf(llvm::function_ref<bool(const Operation &)> shouldErase) {
  for (auto it = ops_.end(); it != ops_.begin();) {
    --it;
    if (shouldErase(**it)) it = ops_.erase(it);
  }
}

bool Function::returns(const Value *value) const { return ranges::find(results_, value) != results_.end(); }

void Function::replaceAllUses(Value *from, Value *to) {
  from->replaceAllUsesWith(to);
  for (Value *&result : results_)
    if (result == from) result = to;
}

Function *Module::addFunction(std::unique_ptr<Function> function) {
  function->parent_ = this;
  byName_.try_emplace(function->name(), function.get());
  functions_.push_back(std::move(function));
  return functions_.back().get();
}

std::unique_ptr<Function> Module::removeFunction(Function *function) {
  auto it = ranges::find_if(functions_, [&](const auto &each) { return each.get() == function; });
  if (it == functions_.end()) return nullptr;
  std::unique_ptr<Function> removed = std::move(*it);
  functions_.erase(it);
  if (auto named = byName_.find(removed->name()); named != byName_.end() && named->second == function) {
    byName_.erase(named);
    // A second function of the same name (which the verifier reports) becomes the one found.
    for (const auto &each : functions_)
      if (each->name() == removed->name()) {
        byName_[each->name()] = each.get();
        break;
      }
  }
  removed->parent_ = nullptr;
  return removed;
}

Function *Module::lookup(std::string_view name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : it->second;
}

std::unique_ptr<Operation> cloneOp(const Operation &op, std::vector<Value *> operands,
                                   llvm::function_ref<TensorType(const TensorType &)> mapType) {
  std::vector<TensorType> types;
  std::vector<std::string> names;
  for (const Value *result : op.results()) {
    types.push_back(mapType ? mapType(result->type()) : result->type());
    names.push_back(result->name());
  }
  return std::make_unique<Operation>(op.kind(), std::move(operands), op.attributes(), std::move(types), op.location(),
                                     std::move(names));
}

std::unique_ptr<Function> cloneFunction(const Function &function, std::string name, ValueMap *copied,
                                        llvm::function_ref<TensorType(const TensorType &)> mapType) {
  ValueMap ownMap;
  ValueMap &map = copied ? *copied : ownMap;
  auto typeOf = [&](const Value *value) { return mapType ? mapType(value->type()) : value->type(); };
  auto copy = std::make_unique<Function>(std::move(name), function.location(), function.kind());
  for (size_t i = 0; i < function.arguments().size(); ++i) {
    const Value *argument = function.argument(i);
    map[argument] = copy->addArgument(typeOf(argument), argument->name(), function.role(i));
  }
  for (const auto &op : function.ops()) {
    std::vector<Value *> operands;
    for (Value *operand : op->operands()) operands.push_back(map.at(operand));
    auto clone = cloneOp(*op, std::move(operands), mapType);
    for (size_t i = 0; i < op->resultCount(); ++i) map[op->result(i)] = clone->result(i);
    copy->insert(copy->ops().end(), std::move(clone));
  }
  std::vector<Value *> results;
  for (const Value *result : function.results()) results.push_back(map.at(result));
  copy->setResults(std::move(results));
  return copy;
}

}  // namespace kiln
