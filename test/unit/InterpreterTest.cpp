// The interpreter against the op table and against identities that need loops to check:
// adjoint pairs on random f64 data, normalisation, the random ops' statistics, and errors.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "backends/interpreter/Interpreter.h"
#include "ir/Diagnostics.h"
#include "ir/Parser.h"
#include "runtime/Random.h"

namespace kiln {
namespace {

std::unique_ptr<Module> parse(llvm::StringRef text) {
  auto module = parseModule(text);
  if (!module) {
    ADD_FAILURE() << llvm::toString(module.takeError());
    return nullptr;
  }
  return std::move(*module);
}

std::vector<Tensor> run(const Module &module, std::span<const Tensor> arguments) {
  auto results = interpret(*module.functions()[0], arguments);
  if (!results) {
    ADD_FAILURE() << llvm::toString(results.takeError());
    return {};
  }
  return std::move(*results);
}

// A tensor of the function's argument type, filled with normal values from `seed`.
Tensor randomArgument(const Module &module, size_t index, unsigned seed) {
  Tensor tensor(module.functions()[0]->argument(index)->type());
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> normal;
  for (int64_t i = 0; i < tensor.elementCount(); ++i) tensor.setDouble(i, normal(generator));
  return tensor;
}

double dot(const Tensor &a, const Tensor &b) {
  EXPECT_EQ(a.type(), b.type());
  double sum = 0;
  for (int64_t i = 0; i < a.elementCount(); ++i) sum += a.getDouble(i) * b.getDouble(i);
  return sum;
}

// Two sums of a few hundred products of normal values agree to about 1e-13 of their size
// when they are the same sum in another order.
void expectSameInnerProduct(double lhs, double rhs) { EXPECT_NEAR(lhs, rhs, 1e-10 * (1 + std::abs(lhs))); }

TEST(Interpreter, EveryOpOfTheTableHasARule) {
  for (const OpInfo &info : allOps()) EXPECT_TRUE(hasInterpreterRule(info.kind)) << info.name;
}

// <conv(x, w), dy> = <x, conv_input_grad(dy, w)> = <w, conv_filter_grad(x, dy)>, with every
// attribute away from its default.
TEST(Interpreter, ConvolutionGradientsAreAdjoints) {
  auto module = parse(R"(
func @f(%x: f64[2,3,7,6], %w: f64[4,3,3,2], %dy: f64[2,4,3,7]) -> (f64[2,4,3,7], f64[2,3,7,6], f64[4,3,3,2]) {
  %y = conv2d %x, %w {stride = [2, 1], padding = [1, 2, 0, 1], dilation = [1, 2]} : f64[2,4,3,7]
  %dx = conv2d_input_grad %dy, %w {stride = [2, 1], padding = [1, 2, 0, 1], dilation = [1, 2]} : f64[2,3,7,6]
  %dw = conv2d_filter_grad %x, %dy {stride = [2, 1], padding = [1, 2, 0, 1], dilation = [1, 2]} : f64[4,3,3,2]
  return %y, %dx, %dw
})");
  ASSERT_TRUE(module);
  std::vector<Tensor> arguments = {randomArgument(*module, 0, 1), randomArgument(*module, 1, 2),
                                   randomArgument(*module, 2, 3)};
  std::vector<Tensor> results = run(*module, arguments);
  ASSERT_EQ(results.size(), 3u);
  double forward = dot(results[0], arguments[2]);
  expectSameInnerProduct(forward, dot(arguments[0], results[1]));
  expectSameInnerProduct(forward, dot(arguments[1], results[2]));
}

// avg_pool2d is linear: <avg(x), dy> = <x, avg_grad(x, dy)>. max_pool2d is linear near x when
// x has no ties, so its gradient matches a central difference along a random direction v.
TEST(Interpreter, PoolGradientsAreAdjoints) {
  auto module = parse(R"(
func @f(%x: f64[2,3,7,8], %dy: f64[2,3,4,3], %v: f64[2,3,7,8], %step: f64[]) -> (f64[2,3,4,3], f64[2,3,7,8], f64[2,3,4,3], f64[2,3,4,3], f64[2,3,7,8]) {
  %average = avg_pool2d %x {window = [3, 3], stride = [2, 3], padding = [1, 2, 1, 1]} : f64[2,3,4,3]
  %average_grad = avg_pool2d_grad %x, %dy {window = [3, 3], stride = [2, 3], padding = [1, 2, 1, 1]} : f64[2,3,7,8]
  %tv = mul %v, %step : f64[2,3,7,8]
  %above = add %x, %tv : f64[2,3,7,8]
  %below = sub %x, %tv : f64[2,3,7,8]
  %max_above = max_pool2d %above {window = [3, 3], stride = [2, 3], padding = [1, 2, 1, 1]} : f64[2,3,4,3]
  %max_below = max_pool2d %below {window = [3, 3], stride = [2, 3], padding = [1, 2, 1, 1]} : f64[2,3,4,3]
  %max_grad = max_pool2d_grad %x, %dy {window = [3, 3], stride = [2, 3], padding = [1, 2, 1, 1]} : f64[2,3,7,8]
  return %average, %average_grad, %max_above, %max_below, %max_grad
})");
  ASSERT_TRUE(module);
  Tensor step(TensorType{DType::F64, {}});
  step.setDouble(0, 1e-6);
  std::vector<Tensor> arguments = {randomArgument(*module, 0, 4), randomArgument(*module, 1, 5),
                                   randomArgument(*module, 2, 6), step};
  std::vector<Tensor> results = run(*module, arguments);
  ASSERT_EQ(results.size(), 5u);
  expectSameInnerProduct(dot(results[0], arguments[1]), dot(arguments[0], results[1]));
  double difference = (dot(results[2], arguments[1]) - dot(results[3], arguments[1])) / 2e-6;
  EXPECT_NEAR(difference, dot(arguments[2], results[4]), 1e-6);
}

// <gather(p, i), u> = <p, scatter_add(u, i)>, with repeated indices and batch_dims.
TEST(Interpreter, ScatterAddIsTheAdjointOfGather) {
  auto module = parse(R"(
func @f(%p: f64[2,5,3], %u: f64[2,6,3], %i: i32[2,6]) -> (f64[2,6,3], f64[2,5,3]) {
  %g = gather %p, %i {axis = 1, batch_dims = 1} : f64[2,6,3]
  %s = scatter_add %u, %i {axis = 1, batch_dims = 1} : f64[2,5,3]
  return %g, %s
})");
  ASSERT_TRUE(module);
  Tensor indices(TensorType{DType::I32, {2, 6}});
  std::mt19937 generator(7);
  for (int64_t k = 0; k < indices.elementCount(); ++k)
    indices.setInt(k, std::uniform_int_distribution<int>(0, 4)(generator));
  std::vector<Tensor> arguments = {randomArgument(*module, 0, 8), randomArgument(*module, 1, 9), indices};
  std::vector<Tensor> results = run(*module, arguments);
  ASSERT_EQ(results.size(), 2u);
  expectSameInnerProduct(dot(results[0], arguments[1]), dot(arguments[0], results[1]));
}

// A failed op comes back as an OpErrors record that names the op in text of its own, so the
// error can be printed after the module that held the op is gone.
TEST(Interpreter, AnEvaluationErrorOutlivesItsModule) {
  auto module = parse(R"(
func @f(%p: f64[3]) -> f64[2] {
  %i = constant {value = [0, 5]} : i32[2]
  %g = gather %p, %i {axis = 0} : f64[2]
  return %g
})");
  ASSERT_TRUE(module);
  auto results = interpret(*module->lookup("f"), std::vector<Tensor>{Tensor(TensorType{DType::F64, {3}})});
  ASSERT_FALSE(results);
  llvm::Error error = results.takeError();
  ASSERT_TRUE(error.isA<OpErrors>());
  module.reset();
  EXPECT_EQ(llvm::toString(std::move(error)),
            "evaluation of @f failed: 1 problem\n"
            "error: in @f: %g = gather: gather: index 5 (element 1 of the indices) is out of range [0, 3) for axis 0 "
            "of f64[3]");
}

// Rows of a softmax sum to 1 even where e^x overflows f32, and log_softmax is its logarithm.
TEST(Interpreter, SoftmaxRowsSumToOne) {
  auto module = parse(R"(
func @f(%x: f32[4,7]) -> (f32[4,7], f32[4,7]) {
  %big = constant {value = 200.0} : f32[]
  %scaled = mul %x, %big : f32[4,7]
  %s = softmax %scaled {axis = 1} : f32[4,7]
  %l = log_softmax %scaled {axis = 1} : f32[4,7]
  return %s, %l
})");
  ASSERT_TRUE(module);
  std::vector<Tensor> arguments = {randomArgument(*module, 0, 10)};
  std::vector<Tensor> results = run(*module, arguments);
  ASSERT_EQ(results.size(), 2u);
  for (int64_t row = 0; row < 4; ++row) {
    double sum = 0;
    for (int64_t column = 0; column < 7; ++column) {
      double probability = results[0].getDouble(row * 7 + column);
      sum += probability;
      // Only probabilities above f32's smallest normal keep a log worth comparing.
      if (probability > 1e-30) {
        EXPECT_NEAR(std::log(probability), results[1].getDouble(row * 7 + column), 1e-5);
      }
    }
    // Seven f32 roundings of at most 2^-24 each.
    EXPECT_NEAR(sum, 1.0, 7 * 0x1.0p-24) << "row " << row;
  }
}

// The Random123 known-answer vectors of Philox-4x32-10.
TEST(Random, PhiloxMatchesKnownAnswers) {
  EXPECT_EQ(random::philox4x32({0, 0, 0, 0}, {0, 0}),
            (random::PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(random::philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (random::PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(random::philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (random::PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

struct Moments {
  double mean = 0;
  double variance = 0;
};

Moments moments(const Tensor &tensor) {
  Moments result;
  int64_t count = tensor.elementCount();
  for (int64_t i = 0; i < count; ++i) result.mean += tensor.getDouble(i);
  result.mean /= static_cast<double>(count);
  for (int64_t i = 0; i < count; ++i) result.variance += std::pow(tensor.getDouble(i) - result.mean, 2);
  result.variance /= static_cast<double>(count - 1);
  return result;
}

// With n = 100000 samples, each bound is five standard errors of its estimate: for U[0,1),
// sd(mean) = sqrt(1/12/n) and sd(variance) = sqrt((1/80 - 1/144)/n); for N(0,1),
// sd(mean) = sqrt(1/n) and sd(variance) = sqrt(2/n); for Bernoulli(p), sd(mean) = sqrt(p(1-p)/n).
TEST(Random, SamplesHaveTheirDistributionsMoments) {
  auto module = parse(R"(
func @f(%key: i64[]) -> (f64[100000], f64[100000], f32[100000], f64[100000], f64[100000]) {
  %u = random_uniform %key : f64[100000]
  %n = random_normal %key : f64[100000]
  %shifted = random_normal %key {mean = 3.0, stddev = 2.0} : f32[100000]
  %b = random_bernoulli %key {p = 0.3} : f64[100000]
  %same = random_uniform %key : f64[100000]
  return %u, %n, %shifted, %b, %same
})");
  ASSERT_TRUE(module);
  Tensor key(TensorType{DType::I64, {}});
  key.setInt(0, 2024);
  std::vector<Tensor> results = run(*module, std::span(&key, 1));
  ASSERT_EQ(results.size(), 5u);
  const double n = 100000;
  Moments uniform = moments(results[0]);
  EXPECT_NEAR(uniform.mean, 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(uniform.variance, 1.0 / 12, 5 * std::sqrt((1.0 / 80 - 1.0 / 144) / n));
  Moments normal = moments(results[1]);
  EXPECT_NEAR(normal.mean, 0.0, 5 * std::sqrt(1 / n));
  EXPECT_NEAR(normal.variance, 1.0, 5 * std::sqrt(2 / n));
  Moments shifted = moments(results[2]);
  EXPECT_NEAR(shifted.mean, 3.0, 5 * 2 * std::sqrt(1 / n));
  EXPECT_NEAR(shifted.variance, 4.0, 5 * 4 * std::sqrt(2 / n));
  Moments bernoulli = moments(results[3]);
  EXPECT_NEAR(bernoulli.mean, 0.3, 5 * std::sqrt(0.3 * 0.7 / n));
  EXPECT_TRUE(results[4] == results[0]) << "the same key must give the same values";

  Tensor otherKey(TensorType{DType::I64, {}});
  otherKey.setInt(0, 2025);
  std::vector<Tensor> other = run(*module, std::span(&otherKey, 1));
  ASSERT_EQ(other.size(), 5u);
  int64_t equal = 0;
  for (int64_t i = 0; i < results[0].elementCount(); ++i) equal += results[0].getDouble(i) == other[0].getDouble(i);
  EXPECT_EQ(equal, 0) << "another key must give other values";
}

TEST(Interpreter, ErrorsNameTheOpAndItsLocation) {
  auto module = parse(R"(
func @f(%p: f32[3,2], %i: i32[2]) -> f32[2,2] {
  %g = gather %p, %i {axis = 0} : f32[2,2] loc("model.kiln":3:5)
  return %g
})");
  ASSERT_TRUE(module);
  Tensor indices(TensorType{DType::I32, {2}});
  indices.setInt(1, -1);
  std::vector<Tensor> arguments = {Tensor(TensorType{DType::F32, {3, 2}}), indices};
  auto results = interpret(*module->functions()[0], arguments);
  ASSERT_FALSE(results);
  EXPECT_EQ(llvm::toString(results.takeError()),
            "evaluation of @f failed: 1 problem\n"
            "model.kiln:3:5: error: gather: index -1 (element 1 of the indices) is out of range [0, 3) for axis 0 of "
            "f32[3,2]");
}

TEST(Interpreter, RefusesTensorsAboveTheByteLimit) {
  auto module = parse(R"(
func @f() -> f32[65536,32769] {
  %z = constant {value = 0.0} : f32[65536,32769]
  return %z
})");
  ASSERT_TRUE(module);
  auto results = interpret(*module->functions()[0], {});
  ASSERT_FALSE(results);
  EXPECT_EQ(llvm::toString(results.takeError()),
            "evaluation of @f failed: 1 problem\n"
            "error: in @f: %z = constant: constant: f32[65536,32769] needs 8.0 GiB, more than the interpreter's "
            "limit of 4.0 GiB per tensor (--max-tensor-bytes)");
}

TEST(Interpreter, ArgumentsMustHaveTheirTypes) {
  auto module = parse("func @f(%x: f32[2]) -> f32[2] {\n  return %x\n}");
  ASSERT_TRUE(module);
  Tensor wrong(TensorType{DType::F64, {2}});
  auto results = interpret(*module->functions()[0], std::span(&wrong, 1));
  ASSERT_FALSE(results);
  EXPECT_EQ(llvm::toString(results.takeError()), "argument %x of @f should be f32[2], not f64[2]");
}

// toElements is what constant folding writes back: a splat when all elements agree.
TEST(Tensor, ConstantsRoundTripThroughElements) {
  auto module = parse(R"(
func @f() -> (f32[2,2], i64[3], i1[2], f64[2]) {
  %splat = constant {value = 2.5} : f32[2,2]
  %dense = constant {value = [1, -2, 3]} : i64[3]
  %booleans = constant {value = [1, 1]} : i1[2]
  %zeros = constant {value = [0.0, -0.0]} : f64[2]
  return %splat, %dense, %booleans, %zeros
})");
  ASSERT_TRUE(module);
  std::vector<const Operation *> constants;
  for (const auto &op : module->functions()[0]->ops()) constants.push_back(op.get());
  EXPECT_EQ(Tensor::fromConstant(*constants[0]).toElements(), AttrValue(Floats{2.5}));
  EXPECT_EQ(Tensor::fromConstant(*constants[1]).toElements(), AttrValue(Ints{1, -2, 3}));
  EXPECT_EQ(Tensor::fromConstant(*constants[2]).toElements(), AttrValue(Ints{1}));
  Tensor zeros = Tensor::fromConstant(*constants[3]);
  EXPECT_TRUE(std::signbit(zeros.getDouble(1)));
  EXPECT_EQ(std::get<Floats>(zeros.toElements()).size(), 2u) << "-0.0 and 0.0 are different elements";
  EXPECT_EQ(toString(Tensor::fromConstant(*constants[0])), "f32[2,2] = [[2.5, 2.5], [2.5, 2.5]]");
}

}  // namespace
}  // namespace kiln
