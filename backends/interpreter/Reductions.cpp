// Interpreter rules of the reductions (sum, mean, max, min, argmax), the normalisations
// (softmax, log_softmax) and matmul, a sum of products. Float sums are accumulated in double
// and rounded once to the result dtype, so that the oracle's own rounding error stays far
// below that of the code it checks.
#include <cmath>
#include <limits>

#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

namespace {

// Strides that map an index of the input to the flat index of its reduced element: reduced
// axes get stride 0, kept ones the stride of their place in the result.
std::vector<int64_t> reducedStrides(const Shape &input, const Ints &axesAttribute) {
  std::vector<bool> reduced = reducedAxisMask(axesAttribute, static_cast<int64_t>(input.size()));
  std::vector<int64_t> strides(input.size(), 0);
  int64_t stride = 1;
  for (size_t axis = input.size(); axis-- > 0;)
    if (!reduced[axis]) {
      strides[axis] = stride;
      stride *= input[axis];
    }
  return strides;
}

// Folds every input element into the accumulator of its result element, then finishes each
// accumulator into the result. Accumulators are double for floats and the dtype itself,
// wrapping, for integers.
enum class Start { Zero, Lowest, Highest };

template <typename T> T startValue(Start start) {
  switch (start) {
  case Start::Zero: return T(0);
  case Start::Lowest:
    return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                : std::numeric_limits<T>::lowest();
  case Start::Highest:
    return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
  }
  return T(0);
}

template <typename Accumulate, typename Finish>
llvm::Expected<Tensor> reduce(const Operation &op, const Tensor &input, Start start, Accumulate accumulate,
                              Finish finish) {
  Tensor result(op.result()->type());
  std::vector<int64_t> strides = reducedStrides(input.shape(), op.attributes().getInts("axes"));
  int64_t reducedCount = input.elementCount() / std::max<int64_t>(result.elementCount(), 1);
  visitDType(input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::span<const T> in = input.values<T>();
    std::span<T> out = result.values<T>();
    if constexpr (std::is_floating_point_v<T>) {
      std::vector<double> accumulators(out.size(), startValue<double>(start));
      forEachIndex<2>(input.shape(), {rowMajorStrides(input.shape()), strides}, [&](const std::array<int64_t, 2> &at) {
        accumulators[at[1]] = accumulate(accumulators[at[1]], static_cast<double>(in[at[0]]));
      });
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(finish(accumulators[i], reducedCount));
    } else {
      std::vector<T> accumulators(out.size(), startValue<T>(start));
      forEachIndex<2>(input.shape(), {rowMajorStrides(input.shape()), strides}, [&](const std::array<int64_t, 2> &at) {
        accumulators[at[1]] = accumulate(accumulators[at[1]], in[at[0]]);
      });
      std::copy(accumulators.begin(), accumulators.end(), out.begin());
    }
  });
  return result;
}

template <typename T> T addWrapping(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}

template <typename T> T multiplyWrapping(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// NaN wins a max or min, as in NumPy.
template <typename T> T keepLarger(T accumulator, T value) {
  if constexpr (std::is_floating_point_v<T>)
    if (std::isnan(accumulator)) return accumulator;
  return value > accumulator || value != value ? value : accumulator;
}
template <typename T> T keepSmaller(T accumulator, T value) {
  if constexpr (std::is_floating_point_v<T>)
    if (std::isnan(accumulator)) return accumulator;
  return value < accumulator || value != value ? value : accumulator;
}

auto identityFinish = [](double accumulator, int64_t) { return accumulator; };

llvm::Expected<Tensor> sumRule(const Operation &op, std::span<const Tensor> operands) {
  return reduce(
      op, operands[0], Start::Zero, [](auto a, auto b) { return addWrapping(a, b); }, identityFinish);
}

// mean = sum / (number of reduced elements)
llvm::Expected<Tensor> meanRule(const Operation &op, std::span<const Tensor> operands) {
  return reduce(
      op, operands[0], Start::Zero, [](auto a, auto b) { return addWrapping(a, b); },
      [](double sum, int64_t count) { return sum / static_cast<double>(count); });
}

llvm::Expected<Tensor> maxRule(const Operation &op, std::span<const Tensor> operands) {
  return reduce(
      op, operands[0], Start::Lowest, [](auto a, auto b) { return keepLarger(a, b); }, identityFinish);
}

llvm::Expected<Tensor> minRule(const Operation &op, std::span<const Tensor> operands) {
  return reduce(
      op, operands[0], Start::Highest, [](auto a, auto b) { return keepSmaller(a, b); }, identityFinish);
}

// An axis splits a shape into outer x extent x inner: element (o, k, i) is at (o * extent + k) * inner + i.
struct AxisSplit {
  int64_t outer = 1;
  int64_t extent = 1;
  int64_t inner = 1;

  AxisSplit(const Shape &shape, int64_t axis) {
    for (int64_t i = 0; i < axis; ++i) outer *= shape[i];
    extent = shape[axis];
    for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
  }
  int64_t at(int64_t o, int64_t k, int64_t i) const { return (o * extent + k) * inner + i; }
};

// The first maximum along the axis; a NaN counts as the maximum, as in NumPy.
llvm::Expected<Tensor> argmaxRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &input = operands[0];
  Tensor result(op.result()->type());
  AxisSplit split(input.shape(), op.attributes().getInt("axis"));
  visitDType(input.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::span<const T> in = input.values<T>();
    std::span<int64_t> out = result.values<int64_t>();
    for (int64_t o = 0; o < split.outer; ++o)
      for (int64_t i = 0; i < split.inner; ++i) {
        int64_t best = 0;
        for (int64_t k = 1; k < split.extent; ++k) {
          T candidate = in[split.at(o, k, i)];
          T leader = in[split.at(o, best, i)];
          if (leader != leader) break;
          if (candidate > leader || candidate != candidate) best = k;
        }
        out[o * split.inner + i] = best;
      }
  });
  return result;
}

// softmax(x) = e^(x - m) / sum e^(x - m) and log_softmax(x) = x - m - log(sum e^(x - m)),
// with m = max x along the axis, so that no exponent is positive. Computed in double for both
// float dtypes and rounded once.
template <bool kLogarithm>
llvm::Expected<Tensor> normalizationRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &input = operands[0];
  Tensor result(op.result()->type());
  AxisSplit split(input.shape(), op.attributes().getInt("axis"));
  for (int64_t o = 0; o < split.outer; ++o)
    for (int64_t i = 0; i < split.inner; ++i) {
      double maximum = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < split.extent; ++k) maximum = keepLarger(maximum, input.getDouble(split.at(o, k, i)));
      // All -inf: subtracting would give NaN; the row is then left to the arithmetic below.
      double shift = std::isinf(maximum) ? 0.0 : maximum;
      double sum = 0;
      for (int64_t k = 0; k < split.extent; ++k) sum += std::exp(input.getDouble(split.at(o, k, i)) - shift);
      double logSum = std::log(sum);
      for (int64_t k = 0; k < split.extent; ++k) {
        double shifted = input.getDouble(split.at(o, k, i)) - shift;
        result.setDouble(split.at(o, k, i), kLogarithm ? shifted - logSum : std::exp(shifted) / sum);
      }
    }
  return result;
}

// c[..., m, n] = sum_k a[..., m, k] b[..., k, n], with batch axes broadcast and a or b read
// transposed in their last two axes when asked.
llvm::Expected<Tensor> matmulRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &lhs = operands[0];
  const Tensor &rhs = operands[1];
  Tensor result(op.result()->type());
  bool transposeLhs = op.attributes().getBool("transpose_a");
  bool transposeRhs = op.attributes().getBool("transpose_b");
  const Shape &shape = result.shape();
  int64_t rows = shape[shape.size() - 2];
  int64_t columns = shape[shape.size() - 1];
  int64_t inner = lhs.shape()[lhs.shape().size() - (transposeLhs ? 2 : 1)];
  // Element strides of row and column indices inside each operand's matrix.
  int64_t lhsRowStride = transposeLhs ? 1 : inner, lhsInnerStride = transposeLhs ? rows : 1;
  int64_t rhsInnerStride = transposeRhs ? 1 : columns, rhsColumnStride = transposeRhs ? inner : 1;

  Shape batch(shape.begin(), shape.end() - 2);
  auto batchStrides = [&](const Tensor &operand) {
    Shape operandBatch(operand.shape().begin(), operand.shape().end() - 2);
    std::vector<int64_t> strides = broadcastStrides(operandBatch, batch);
    int64_t matrixSize = operand.shape()[operand.shape().size() - 1] * operand.shape()[operand.shape().size() - 2];
    for (int64_t &stride : strides) stride *= matrixSize;
    return strides;
  };
  visitDType(lhs.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using Sum = std::conditional_t<std::is_floating_point_v<T>, double, T>;
    std::span<const T> a = lhs.values<T>();
    std::span<const T> b = rhs.values<T>();
    std::span<T> out = result.values<T>();
    int64_t outBase = 0;
    forEachIndex<2>(batch, {batchStrides(lhs), batchStrides(rhs)}, [&](const std::array<int64_t, 2> &at) {
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t n = 0; n < columns; ++n) {
          Sum sum = 0;
          for (int64_t k = 0; k < inner; ++k)
            sum = addWrapping<Sum>(sum, multiplyWrapping<Sum>(a[at[0] + m * lhsRowStride + k * lhsInnerStride],
                                                              b[at[1] + k * rhsInnerStride + n * rhsColumnStride]));
          out[outBase + m * columns + n] = static_cast<T>(sum);
        }
      outBase += rows * columns;
    });
  });
  return result;
}

const RuleEntry kRules[] = {
    {OpKind::Sum, sumRule},
    {OpKind::Mean, meanRule},
    {OpKind::Max, maxRule},
    {OpKind::Min, minRule},
    {OpKind::Argmax, argmaxRule},
    {OpKind::Softmax, normalizationRule<false>},
    {OpKind::LogSoftmax, normalizationRule<true>},
    {OpKind::Matmul, matmulRule},
};
}  // namespace

std::span<const RuleEntry> reductionRules() { return kRules; }

}  // namespace kiln::interpreter
