// The CPU backend against the reference interpreter, op by op: each op with a lowering rule in a
// small function, outlined, compiled at -O0 and -O3 and run in the JIT, in f32 and f64 (and the
// integer dtypes it takes), with innermost extents 1, 7, 17 and 33 so that vector tails run, and
// again with every operand against an inaccessible page so that a tail reading past an end faults.
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include "backends/cpu/Compile.h"
#include "backends/cpu/LoopKernels.h"
#include "backends/interpreter/Interpreter.h"
#include "ir/Parser.h"
#include "passes/Passes.h"
#include "test/unit/GuardedBuffers.h"

namespace kiln::cpu {
// The ops whose cases live in CpuDifferentialTest.cpp (windows, indexing, random, calls).
bool hasCpuDifferentialCases(OpKind kind);

namespace {

// One function `@f` per case, its arguments filled with random values.
struct Case {
  std::string text;
  bool positive = false;  // arguments in (0.1, 3): log, sqrt, pow...
  bool nonzero = false;   // no integer zeros (divisors)
};

const int64_t kInnerExtents[] = {1, 7, 17, 33};

std::string function(const std::vector<std::string> &arguments, const std::string &resultType,
                     const std::string &body) {
  std::string list;
  for (size_t i = 0; i < arguments.size(); ++i) list += fmt::format("{}%a{}: {}", i ? ", " : "", i, arguments[i]);
  return fmt::format("func @f({}) -> {} {{\n  %r = {} : {}\n  return %r\n}}\n", list, resultType, body, resultType);
}

std::vector<Case> casesFor(OpKind kind) {
  std::vector<Case> cases;
  std::string name(opName(kind));
  const OpInfo &info = opInfo(kind);
  bool positive = kind == OpKind::Log || kind == OpKind::Sqrt || kind == OpKind::Rsqrt || kind == OpKind::Pow ||
                  kind == OpKind::Log1p;
  bool numeric = kind == OpKind::Neg || kind == OpKind::Abs || kind == OpKind::Sign || kind == OpKind::Square ||
                 kind == OpKind::Relu || kind == OpKind::Add || kind == OpKind::Sub || kind == OpKind::Mul ||
                 kind == OpKind::Div || kind == OpKind::Maximum || kind == OpKind::Minimum ||
                 (kind >= OpKind::Eq && kind <= OpKind::Ge);
  std::vector<std::string> dtypes{"f32", "f64"};
  if (numeric) dtypes.insert(dtypes.end(), {"i32", "i64"});
  for (const std::string &dtype : dtypes)
    for (int64_t n : kInnerExtents) {
      std::string t = fmt::format("{}[3,{}]", dtype, n), row = fmt::format("{}[{}]", dtype, n);
      std::string boolean = fmt::format("i1[3,{}]", n);
      auto add = [&](std::vector<std::string> arguments, std::string resultType, std::string body) {
        cases.push_back({function(arguments, resultType, body), positive, kind == OpKind::Div});
      };
      if (info.opClass == OpClass::Elementwise && info.operandCount == 1 && kind != OpKind::Cast &&
          kind != OpKind::OneHot)
        add({t}, t, name + " %a0");
      else if (kind >= OpKind::Eq && kind <= OpKind::Ge)
        add({t, row}, boolean, name + " %a0, %a1");
      else if (info.opClass == OpClass::Elementwise && info.operandCount == 2)
        add({t, row}, t, name + " %a0, %a1");
      else
        switch (kind) {
        case OpKind::Select: add({boolean, t, row}, t, "select %a0, %a1, %a2"); break;
        case OpKind::Cast:
          for (std::string to : {"f32", "f64", "i32", "i64", "i1"})
            add({t}, fmt::format("{}[3,{}]", to, n), "cast %a0");
          break;
        case OpKind::OneHot:
          if (dtype == "f32") add({fmt::format("i64[{}]", n)}, fmt::format("f32[{},5]", n), "one_hot %a0 {depth = 5}");
          break;
        case OpKind::Constant: add({}, row, "constant {value = 2.5}"); break;
        case OpKind::Iota: add({}, t, "iota {axis = 1}"); break;
        case OpKind::Broadcast: add({row}, fmt::format("{}[2,3,{}]", dtype, n), "broadcast %a0"); break;
        case OpKind::Reshape: add({t}, fmt::format("{}[{},3]", dtype, n), "reshape %a0"); break;
        case OpKind::Transpose: add({t}, fmt::format("{}[{},3]", dtype, n), "transpose %a0 {perm = [1, 0]}"); break;
        case OpKind::Slice:
          add({t}, fmt::format("{}[2,{}]", dtype, (n + 1) / 2),
              fmt::format("slice %a0 {{start = [1, 0], limit = [3, {}], stride = [1, 2]}}", n));
          break;
        case OpKind::Concat: add({t, t}, fmt::format("{}[3,{}]", dtype, 2 * n), "concat %a0, %a1 {axis = 1}"); break;
        case OpKind::Pad:
          add({t}, fmt::format("{}[4,{}]", dtype, n + 3), "pad %a0 {low = [1, 2], high = [0, 1], value = -1.5}");
          break;
        case OpKind::Sum:
        case OpKind::Mean:
        case OpKind::Max:
        case OpKind::Min:
          add({t}, fmt::format("{}[3]", dtype), name + " %a0 {axes = [1]}");
          add({t}, fmt::format("{}[1,{}]", dtype, n), name + " %a0 {axes = [0], keepdims = true}");
          add({t}, fmt::format("{}[]", dtype), name + " %a0 {axes = []}");
          break;
        case OpKind::Argmax:
          add({t}, "i64[3]", "argmax %a0 {axis = 1}");
          add({t}, fmt::format("i64[1,{}]", n), "argmax %a0 {axis = 0, keepdims = true}");
          break;
        case OpKind::Softmax:
        case OpKind::LogSoftmax:
          add({t}, t, name + " %a0 {axis = 1}");
          add({t}, t, name + " %a0 {axis = 0}");
          break;
        case OpKind::Matmul:
          add({fmt::format("{}[5,{}]", dtype, n), fmt::format("{}[{},{}]", dtype, n, 9)}, fmt::format("{}[5,9]", dtype),
              "matmul %a0, %a1");
          add({fmt::format("{}[2,{},5]", dtype, n), fmt::format("{}[9,{}]", dtype, n)}, fmt::format("{}[2,5,9]", dtype),
              "matmul %a0, %a1 {transpose_a = true, transpose_b = true}");
          break;
        default: break;
        }
    }
  return cases;
}

Tensor randomTensor(const TensorType &type, std::mt19937 &random, bool positive, bool nonzero) {
  Tensor tensor(type);
  std::uniform_real_distribution<double> real(positive ? 0.1 : -2.0, positive ? 3.0 : 2.0);
  std::uniform_int_distribution<int64_t> integer(-6, 6);
  for (int64_t i = 0; i < tensor.elementCount(); ++i) {
    if (isFloat(type.dtype))
      tensor.setDouble(i, real(random));
    else if (type.dtype == DType::I1)
      tensor.setInt(i, random() & 1);
    else {
      int64_t value = integer(random);
      tensor.setInt(i, nonzero && value == 0 ? -1 : value);
    }
  }
  return tensor;
}

// f32: rtol 1e-5, atol 1e-6; f64: rtol 1e-13, atol 1e-15; integers and i1 exactly.
void expectClose(const Tensor &expected, const Tensor &actual, const std::string &what) {
  ASSERT_EQ(expected.type(), actual.type()) << what;
  double rtol = expected.dtype() == DType::F32 ? 1e-5 : 1e-13, atol = expected.dtype() == DType::F32 ? 1e-6 : 1e-15;
  for (int64_t i = 0; i < expected.elementCount(); ++i) {
    if (!isFloat(expected.dtype())) {
      ASSERT_EQ(expected.getInt(i), actual.getInt(i)) << what << " at " << i;
      continue;
    }
    double e = expected.getDouble(i), a = actual.getDouble(i);
    if (std::isnan(e)) {
      ASSERT_TRUE(std::isnan(a)) << what << " at " << i;
      continue;
    }
    ASSERT_LE(std::abs(e - a), atol + rtol * std::abs(e)) << what << " at " << i << ": " << e << " vs " << a;
  }
}

class LoopKernelsTest : public testing::TestWithParam<unsigned> {};

TEST_P(LoopKernelsTest, EveryLoweredOpMatchesTheInterpreter) {
  TargetOptions options;
  options.optLevel = GetParam();
  auto target = Target::create(options);
  ASSERT_TRUE(static_cast<bool>(target)) << llvm::toString(target.takeError());
  std::mt19937 random(1234);
  for (const OpInfo &info : allOps()) {
    if (!hasLoweringRule(info.kind) || hasCpuDifferentialCases(info.kind)) continue;
    std::vector<Case> cases = casesFor(info.kind);
    EXPECT_FALSE(cases.empty()) << "no differential test case for '" << info.name << "', which has a lowering rule";
    for (const Case &testCase : cases) {
      auto module = parseModule(testCase.text);
      ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError()) << testCase.text;
      const Function &function = *(*module)->lookup("f");
      std::vector<Tensor> arguments;
      for (const auto &argument : function.arguments())
        arguments.push_back(randomTensor(argument->type(), random, testCase.positive, testCase.nonzero));
      auto expected = interpret(function, arguments);
      ASSERT_TRUE(static_cast<bool>(expected)) << llvm::toString(expected.takeError()) << testCase.text;
      ASSERT_FALSE(static_cast<bool>(runOutlineKernels(**module, {})));
      auto compiled = CompiledModule::create(**module, **target);
      ASSERT_TRUE(static_cast<bool>(compiled)) << llvm::toString(compiled.takeError()) << testCase.text;
      auto actual = (*compiled)->run(function, arguments);
      ASSERT_TRUE(static_cast<bool>(actual)) << llvm::toString(actual.takeError());
      for (size_t i = 0; i < expected->size(); ++i)
        expectClose((*expected)[i], (*actual)[i], fmt::format("-O{} {}", GetParam(), testCase.text));
      // Again with every operand against an inaccessible page: a vector tail that loads or
      // stores past an end (or before a start) faults here.
      for (GuardSide side : {GuardSide::After, GuardSide::Before}) {
        std::vector<Tensor> guarded = runInGuardedBuffers(**compiled, function, arguments, side);
        ASSERT_EQ(guarded.size(), expected->size());
        for (size_t i = 0; i < expected->size(); ++i)
          expectClose((*expected)[i], guarded[i],
                      fmt::format("-O{}, {}: {}", GetParam(), guardSideName(side), testCase.text));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(OptimizationLevels, LoopKernelsTest, testing::Values(0u, 3u));

// What compileModule refuses, each with the error it gives.
TEST(LoopKernels, CompileErrorsNameTheProblem) {
  const std::pair<const char *, const char *> cases[] = {
      {"kernel @k(%a: f32[2,3], %b: f32[3,4]) -> f32[2] {\n  %c = matmul %a, %b : f32[2,4]\n"
       "  %r = sum %c {axes = [1]} : f32[2]\n  return %r\n}\n",
       "kernel @k: a matmul lowers only as its kernel's result or followed by an elementwise epilogue, not here: "
       "'sum' cannot run in a matrix product's epilogue"},
      {"kernel @k(%a: f32[2,3], %b: f32[3,4]) -> f32[4,2] {\n  %c = matmul %a, %b : f32[2,4]\n"
       "  %t = transpose %c {perm = [1, 0]} : f32[4,2]\n  %r = relu %t : f32[4,2]\n  return %r\n}\n",
       "kernel @k: a matmul lowers only as its kernel's result or followed by an elementwise epilogue, not here: "
       "the result is f32[4,2], not the matmul's f32[2,4]"},
      {"kernel @k(%x: f32[1,1,4,4], %w: f32[2,1,3,3]) -> f32[1,2] {\n"
       "  %c = conv2d %x, %w : f32[1,2,2,2]\n  %r = sum %c {axes = [2, 3]} : f32[1,2]\n  return %r\n}\n",
       "kernel @k: a conv2d lowers only as its kernel's result or followed by an elementwise epilogue, not here: "
       "'sum' cannot run in a matrix product's epilogue"},
      {"func @f(%x: f32[3]) -> f32[3] {\n  %n = neg %x : f32[3]\n  return %n\n}\n",
       "@f: 'neg' is not a call of a kernel; run outline-kernels first"},
  };
  auto target = Target::create();
  ASSERT_TRUE(static_cast<bool>(target));
  for (const auto &[text, message] : cases) {
    auto module = parseModule(text);
    ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
    llvm::LLVMContext context;
    auto compiled = compileModule(**module, **target, context);
    ASSERT_FALSE(static_cast<bool>(compiled)) << text;
    EXPECT_EQ(llvm::toString(compiled.takeError()), message);
  }
}

// An f32 elementwise kernel is vectorised at the width the target prefers (16 floats on AVX-512
// with 512-bit vectors preferred).
TEST(LoopKernels, ElementwiseKernelIsVectorised) {
  auto target = Target::create();
  ASSERT_TRUE(static_cast<bool>(target));
  if (!(*target)->hasFeature("avx512f")) GTEST_SKIP() << "the host has no AVX-512";
  auto module = parseModule("kernel @k(%x: f32[64,129], %y: f32[129]) -> f32[64,129] {\n"
                            "  %s = add %x, %y : f32[64,129]\n  %r = relu %s : f32[64,129]\n  return %r\n}\n");
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  llvm::LLVMContext context;
  auto compiled = compileModule(**module, **target, context);
  ASSERT_TRUE(static_cast<bool>(compiled)) << llvm::toString(compiled.takeError());
  ASSERT_FALSE(static_cast<bool>(optimizeModule(**compiled, **target)));
  std::string text;
  llvm::raw_string_ostream stream(text);
  (*compiled)->print(stream, nullptr);
  unsigned lanes = (*target)->preferredVectorBits() / 32;
  EXPECT_NE(text.find(fmt::format("<{} x float>", lanes)), std::string::npos) << text;
  EXPECT_GE(lanes, 8u);
}

}  // namespace
}  // namespace kiln::cpu
