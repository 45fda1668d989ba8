// Gradient rules of the elementwise ops: x is the operand, y the result, g the cotangent;
// binary rules sum each gradient back to its operand's shape (broadcasting's adjoint).
#include <cmath>
#include <numbers>

#include "passes/gradients/GradientRules.h"

namespace kiln {

namespace {
using Gradients = std::vector<Value *>;

DType dtypeOf(const GradientContext &c) { return c.result->type().dtype; }

Gradients toOperandShapes(const GradientContext &c, Gradients gradients) {
  for (size_t i = 0; i < gradients.size(); ++i)
    if (gradients[i]) gradients[i] = c.build.reduceToShape(gradients[i], c.operand(i)->type().shape);
  return gradients;
}

// d(-x) = -g
Gradients negate(const GradientContext &c) { return {c.build.negate(c.cotangent)}; }

// d|x| = g * sign(x)
Gradients absolute(const GradientContext &c) {
  return {c.build.multiply(c.cotangent, c.build.unary(OpKind::Sign, c.operand(0)))};
}

// d sign(x) = 0 almost everywhere
Gradients sign(const GradientContext &) { return {nullptr}; }

// d(x^2) = g * 2x
Gradients square(const GradientContext &c) {
  return {c.build.multiply(c.cotangent, c.build.multiply(c.operand(0), 2.0))};
}

// d relu(x) = g where x > 0, else 0 (0 at the kink, as PyTorch)
Gradients relu(const GradientContext &c) {
  DType dtype = dtypeOf(c);
  Value *positive = c.build.create(OpKind::Gt, {c.operand(0), c.build.scalar(dtype, 0.0)});
  return {c.build.create(OpKind::Select, {positive, c.cotangent, c.build.scalar(dtype, 0.0)})};
}

// d leaky_relu(x) = g where x > 0, else alpha * g
Gradients leakyRelu(const GradientContext &c) {
  DType dtype = dtypeOf(c);
  Value *positive = c.build.create(OpKind::Gt, {c.operand(0), c.build.scalar(dtype, 0.0)});
  Value *leaked = c.build.multiply(c.cotangent, c.attributes().getFloat("alpha"));
  return {c.build.create(OpKind::Select, {positive, c.cotangent, leaked})};
}

// d e^x = g * y
Gradients exponential(const GradientContext &c) { return {c.build.multiply(c.cotangent, c.result)}; }

// d log(x) = g / x
Gradients logarithm(const GradientContext &c) { return {c.build.divide(c.cotangent, c.operand(0))}; }

// d log(1 + x) = g / (1 + x)
Gradients logOnePlus(const GradientContext &c) {
  Value *onePlus = c.build.add(c.operand(0), c.build.scalar(dtypeOf(c), 1.0));
  return {c.build.divide(c.cotangent, onePlus)};
}

// d sqrt(x) = g / (2y)
Gradients squareRoot(const GradientContext &c) {
  return {c.build.divide(c.cotangent, c.build.multiply(c.result, 2.0))};
}

// d x^(-1/2) = g * (-1/2) * y / x
Gradients reciprocalSquareRoot(const GradientContext &c) {
  Value *slope = c.build.multiply(c.build.divide(c.result, c.operand(0)), -0.5);
  return {c.build.multiply(c.cotangent, slope)};
}

// d(1/x) = -g * y^2
Gradients reciprocal(const GradientContext &c) {
  return {c.build.negate(c.build.multiply(c.cotangent, c.build.multiply(c.result, c.result)))};
}

// d tanh(x) = g * (1 - y^2)
Gradients hyperbolicTangent(const GradientContext &c) {
  Value *slope = c.build.subtract(c.build.scalar(dtypeOf(c), 1.0), c.build.multiply(c.result, c.result));
  return {c.build.multiply(c.cotangent, slope)};
}

// d sigmoid(x) = g * y * (1 - y)
Gradients sigmoid(const GradientContext &c) {
  Value *complement = c.build.subtract(c.build.scalar(dtypeOf(c), 1.0), c.result);
  return {c.build.multiply(c.cotangent, c.build.multiply(c.result, complement))};
}

// e^(-x^2 / 2) / sqrt(2 pi), the standard normal density, which both erf and gelu need.
Value *normalDensity(const GradientContext &c, Value *x, double squareFactor, double scale) {
  Value *exponent = c.build.multiply(c.build.multiply(x, x), -squareFactor);
  return c.build.multiply(c.build.unary(OpKind::Exp, exponent), scale);
}

// d gelu(x) = g * (Phi(x) + x * phi(x)), Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi(x) = e^(-x^2/2) / sqrt(2 pi)
Gradients gelu(const GradientContext &c) {
  DType dtype = dtypeOf(c);
  Value *x = c.operand(0);
  Value *erfTerm = c.build.unary(OpKind::Erf, c.build.multiply(x, 1.0 / std::numbers::sqrt2));
  Value *cumulative = c.build.multiply(c.build.add(erfTerm, c.build.scalar(dtype, 1.0)), 0.5);
  Value *density = normalDensity(c, x, 0.5, 1.0 / std::sqrt(2.0 * std::numbers::pi));
  Value *slope = c.build.add(cumulative, c.build.multiply(x, density));
  return {c.build.multiply(c.cotangent, slope)};
}

// d erf(x) = g * 2 / sqrt(pi) * e^(-x^2)
Gradients errorFunction(const GradientContext &c) {
  Value *slope = normalDensity(c, c.operand(0), 1.0, 2.0 * std::numbers::inv_sqrtpi);
  return {c.build.multiply(c.cotangent, slope)};
}

// d sin(x) = g * cos(x)
Gradients sine(const GradientContext &c) {
  return {c.build.multiply(c.cotangent, c.build.unary(OpKind::Cos, c.operand(0)))};
}

// d cos(x) = -g * sin(x)
Gradients cosine(const GradientContext &c) {
  return {c.build.negate(c.build.multiply(c.cotangent, c.build.unary(OpKind::Sin, c.operand(0))))};
}

// d(a + b) = (g, g)
Gradients add(const GradientContext &c) { return toOperandShapes(c, {c.cotangent, c.cotangent}); }

// d(a - b) = (g, -g)
Gradients subtract(const GradientContext &c) { return toOperandShapes(c, {c.cotangent, c.build.negate(c.cotangent)}); }

// d(a * b) = (g * b, g * a)
Gradients multiply(const GradientContext &c) {
  return toOperandShapes(c, {c.build.multiply(c.cotangent, c.operand(1)), c.build.multiply(c.cotangent, c.operand(0))});
}

// d(a / b) = (g / b, -g * y / b)
Gradients divide(const GradientContext &c) {
  Value *lhs = c.build.divide(c.cotangent, c.operand(1));
  Value *rhs = c.build.negate(c.build.divide(c.build.multiply(c.cotangent, c.result), c.operand(1)));
  return toOperandShapes(c, {lhs, rhs});
}

// d(a^b) = (g * b * a^(b-1), g * log(a) * y)
Gradients power(const GradientContext &c) {
  Value *a = c.operand(0), *b = c.operand(1);
  Value *exponentLessOne = c.build.subtract(b, c.build.scalar(dtypeOf(c), 1.0));
  Value *baseSlope = c.build.multiply(b, c.build.create(OpKind::Pow, {a, exponentLessOne}));
  Value *exponentSlope = c.build.multiply(c.build.unary(OpKind::Log, a), c.result);
  return toOperandShapes(c, {c.build.multiply(c.cotangent, baseSlope), c.build.multiply(c.cotangent, exponentSlope)});
}

// d max(a, b) = (g * w, g * (1 - w)), w = (sign(a - b) + 1) / 2: ties split the gradient evenly
// (as PyTorch's maximum). `sign` orients the difference: +1 for maximum, -1 for minimum.
Gradients extremum(const GradientContext &c, double orientation) {
  DType dtype = dtypeOf(c);
  Value *difference = c.build.multiply(c.build.subtract(c.operand(0), c.operand(1)), orientation);
  Value *signed_ = c.build.unary(OpKind::Sign, difference);
  Value *weight = c.build.multiply(c.build.add(signed_, c.build.scalar(dtype, 1.0)), 0.5);
  Value *lhs = c.build.multiply(c.cotangent, weight);
  Value *rhs = c.build.subtract(c.cotangent, lhs);
  return toOperandShapes(c, {lhs, rhs});
}

// d max(a, b): see extremum
Gradients maximum(const GradientContext &c) { return extremum(c, 1.0); }

// d min(a, b) = d max(-a, -b) with the weights mirrored: see extremum
Gradients minimum(const GradientContext &c) { return extremum(c, -1.0); }

// d select(c, a, b) = (none, select(c, g, 0), select(c, 0, g))
Gradients select(const GradientContext &c) {
  Value *zero = c.build.scalar(dtypeOf(c), 0.0);
  Value *lhs = c.build.create(OpKind::Select, {c.operand(0), c.cotangent, zero});
  Value *rhs = c.build.create(OpKind::Select, {c.operand(0), zero, c.cotangent});
  return toOperandShapes(c, {nullptr, lhs, rhs});
}

const GradientRule kRules[] = {
    {OpKind::Neg, negate},
    {OpKind::Abs, absolute},
    {OpKind::Sign, sign},
    {OpKind::Square, square},
    {OpKind::Relu, relu},
    {OpKind::LeakyRelu, leakyRelu},
    {OpKind::Exp, exponential},
    {OpKind::Log, logarithm},
    {OpKind::Log1p, logOnePlus},
    {OpKind::Sqrt, squareRoot},
    {OpKind::Rsqrt, reciprocalSquareRoot},
    {OpKind::Reciprocal, reciprocal},
    {OpKind::Tanh, hyperbolicTangent},
    {OpKind::Sigmoid, sigmoid},
    {OpKind::Gelu, gelu},
    {OpKind::Erf, errorFunction},
    {OpKind::Sin, sine},
    {OpKind::Cos, cosine},
    {OpKind::Add, add},
    {OpKind::Sub, subtract},
    {OpKind::Mul, multiply},
    {OpKind::Div, divide},
    {OpKind::Pow, power},
    {OpKind::Maximum, maximum},
    {OpKind::Minimum, minimum},
    // Comparisons give i1, which carries no gradient.
    {OpKind::Eq, nullptr},
    {OpKind::Ne, nullptr},
    {OpKind::Lt, nullptr},
    {OpKind::Le, nullptr},
    {OpKind::Gt, nullptr},
    {OpKind::Ge, nullptr},
    {OpKind::Select, select},
};
}  // namespace

std::span<const GradientRule> elementwiseGradientRules() { return kRules; }

}  // namespace kiln
