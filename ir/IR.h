// The tensor IR: SSA values with use lists, ops of one or more results, functions (straight-line
// graphs, `func` or `kernel`, with argument roles) and modules.
#pragma once

#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <llvm/ADT/STLFunctionalExtras.h>
#include <llvm/ADT/StringMap.h>

#include "ir/Attributes.h"
#include "ir/OpTable.h"
#include "ir/Types.h"

namespace kiln {

// Where an op came from in a model file; printed as `loc("file":line:col)`. Line 0: unknown.
struct Location {
  std::string file;
  unsigned line = 0;
  unsigned column = 0;

  bool known() const { return line != 0; }
  bool operator==(const Location &) const = default;
};

class Operation;
class Function;
class Module;

// One operand slot of an op that reads a value.
struct Use {
  Operation *user;
  unsigned operandIndex;
  bool operator==(const Use &) const = default;
};

// A function argument or a result of an op. `name` is a hint for the printer (`%x`); values
// without one are numbered. Every value knows the ops that read it (its uses, kept up to date by
// Operation); whether a function returns it is the function's to say (Function::returns).
class Value {
public:
  Value(TensorType type, Operation *definingOp, unsigned index, std::string name)
      : type_(std::move(type)), definingOp_(definingOp), index_(index), name_(std::move(name)) {}
  Value(const Value &) = delete;
  Value &operator=(const Value &) = delete;

  const TensorType &type() const { return type_; }
  Operation *definingOp() const { return definingOp_; }
  bool isArgument() const { return definingOp_ == nullptr; }
  // The position among the defining op's results, or among the function's arguments.
  unsigned index() const { return index_; }
  const std::string &name() const { return name_; }
  void setName(std::string name) { name_ = std::move(name); }

  const std::vector<Use> &uses() const { return uses_; }
  bool hasUses() const { return !uses_.empty(); }
  // Every op that reads the value, once each, in the order of their first use.
  std::vector<Operation *> users() const;
  // Points every op that reads this value at `replacement` instead (not the function's results).
  void replaceAllUsesWith(Value *replacement);

private:
  friend class Operation;
  friend class Function;
  void addUse(Use use) { uses_.push_back(use); }
  void removeUse(Use use);

  TensorType type_;
  Operation *definingOp_;
  unsigned index_;
  std::string name_;
  std::vector<Use> uses_;
};

class Operation {
public:
  Operation(OpKind kind, std::vector<Value *> operands, Attributes attributes, std::vector<TensorType> resultTypes,
            Location location, std::vector<std::string> resultNames = {});
  // An op of one result.
  Operation(OpKind kind, std::vector<Value *> operands, Attributes attributes, TensorType resultType, Location location,
            std::string resultName = {});
  // Leaves the use lists of its operands; an op is erased after every op that reads it.
  ~Operation();
  // Reads nothing any more (leaves its operands' use lists), so that ops can be destroyed in
  // any order, even IR the verifier would refuse.
  void dropOperands();
  Operation(const Operation &) = delete;
  Operation &operator=(const Operation &) = delete;

  OpKind kind() const { return kind_; }
  const OpInfo &info() const { return opInfo(kind_); }
  std::string_view name() const { return info().name; }
  const std::vector<Value *> &operands() const { return operands_; }
  Value *operand(size_t index) const { return operands_[index]; }
  void setOperand(size_t index, Value *value);
  const Attributes &attributes() const { return attributes_; }
  const Location &location() const { return location_; }

  size_t resultCount() const { return results_.size(); }
  Value *result(size_t index) const { return results_[index]; }
  // The result of an op of one result; every op but call has exactly one.
  Value *result() const;
  const std::vector<Value *> &results() const { return results_; }
  // Whether any result is read by an op.
  bool hasUses() const;

  // The callee of a call; null for every other op or when the module has no such function.
  Function *callee(const Module &module) const;

private:
  OpKind kind_;
  std::vector<Value *> operands_;
  Attributes attributes_;
  std::vector<std::unique_ptr<Value>> ownedResults_;
  std::vector<Value *> results_;  // the same values, for callers that iterate over them
  Location location_;
};

// What a function is for. A kernel is a unit the backend lowers as one loop nest or template;
// the ops of a `func` are lowered kernel by kernel once outlined.
enum class FunctionKind { Function, Kernel };
std::string_view functionKindKeyword(FunctionKind kind);  // `func`, `kernel`

// What an argument of a function is to a training step: the roles say which arguments autodiff
// differentiates and which the runtime feeds from data, instead of their positions.
// Buffer: a model tensor that training updates without a gradient (batch norm's running
// statistics). Key: the i64[] random key of one training step (dropout's masks).
enum class ArgumentRole { None, Input, Label, Parameter, OptimizerState, Buffer, Key };
// "", `input`, `label`, `param`, `state`, `buffer`, `key`
std::string_view argumentRoleKeyword(ArgumentRole role);
std::optional<ArgumentRole> parseArgumentRole(std::string_view keyword);

// A straight-line SSA graph: arguments, ops in an order where every operand is defined
// before it is used, and the values returned.
class Function {
public:
  using OpList = std::list<std::unique_ptr<Operation>>;

  explicit Function(std::string name, Location location = {}, FunctionKind kind = FunctionKind::Function)
      : name_(std::move(name)), location_(std::move(location)), kind_(kind) {}
  ~Function();
  Function(const Function &) = delete;
  Function &operator=(const Function &) = delete;

  const std::string &name() const { return name_; }
  const Location &location() const { return location_; }
  FunctionKind kind() const { return kind_; }
  void setKind(FunctionKind kind) { kind_ = kind; }
  bool isKernel() const { return kind_ == FunctionKind::Kernel; }

  Value *addArgument(TensorType type, std::string name, ArgumentRole role = ArgumentRole::None);
  // Removes an argument that no op reads and the function does not return; the arguments after
  // it move down one position.
  void eraseArgument(size_t index);
  const std::vector<std::unique_ptr<Value>> &arguments() const { return arguments_; }
  Value *argument(size_t index) const { return arguments_[index].get(); }
  ArgumentRole role(size_t argumentIndex) const { return roles_[argumentIndex]; }
  ArgumentRole role(const Value *argument) const { return roles_[argument->index()]; }
  void setRole(size_t argumentIndex, ArgumentRole role) { roles_[argumentIndex] = role; }
  // The arguments of one role, in argument order.
  std::vector<Value *> argumentsWithRole(ArgumentRole role) const;

  OpList &ops() { return ops_; }
  const OpList &ops() const { return ops_; }
  OpList::iterator insert(OpList::iterator before, std::unique_ptr<Operation> op) {
    return ops_.insert(before, std::move(op));
  }
  // Erases one op, whose results nothing reads any more.
  OpList::iterator erase(OpList::iterator position) { return ops_.erase(position); }
  // Erases every op for which `shouldErase` holds; those ops are read only by each other.
  // Walks backwards, so that an op goes before the ops it reads.
  void eraseIf(llvm::function_ref<bool(const Operation &)> shouldErase);

  const std::vector<Value *> &results() const { return results_; }
  void setResults(std::vector<Value *> results) { results_ = std::move(results); }
  void setResult(size_t index, Value *value) { results_[index] = value; }
  bool returns(const Value *value) const;

  // Points every use of `from`, by ops and among the results, at `to`.
  void replaceAllUses(Value *from, Value *to);

  // The module that holds the function; null until Module::addFunction.
  Module *parent() const { return parent_; }

private:
  friend class Module;
  std::string name_;
  Location location_;
  FunctionKind kind_;
  std::vector<std::unique_ptr<Value>> arguments_;
  std::vector<ArgumentRole> roles_;
  OpList ops_;
  std::vector<Value *> results_;
  Module *parent_ = nullptr;
};

// What a train block says about the loop around @train_step. The module carries it, so that a
// program built from the IR alone trains as its source said; it prints as the module's first line,
// `training @Model {batch = 32, epochs = 30, ...}`.
struct TrainingSettings {
  std::string model;  // the trained model's name, which checkpoints record
  std::string data;   // the data file, as the train block names it
  int64_t batch = 1;
  int64_t epochs = 1;
  double validationSplit = 0;  // the fraction of the training data held out, in [0, 1)
  int64_t earlyStopping = 0;   // patience in epochs; 0 trains every epoch
  int64_t seed = 0;
  std::vector<std::string> metrics;  // reported besides the loss, in the block's order
  bool operator==(const TrainingSettings &) const = default;
};

class Module {
public:
  std::optional<TrainingSettings> training;

  Function *addFunction(std::unique_ptr<Function> function);
  // Removes and returns a function (nothing may call it any more).
  std::unique_ptr<Function> removeFunction(Function *function);
  Function *lookup(std::string_view name) const;
  const std::vector<std::unique_ptr<Function>> &functions() const { return functions_; }

private:
  std::vector<std::unique_ptr<Function>> functions_;
  llvm::StringMap<Function *> byName_;
};

// Creates an op cloned from `op` reading `operands`, with the same attributes, location, result
// names (hints: the printer keeps them unique) and result types, changed by `mapType` if given.
std::unique_ptr<Operation> cloneOp(const Operation &op, std::vector<Value *> operands,
                                   llvm::function_ref<TensorType(const TensorType &)> mapType = nullptr);

// Each value of a function to its copy in a clone.
using ValueMap = std::unordered_map<const Value *, Value *>;

// A copy of `function` named `name`, of the same kind, arguments, roles, ops and results.
// `copied`, when given, learns each original value's copy; `mapType`, when given, changes every
// argument and result type on the way (the gradient check's f64 copy).
std::unique_ptr<Function> cloneFunction(const Function &function, std::string name, ValueMap *copied = nullptr,
                                        llvm::function_ref<TensorType(const TensorType &)> mapType = nullptr);

}  // namespace kiln
