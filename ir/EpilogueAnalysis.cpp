// Recognises a product (matmul, conv2d) followed by an elementwise epilogue in one kernel.
#include "ir/EpilogueAnalysis.h"

#include <unordered_set>

#include <fmt/format.h>

namespace kiln {

const Operation *epilogueProduct(const Function &kernel, std::string *why) {
  auto fail = [&](std::string reason) -> const Operation * {
    if (why) *why = std::move(reason);
    return nullptr;
  };
  if (kernel.results().size() != 1 || kernel.results()[0]->isArgument())
    return fail("the kernel has not exactly one computed result");
  const Operation *product = nullptr;
  for (const auto &op : kernel.ops()) {
    OpClass opClass = op->info().opClass;
    if (op->info().has(kTakesEpilogue) && !product) {
      product = op.get();
      continue;
    }
    if (opClass != OpClass::Elementwise && opClass != OpClass::IndexMap && opClass != OpClass::Creation &&
        opClass != OpClass::Random)
      return fail(fmt::format("'{}' cannot run in a matrix product's epilogue", op->name()));
  }
  if (!product) return fail("the kernel has no matmul or conv2d");
  const Value *result = kernel.results()[0];
  const TensorType &productType = product->result()->type();
  if (!isFloat(productType.dtype)) return fail(fmt::format("the {} is not a float product", product->name()));
  if (result->type() != productType)
    return fail(fmt::format("the result is {}, not the {}'s {}", toString(result->type()), product->name(),
                            toString(productType)));
  // Ops are in order, so one forward walk finds everything computed from the product.
  std::unordered_set<const Value *> fromProduct{product->result()};
  for (const auto &op : kernel.ops()) {
    if (op.get() == product) continue;
    bool reads = false;
    for (const Value *operand : op->operands()) reads = reads || fromProduct.count(operand) > 0;
    if (!reads) continue;
    if (op->info().opClass != OpClass::Elementwise || op->result()->type().shape != productType.shape)
      return fail(fmt::format("'{}' reads the product at another index than its own", op->name()));
    fromProduct.insert(op->result());
  }
  if (!fromProduct.count(result)) return fail(fmt::format("the result is not computed from the {}", product->name()));
  return product;
}

}  // namespace kiln
