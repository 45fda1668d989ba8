// Gradient rules of reductions and normalisations: x is the operand, y the result, g the
// cotangent; a reduction's gradient spreads g back over the axes it reduced.
#include "passes/gradients/GradientRules.h"

namespace kiln {

namespace {
using Gradients = std::vector<Value *>;

const Shape &operandShape(const GradientContext &c) { return c.operand(0)->type().shape; }
const Ints &axesOf(const GradientContext &c) { return c.attributes().getInts("axes"); }
bool keptDims(const GradientContext &c) { return c.attributes().getBool("keepdims"); }

// `value`, shaped like the reduction's result, with the reduced axes present as extent 1.
Value *withReducedAxes(const GradientContext &c, Value *value) {
  Shape kept = operandShape(c);
  for (int64_t axis : reducedAxes(axesOf(c), static_cast<int64_t>(kept.size()))) kept[axis] = 1;
  return c.build.reshape(value, kept);
}

// d sum(x, axes) = g broadcast along axes
Gradients sum(const GradientContext &c) {
  return {c.build.unreduce(c.cotangent, operandShape(c), axesOf(c), keptDims(c))};
}

// d mean(x, axes) = g broadcast along axes / (number of elements reduced)
Gradients mean(const GradientContext &c) {
  int64_t count = 1;
  for (int64_t axis : reducedAxes(axesOf(c), static_cast<int64_t>(operandShape(c).size())))
    count *= operandShape(c)[axis];
  Value *spread = c.build.unreduce(c.cotangent, operandShape(c), axesOf(c), keptDims(c));
  return {c.build.multiply(spread, 1.0 / static_cast<double>(count))};
}

// d max(x, axes) = g * [x == y] / (number of ties): the gradient goes to the elements equal
// to the maximum and is split evenly among them (the tie rule of PyTorch's amax). Min alike.
Gradients extremum(const GradientContext &c) {
  DType dtype = c.result->type().dtype;
  Value *extreme = withReducedAxes(c, c.result);
  Value *isExtreme = c.build.mask(c.build.create(OpKind::Eq, {c.operand(0), extreme}), dtype);
  Value *ties = c.build.sum(isExtreme, reducedAxes(axesOf(c), static_cast<int64_t>(operandShape(c).size())), true);
  Value *share = c.build.divide(withReducedAxes(c, c.cotangent), ties);
  return {c.build.multiply(isExtreme, share)};
}

std::vector<NamedAttribute> alongAxis(const GradientContext &c) {
  return {{"axes", Ints{c.attributes().getInt("axis")}}, {"keepdims", true}};
}

// d softmax(x) = y * (g - sum(g * y, axis, keepdims))
Gradients softmax(const GradientContext &c) {
  Value *weighted = c.build.create(OpKind::Sum, {c.build.multiply(c.cotangent, c.result)}, alongAxis(c));
  return {c.build.multiply(c.result, c.build.subtract(c.cotangent, weighted))};
}

// d log_softmax(x) = g - softmax(x) * sum(g, axis, keepdims)
Gradients logSoftmax(const GradientContext &c) {
  Value *probabilities = c.build.create(OpKind::Softmax, {c.operand(0)}, {{"axis", c.attributes().getInt("axis")}});
  Value *total = c.build.create(OpKind::Sum, {c.cotangent}, alongAxis(c));
  return {c.build.subtract(c.cotangent, c.build.multiply(probabilities, total))};
}

const GradientRule kRules[] = {
    {OpKind::Sum, sum},
    {OpKind::Mean, mean},
    {OpKind::Max, extremum},
    {OpKind::Min, extremum},
    // An index: it changes only by jumps.
    {OpKind::Argmax, nullptr},
    {OpKind::Softmax, softmax},
    {OpKind::LogSoftmax, logSoftmax},
};
}  // namespace

std::span<const GradientRule> reductionGradientRules() { return kRules; }

}  // namespace kiln
