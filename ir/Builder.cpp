// Op creation through the op table's attribute schema and result-type rule.
#include "ir/Builder.h"

#include <llvm/Support/ErrorHandling.h>

namespace kiln {

llvm::Expected<Value *> Builder::tryCreate(OpKind kind, std::vector<Value *> operands,
                                           const std::vector<NamedAttribute> &attributes,
                                           std::optional<TensorType> declared) {
  std::vector<TensorType> operandTypes;
  for (Value *operand : operands) operandTypes.push_back(operand->type());
  DType elementType = declared ? declared->dtype : operandTypes.empty() ? DType::F32 : operandTypes.front().dtype;
  auto complete = completeAttributes(opInfo(kind), attributes, elementType);
  if (!complete) return complete.takeError();
  auto resultType = inferResultType(kind, operandTypes, *complete, declared);
  if (!resultType) return resultType.takeError();
  auto op =
      std::make_unique<Operation>(kind, std::move(operands), std::move(*complete), std::move(*resultType), location_);
  Value *result = op->result();
  function_->insert(point_, std::move(op));
  return result;
}

llvm::Expected<std::vector<Value *>> Builder::tryCreateResults(OpKind kind, std::vector<Value *> operands,
                                                               const std::vector<NamedAttribute> &attributes) {
  std::vector<TensorType> operandTypes;
  for (Value *operand : operands) operandTypes.push_back(operand->type());
  auto complete =
      completeAttributes(opInfo(kind), attributes, operandTypes.empty() ? DType::F32 : operandTypes.front().dtype);
  if (!complete) return complete.takeError();
  auto resultTypes = inferResultTypes(kind, operandTypes, *complete, {});
  if (!resultTypes) return resultTypes.takeError();
  auto op =
      std::make_unique<Operation>(kind, std::move(operands), std::move(*complete), std::move(*resultTypes), location_);
  std::vector<Value *> results = op->results();
  function_->insert(point_, std::move(op));
  return results;
}

Value *Builder::create(OpKind kind, std::vector<Value *> operands, const std::vector<NamedAttribute> &attributes,
                       std::optional<TensorType> declared) {
  auto result = tryCreate(kind, std::move(operands), attributes, std::move(declared));
  if (!result)
    llvm::report_fatal_error(llvm::Twine("Builder::create(") + opName(kind) +
                             "): " + llvm::toString(result.takeError()));
  return *result;
}

Value *Builder::constant(TensorType type, AttrValue value) {
  return create(OpKind::Constant, {}, {{"value", std::move(value)}}, std::move(type));
}

std::vector<Value *> Builder::call(const Function &callee, std::vector<Value *> operands) {
  std::vector<TensorType> resultTypes;
  for (const Value *result : callee.results()) resultTypes.push_back(result->type());
  Attributes attributes;
  attributes.set("callee", Symbol{callee.name()});
  auto op = std::make_unique<Operation>(OpKind::Call, std::move(operands), std::move(attributes),
                                        std::move(resultTypes), location_);
  std::vector<Value *> results = op->results();
  function_->insert(point_, std::move(op));
  return results;
}

}  // namespace kiln
