// The tensor IR: SSA values, ops, functions (straight-line graphs) and modules.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <vector>

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

// A function argument or the result of an op. `name` is a hint for the printer (`%x`);
// values without one are numbered.
class Value {
public:
  Value(TensorType type, Operation *definingOp, std::string name)
      : type_(std::move(type)), definingOp_(definingOp), name_(std::move(name)) {}

  const TensorType &type() const { return type_; }
  Operation *definingOp() const { return definingOp_; }
  bool isArgument() const { return definingOp_ == nullptr; }
  const std::string &name() const { return name_; }
  void setName(std::string name) { name_ = std::move(name); }

private:
  TensorType type_;
  Operation *definingOp_;
  std::string name_;
};

class Operation {
public:
  Operation(OpKind kind, std::vector<Value *> operands, Attributes attributes, TensorType resultType, Location location,
            std::string resultName = {});

  OpKind kind() const { return kind_; }
  const OpInfo &info() const { return opInfo(kind_); }
  std::string_view name() const { return info().name; }
  const std::vector<Value *> &operands() const { return operands_; }
  Value *operand(size_t index) const { return operands_[index]; }
  void setOperand(size_t index, Value *value) { operands_[index] = value; }
  const Attributes &attributes() const { return attributes_; }
  Value *result() { return &result_; }
  const Value *result() const { return &result_; }
  const Location &location() const { return location_; }

private:
  OpKind kind_;
  std::vector<Value *> operands_;
  Attributes attributes_;
  Value result_;
  Location location_;
};

// A straight-line SSA graph: arguments, ops in an order where every operand is defined
// before it is used, and the values returned.
class Function {
public:
  using OpList = std::list<std::unique_ptr<Operation>>;

  explicit Function(std::string name, Location location = {}) : name_(std::move(name)), location_(std::move(location)) {}

  const std::string &name() const { return name_; }
  const Location &location() const { return location_; }

  Value *addArgument(TensorType type, std::string name);
  const std::vector<std::unique_ptr<Value>> &arguments() const { return arguments_; }
  Value *argument(size_t index) const { return arguments_[index].get(); }

  OpList &ops() { return ops_; }
  const OpList &ops() const { return ops_; }
  OpList::iterator insert(OpList::iterator before, std::unique_ptr<Operation> op) {
    return ops_.insert(before, std::move(op));
  }

  const std::vector<Value *> &results() const { return results_; }
  std::vector<Value *> &results() { return results_; }
  void setResults(std::vector<Value *> results) { results_ = std::move(results); }

  // Rewrites every use of `from` (operands and results) to `to`.
  void replaceAllUses(Value *from, Value *to);

private:
  std::string name_;
  Location location_;
  std::vector<std::unique_ptr<Value>> arguments_;
  OpList ops_;
  std::vector<Value *> results_;
};

class Module {
public:
  Function *addFunction(std::unique_ptr<Function> function);
  Function *lookup(std::string_view name) const;
  const std::vector<std::unique_ptr<Function>> &functions() const { return functions_; }

private:
  std::vector<std::unique_ptr<Function>> functions_;
};

}  // namespace kiln
