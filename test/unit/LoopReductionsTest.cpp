// Reductions and normalisations as loop kernels (LoopReductionRows.cpp) against the reference
// interpreter: every reduction over leading, inner and trailing axes with odd extents (1, 7, 17,
// 33, 129, so that partial accumulators and vector tails are partly filled), with and without
// keepdims, in f32, f64 and i32; NaN, infinities and ties for max, min, argmax and the
// normalisations; each also with its operands against an inaccessible page (no tail reads past an
// end); kernels large enough for the thread pool bit-identical at 1 and 2 threads; and the
// optimised IR on full-width vectors.
#include <cmath>
#include <cstring>
#include <random>
#include <regex>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include "backends/cpu/Compile.h"
#include "backends/interpreter/Interpreter.h"
#include "ir/Parser.h"
#include "passes/Passes.h"
#include "runtime/Parallel.h"
#include "test/unit/GuardedBuffers.h"

namespace kiln::cpu {
namespace {

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text;
  for (size_t i = 0; i < shape.size(); ++i) text += fmt::format("{}{}", i ? "," : "", shape[i]);
  return text;
}

// `func @f(%x: T[shape]) -> R { %r = body : R; return %r }`.
std::string unaryFunction(const std::string &dtype, const std::vector<int64_t> &shape, const std::string &body,
                          const std::string &resultType) {
  return fmt::format("func @f(%x: {}[{}]) -> {} {{\n  %r = {} : {}\n  return %r\n}}\n", dtype, shapeText(shape),
                     resultType, body, resultType);
}

// The result type of reducing `shape` over `axes` (all when empty).
std::string reducedType(const std::string &dtype, const std::vector<int64_t> &shape, const std::vector<int64_t> &axes,
                        bool keepdims) {
  std::vector<int64_t> result;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    bool reduced = axes.empty() || std::find(axes.begin(), axes.end(), int64_t(axis)) != axes.end();
    if (!reduced)
      result.push_back(shape[axis]);
    else if (keepdims)
      result.push_back(1);
  }
  return fmt::format("{}[{}]", dtype, shapeText(result));
}

std::string axesText(const std::vector<int64_t> &axes) {
  std::string text;
  for (size_t i = 0; i < axes.size(); ++i) text += fmt::format("{}{}", i ? ", " : "", axes[i]);
  return "[" + text + "]";
}

struct Case {
  std::string text;
  bool special = false;  // inputs with ties (small integers), NaN and infinities
};

std::vector<Case> reductionCases() {
  std::vector<Case> cases;
  struct Layout {
    std::vector<int64_t> shape;
    std::vector<int64_t> axes;
  };
  std::vector<Layout> layouts;
  for (int64_t n : {1, 7, 17, 33, 129}) {
    layouts.push_back({{3, n}, {1}});  // innermost axis: partials
    layouts.push_back({{n, 5}, {0}});  // leading axis: column rows
  }
  for (int64_t n : {7, 33}) {
    layouts.push_back({{2, n, 3}, {1}});           // middle axis: column rows of width 3
    layouts.push_back({{2, 3, n, 5}, {0, 2, 3}});  // batch-norm statistics of NCHW
  }
  layouts.push_back({{17, 33}, {}});    // everything
  layouts.push_back({{40, 600}, {0}});  // column tiles of kColumnTile and a partial one
  for (const Layout &layout : layouts)
    for (std::string dtype : {"f32", "f64", "i32"})
      for (std::string op : {"sum", "mean", "max", "min"}) {
        if (dtype == "i32" && (op == "mean" || op == "min")) continue;
        for (bool keepdims : {false, true}) {
          if (keepdims && op != "sum") continue;
          std::string body =
              fmt::format("{} %x {{axes = {}{}}}", op, axesText(layout.axes), keepdims ? ", keepdims = true" : "");
          std::string text =
              unaryFunction(dtype, layout.shape, body, reducedType(dtype, layout.shape, layout.axes, keepdims));
          cases.push_back({text, false});
          if ((op == "max" || op == "min") && dtype != "i32") cases.push_back({text, true});
        }
      }
  // Argmax and the normalisations along every axis of a few shapes.
  for (const std::vector<int64_t> &shape : std::vector<std::vector<int64_t>>{{3, 1}, {7, 17}, {33, 5}, {2, 129, 3}}) {
    for (size_t axis = 0; axis < shape.size(); ++axis) {
      for (std::string dtype : {"f32", "f64", "i32"})
        for (bool keepdims : {false, true}) {
          if (keepdims && dtype != "f32") continue;
          std::vector<int64_t> result = shape;
          if (keepdims)
            result[axis] = 1;
          else
            result.erase(result.begin() + static_cast<long>(axis));
          std::string text = unaryFunction(
              dtype, shape, fmt::format("argmax %x {{axis = {}{}}}", axis, keepdims ? ", keepdims = true" : ""),
              fmt::format("i64[{}]", shapeText(result)));
          cases.push_back({text, false});
          cases.push_back({text, true});
        }
      for (std::string dtype : {"f32", "f64"})
        for (std::string op : {"softmax", "log_softmax"}) {
          std::string type = fmt::format("{}[{}]", dtype, shapeText(shape));
          std::string text = unaryFunction(dtype, shape, fmt::format("{} %x {{axis = {}}}", op, axis), type);
          cases.push_back({text, false});
          cases.push_back({text, true});
        }
    }
  }
  return cases;
}

// Uniform in (-3, 3); `special`: small integers (ties), with NaN and infinities here and there.
Tensor randomTensor(const TensorType &type, std::mt19937 &random, bool special) {
  Tensor tensor(type);
  std::uniform_real_distribution<double> real(-3.0, 3.0);
  std::uniform_int_distribution<int> small(-3, 3), rare(0, 40);
  for (int64_t i = 0; i < tensor.elementCount(); ++i) {
    if (!special) {
      isFloat(type.dtype) ? tensor.setDouble(i, real(random)) : tensor.setInt(i, small(random) * 1000 + small(random));
      continue;
    }
    tensor.setInt(i, small(random));
    if (isFloat(type.dtype)) {
      int pick = rare(random);
      if (pick == 0) tensor.setDouble(i, NAN);
      if (pick == 1) tensor.setDouble(i, HUGE_VAL);
      if (pick == 2) tensor.setDouble(i, -HUGE_VAL);
    }
  }
  return tensor;
}

// f32: rtol 1e-5, atol 1e-6; f64: rtol 1e-13, atol 1e-15 (the same as LoopKernelsTest). Sums and
// means also pass within one ulp (2^-23, 2^-52) of the sum of magnitudes of their terms: the
// issue asks for f32 sums accumulated in f32, whose rounding error is bounded relative to that,
// not to the (possibly cancelled) sum itself, which the interpreter gets from double. The
// bound of the blocked order (LoopReductionRows.cpp) is (n/L + log2 L) half-ulps; one ulp holds
// for the sizes here with a wide margin (the errors seen are a tenth of it).
void expectClose(const Tensor &expected, const Tensor &actual, const std::vector<double> &magnitudes,
                 const std::string &what) {
  ASSERT_EQ(expected.type(), actual.type()) << what;
  bool single = expected.dtype() == DType::F32;
  double rtol = single ? 1e-5 : 1e-13, atol = single ? 1e-6 : 1e-15, ulp = single ? 0x1p-23 : 0x1p-52;
  for (int64_t i = 0; i < expected.elementCount(); ++i) {
    if (!isFloat(expected.dtype())) {
      ASSERT_EQ(expected.getInt(i), actual.getInt(i)) << what << " at " << i;
      continue;
    }
    double e = expected.getDouble(i), a = actual.getDouble(i);
    if (std::isnan(e)) {
      ASSERT_TRUE(std::isnan(a)) << what << " at " << i << ": " << a;
      continue;
    }
    if (std::isinf(e)) {
      ASSERT_EQ(e, a) << what << " at " << i;
      continue;
    }
    double bound = atol + rtol * std::abs(e);
    if (!magnitudes.empty()) bound = std::max(bound, ulp * magnitudes[static_cast<size_t>(i)]);
    ASSERT_LE(std::abs(e - a), bound) << what << " at " << i << ": " << e << " vs " << a;
  }
}

// For a sum or mean: the sum (or mean) of magnitudes behind each result element.
std::vector<double> sumOfMagnitudes(const Function &function, const Tensor &argument) {
  const Operation &op = *function.results()[0]->definingOp();
  if (op.kind() != OpKind::Sum && op.kind() != OpKind::Mean) return {};
  auto parsed = parseModule(fmt::format(
      "func @f(%x: {}) -> {} {{\n  %a = abs %x : {}\n  %r = {} %a {{axes = {}, keepdims = {}}} : {}\n  return %r\n}}\n",
      toString(argument.type()), toString(op.result()->type()), toString(argument.type()), op.name(),
      axesText(op.attributes().getInts("axes")), op.attributes().getBool("keepdims") ? "true" : "false",
      toString(op.result()->type())));
  if (!parsed) {
    ADD_FAILURE() << llvm::toString(parsed.takeError());
    return {};
  }
  std::vector<Tensor> arguments{argument};
  auto result = interpret(*(*parsed)->lookup("f"), arguments);
  if (!result) {
    ADD_FAILURE() << llvm::toString(result.takeError());
    return {};
  }
  std::vector<double> magnitudes;
  for (int64_t i = 0; i < (*result)[0].elementCount(); ++i) magnitudes.push_back((*result)[0].getDouble(i));
  return magnitudes;
}

// All cases as functions @f0, @f1, ... of one module, compiled once, run with 2 threads (these
// kernels are below the parallel threshold; ResultsDoNotDependOnTheThreadCount has larger ones).
TEST(LoopReductions, ReductionsMatchTheInterpreter) {
  const int threads = 2;
  runtime::setThreadCount(threads);
  auto target = Target::create();
  ASSERT_TRUE(static_cast<bool>(target)) << llvm::toString(target.takeError());
  std::vector<Case> cases = reductionCases();
  std::string text;
  for (size_t i = 0; i < cases.size(); ++i)
    text += std::regex_replace(cases[i].text, std::regex("@f\\("), fmt::format("@f{}(", i));
  auto module = parseModule(text);
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  std::mt19937 random(4321);
  std::vector<std::vector<Tensor>> arguments, expected;
  std::vector<std::vector<double>> magnitudes;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Function &function = *(*module)->lookup(fmt::format("f{}", i));
    arguments.push_back({randomTensor(function.argument(0)->type(), random, cases[i].special)});
    auto result = interpret(function, arguments.back());
    ASSERT_TRUE(static_cast<bool>(result)) << llvm::toString(result.takeError()) << cases[i].text;
    expected.push_back(std::move(*result));
    magnitudes.push_back(sumOfMagnitudes(function, arguments.back()[0]));
  }
  ASSERT_FALSE(static_cast<bool>(runOutlineKernels(**module, {})));
  auto compiled = CompiledModule::create(**module, **target);
  ASSERT_TRUE(static_cast<bool>(compiled)) << llvm::toString(compiled.takeError());
  for (size_t i = 0; i < cases.size(); ++i) {
    auto actual = (*compiled)->run(*(*module)->lookup(fmt::format("f{}", i)), arguments[i]);
    ASSERT_TRUE(static_cast<bool>(actual)) << llvm::toString(actual.takeError());
    expectClose(expected[i][0], (*actual)[0], magnitudes[i],
                fmt::format("{} thread(s){}: {}", threads, cases[i].special ? ", special values" : "", cases[i].text));
    for (GuardSide side : {GuardSide::After, GuardSide::Before}) {
      std::vector<Tensor> guarded =
          runInGuardedBuffers(**compiled, *(*module)->lookup(fmt::format("f{}", i)), arguments[i], side);
      ASSERT_EQ(guarded.size(), 1u);
      expectClose(expected[i][0], guarded[0], magnitudes[i], fmt::format("{}: {}", guardSideName(side), cases[i].text));
    }
  }
  runtime::setThreadCount(1);
}

template <typename T> std::vector<uint8_t> bytesOf(std::span<const T> values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::vector<uint8_t> bytesOf(const Tensor &tensor) {
  switch (tensor.dtype()) {
  case DType::F32: return bytesOf(tensor.values<float>());
  case DType::F64: return bytesOf(tensor.values<double>());
  case DType::I32: return bytesOf(tensor.values<int32_t>());
  case DType::I64: return bytesOf(tensor.values<int64_t>());
  case DType::I1: return bytesOf(tensor.values<uint8_t>());
  }
  return {};
}

// Kernels large enough to run on the pool give the same bits on 1 and 2 threads (and match the
// interpreter).
TEST(LoopReductions, ResultsDoNotDependOnTheThreadCount) {
  const char *texts[] = {
      "func @f(%x: f32[64,1029]) -> f32[64,1029] {\n  %r = softmax %x {axis = 1} : f32[64,1029]\n  return %r\n}\n",
      "func @f(%x: f32[300,257]) -> f32[257] {\n  %r = sum %x {axes = [0]} : f32[257]\n  return %r\n}\n",
      "func @f(%x: f32[257,300]) -> f32[257] {\n  %r = sum %x {axes = [1]} : f32[257]\n  return %r\n}\n",
      "func @f(%x: f64[129,600]) -> f64[129,600] {\n  %r = log_softmax %x {axis = 0} : f64[129,600]\n"
      "  return %r\n}\n",
      "func @f(%x: f32[300,257]) -> i64[300] {\n  %r = argmax %x {axis = 1} : i64[300]\n  return %r\n}\n",
      "func @f(%x: f32[3,70000]) -> f32[3,70000] {\n  %e = exp %x : f32[3,70000]\n"
      "  %r = mul %e, %x : f32[3,70000]\n  return %r\n}\n",
  };
  auto target = Target::create();
  ASSERT_TRUE(static_cast<bool>(target));
  std::mt19937 random(99);
  for (const char *text : texts) {
    auto module = parseModule(text);
    ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
    const Function &function = *(*module)->lookup("f");
    std::vector<Tensor> arguments{randomTensor(function.argument(0)->type(), random, false)};
    auto expected = interpret(function, arguments);
    ASSERT_TRUE(static_cast<bool>(expected));
    std::vector<double> magnitudes = sumOfMagnitudes(function, arguments[0]);
    ASSERT_FALSE(static_cast<bool>(runOutlineKernels(**module, {})));
    auto compiled = CompiledModule::create(**module, **target);
    ASSERT_TRUE(static_cast<bool>(compiled)) << llvm::toString(compiled.takeError());
    std::vector<std::vector<uint8_t>> results;
    for (int threads : {1, 2}) {
      runtime::setThreadCount(threads);
      auto actual = (*compiled)->run(function, arguments);
      ASSERT_TRUE(static_cast<bool>(actual)) << llvm::toString(actual.takeError());
      expectClose((*expected)[0], (*actual)[0], magnitudes, text);
      results.push_back(bytesOf((*actual)[0]));
    }
    EXPECT_TRUE(results[0] == results[1]) << "results differ between 1 and 2 threads: " << text;
  }
  runtime::setThreadCount(1);
}

// The optimised IR of a kernel, as text.
std::string optimizedKernel(const std::string &text, const Target &target) {
  auto module = parseModule(text);
  EXPECT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  if (!module) return {};
  llvm::LLVMContext context;
  auto compiled = compileModule(**module, target, context);
  EXPECT_TRUE(static_cast<bool>(compiled)) << llvm::toString(compiled.takeError());
  if (!compiled) return {};
  EXPECT_FALSE(static_cast<bool>(optimizeModule(**compiled, target)));
  std::string ir;
  llvm::raw_string_ostream stream(ir);
  (*compiled)->print(stream, nullptr);
  return ir;
}

// The inner loops work on full-width vectors of the target's preferred width: the elementwise
// chain, the softmax (the exponential's polynomial, its division), the row sum (partials) and
// the column sum (rows of columns). A reshape of an argument reads it at the linear offset,
// without a division.
TEST(LoopReductions, InnerLoopsUseFullWidthVectors) {
  auto target = Target::create();
  ASSERT_TRUE(static_cast<bool>(target));
  const unsigned lanes = (*target)->preferredVectorBits() / 32;
  const std::string vector = fmt::format("<{} x float>", lanes);
  struct Expectation {
    const char *text;
    std::vector<std::string> instructions;
  };
  const Expectation expectations[] = {
      {"kernel @k(%x: f32[64,129], %y: f32[129]) -> f32[64,129] {\n  %s = mul %x, %y : f32[64,129]\n"
       "  %t = add %s, %y : f32[64,129]\n  %r = relu %t : f32[64,129]\n  return %r\n}\n",
       {"fmul " + vector, "fadd " + vector}},
      {"kernel @k(%x: f32[32,1000]) -> f32[32,1000] {\n  %r = softmax %x {axis = 1} : f32[32,1000]\n  return %r\n}\n",
       {"fmul " + vector, "fadd " + vector, "fdiv " + vector, "fsub " + vector}},
      {"kernel @k(%x: f32[32,1000]) -> f32[32] {\n  %r = sum %x {axes = [1]} : f32[32]\n  return %r\n}\n",
       {"fadd " + vector}},
      {"kernel @k(%x: f32[1000,32]) -> f32[32] {\n  %r = sum %x {axes = [0]} : f32[32]\n  return %r\n}\n",
       {"fadd " + vector}},
  };
  for (const Expectation &expectation : expectations) {
    std::string ir = optimizedKernel(expectation.text, **target);
    for (const std::string &instruction : expectation.instructions)
      EXPECT_NE(ir.find(instruction), std::string::npos) << "no '" << instruction << "' in\n" << ir;
    // No libm exponential left in the softmax.
    EXPECT_EQ(ir.find("@expf"), std::string::npos) << ir;
  }
  std::string reshaped = optimizedKernel("kernel @k(%x: f32[6,64,4]) -> f32[24,64] {\n"
                                         "  %t = reshape %x : f32[24,64]\n  %r = neg %t : f32[24,64]\n"
                                         "  return %r\n}\n",
                                         **target);
  EXPECT_EQ(reshaped.find("udiv"), std::string::npos) << reshaped;
  EXPECT_EQ(reshaped.find("urem"), std::string::npos) << reshaped;
  EXPECT_NE(reshaped.find("fneg " + vector), std::string::npos) << reshaped;
}

}  // namespace
}  // namespace kiln::cpu
