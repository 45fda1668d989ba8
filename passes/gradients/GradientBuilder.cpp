// Shorthands for gradient rules, and the broadcasting adjoints they share.
#include "passes/gradients/GradientBuilder.h"

namespace kiln {

// Ops are only ever appended, so a constant made once is defined before every later use.
Value *GradientBuilder::scalar(DType dtype, double value) {
  auto [it, inserted] = scalars_.try_emplace({dtype, value}, nullptr);
  if (inserted) it->second = builder_.constant(TensorType{dtype, {}}, Floats{value});
  return it->second;
}

Value *GradientBuilder::zeros(const TensorType &type) { return builder_.constant(type, Floats{0.0}); }

std::optional<double> GradientBuilder::splatValue(const Value *value) {
  const Operation *op = value->definingOp();
  if (!op || op->kind() != OpKind::Constant) return std::nullopt;
  const auto *elements = std::get_if<Floats>(op->attributes().find("value"));
  if (!elements || elements->size() != 1) return std::nullopt;
  return elements->front();
}

bool GradientBuilder::isConstantOne(const Value *value) const { return splatValue(value) == 1.0; }

Value *GradientBuilder::multiply(Value *lhs, Value *rhs) {
  // Leaving out a factor 1 is only exact when the other factor already has the result's shape.
  std::optional<Shape> shape = broadcastShapes(lhs->type().shape, rhs->type().shape);
  if (isConstantOne(lhs) && shape == rhs->type().shape) return rhs;
  if (isConstantOne(rhs) && shape == lhs->type().shape) return lhs;
  return create(OpKind::Mul, {lhs, rhs});
}

Value *GradientBuilder::mask(Value *condition, DType dtype) {
  return create(OpKind::Select, {condition, scalar(dtype, 1.0), scalar(dtype, 0.0)});
}

Value *GradientBuilder::reshape(Value *value, const Shape &shape) {
  if (value->type().shape == shape) return value;
  return create(OpKind::Reshape, {value}, {}, value->type().withShape(shape));
}

Value *GradientBuilder::broadcastTo(Value *value, const Shape &shape) {
  if (value->type().shape == shape) return value;
  // A broadcast splat is a splat: folding it lets `multiply` see a factor 1.
  if (std::optional<double> splat = splatValue(value))
    return builder_.constant(value->type().withShape(shape), Floats{*splat});
  return create(OpKind::Broadcast, {value}, {}, value->type().withShape(shape));
}

Value *GradientBuilder::sum(Value *value, Ints axes, bool keepDims) {
  return create(OpKind::Sum, {value}, {{"axes", std::move(axes)}, {"keepdims", keepDims}});
}

// broadcast(x: s -> t) has the adjoint g -> reshape(sum(g, broadcast axes), s).
Value *GradientBuilder::reduceToShape(Value *value, const Shape &shape) {
  const Shape &from = value->type().shape;
  if (from == shape) return value;
  int64_t leading = static_cast<int64_t>(from.size()) - static_cast<int64_t>(shape.size());
  Ints axes;
  for (int64_t axis = 0; axis < static_cast<int64_t>(from.size()); ++axis)
    if (axis < leading || (shape[axis - leading] == 1 && from[axis] != 1)) axes.push_back(axis);
  Value *summed = axes.empty() ? value : sum(value, axes, /*keepDims=*/false);
  return reshape(summed, shape);
}

// reduce(x, axes) has the adjoint g -> broadcast(g with the reduced axes as extent 1, shape(x)).
Value *GradientBuilder::unreduce(Value *value, const Shape &shape, const Ints &axes, bool keptDims) {
  Shape kept = shape;
  for (int64_t axis : reducedAxes(axes, static_cast<int64_t>(shape.size()))) kept[axis] = 1;
  // Broadcasting adds leading axes by itself, so a scalar needs no reshape first.
  Value *withAxes = keptDims || value->type().rank() == 0 ? value : reshape(value, kept);
  return broadcastTo(withAxes, shape);
}

}  // namespace kiln
