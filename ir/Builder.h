// Creates ops with their result types inferred from the op table, at an insertion point.
#pragma once

#include "ir/IR.h"

namespace kiln {

class Builder {
public:
  // Inserts at the end of `function`.
  explicit Builder(Function &function) : function_(&function), point_(function.ops().end()) {}
  Builder(Function &function, Function::OpList::iterator before) : function_(&function), point_(before) {}

  void setLocation(Location location) { location_ = std::move(location); }

  // Builds `kind` over `operands`. `declared` is required for ops whose row rule starts with
  // `declared` (reshape, constant, ...). Fails, creating nothing, when the type rule does.
  llvm::Expected<Value *> tryCreate(OpKind kind, std::vector<Value *> operands,
                                    const std::vector<NamedAttribute> &attributes = {},
                                    std::optional<TensorType> declared = std::nullopt);

  // As tryCreate for an op of any number of results (attention), giving them all.
  llvm::Expected<std::vector<Value *>> tryCreateResults(OpKind kind, std::vector<Value *> operands,
                                                        const std::vector<NamedAttribute> &attributes = {});

  // As tryCreate, for callers that have checked types already: a type-rule failure is a bug.
  Value *create(OpKind kind, std::vector<Value *> operands, const std::vector<NamedAttribute> &attributes = {},
                std::optional<TensorType> declared = std::nullopt);

  Value *constant(TensorType type, AttrValue value);

  // Calls `callee` on `operands` (of its argument types) and gives its results.
  std::vector<Value *> call(const Function &callee, std::vector<Value *> operands);

private:
  Function *function_;
  Function::OpList::iterator point_;
  Location location_;
};

}  // namespace kiln
