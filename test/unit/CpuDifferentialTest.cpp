// The CPU backend against the reference interpreter for the ops lowered by templates and window,
// index and random rules (LoopKernelsTest.cpp covers the elementwise ops, index maps and
// reductions): conv2d (alone and under a fused epilogue) and its gradients with strides,
// asymmetric padding and dilation, the pools
// and their gradients (with ties and NaNs), gather, scatter_add, the random ops, integer matmul
// and calls. Each case is outlined, compiled at -O0 and -O3 and run on 1 and 2 threads, in f32
// and f64 (and the integer dtypes the op takes), with odd innermost and reduction extents.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "backends/cpu/Compile.h"
#include "backends/interpreter/Interpreter.h"
#include "ir/Parser.h"
#include "passes/Passes.h"
#include "runtime/Parallel.h"

namespace kiln::cpu {

bool hasCpuDifferentialCases(OpKind kind) {
  switch (kind) {
  case OpKind::Conv2d:
  case OpKind::Conv2dInputGrad:
  case OpKind::Conv2dFilterGrad:
  case OpKind::MaxPool2d:
  case OpKind::MaxPool2dGrad:
  case OpKind::AvgPool2d:
  case OpKind::AvgPool2dGrad:
  case OpKind::Gather:
  case OpKind::ScatterAdd:
  case OpKind::RandomUniform:
  case OpKind::RandomNormal:
  case OpKind::RandomBernoulli:
  case OpKind::Attention:
  case OpKind::AttentionGrad:
  case OpKind::Call: return true;
  default: return false;
  }
}

namespace {

// How a case's arguments are drawn and its results compared.
struct Case {
  std::string text;
  int64_t indexBound = 0;    // integer arguments in [0, indexBound) when positive: valid indices
  bool ties = false;         // floats from {-1, -0.5, 0, 0.5, 1}: pools meet equal maxima
  bool nans = false;         // a few float elements are NaN
  bool exact = false;        // results must agree to the last bit
  bool contraction = false;  // tolerance scaled by the sum of |terms| (see expectClose)
  bool normwise = false;     // tolerance scaled by the largest |element| of the result (attention:
                             // weighted sums whose terms cancel, with no cheap bound per element)
  bool fuse = false;         // run the fuse pass after outlining: @f must become one kernel
};

std::string signature(const std::vector<std::string> &arguments) {
  std::string list;
  for (size_t i = 0; i < arguments.size(); ++i) list += fmt::format("{}%a{}: {}", i ? ", " : "", i, arguments[i]);
  return list;
}

std::string function(const std::vector<std::string> &arguments, const std::string &resultType,
                     const std::string &body) {
  return fmt::format("func @f({}) -> {} {{\n  %r = {} : {}\n  return %r\n}}\n", signature(arguments), resultType, body,
                     resultType);
}

std::string tensorType(const std::string &dtype, const Shape &shape) {
  std::string text = dtype + "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string ints(const Ints &values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

// One convolution: image NCHW, filter OIHW, padding [top, left, bottom, right].
struct Convolution {
  int64_t n, c, h, w, o, kh, kw;
  Ints stride, padding, dilation;
  Shape output() const {
    auto extent = [](int64_t size, int64_t before, int64_t after, int64_t taps, int64_t dilation, int64_t step) {
      return (size + before + after - (taps - 1) * dilation - 1) / step + 1;
    };
    return {n, o, extent(h, padding[0], padding[2], kh, dilation[0], stride[0]),
            extent(w, padding[1], padding[3], kw, dilation[1], stride[1])};
  }
};

struct Pool {
  int64_t n, c, h, w;
  Ints window, stride, padding;
  Shape output() const {
    return {n, c, (h + padding[0] + padding[2] - window[0]) / stride[0] + 1,
            (w + padding[1] + padding[3] - window[1]) / stride[1] + 1};
  }
};

const int64_t kInnerExtents[] = {1, 7, 17, 33};

std::vector<Case> casesFor(OpKind kind) {
  std::vector<Case> cases;
  std::string name(opName(kind));
  for (std::string dtype : {"f32", "f64"}) {
    switch (kind) {
    case OpKind::Conv2d:
    case OpKind::Conv2dInputGrad:
    case OpKind::Conv2dFilterGrad: {
      std::vector<Convolution> convolutions;
      // Innermost extents 1..33; stride [2, 1], asymmetric padding, dilation 2 on one axis.
      for (int64_t w : kInnerExtents) convolutions.push_back({2, 3, 6, w, 4, 3, 3, {2, 1}, {1, 2, 0, 2}, {1, 2}});
      convolutions.push_back({1, 2, 7, 9, 5, 2, 3, {1, 2}, {0, 1, 1, 0}, {2, 1}});
      // A reduction of 129 taps (conv2d), 33 output channels (input gradient), 129 positions
      // (filter gradient).
      convolutions.push_back({1, 43, 3, 1, 33, 3, 1, {1, 1}, {1, 0, 1, 0}, {1, 1}});
      convolutions.push_back({3, 2, 1, 43, 3, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}});
      for (const Convolution &conv : convolutions) {
        std::string image = tensorType(dtype, {conv.n, conv.c, conv.h, conv.w});
        std::string filter = tensorType(dtype, {conv.o, conv.c, conv.kh, conv.kw});
        std::string output = tensorType(dtype, conv.output());
        std::string attributes = fmt::format(" {{stride = {}, padding = {}, dilation = {}}}", ints(conv.stride),
                                             ints(conv.padding), ints(conv.dilation));
        Case c;
        c.contraction = true;
        if (kind == OpKind::Conv2d) c.text = function({image, filter}, output, name + " %a0, %a1" + attributes);
        if (kind == OpKind::Conv2dInputGrad)
          c.text = function({output, filter}, image, name + " %a0, %a1" + attributes);
        if (kind == OpKind::Conv2dFilterGrad)
          c.text = function({image, output}, filter, name + " %a0, %a1" + attributes);
        cases.push_back(c);
        if (kind != OpKind::Conv2d) continue;
        // Under an epilogue applied to each tile of each image's product: a bias per channel, a
        // ReLU and a residual at the element's own index.
        c.fuse = true;
        c.text = fmt::format("func @f(%x: {0}, %w: {1}, %b: {2}[{3}], %skip: {4}) -> {4} {{\n"
                             "  %c = conv2d %x, %w{5} : {4}\n"
                             "  %bias = reshape %b : {2}[{3},1,1]\n"
                             "  %h = add %c, %bias : {4}\n"
                             "  %r = relu %h : {4}\n"
                             "  %o = add %r, %skip : {4}\n"
                             "  return %o\n}}\n",
                             image, filter, dtype, conv.o, output, attributes);
        cases.push_back(c);
      }
      // A folded view as an operand: the filter transposed from HWIO.
      if (kind == OpKind::Conv2d) {
        Case c;
        c.contraction = true;
        c.text = fmt::format("func @f(%x: {0}[2,3,5,7], %w: {0}[3,2,3,4]) -> {0}[2,4,5,4] {{\n"
                             "  %t = transpose %w {{perm = [3, 2, 0, 1]}} : {0}[4,3,3,2]\n"
                             "  %r = conv2d %x, %t {{padding = [1, 0, 1, 1], dilation = [1, 2]}} : {0}[2,4,5,4]\n"
                             "  return %r\n}}\n",
                             dtype);
        cases.push_back(c);
      }
      break;
    }
    case OpKind::MaxPool2d:
    case OpKind::MaxPool2dGrad:
    case OpKind::AvgPool2d:
    case OpKind::AvgPool2dGrad: {
      std::vector<Pool> pools;
      for (int64_t w : kInnerExtents) pools.push_back({2, 3, 7, w, {3, 2}, {2, 1}, {1, 0, 1, 1}});
      pools.push_back({1, 2, 9, 11, {2, 3}, {1, 2}, {0, 2, 1, 0}});
      pools.push_back({1, 1, 9, 8, {5, 6}, {2, 3}, {2, 1, 0, 2}});  // windows longer than the unrolled ones
      bool maximum = kind == OpKind::MaxPool2d || kind == OpKind::MaxPool2dGrad;
      for (const Pool &pool : pools)
        for (bool nans : {false, true}) {
          if (nans && !maximum) continue;
          std::string image = tensorType(dtype, {pool.n, pool.c, pool.h, pool.w});
          std::string output = tensorType(dtype, pool.output());
          std::string attributes = fmt::format(" {{window = {}, stride = {}, padding = {}}}", ints(pool.window),
                                               ints(pool.stride), ints(pool.padding));
          Case c;
          c.ties = true;
          c.nans = nans;
          c.exact = true;  // every op sums in double and rounds once, as the interpreter
          if (kind == OpKind::MaxPool2d || kind == OpKind::AvgPool2d)
            c.text = function({image}, output, name + " %a0" + attributes);
          else
            c.text = function({image, output}, image, name + " %a0, %a1" + attributes);
          cases.push_back(c);
        }
      break;
    }
    case OpKind::Gather:
    case OpKind::ScatterAdd: {
      bool gather = kind == OpKind::Gather;
      std::vector<std::string> dtypes{dtype};
      if (dtype == "f64") dtypes.insert(dtypes.end(), {"i32", "i64"});
      if (dtype == "f64" && gather) dtypes.push_back("i1");
      for (const std::string &element : dtypes)
        for (int64_t n : kInnerExtents) {
          // {params shape, indices type, axis, batch_dims, gathered shape, index bound}
          struct Layout {
            Shape params;
            std::string indices;
            int64_t axis, batchDims;
            Shape gathered;
            int64_t bound;
          };
          const Layout layouts[] = {
              {{5, n}, "i64[9]", 0, 0, {9, n}, 5},
              {{3, n}, "i32[2,3]", 1, 0, {3, 2, 3}, n},
              {{3, n, 2}, "i64[3,4]", 1, 1, {3, 4, 2}, n},
          };
          for (const Layout &layout : layouts) {
            std::string params = tensorType(element, layout.params), gathered = tensorType(element, layout.gathered);
            std::string attributes = fmt::format(" {{axis = {}, batch_dims = {}}}", layout.axis, layout.batchDims);
            Case c;
            c.indexBound = layout.bound;
            c.exact = gather;
            c.text = gather ? function({params, layout.indices}, gathered, name + " %a0, %a1" + attributes)
                            : function({gathered, layout.indices}, params, name + " %a0, %a1" + attributes);
            cases.push_back(c);
          }
        }
      break;
    }
    case OpKind::RandomUniform:
    case OpKind::RandomNormal:
    case OpKind::RandomBernoulli: {
      const char *attributes = kind == OpKind::RandomUniform  ? " {low = -1.5, high = 2.25}"
                               : kind == OpKind::RandomNormal ? " {mean = 0.5, stddev = 3.0}"
                                                              : " {p = 0.3}";
      for (int64_t n : kInnerExtents) {
        Case c;
        c.exact = true;
        c.text = function({"i64[]"}, tensorType(dtype, {3, n}), name + " %a0" + attributes);
        cases.push_back(c);
      }
      // Rounding to f32 can reach `high`, which must then step below it.
      Case narrow;
      narrow.exact = true;
      narrow.text = function({"i64[]"}, tensorType(dtype, {64, 33}), name + " %a0" + attributes);
      if (kind == OpKind::RandomUniform)
        narrow.text = function({"i64[]"}, tensorType(dtype, {64, 33}), name + " %a0 {low = 1.0, high = 1.0000001}");
      cases.push_back(narrow);
      break;
    }
    case OpKind::Matmul:
      if (dtype == "f32") continue;
      for (std::string integer : {"i32", "i64"})
        for (int64_t k : {1, 7, 17, 33, 129}) {
          Case c;
          c.text = function({tensorType(integer, {5, k}), tensorType(integer, {k, 9})}, tensorType(integer, {5, 9}),
                            "matmul %a0, %a1");
          cases.push_back(c);
          c.text = function({tensorType(integer, {2, k, 5}), tensorType(integer, {9, k})},
                            tensorType(integer, {2, 5, 9}), "matmul %a0, %a1 {transpose_a = true, transpose_b = true}");
          cases.push_back(c);
        }
      break;
    case OpKind::Attention:
    case OpKind::AttentionGrad: {
      // Queries and keys of one block or a full block and a tail (128 + 2), widths under and past
      // a vector, no bias, a bias per key broadcast over heads and queries, and a [Tq, Tk] one.
      struct Layout {
        Shape query, key, bias;
        bool causal;
      };
      const Layout layouts[] = {{{2, 7, 5}, {2, 9, 5}, {}, false},
                                {{2, 2, 130, 20}, {2, 2, 131, 20}, {2, 1, 1, 131}, true},
                                {{1, 129, 17}, {1, 33, 17}, {129, 33}, false},
                                {{3, 33, 8}, {3, 33, 8}, {1, 33}, true}};
      for (const Layout &layout : layouts) {
        std::vector<std::string> operands{tensorType(dtype, layout.query), tensorType(dtype, layout.key),
                                          tensorType(dtype, layout.key)};
        std::string attributes = fmt::format(" {{scale = 0.35, causal = {}}}", layout.causal);
        // attention's results: o and each query's log-sum-exp, which attention_grad reads
        // (any values do: both sides take e^(s - lse) as the weights).
        std::string statistics = tensorType(dtype, Shape(layout.query.begin(), layout.query.end() - 1));
        std::string result = fmt::format("({}, {})", operands[0], statistics);
        if (kind == OpKind::AttentionGrad) {
          operands.insert(operands.end(), {operands[0], statistics, operands[0]});
          Shape joined = layout.query;
          joined[joined.size() - 2] += 2 * layout.key[layout.key.size() - 2];
          result = tensorType(dtype, joined);
        }
        if (!layout.bias.empty()) operands.push_back(tensorType(dtype, layout.bias));
        std::string list = "%a0";
        for (size_t i = 1; i < operands.size(); ++i) list += fmt::format(", %a{}", i);
        Case c;
        c.normwise = true;
        c.text = kind == OpKind::AttentionGrad
                     ? function(operands, result, name + " " + list + attributes)
                     : fmt::format("func @f({}) -> {} {{\n  %r, %lse = {} {}{} : {}\n  return %r, %lse\n}}\n",
                                   signature(operands), result, name, list, attributes, result);
        cases.push_back(c);
      }
      break;
    }
    case OpKind::Call:
      for (int64_t n : kInnerExtents) {
        Case c;
        c.exact = true;
        std::string type = tensorType(dtype, {3, n});
        c.text = fmt::format("func @g(%x: {0}, %y: {0}) -> ({0}, {0}) {{\n  %s = add %x, %y : {0}\n"
                             "  %d = sub %x, %y : {0}\n  return %s, %d\n}}\n"
                             "func @f(%a0: {0}, %a1: {0}) -> {0} {{\n  %s, %d = call @g(%a0, %a1) : ({0}, {0})\n"
                             "  %r = mul %s, %d : {0}\n  return %r\n}}\n",
                             type);
        cases.push_back(c);
      }
      break;
    default: break;
    }
  }
  return cases;
}

Tensor randomTensor(const TensorType &type, std::mt19937 &random, const Case &testCase) {
  Tensor tensor(type);
  std::uniform_real_distribution<double> real(-2.0, 2.0);
  std::uniform_int_distribution<int64_t> integer(-6, 6), tie(-2, 2),
      key(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  for (int64_t i = 0; i < tensor.elementCount(); ++i) {
    if (isFloat(type.dtype)) {
      double value = testCase.ties ? 0.5 * static_cast<double>(tie(random)) : real(random);
      if (testCase.nans && random() % 23 == 0) value = std::numeric_limits<double>::quiet_NaN();
      tensor.setDouble(i, value);
    } else if (type.dtype == DType::I1)
      tensor.setInt(i, random() & 1);
    else if (type.shape.empty())
      tensor.setInt(i, key(random));  // a random op's key
    else if (testCase.indexBound > 0)
      tensor.setInt(i, static_cast<int64_t>(random() % static_cast<uint64_t>(testCase.indexBound)));
    else
      tensor.setInt(i, integer(random));
  }
  return tensor;
}

Tensor absolute(const Tensor &tensor) {
  Tensor result(tensor.type());
  for (int64_t i = 0; i < tensor.elementCount(); ++i) {
    if (isFloat(tensor.dtype()))
      result.setDouble(i, std::abs(tensor.getDouble(i)));
    else
      result.setInt(i, tensor.getInt(i));
  }
  return result;
}

// f32: rtol 1e-5, atol 1e-6; f64: rtol 1e-13, atol 1e-15; integers, i1 and `exact` cases to the
// bit. The convolutions sum products in the result dtype (the template) where the interpreter
// sums in double; their error grows with the sum of the products' magnitudes, not with the
// result, which cancellation can make small. So for them rtol scales `magnitude`, the same
// function evaluated on the operands' absolute values (sum |x| |f| per element).
void expectClose(const Tensor &expected, const Tensor &actual, const Tensor &magnitude, const Case &testCase,
                 const std::string &what) {
  ASSERT_EQ(expected.type(), actual.type()) << what;
  bool single = expected.dtype() == DType::F32;
  double rtol = single ? 1e-5 : 1e-13, atol = single ? 1e-6 : 1e-15;
  double largest = 0;
  if (isFloat(expected.dtype()))
    for (int64_t i = 0; i < expected.elementCount(); ++i) largest = std::max(largest, std::abs(expected.getDouble(i)));
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
    if (testCase.exact) {
      ASSERT_EQ(e, a) << what << " at " << i;
      continue;
    }
    double scale = testCase.contraction ? magnitude.getDouble(i) : testCase.normwise ? largest : std::abs(e);
    ASSERT_LE(std::abs(e - a), atol + rtol * scale) << what << " at " << i << ": " << e << " vs " << a;
  }
}

// Every op of the table lowers: `kiln-opt --list-ops` shows yes in its lower column.
TEST(CpuLowering, EveryOpHasALoweringRule) {
  for (const OpInfo &info : allOps()) EXPECT_TRUE(hasLoweringRule(info.kind)) << info.name;
}

// Out-of-range indices, which the interpreter rejects at run time: gather clamps them into the
// axis, scatter_add skips them; neither reads or writes outside its buffers.
TEST(CpuLowering, OutOfRangeIndicesClampInGatherAndAreSkippedInScatterAdd) {
  auto target = Target::create();
  ASSERT_TRUE(static_cast<bool>(target)) << llvm::toString(target.takeError());
  auto module = parseModule("func @f(%p: f64[3,2], %i: i64[4], %u: f64[4,2]) -> (f64[4,2], f64[3,2]) {\n"
                            "  %g = gather %p, %i {axis = 0} : f64[4,2]\n"
                            "  %s = scatter_add %u, %i {axis = 0} : f64[3,2]\n  return %g, %s\n}\n");
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  ASSERT_FALSE(static_cast<bool>(runOutlineKernels(**module, {})));
  auto compiled = CompiledModule::create(**module, **target);
  ASSERT_TRUE(static_cast<bool>(compiled)) << llvm::toString(compiled.takeError());
  Tensor params(TensorType{DType::F64, {3, 2}}), indices(TensorType{DType::I64, {4}}),
      updates(TensorType{DType::F64, {4, 2}});
  for (int64_t i = 0; i < 6; ++i) params.setDouble(i, static_cast<double>(i));
  const int64_t picks[] = {-5, 1, 3, 1000000000};
  for (int64_t i = 0; i < 4; ++i) indices.setInt(i, picks[i]);
  for (int64_t i = 0; i < 8; ++i) updates.setDouble(i, static_cast<double>(10 * i));
  std::vector<Tensor> arguments{params, indices, updates};
  auto results = (*compiled)->run(*(*module)->lookup("f"), arguments);
  ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
  const double gathered[] = {0, 1, 2, 3, 4, 5, 4, 5}, scattered[] = {0, 0, 20, 30, 0, 0};
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ((*results)[0].getDouble(i), gathered[i]) << i;
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ((*results)[1].getDouble(i), scattered[i]) << i;
}

class CpuDifferentialTest : public testing::TestWithParam<unsigned> {};

TEST_P(CpuDifferentialTest, TemplateWindowIndexAndRandomOpsMatchTheInterpreter) {
  TargetOptions options;
  options.optLevel = GetParam();
  auto target = Target::create(options);
  ASSERT_TRUE(static_cast<bool>(target)) << llvm::toString(target.takeError());
  std::mt19937 random(4321);
  int32_t threads = kiln_thread_count();
  for (const OpInfo &info : allOps()) {
    if (!hasCpuDifferentialCases(info.kind) && info.kind != OpKind::Matmul) continue;
    std::vector<Case> cases = casesFor(info.kind);
    EXPECT_FALSE(cases.empty()) << "no differential test case for '" << info.name << "'";
    for (const Case &testCase : cases) {
      auto module = parseModule(testCase.text);
      ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError()) << testCase.text;
      const Function &function = *(*module)->lookup("f");
      std::vector<Tensor> arguments, magnitudes;
      for (const auto &argument : function.arguments()) {
        arguments.push_back(randomTensor(argument->type(), random, testCase));
        magnitudes.push_back(absolute(arguments.back()));
      }
      auto expected = interpret(function, arguments);
      ASSERT_TRUE(static_cast<bool>(expected)) << llvm::toString(expected.takeError()) << testCase.text;
      auto magnitude = interpret(function, magnitudes);
      ASSERT_TRUE(static_cast<bool>(magnitude)) << llvm::toString(magnitude.takeError());
      ASSERT_FALSE(static_cast<bool>(runOutlineKernels(**module, {})));
      if (testCase.fuse) {
        ASSERT_FALSE(static_cast<bool>(runFuse(**module, {})));
        ASSERT_EQ(function.ops().size(), 1u) << "not fused into one kernel: " << testCase.text;
      }
      auto compiled = CompiledModule::create(**module, **target);
      ASSERT_TRUE(static_cast<bool>(compiled)) << llvm::toString(compiled.takeError()) << testCase.text;
      for (int32_t threadCount : {1, 2}) {
        kiln_set_thread_count(threadCount);
        auto actual = (*compiled)->run(function, arguments);
        ASSERT_TRUE(static_cast<bool>(actual)) << llvm::toString(actual.takeError());
        for (size_t i = 0; i < expected->size(); ++i)
          expectClose((*expected)[i], (*actual)[i], (*magnitude)[i], testCase,
                      fmt::format("-O{}, {} threads: {}", GetParam(), threadCount, testCase.text));
      }
    }
  }
  kiln_set_thread_count(threads);
}

INSTANTIATE_TEST_SUITE_P(OptimizationLevels, CpuDifferentialTest, testing::Values(0u, 3u));

}  // namespace
}  // namespace kiln::cpu
