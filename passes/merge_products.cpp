// merge-products: a sum of two matrix products of one kind is one product over their joined
// contraction axis, a·b + c·d = [a c]·[b; d]. An unrolled recurrent network's weight gradient,
// the sum over its T steps of products of depth B, becomes one product of depth T·B: the
// matrix-product template runs near its peak on it, and T - 1 products are no longer stored and
// read back by adds.
//
// 1. Walk the ops forward (rewriteForward). An add of two float products, each read by that add
//    alone, with one result type and the same transpose flags, whose operands differ only along
//    the contraction axis, is a candidate.
// 2. The joined operands are copies: a term pays for its own, K·(M + N) elements, when they are
//    at most twice its product's M·N, the elements no longer stored and read back. A term whose
//    operands are already joins along the contraction axis (an earlier step's product) adds no copy.
// 3. The two terms' operands are joined (concat along each operand's contraction axis, a join in
//    a term spliced in rather than nested) and their product replaces the add.
// 4. dce removes the products and joins left unread.
// Rounding: each element is one dot product over K1 + K2 terms instead of two and an add, the
// order a deeper product sums in; results agree within a sum's rounding, not bit for bit.
#include <algorithm>

#include "ir/Builder.h"
#include "passes/ForwardRewrite.h"
#include "passes/Passes.h"

namespace kiln {

namespace {
// a's contraction axis is its last, or the one before when transposed; b's the reverse.
size_t contractionAxis(const Operation &product, size_t operand) {
  size_t rank = product.operand(operand)->type().shape.size();
  bool transposed = product.attributes().getBool(operand == 0 ? "transpose_a" : "transpose_b");
  return operand == 0 ? (transposed ? rank - 2 : rank - 1) : (transposed ? rank - 1 : rank - 2);
}

bool isJoinAlong(const Value *value, size_t axis) {
  const Operation *op = value->definingOp();
  return op && op->kind() == OpKind::Concat && static_cast<size_t>(op->attributes().getInt("axis")) == axis &&
         value->uses().size() == 1;
}

// A product the add may merge: a float matmul read by the add alone, whose copy pays (step 2).
const Operation *term(const Value *value) {
  const Operation *product = value->definingOp();
  if (!product || product->kind() != OpKind::Matmul || value->uses().size() != 1 || !isFloat(value->type().dtype))
    return nullptr;
  const Shape &shape = value->type().shape;
  if (shape.size() < 2) return nullptr;
  bool joined = isJoinAlong(product->operand(0), contractionAxis(*product, 0)) &&
                isJoinAlong(product->operand(1), contractionAxis(*product, 1));
  int64_t rows = shape[shape.size() - 2], columns = shape.back();
  int64_t depth = product->operand(0)->type().shape[contractionAxis(*product, 0)];
  return joined || depth * (rows + columns) <= 2 * rows * columns ? product : nullptr;
}

// Whether the shapes are equal but along `axis`.
bool equalBut(const Shape &left, const Shape &right, size_t axis) {
  if (left.size() != right.size()) return false;
  for (size_t i = 0; i < left.size(); ++i)
    if (i != axis && left[i] != right[i]) return false;
  return true;
}

// The operands to join: `value`'s own join's, spliced in, or `value` itself.
void appendJoined(std::vector<Value *> &parts, Value *value, size_t axis) {
  if (isJoinAlong(value, axis))
    for (Value *part : value->definingOp()->operands()) parts.push_back(part);
  else
    parts.push_back(value);
}

Value *merged(Function &function, Function::OpList::iterator position, Operation &add) {
  const Operation *left = term(add.operand(0)), *right = term(add.operand(1));
  if (!left || !right || left == right || left->attributes() != right->attributes() ||
      add.operand(0)->type() != add.operand(1)->type() || add.operand(0)->type() != add.result()->type())
    return nullptr;
  std::vector<Value *> joined;
  for (size_t operand = 0; operand < 2; ++operand) {
    size_t axis = contractionAxis(*left, operand);
    if (axis != contractionAxis(*right, operand) ||
        !equalBut(left->operand(operand)->type().shape, right->operand(operand)->type().shape, axis) ||
        left->operand(operand)->type().dtype != right->operand(operand)->type().dtype)
      return nullptr;
  }
  Builder builder(function, position);
  builder.setLocation(add.location());
  for (size_t operand = 0; operand < 2; ++operand) {
    size_t axis = contractionAxis(*left, operand);
    std::vector<Value *> parts;
    appendJoined(parts, left->operand(operand), axis);
    appendJoined(parts, right->operand(operand), axis);
    joined.push_back(builder.create(OpKind::Concat, parts, {{"axis", static_cast<int64_t>(axis)}}));
  }
  Value *product = builder.create(OpKind::Matmul, joined, left->attributes().entries());
  product->setName(add.result()->name());
  return product;
}
}  // namespace

void mergeProducts(Function &function) {
  rewriteForward(function, [&](Operation &op, Function::OpList::iterator position) -> Value * {
    return op.kind() == OpKind::Add ? merged(function, position, op) : nullptr;
  });
  eliminateDeadCode(function);
}

}  // namespace kiln
