// Interpreter rules of the ops that make values: constant, iota, the random ops (Philox
// keyed by the i64[] key operand and the element's flat index), and cast.
#include <cmath>

#include "backends/interpreter/Rules.h"
#include "runtime/Random.h"

namespace kiln::interpreter {

namespace {

llvm::Expected<Tensor> constantRule(const Operation &op, std::span<const Tensor>) { return Tensor::fromConstant(op); }

// iota: element (i0, ..., in) holds its index along `axis`.
llvm::Expected<Tensor> iotaRule(const Operation &op, std::span<const Tensor>) {
  Tensor result(op.result()->type());
  int64_t axis = op.attributes().getInt("axis");
  int64_t stride = rowMajorStrides(result.shape())[axis];
  int64_t extent = result.shape()[axis];
  for (int64_t flat = 0; flat < result.elementCount(); ++flat) result.setInt(flat, flat / stride % extent);
  return result;
}

// Writes sample(flatIndex) (a double) into every element, in the result dtype.
template <typename Sample> Tensor fillRandom(const Operation &op, Sample sample) {
  Tensor result(op.result()->type());
  visitDType(result.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::span<T> out = result.values<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(sample(static_cast<int64_t>(i)));
  });
  return result;
}

// low + (high - low) * u for u in [0, 1); rounding to the result dtype can reach `high`, which
// is then replaced by the largest value below it so that the interval stays half-open.
llvm::Expected<Tensor> randomUniformRule(const Operation &op, std::span<const Tensor> operands) {
  int64_t key = operands[0].getInt(0);
  double low = op.attributes().getFloat("low");
  double high = op.attributes().getFloat("high");
  bool isSingle = op.result()->type().dtype == DType::F32;
  return fillRandom(op, [&](int64_t index) {
    double value = low + (high - low) * random::uniform(key, index);
    if (isSingle) {
      float rounded = static_cast<float>(value);
      if (rounded >= static_cast<float>(high) && low < high)
        rounded = std::nextafter(static_cast<float>(high), static_cast<float>(low));
      return static_cast<double>(rounded);
    }
    return value >= high && low < high ? std::nextafter(high, low) : value;
  });
}

llvm::Expected<Tensor> randomNormalRule(const Operation &op, std::span<const Tensor> operands) {
  int64_t key = operands[0].getInt(0);
  double mean = op.attributes().getFloat("mean");
  double stddev = op.attributes().getFloat("stddev");
  return fillRandom(op, [&](int64_t index) { return mean + stddev * random::standardNormal(key, index); });
}

// P(u < p) = p for u uniform in [0, 1).
llvm::Expected<Tensor> randomBernoulliRule(const Operation &op, std::span<const Tensor> operands) {
  int64_t key = operands[0].getInt(0);
  double probability = op.attributes().getFloat("p");
  return fillRandom(op, [&](int64_t index) { return random::uniform(key, index) < probability ? 1.0 : 0.0; });
}

// Float to integer truncates toward zero, anything to i1 is (x != 0); integers go through
// int64_t so that i64 values above 2^53 stay exact.
llvm::Expected<Tensor> castRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &input = operands[0];
  Tensor result(op.result()->type());
  bool exactIntegers = !isFloat(input.dtype()) && !isFloat(result.dtype());
  for (int64_t i = 0; i < result.elementCount(); ++i) {
    if (exactIntegers)
      result.setInt(i, input.getInt(i));
    else
      result.setDouble(i, input.getDouble(i));
  }
  return result;
}

const RuleEntry kRules[] = {
    {OpKind::Constant, constantRule},
    {OpKind::Iota, iotaRule},
    {OpKind::RandomUniform, randomUniformRule},
    {OpKind::RandomNormal, randomNormalRule},
    {OpKind::RandomBernoulli, randomBernoulliRule},
    {OpKind::Cast, castRule},
};
}  // namespace

std::span<const RuleEntry> creationRules() { return kRules; }

}  // namespace kiln::interpreter
