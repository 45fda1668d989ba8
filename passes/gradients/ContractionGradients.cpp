// Gradient rules of contractions and windowed ops: matrix products, convolutions, pooling
// and their adjoints (which appear in gradients, and so are differentiated for grad of grad).
#include <limits>

#include "passes/gradients/GradientRules.h"

namespace kiln {

namespace {
using Gradients = std::vector<Value *>;

Value *matmul(GradientBuilder &build, Value *lhs, Value *rhs, bool transposeLhs, bool transposeRhs) {
  return build.create(OpKind::Matmul, {lhs, rhs}, {{"transpose_a", transposeLhs}, {"transpose_b", transposeRhs}});
}

// With A = op(a), B = op(b) the operands after the requested transposes, C = A B gives
// dA = g Bᵀ and dB = Aᵀ g; transposing back where a or b was transposed:
//   a b:     (g bᵀ,   aᵀ g)
//   a bᵀ:    (g b,    gᵀ a)
//   aᵀ b:    (b gᵀ,   a g)
//   aᵀ bᵀ:   (bᵀ gᵀ,  gᵀ aᵀ)
// then each is summed over the batch axes its operand was broadcast along.
Gradients matrixProduct(const GradientContext &c) {
  bool transposedLhs = c.attributes().getBool("transpose_a");
  bool transposedRhs = c.attributes().getBool("transpose_b");
  Value *a = c.operand(0), *b = c.operand(1), *g = c.cotangent;
  Value *lhs =
      transposedLhs ? matmul(c.build, b, g, transposedRhs, true) : matmul(c.build, g, b, false, !transposedRhs);
  Value *rhs =
      transposedRhs ? matmul(c.build, g, a, true, transposedLhs) : matmul(c.build, a, g, !transposedLhs, false);
  return {c.build.reduceToShape(lhs, a->type().shape), c.build.reduceToShape(rhs, b->type().shape)};
}

std::vector<NamedAttribute> convolutionAttributes(const GradientContext &c) {
  return {{"stride", c.attributes().getInts("stride")},
          {"padding", c.attributes().getInts("padding")},
          {"dilation", c.attributes().getInts("dilation")}};
}

// d conv(x, w) = (conv_input_grad(g, w), conv_filter_grad(x, g))
Gradients convolution(const GradientContext &c) {
  auto attributes = convolutionAttributes(c);
  Value *x = c.operand(0), *w = c.operand(1);
  return {c.build.create(OpKind::Conv2dInputGrad, {c.cotangent, w}, attributes, x->type()),
          c.build.create(OpKind::Conv2dFilterGrad, {x, c.cotangent}, attributes, w->type())};
}

// conv_input_grad(d, w) = convᵀ_w(d) is linear in d and in w:
// d conv_input_grad(d, w) = (conv(g, w), conv_filter_grad(g, d))
Gradients convolutionInputGradient(const GradientContext &c) {
  auto attributes = convolutionAttributes(c);
  Value *d = c.operand(0), *w = c.operand(1);
  return {c.build.create(OpKind::Conv2d, {c.cotangent, w}, attributes),
          c.build.create(OpKind::Conv2dFilterGrad, {c.cotangent, d}, attributes, w->type())};
}

// <G, conv_filter_grad(x, d)> = <conv(x, G), d>:
// d conv_filter_grad(x, d) = (conv_input_grad(d, g), conv(x, g))
Gradients convolutionFilterGradient(const GradientContext &c) {
  auto attributes = convolutionAttributes(c);
  Value *x = c.operand(0), *d = c.operand(1);
  return {c.build.create(OpKind::Conv2dInputGrad, {d, c.cotangent}, attributes, x->type()),
          c.build.create(OpKind::Conv2d, {x, c.cotangent}, attributes)};
}

std::vector<NamedAttribute> poolAttributes(const GradientContext &c) {
  return {{"window", c.attributes().getInts("window")},
          {"stride", c.attributes().getInts("stride")},
          {"padding", c.attributes().getInts("padding")}};
}

// d max_pool(x) = max_pool_grad(x, g): g goes to each window's first maximum
Gradients maxPool(const GradientContext &c) {
  return {c.build.create(OpKind::MaxPool2dGrad, {c.operand(0), c.cotangent}, poolAttributes(c))};
}

// The windows of `image` [N, C, H, W] as channels: [N*C, kh*kw, OH, OW], tap k = i*kw + j
// of each window in channel k, by a convolution with a one-hot filter. Padding takes
// `padValue` so that a padded tap never wins a maximum.
Value *windowTaps(const GradientContext &c, Value *image, double padValue) {
  const Shape &shape = image->type().shape;
  const Ints &window = c.attributes().getInts("window");
  const Ints &padding = c.attributes().getInts("padding");
  int64_t taps = window[0] * window[1];
  Value *planes = c.build.reshape(image, {shape[0] * shape[1], 1, shape[2], shape[3]});
  Value *padded = c.build.create(
      OpKind::Pad, {planes},
      {{"low", Ints{0, 0, padding[0], padding[1]}}, {"high", Ints{0, 0, padding[2], padding[3]}}, {"value", padValue}});
  Floats oneHot(static_cast<size_t>(taps * taps), 0.0);
  for (int64_t tap = 0; tap < taps; ++tap) oneHot[static_cast<size_t>(tap * taps + tap)] = 1.0;
  Value *filter = c.build.builder().constant(TensorType{image->type().dtype, {taps, 1, window[0], window[1]}}, oneHot);
  return c.build.create(OpKind::Conv2d, {padded, filter}, {{"stride", c.attributes().getInts("stride")}});
}

// max_pool_grad(x, d) routes d to the first maximum of each window: linear in d, piecewise
// constant in x. d max_pool_grad(x, d) = (0, g picked at each window's first maximum)
Gradients maxPoolGradient(const GradientContext &c) {
  Value *x = c.operand(0);
  DType dtype = x->type().dtype;
  double lowest = dtype == DType::F32 ? std::numeric_limits<float>::lowest() : std::numeric_limits<double>::lowest();
  Value *xTaps = windowTaps(c, x, lowest);
  Value *gTaps = windowTaps(c, c.cotangent, 0.0);
  Value *best = c.build.create(OpKind::Max, {xTaps}, {{"axes", Ints{1}}, {"keepdims", true}});
  Value *tapIndex = c.build.create(OpKind::Iota, {}, {{"axis", int64_t{1}}}, xTaps->type());
  Value *tapCount = c.build.scalar(dtype, static_cast<double>(xTaps->type().shape[1]));
  Value *candidates = c.build.create(OpKind::Select, {c.build.create(OpKind::Eq, {xTaps, best}), tapIndex, tapCount});
  Value *firstIndex = c.build.create(OpKind::Min, {candidates}, {{"axes", Ints{1}}, {"keepdims", true}});
  Value *isFirst = c.build.mask(c.build.create(OpKind::Eq, {tapIndex, firstIndex}), dtype);
  Value *picked = c.build.sum(c.build.multiply(gTaps, isFirst), {1}, false);
  return {nullptr, c.build.reshape(picked, c.operand(1)->type().shape)};
}

// d avg_pool(x) = avg_pool_grad(x, g)
Gradients averagePool(const GradientContext &c) {
  return {c.build.create(OpKind::AvgPool2dGrad, {c.operand(0), c.cotangent}, poolAttributes(c))};
}

// avg_pool_grad(x, d) = avg_poolᵀ(d), linear in d; x only gives the shape:
// d avg_pool_grad(x, d) = (0, avg_pool(g))
Gradients averagePoolGradient(const GradientContext &c) {
  return {nullptr, c.build.create(OpKind::AvgPool2d, {c.cotangent}, poolAttributes(c))};
}

const GradientRule kRules[] = {
    {OpKind::Matmul, matrixProduct},
    {OpKind::Conv2d, convolution},
    {OpKind::Conv2dInputGrad, convolutionInputGradient},
    {OpKind::Conv2dFilterGrad, convolutionFilterGradient},
    {OpKind::MaxPool2d, maxPool},
    {OpKind::MaxPool2dGrad, maxPoolGradient},
    {OpKind::AvgPool2d, averagePool},
    {OpKind::AvgPool2dGrad, averagePoolGradient},
};
}  // namespace

std::span<const GradientRule> contractionGradientRules() { return kRules; }

}  // namespace kiln
