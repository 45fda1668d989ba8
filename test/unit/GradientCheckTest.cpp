// Every differentiable op of the table, at several shapes (broadcasting, extent 1, odd sizes),
// passes the gradient check in f64; so does the gradient of each gradient (grad of grad).
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "ir/Builder.h"
#include "ir/Diagnostics.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Passes.h"
#include "passes/gradients/GradientCheck.h"
#include "passes/gradients/GradientRules.h"

namespace kiln {
namespace {

TensorType f32(Shape shape) { return {DType::F32, std::move(shape)}; }
TensorType i64(Shape shape) { return {DType::I64, std::move(shape)}; }
TensorType i1(Shape shape) { return {DType::I1, std::move(shape)}; }

struct OpCase {
  std::vector<TensorType> operands;
  std::vector<NamedAttribute> attributes = {};
  std::optional<TensorType> declared = std::nullopt;
  bool positive = false;  // the op needs positive inputs (log, sqrt, pow)
};

std::vector<OpCase> unaryCases(bool positive = false, std::vector<NamedAttribute> attributes = {}) {
  std::vector<OpCase> cases;
  for (Shape shape : {Shape{}, Shape{1}, Shape{3, 5}, Shape{2, 1, 3}})
    cases.push_back({{f32(shape)}, attributes, {}, positive});
  return cases;
}

std::vector<OpCase> binaryCases(bool positive = false) {
  std::vector<OpCase> cases;
  for (auto [lhs, rhs] : std::vector<std::pair<Shape, Shape>>{
           {{3, 4}, {3, 4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {4}}, {{}, {5}}, {{1}, {3}}, {{2, 1, 3}, {2, 3}}})
    cases.push_back({{f32(lhs), f32(rhs)}, {}, {}, positive});
  return cases;
}

std::vector<OpCase> reductionCases() {
  return {{{f32({3, 4})}, {{"axes", Ints{1}}}},
          {{f32({2, 3, 5})}, {{"axes", Ints{0, 2}}, {"keepdims", true}}},
          {{f32({5})}, {{"axes", Ints{}}}},
          {{f32({4, 1})}, {{"axes", Ints{0}}, {"keepdims", true}}}};
}

std::vector<OpCase> normalizationCases() {
  return {{{f32({3, 5})}, {{"axis", int64_t{1}}}},
          {{f32({4, 1})}, {{"axis", int64_t{0}}}},
          {{f32({2, 3, 4})}, {{"axis", int64_t{1}}}}};
}

std::vector<NamedAttribute> pool(Ints window, Ints stride, Ints padding = {0, 0, 0, 0}) {
  return {{"window", window}, {"stride", stride}, {"padding", padding}};
}

std::vector<NamedAttribute> conv(Ints stride, Ints padding, Ints dilation) {
  return {{"stride", stride}, {"padding", padding}, {"dilation", dilation}};
}

const std::map<OpKind, std::vector<OpCase>> &opCases() {
  static const std::map<OpKind, std::vector<OpCase>> cases = {
      {OpKind::Neg, unaryCases()},
      {OpKind::Abs, unaryCases()},
      {OpKind::Sign, unaryCases()},
      {OpKind::Square, unaryCases()},
      {OpKind::Relu, unaryCases()},
      {OpKind::LeakyRelu, unaryCases(false, {{"alpha", 0.2}})},
      {OpKind::Exp, unaryCases()},
      {OpKind::Log, unaryCases(true)},
      {OpKind::Log1p, unaryCases(true)},
      {OpKind::Sqrt, unaryCases(true)},
      {OpKind::Rsqrt, unaryCases(true)},
      {OpKind::Reciprocal, unaryCases()},
      {OpKind::Tanh, unaryCases()},
      {OpKind::Sigmoid, unaryCases()},
      {OpKind::Gelu, unaryCases()},
      {OpKind::Erf, unaryCases()},
      {OpKind::Sin, unaryCases()},
      {OpKind::Cos, unaryCases()},
      {OpKind::Add, binaryCases()},
      {OpKind::Sub, binaryCases()},
      {OpKind::Mul, binaryCases()},
      {OpKind::Div, binaryCases()},
      {OpKind::Pow, binaryCases(true)},
      {OpKind::Maximum, binaryCases()},
      {OpKind::Minimum, binaryCases()},
      {OpKind::Select, {{{i1({3, 4}), f32({3, 1}), f32({4})}}, {{i1({}), f32({2, 3}), f32({2, 3})}}}},
      {OpKind::Cast, {{{f32({3, 4})}, {}, TensorType{DType::F64, {3, 4}}}}},
      {OpKind::Broadcast, {{{f32({3, 1})}, {}, f32({2, 3, 4})}, {{f32({})}, {}, f32({3})}}},
      {OpKind::Reshape, {{{f32({2, 3, 4})}, {}, f32({6, 4})}, {{f32({5})}, {}, f32({1, 5, 1})}}},
      {OpKind::Transpose, {{{f32({2, 3, 4})}, {{"perm", Ints{2, 0, 1}}}}, {{f32({3, 5})}, {{"perm", Ints{1, 0}}}}}},
      {OpKind::Slice,
       {{{f32({5, 7})}, {{"start", Ints{1, 0}}, {"limit", Ints{5, 7}}, {"stride", Ints{2, 3}}}},
        {{f32({6})}, {{"start", Ints{1}}, {"limit", Ints{4}}}},
        {{f32({4, 5})}, {{"start", Ints{0, 1}}, {"limit", Ints{3, 4}}, {"stride", Ints{1, 2}}}}}},
      {OpKind::Concat,
       {{{f32({2, 3}), f32({4, 3})}, {{"axis", int64_t{0}}}},
        {{f32({2, 1}), f32({2, 3}), f32({2, 2})}, {{"axis", int64_t{1}}}}}},
      {OpKind::Pad, {{{f32({3, 4})}, {{"low", Ints{1, 0}}, {"high", Ints{0, 2}}, {"value", 0.5}}}}},
      {OpKind::Gather,
       {{{f32({4, 5}), i64({3})}, {{"axis", int64_t{0}}}},
        {{f32({3, 4}), i64({3})}, {{"axis", int64_t{1}}, {"batch_dims", int64_t{1}}}},
        {{f32({2, 3}), i64({2, 2})}, {{"axis", int64_t{1}}}}}},
      {OpKind::ScatterAdd, {{{f32({3, 5}), i64({3})}, {{"axis", int64_t{0}}}, f32({4, 5})}}},
      {OpKind::Sum, reductionCases()},
      {OpKind::Mean, reductionCases()},
      {OpKind::Max, reductionCases()},
      {OpKind::Min, reductionCases()},
      {OpKind::Attention,
       {{{f32({2, 5, 3}), f32({2, 6, 3}), f32({2, 6, 3})}, {{"scale", 0.5}}},
        {{f32({5, 3}), f32({5, 3}), f32({5, 3}), f32({1, 5})}, {{"scale", 0.7}, {"causal", true}}}}},
      {OpKind::Softmax, normalizationCases()},
      {OpKind::LogSoftmax, normalizationCases()},
      {OpKind::Matmul,
       {{{f32({3, 4}), f32({4, 5})}},
        {{f32({4, 3}), f32({4, 5})}, {{"transpose_a", true}}},
        {{f32({3, 4}), f32({5, 4})}, {{"transpose_b", true}}},
        {{f32({4, 3}), f32({5, 4})}, {{"transpose_a", true}, {"transpose_b", true}}},
        {{f32({2, 3, 4}), f32({4, 5})}},
        {{f32({1, 3, 4}), f32({2, 2, 4})}, {{"transpose_b", true}}}}},
      {OpKind::Conv2d,
       {{{f32({1, 2, 5, 5}), f32({3, 2, 3, 3})}, conv({2, 2}, {1, 0, 1, 1}, {1, 1})},
        {{f32({2, 1, 6, 5}), f32({2, 1, 2, 2})}, conv({1, 1}, {0, 0, 0, 0}, {2, 1})}}},
      {OpKind::Conv2dInputGrad,
       {{{f32({1, 3, 3, 2}), f32({3, 2, 3, 3})}, conv({2, 2}, {1, 0, 1, 1}, {1, 1}), f32({1, 2, 5, 5})}}},
      {OpKind::Conv2dFilterGrad,
       {{{f32({1, 2, 5, 5}), f32({1, 3, 3, 2})}, conv({2, 2}, {1, 0, 1, 1}, {1, 1}), f32({3, 2, 3, 3})}}},
      {OpKind::MaxPool2d,
       {{{f32({1, 2, 5, 5})}, pool({2, 2}, {2, 2})}, {{f32({2, 1, 5, 5})}, pool({3, 3}, {2, 2}, {1, 1, 1, 1})}}},
      {OpKind::MaxPool2dGrad,
       {{{f32({1, 2, 4, 4}), f32({1, 2, 2, 2})}, pool({2, 2}, {2, 2})},
        {{f32({1, 1, 5, 5}), f32({1, 1, 3, 3})}, pool({3, 3}, {2, 2}, {1, 1, 1, 1})}}},
      {OpKind::AvgPool2d,
       {{{f32({1, 2, 5, 5})}, pool({2, 2}, {1, 1}, {1, 1, 0, 0})}, {{f32({2, 1, 4, 4})}, pool({2, 2}, {2, 2})}}},
      {OpKind::AvgPool2dGrad,
       {{{f32({1, 2, 4, 4}), f32({1, 2, 2, 2})}, pool({2, 2}, {2, 2})},
        {{f32({1, 1, 5, 5}), f32({1, 1, 5, 5})}, pool({2, 2}, {1, 1}, {1, 1, 0, 0})}}},
  };
  return cases;
}

std::unique_ptr<Function> functionOf(OpKind kind, const OpCase &opCase) {
  auto function = std::make_unique<Function>(std::string(opName(kind)));
  std::vector<Value *> operands;
  for (size_t i = 0; i < opCase.operands.size(); ++i)
    operands.push_back(function->addArgument(opCase.operands[i], "x" + std::to_string(i)));
  Builder builder(*function);
  // The function returns the op's first result: the one with a gradient rule (attention also
  // gives its log-sum-exp).
  if (!opCase.declared) {
    auto results = builder.tryCreateResults(kind, operands, opCase.attributes);
    if (!results) {
      ADD_FAILURE() << opName(kind) << ": " << llvm::toString(results.takeError());
      return nullptr;
    }
    function->setResults({results->front()});
    return function;
  }
  auto result = builder.tryCreate(kind, operands, opCase.attributes, opCase.declared);
  if (!result) {
    ADD_FAILURE() << opName(kind) << ": " << llvm::toString(result.takeError());
    return nullptr;
  }
  function->setResults({*result});
  return function;
}

std::string describe(OpKind kind, const OpCase &opCase) {
  std::string text(opName(kind));
  for (const TensorType &type : opCase.operands) text += " " + toString(type);
  return text;
}

void expectPasses(const Function &function, GradientCheckOptions options, const std::string &what,
                  bool expectZero = false) {
  auto report = checkGradient(function, options);
  ASSERT_TRUE(static_cast<bool>(report)) << what << ": " << llvm::toString(report.takeError());
  std::string text;
  llvm::raw_string_ostream out(text);
  report->print(out);
  EXPECT_TRUE(report->passed()) << what << "\n" << text << toString(function);
  EXPECT_EQ(report->everyGradientZero, expectZero) << what << "\n" << text;
}

TEST(GradientCheck, EveryDifferentiableOpHasCases) {
  for (const OpInfo &info : allOps())
    if (hasGradientRule(info.kind)) {
      EXPECT_TRUE(opCases().count(info.kind)) << info.name << " has no gradient check case";
    }
}

TEST(GradientCheck, EveryDifferentiableOpMatchesCentralDifferences) {
  for (const auto &[kind, cases] : opCases())
    for (const OpCase &opCase : cases) {
      auto function = functionOf(kind, opCase);
      if (!function) continue;
      GradientCheckOptions options;
      options.positiveInputs = opCase.positive;
      bool piecewiseConstant = kind == OpKind::Sign;
      expectPasses(*function, options, describe(kind, opCase), piecewiseConstant);
    }
}

// The gradient function of each case, differentiated again in each of its gradients.
TEST(GradientCheck, GradientsOfGradientsMatchCentralDifferences) {
  for (const auto &[kind, cases] : opCases())
    for (const OpCase &opCase : cases) {
      // attention's adjoint, attention_grad, has no rule of its own: a second derivative through
      // attention is refused by autodiff (test/autodiff/attention.kir), as docs/attention.md says.
      if (kind == OpKind::Attention) continue;
      auto function = functionOf(kind, opCase);
      if (!function) continue;
      Module module;
      module.addFunction(std::move(function));
      PassOptions options;
      options.values["function"] = std::string(opName(kind));
      ASSERT_FALSE(static_cast<bool>(runAutodiff(module, options))) << describe(kind, opCase);
      const Function &gradient = *module.lookup(std::string(opName(kind)) + "_grad");
      ASSERT_TRUE(verify(gradient).empty()) << toString(gradient);
      for (size_t index = 1; index < gradient.results().size(); ++index) {
        GradientCheckOptions check;
        check.positiveInputs = opCase.positive;
        check.resultIndex = index;
        auto report = checkGradient(gradient, check);
        ASSERT_TRUE(static_cast<bool>(report)) << describe(kind, opCase) << ": " << llvm::toString(report.takeError());
        std::string text;
        llvm::raw_string_ostream out(text);
        report->print(out);
        EXPECT_TRUE(report->passed()) << describe(kind, opCase) << ", gradient " << index << "\n"
                                      << text << toString(gradient);
      }
    }
}

// The comparison can fail: with a step of 0.5, central differences of sin give
// cos(x) * sin(0.5) / 0.5, about 4% below the exact cos(x), far outside rtol 1e-3.
TEST(GradientCheck, AnInexactDerivativeFails) {
  auto function = functionOf(OpKind::Sin, {{f32({4})}});
  ASSERT_TRUE(function);
  GradientCheckOptions options;
  options.step = 0.5;
  auto report = checkGradient(*function, options);
  ASSERT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  EXPECT_FALSE(report->passed());
  // Curvature, not a corner: the one-sided differences change when the step is halved.
  ASSERT_EQ(report->arguments.size(), 1u);
  EXPECT_GT(report->arguments[0].failingElements, 0);
  EXPECT_EQ(report->arguments[0].kinkElements, 0);
}

// relu at 0 has the one-sided slopes 0 and 1 (times the cotangent of its element), the central
// difference half of that, and the analytic gradient 0 (PyTorch's): the two elements at 0 fail at
// a kink, the others pass. (abs at 0 would pass: its central difference is sign(0) = 0.)
TEST(GradientCheck, AFailureAtAKinkSaysSo) {
  auto function = functionOf(OpKind::Relu, {{f32({4})}});
  ASSERT_TRUE(function);
  Tensor x(TensorType{DType::F64, {4}});
  const double values[] = {0.0, 0.5, 0.0, -0.3};
  for (int64_t i = 0; i < 4; ++i) x.setDouble(i, values[i]);
  GradientCheckOptions options;
  options.givenArguments = {{"x0", x}};
  auto report = checkGradient(*function, options);
  ASSERT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  EXPECT_FALSE(report->passed());
  ASSERT_EQ(report->arguments.size(), 1u);
  const ArgumentCheck &check = report->arguments[0];
  EXPECT_EQ(check.failingElements, 2);
  EXPECT_EQ(check.kinkElements, 2);
  ASSERT_TRUE(check.firstKink.has_value());
  EXPECT_EQ(check.firstKink->element, 0);
  EXPECT_NEAR(check.firstKink->below, 0, 1e-9);
  EXPECT_GE(std::abs(check.firstKink->above), 0.1);
  EXPECT_EQ(check.firstKink->analytic, 0);
  std::string text;
  llvm::raw_string_ostream out(text);
  report->print(out);
  EXPECT_NE(text.find("; element 0 sits at a kink: the one-sided differences are "), std::string::npos) << text;
  EXPECT_NE(text.find("(2 of 2 failing elements at kinks or jumps)"), std::string::npos) << text;
}

// With 100 tokens drawn over all 10 rows, every row is looked up (0 or 1 only would reach
// 2 rows, 6 non-zero elements).
TEST(GradientCheck, EmbeddingIndicesReachEveryRow) {
  auto function = functionOf(OpKind::Gather, {{f32({10, 3}), i64({100})}, {{"axis", int64_t{0}}}});
  ASSERT_TRUE(function);
  auto report = checkGradient(*function);
  ASSERT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
  ASSERT_EQ(report->arguments.size(), 1u);
  EXPECT_TRUE(report->passed());
  EXPECT_EQ(report->arguments[0].nonZeroElements, 30);
  EXPECT_EQ(report->arguments[0].checkedElements, 30);
}

// A sample of a large embedding table: 2 tokens touch 6 of its 3,000 elements, so a uniform
// sample of 4 would almost never check a non-zero gradient; half of the sample is drawn there.
TEST(GradientCheck, ASampleOfAnEmbeddingChecksLookedUpRows) {
  auto function = functionOf(OpKind::Gather, {{f32({1000, 3}), i64({2})}, {{"axis", int64_t{0}}}});
  ASSERT_TRUE(function);
  for (uint64_t seed : {1, 2, 3}) {
    GradientCheckOptions options;
    options.seed = seed;
    options.samplesPerArgument = 4;
    auto report = checkGradient(*function, options);
    ASSERT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
    ASSERT_EQ(report->arguments.size(), 1u);
    EXPECT_TRUE(report->passed());
    EXPECT_EQ(report->arguments[0].checkedElements, 4);
    EXPECT_GE(report->arguments[0].nonZeroElements, 2) << "seed " << seed;
  }
}

// An axis of extent 1 has the single valid index 0.
TEST(GradientCheck, AnAxisOfOneGetsIndexZero) {
  auto function = functionOf(OpKind::Gather, {{f32({1, 3}), i64({4})}, {{"axis", int64_t{0}}}});
  ASSERT_TRUE(function);
  expectPasses(*function, {}, "gather f32[1,3] i64[4]");
}

TEST(GradientCheck, TheSeedDecidesTheInputs) {
  auto function = functionOf(OpKind::Gather, {{f32({20, 2}), i64({5})}, {{"axis", int64_t{0}}}});
  ASSERT_TRUE(function);
  auto nonZeroWithSeed = [&](uint64_t seed) {
    GradientCheckOptions options;
    options.seed = seed;
    auto report = checkGradient(*function, options);
    EXPECT_TRUE(static_cast<bool>(report)) << llvm::toString(report.takeError());
    std::vector<int64_t> nonZero;
    if (report)
      for (const ArgumentCheck &argument : report->arguments) nonZero.push_back(argument.nonZeroElements);
    return nonZero;
  };
  EXPECT_EQ(nonZeroWithSeed(7), nonZeroWithSeed(7));
  std::set<std::vector<int64_t>> seen;
  for (uint64_t seed = 1; seed <= 8; ++seed) seen.insert(nonZeroWithSeed(seed));
  EXPECT_GT(seen.size(), 1u) << "different seeds should look up different numbers of rows";
}

TEST(GradientCheck, CastToFloat64ChangesEveryF32) {
  auto function = functionOf(OpKind::Add, {{f32({2}), f32({})}});
  ASSERT_TRUE(function);
  Builder builder(*function);
  Value *constant = builder.constant(f32({2}), Floats{0.25});
  function->setResults({builder.create(OpKind::Mul, {function->results()[0], constant})});
  auto wide = castToFloat64(*function);
  EXPECT_TRUE(verify(*wide).empty());
  EXPECT_EQ(toString(*wide).find("f32"), std::string::npos) << toString(*wide);
  EXPECT_NE(toString(*wide).find("constant {value = 0.25} : f64[2]"), std::string::npos) << toString(*wide);
}

// The check evaluates an f64 copy it drops before returning: a failed op of the copy comes back
// as the original's op, so that the tool can place it in the original's text.
TEST(GradientCheck, AnEvaluationErrorNamesTheOriginalOp) {
  auto module = parseModule(R"(
func @f(%table: f32[3]) -> f32[] {
  %index = constant {value = [0, 5]} : i32[2]
  %rows = gather %table, %index {axis = 0} : f32[2]
  %total = sum %rows {axes = []} : f32[]
  return %total
})");
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  const Function &function = *(*module)->lookup("f");
  auto report = checkGradient(function);
  ASSERT_FALSE(report);
  llvm::Error error = report.takeError();
  ASSERT_TRUE(error.isA<OpErrors>());
  llvm::handleAllErrors(std::move(error), [&](const OpErrors &errors) {
    ASSERT_EQ(errors.problems().size(), 1u);
    EXPECT_EQ(errors.problems()[0].op, std::next(function.ops().begin())->get());
    EXPECT_EQ(errors.problems()[0].function, &function);
    EXPECT_EQ(errors.summary(), "in f64: evaluation of @f failed: 1 problem");
  });
}

}  // namespace
}  // namespace kiln
