// Gradient rules of attention: its adjoint is one attention_grad op, which recomputes the
// weights block by block from the log-sum-exp the forward kept, instead of storing them.
#include <limits>

#include "passes/gradients/GradientRules.h"

namespace kiln {

namespace {
using Gradients = std::vector<Value *>;

// Rows [begin, end) of the sequence axis (the second to last) of `value`.
Value *sequenceRows(GradientBuilder &build, Value *value, int64_t begin, int64_t end) {
  const Shape &shape = value->type().shape;
  Ints start(shape.size(), 0), limit(shape.begin(), shape.end());
  start[shape.size() - 2] = begin;
  limit[shape.size() - 2] = end;
  return build.create(OpKind::Slice, {value}, {{"start", start}, {"limit", limit}});
}

// The bias's gradient, ds = p ∘ (g vᵀ − rowsum(g ∘ o)) summed to the bias's shape, from the
// unfused formula: a Tq × Tk matrix, built only because a rule must give every operand's
// gradient. A constant mask is not differentiated, and dead-code elimination then removes it.
Value *biasGradient(const GradientContext &c) {
  GradientBuilder &build = c.build;
  Value *q = c.operand(0), *k = c.operand(1), *v = c.operand(2), *bias = c.operand(3);
  Value *scores = build.add(
      build.multiply(build.create(OpKind::Matmul, {q, k}, {{"transpose_b", true}}), c.attributes().getFloat("scale")),
      bias);
  if (c.attributes().getBool("causal")) {
    const Shape &shape = scores->type().shape;
    Shape square{shape[shape.size() - 2], shape.back()};
    Value *rows = build.create(OpKind::Iota, {}, {{"axis", int64_t{0}}}, TensorType{DType::I64, square});
    Value *columns = build.create(OpKind::Iota, {}, {{"axis", int64_t{1}}}, TensorType{DType::I64, square});
    Value *dropped = build.create(OpKind::Gt, {columns, rows});
    Value *lowest = build.scalar(scores->type().dtype, -std::numeric_limits<double>::infinity());
    scores = build.create(OpKind::Select, {dropped, lowest, scores});
  }
  int64_t lastAxis = static_cast<int64_t>(scores->type().rank()) - 1;
  Value *weights = build.create(OpKind::Softmax, {scores}, {{"axis", lastAxis}});
  Value *weightGradient = build.create(OpKind::Matmul, {c.cotangent, v}, {{"transpose_b", true}});
  Value *rowDot = build.sum(build.multiply(c.cotangent, c.result), {lastAxis}, true);
  return build.reduceToShape(build.multiply(weights, build.subtract(weightGradient, rowDot)), bias->type().shape);
}

// d attention(q, k, v [, bias]) = rows [0, Tq), [Tq, Tq + Tk) and [Tq + Tk, Tq + 2 Tk) of
// attention_grad(q, k, v, o, lse, g [, bias]), and the bias's as biasGradient says.
Gradients attention(const GradientContext &c) {
  std::vector<Value *> operands{c.operand(0), c.operand(1), c.operand(2), c.result, c.results[1], c.cotangent};
  bool biased = c.operands.size() == 4;
  if (biased) operands.push_back(c.operand(3));
  Value *joined =
      c.build.create(OpKind::AttentionGrad, operands,
                     {{"scale", c.attributes().getFloat("scale")}, {"causal", c.attributes().getBool("causal")}});
  const Shape &queryShape = c.operand(0)->type().shape, &keyShape = c.operand(1)->type().shape;
  int64_t queries = queryShape[queryShape.size() - 2], keys = keyShape[keyShape.size() - 2];
  Gradients gradients{sequenceRows(c.build, joined, 0, queries), sequenceRows(c.build, joined, queries, queries + keys),
                      sequenceRows(c.build, joined, queries + keys, queries + 2 * keys)};
  if (biased) gradients.push_back(biasGradient(c));
  return gradients;
}

const GradientRule kRules[] = {
    {OpKind::Attention, attention},
    // Second derivatives through attention would need the adjoint's own adjoint; none is written.
    {OpKind::AttentionGrad, nullptr},
};
}  // namespace

std::span<const GradientRule> attentionGradientRules() { return kRules; }

}  // namespace kiln
