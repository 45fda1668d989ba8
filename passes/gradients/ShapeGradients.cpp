// Gradient rules of creation, type, shape and indexing ops: mostly the op's adjoint
// rearrangement applied to the cotangent g.
#include "passes/gradients/GradientRules.h"

namespace kiln {

namespace {
using Gradients = std::vector<Value *>;

// d cast(x) = cast(g) back to x's dtype (float to float; from integers nothing flows)
Gradients cast(const GradientContext &c) {
  return {c.build.create(OpKind::Cast, {c.cotangent}, {}, c.cotangent->type().withDType(c.operand(0)->type().dtype))};
}

// d broadcast(x) = sum of g over the broadcast axes, reshaped to x
Gradients broadcast(const GradientContext &c) {
  return {c.build.reduceToShape(c.cotangent, c.operand(0)->type().shape)};
}

// d reshape(x) = reshape(g, shape(x))
Gradients reshape(const GradientContext &c) { return {c.build.reshape(c.cotangent, c.operand(0)->type().shape)}; }

// d transpose(x, perm) = transpose(g, inverse(perm))
Gradients transpose(const GradientContext &c) {
  const Ints &perm = c.attributes().getInts("perm");
  Ints inverse(perm.size());
  for (size_t axis = 0; axis < perm.size(); ++axis) inverse[perm[axis]] = static_cast<int64_t>(axis);
  return {c.build.create(OpKind::Transpose, {c.cotangent}, {{"perm", inverse}})};
}

// Spreads `value` along `axis` so that its elements land `stride` apart with zeros between:
// reshape [.., n, ..] to [.., n, 1, ..], pad the new axis to `stride`, merge, drop the tail.
Value *interleaveZeros(GradientBuilder &build, Value *value, int64_t axis, int64_t stride) {
  Shape shape = value->type().shape;
  int64_t extent = shape[axis];
  Shape split = shape;
  split.insert(split.begin() + axis + 1, 1);
  Ints low(split.size(), 0), high(split.size(), 0);
  high[axis + 1] = stride - 1;
  Value *padded = build.create(OpKind::Pad, {build.reshape(value, split)}, {{"low", low}, {"high", high}});
  Shape merged = shape;
  merged[axis] = extent * stride;
  Value *spread = build.reshape(padded, merged);
  Ints start(shape.size(), 0);
  Ints limit(merged.begin(), merged.end());
  limit[axis] = (extent - 1) * stride + 1;
  return build.create(OpKind::Slice, {spread}, {{"start", start}, {"limit", limit}});
}

// d slice(x, start, limit, stride) = g spread `stride` apart and padded with start zeros
// before and the rest of x after
Gradients slice(const GradientContext &c) {
  const Shape &shape = c.operand(0)->type().shape;
  const Ints &start = c.attributes().getInts("start");
  Ints stride = c.attributes().getInts("stride");
  if (stride.empty()) stride.assign(shape.size(), 1);
  Value *gradient = c.cotangent;
  for (size_t axis = 0; axis < shape.size(); ++axis)
    if (stride[axis] > 1 && gradient->type().shape[axis] > 1)
      gradient = interleaveZeros(c.build, gradient, static_cast<int64_t>(axis), stride[axis]);
  Ints high(shape.size());
  for (size_t axis = 0; axis < shape.size(); ++axis)
    high[axis] = shape[axis] - start[axis] - gradient->type().shape[axis];
  return {c.build.create(OpKind::Pad, {gradient}, {{"low", start}, {"high", high}})};
}

// d concat(x1, .., xn) = the slices of g where each xi went
Gradients concat(const GradientContext &c) {
  int64_t axis = c.attributes().getInt("axis");
  const Shape &shape = c.result->type().shape;
  Gradients gradients;
  int64_t offset = 0;
  for (Value *operand : c.operands) {
    Ints start(shape.size(), 0);
    Ints limit(shape.begin(), shape.end());
    start[axis] = offset;
    offset += operand->type().shape[axis];
    limit[axis] = offset;
    gradients.push_back(c.build.create(OpKind::Slice, {c.cotangent}, {{"start", start}, {"limit", limit}}));
  }
  return gradients;
}

// d pad(x, low, high) = slice(g, low, low + shape(x))
Gradients pad(const GradientContext &c) {
  const Shape &shape = c.operand(0)->type().shape;
  const Ints &low = c.attributes().getInts("low");
  Ints limit(shape.size());
  for (size_t axis = 0; axis < shape.size(); ++axis) limit[axis] = low[axis] + shape[axis];
  return {c.build.create(OpKind::Slice, {c.cotangent}, {{"start", low}, {"limit", limit}})};
}

std::vector<NamedAttribute> indexingAttributes(const GradientContext &c) {
  return {{"axis", c.attributes().getInt("axis")}, {"batch_dims", c.attributes().getInt("batch_dims")}};
}

// d gather(x, i) = (scatter_add(g, i) into zeros shaped like x, none)
Gradients gather(const GradientContext &c) {
  return {c.build.create(OpKind::ScatterAdd, {c.cotangent, c.operand(1)}, indexingAttributes(c), c.operand(0)->type()),
          nullptr};
}

// d scatter_add(u, i) = (gather(g, i), none)
Gradients scatterAdd(const GradientContext &c) {
  return {c.build.create(OpKind::Gather, {c.cotangent, c.operand(1)}, indexingAttributes(c)), nullptr};
}

const GradientRule kRules[] = {
    // Creation: the values depend on no differentiable input.
    {OpKind::Constant, nullptr},
    {OpKind::Iota, nullptr},
    {OpKind::RandomUniform, nullptr},
    {OpKind::RandomNormal, nullptr},
    {OpKind::RandomBernoulli, nullptr},
    {OpKind::Cast, cast},
    {OpKind::Broadcast, broadcast},
    {OpKind::Reshape, reshape},
    {OpKind::Transpose, transpose},
    {OpKind::Slice, slice},
    {OpKind::Concat, concat},
    {OpKind::Pad, pad},
    {OpKind::Gather, gather},
    {OpKind::ScatterAdd, scatterAdd},
    // one_hot's values change only where its integer indices jump.
    {OpKind::OneHot, nullptr},
};
}  // namespace

std::span<const GradientRule> shapeGradientRules() { return kRules; }

}  // namespace kiln
