// Interpreter rules of conv2d, the pools and their gradients. Images are NCHW, filters OIHW,
// padding [top, left, bottom, right]. Each op and its gradient walk the same taps, so that
// the gradients are exactly the adjoints (transposes) of the forward ops. Everything is
// computed in double and rounded once to the result dtype.
#include <cmath>
#include <limits>

#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

namespace {

std::vector<double> toDoubles(const Tensor &tensor) {
  std::vector<double> values(tensor.elementCount());
  for (int64_t i = 0; i < tensor.elementCount(); ++i) values[i] = tensor.getDouble(i);
  return values;
}

Tensor fromDoubles(const TensorType &type, const std::vector<double> &values) {
  Tensor tensor(type);
  for (int64_t i = 0; i < tensor.elementCount(); ++i) tensor.setDouble(i, values[i]);
  return tensor;
}

// Index arithmetic of a 4-D NCHW (or OIHW) shape.
struct Layout4d {
  int64_t d0, d1, d2, d3;
  explicit Layout4d(const Shape &shape) : d0(shape[0]), d1(shape[1]), d2(shape[2]), d3(shape[3]) {}
  int64_t at(int64_t i0, int64_t i1, int64_t i2, int64_t i3) const { return ((i0 * d1 + i1) * d2 + i2) * d3 + i3; }
};

struct WindowGeometry {
  int64_t strideHeight, strideWidth, padTop, padLeft, dilationHeight, dilationWidth;
};

// Calls visit(inputIndex, filterIndex, outputIndex) for every product of the convolution
//   y[n, o, h, w] += x[n, c, h*sh - top + kh*dh, w*sw - left + kw*dw] * f[o, c, kh, kw]
// whose input position lies inside the image (padding contributes zeros, so it is skipped).
template <typename Visitor>
void forEachConvolutionTap(const Shape &inputShape, const Shape &filterShape, const Shape &outputShape,
                           const WindowGeometry &geometry, Visitor &&visit) {
  Layout4d input(inputShape), filter(filterShape), output(outputShape);
  for (int64_t n = 0; n < output.d0; ++n)
    for (int64_t o = 0; o < output.d1; ++o)
      for (int64_t h = 0; h < output.d2; ++h)
        for (int64_t w = 0; w < output.d3; ++w)
          for (int64_t c = 0; c < filter.d1; ++c)
            for (int64_t kh = 0; kh < filter.d2; ++kh) {
              int64_t row = h * geometry.strideHeight - geometry.padTop + kh * geometry.dilationHeight;
              if (row < 0 || row >= input.d2) continue;
              for (int64_t kw = 0; kw < filter.d3; ++kw) {
                int64_t column = w * geometry.strideWidth - geometry.padLeft + kw * geometry.dilationWidth;
                if (column < 0 || column >= input.d3) continue;
                visit(input.at(n, c, row, column), filter.at(o, c, kh, kw), output.at(n, o, h, w));
              }
            }
}

WindowGeometry convolutionGeometry(const Attributes &attributes) {
  const Ints &stride = attributes.getInts("stride");
  const Ints &padding = attributes.getInts("padding");
  const Ints &dilation = attributes.getInts("dilation");
  return {stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]};
}

llvm::Expected<Tensor> conv2dRule(const Operation &op, std::span<const Tensor> operands) {
  std::vector<double> x = toDoubles(operands[0]), f = toDoubles(operands[1]);
  const TensorType &type = op.result()->type();
  std::vector<double> y(type.elementCount(), 0.0);
  forEachConvolutionTap(operands[0].shape(), operands[1].shape(), type.shape, convolutionGeometry(op.attributes()),
                        [&](int64_t xi, int64_t fi, int64_t yi) { y[yi] += x[xi] * f[fi]; });
  return fromDoubles(type, y);
}

// dx = conv2d^T(dy): every product x[xi] f[fi] that fed y[yi] sends dy[yi] f[fi] back to x[xi].
llvm::Expected<Tensor> conv2dInputGradRule(const Operation &op, std::span<const Tensor> operands) {
  std::vector<double> dy = toDoubles(operands[0]), f = toDoubles(operands[1]);
  const TensorType &type = op.result()->type();
  std::vector<double> dx(type.elementCount(), 0.0);
  forEachConvolutionTap(type.shape, operands[1].shape(), operands[0].shape(), convolutionGeometry(op.attributes()),
                        [&](int64_t xi, int64_t fi, int64_t yi) { dx[xi] += dy[yi] * f[fi]; });
  return fromDoubles(type, dx);
}

// df: every product x[xi] f[fi] that fed y[yi] sends x[xi] dy[yi] back to f[fi].
llvm::Expected<Tensor> conv2dFilterGradRule(const Operation &op, std::span<const Tensor> operands) {
  std::vector<double> x = toDoubles(operands[0]), dy = toDoubles(operands[1]);
  const TensorType &type = op.result()->type();
  std::vector<double> df(type.elementCount(), 0.0);
  forEachConvolutionTap(operands[0].shape(), type.shape, operands[1].shape(), convolutionGeometry(op.attributes()),
                        [&](int64_t xi, int64_t fi, int64_t yi) { df[fi] += x[xi] * dy[yi]; });
  return fromDoubles(type, df);
}

// Calls visitWindow(outputIndex, taps) for every window of the pool, where taps lists the
// input indices inside the image in row-major order; padding positions are never taps.
template <typename Visitor>
void forEachPoolWindow(const Shape &inputShape, const Attributes &attributes, Visitor &&visitWindow) {
  const Ints &window = attributes.getInts("window");
  const Ints &stride = attributes.getInts("stride");
  const Ints &padding = attributes.getInts("padding");
  Layout4d input(inputShape);
  auto extent = [](int64_t size, int64_t before, int64_t after, int64_t taps, int64_t step) {
    return (size + before + after - taps) / step + 1;
  };
  int64_t height = extent(input.d2, padding[0], padding[2], window[0], stride[0]);
  int64_t width = extent(input.d3, padding[1], padding[3], window[1], stride[1]);
  std::vector<int64_t> taps;
  int64_t outputIndex = 0;
  for (int64_t n = 0; n < input.d0; ++n)
    for (int64_t c = 0; c < input.d1; ++c)
      for (int64_t h = 0; h < height; ++h)
        for (int64_t w = 0; w < width; ++w) {
          taps.clear();
          for (int64_t kh = 0; kh < window[0]; ++kh) {
            int64_t row = h * stride[0] - padding[0] + kh;
            if (row < 0 || row >= input.d2) continue;
            for (int64_t kw = 0; kw < window[1]; ++kw) {
              int64_t column = w * stride[1] - padding[1] + kw;
              if (column >= 0 && column < input.d3) taps.push_back(input.at(n, c, row, column));
            }
          }
          visitWindow(outputIndex++, std::span<const int64_t>(taps));
        }
}

// The first tap holding the window's maximum; a NaN counts as the maximum.
int64_t firstMaximum(const std::vector<double> &x, std::span<const int64_t> taps) {
  int64_t best = taps[0];
  for (int64_t tap : taps.subspan(1)) {
    if (std::isnan(x[best])) break;
    if (x[tap] > x[best] || std::isnan(x[tap])) best = tap;
  }
  return best;
}

llvm::Expected<Tensor> maxPool2dRule(const Operation &op, std::span<const Tensor> operands) {
  std::vector<double> x = toDoubles(operands[0]);
  const TensorType &type = op.result()->type();
  std::vector<double> y(type.elementCount(), -std::numeric_limits<double>::infinity());
  forEachPoolWindow(operands[0].shape(), op.attributes(), [&](int64_t yi, std::span<const int64_t> taps) {
    if (!taps.empty()) y[yi] = x[firstMaximum(x, taps)];
  });
  return fromDoubles(type, y);
}

// dx[first maximum of each window] += dy[window]
llvm::Expected<Tensor> maxPool2dGradRule(const Operation &op, std::span<const Tensor> operands) {
  std::vector<double> x = toDoubles(operands[0]), dy = toDoubles(operands[1]);
  const TensorType &type = op.result()->type();
  std::vector<double> dx(type.elementCount(), 0.0);
  forEachPoolWindow(operands[0].shape(), op.attributes(), [&](int64_t yi, std::span<const int64_t> taps) {
    if (!taps.empty()) dx[firstMaximum(x, taps)] += dy[yi];
  });
  return fromDoubles(type, dx);
}

// y[window] = sum of its taps / number of taps (padding not counted).
llvm::Expected<Tensor> avgPool2dRule(const Operation &op, std::span<const Tensor> operands) {
  std::vector<double> x = toDoubles(operands[0]);
  const TensorType &type = op.result()->type();
  std::vector<double> y(type.elementCount(), 0.0);
  forEachPoolWindow(operands[0].shape(), op.attributes(), [&](int64_t yi, std::span<const int64_t> taps) {
    double sum = 0;
    for (int64_t tap : taps) sum += x[tap];
    y[yi] = taps.empty() ? 0.0 : sum / static_cast<double>(taps.size());
  });
  return fromDoubles(type, y);
}

// The transpose of the average: dx[tap] += dy[window] / number of taps.
llvm::Expected<Tensor> avgPool2dGradRule(const Operation &op, std::span<const Tensor> operands) {
  std::vector<double> dy = toDoubles(operands[1]);
  const TensorType &type = op.result()->type();
  std::vector<double> dx(type.elementCount(), 0.0);
  forEachPoolWindow(operands[0].shape(), op.attributes(), [&](int64_t yi, std::span<const int64_t> taps) {
    for (int64_t tap : taps) dx[tap] += dy[yi] / static_cast<double>(taps.size());
  });
  return fromDoubles(type, dx);
}

const RuleEntry kRules[] = {
    {OpKind::Conv2d, conv2dRule},
    {OpKind::Conv2dInputGrad, conv2dInputGradRule},
    {OpKind::Conv2dFilterGrad, conv2dFilterGradRule},
    {OpKind::MaxPool2d, maxPool2dRule},
    {OpKind::MaxPool2dGrad, maxPool2dGradRule},
    {OpKind::AvgPool2d, avgPool2dRule},
    {OpKind::AvgPool2dGrad, avgPool2dGradRule},
};
}  // namespace

std::span<const RuleEntry> convolutionRules() { return kRules; }

}  // namespace kiln::interpreter
