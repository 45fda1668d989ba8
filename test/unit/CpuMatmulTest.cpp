// The matrix-product kernel template against a plain f64 loop: odd sizes (edge tiles), both
// transposes, batches with broadcast operands, packed and unpacked B, serial and parallel tasks,
// f32 and f64, -O0 and -O3, 1 and 2 threads; an epilogue; operands against inaccessible pages (no
// access past an edge); FMAs on full-width vectors in the asm.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/Jit.h"
#include "backends/cpu/MatmulKernel.h"
#include "runtime/Parallel.h"
#include "test/unit/GuardedBuffers.h"

namespace kiln::cpu {
namespace {

struct Case {
  MatmulDescription description;
  MatmulTiling tiling;
};

std::string describe(const MatmulDescription &d) {
  return std::to_string(d.batch) + "x(" + std::to_string(d.m) + "x" + std::to_string(d.n) + "x" + std::to_string(d.k) +
         ") strides " + std::to_string(d.batchStrideA) + "," + std::to_string(d.batchStrideB) +
         (d.transposeA ? " A^T" : "") + (d.transposeB ? " B^T" : "");
}

std::vector<Case> matmulCases(MatmulElement element) {
  std::vector<Case> cases;
  auto add = [&](int64_t batch, int64_t m, int64_t n, int64_t k, bool broadcastA, bool broadcastB,
                 MatmulTiling tiling) {
    for (int transposes = 0; transposes < 4; ++transposes) {
      MatmulDescription d{element, batch, broadcastA ? 0 : m * k, broadcastB ? 0 : k * n, m * n, m,
                          n,       k,     (transposes & 1) != 0,  (transposes & 2) != 0};
      cases.push_back({d, tiling});
    }
  };
  // Each odd size in each position, so that every edge (rows, columns, K blocks) is met.
  for (int64_t size : {1, 7, 17, 33, 129}) {
    add(1, size, 17, 33, false, false, {});
    add(1, 33, size, 17, false, false, {});
    add(1, 17, 33, size, false, false, {});
  }
  add(1, 129, 129, 129, false, false, {});  // parallel by default: several tasks and K blocks
  // Packed and in-place B, serial and parallel, several row and column blocks per matrix.
  MatmulTiling inPlace, packedParallel, smallBlocks;
  inPlace.packB = 0;
  packedParallel.packB = 1;
  packedParallel.parallel = 1;
  smallBlocks.parallel = 1;
  smallBlocks.rowBlock = 1;     // one row tile per task
  smallBlocks.columnBlock = 1;  // one panel per task
  smallBlocks.kBlock = 16;
  add(1, 33, 129, 65, false, false, inPlace);
  add(1, 7, 33, 17, false, false, packedParallel);
  add(1, 65, 129, 33, false, false, smallBlocks);
  // Batches: A broadcast, B broadcast, neither.
  add(3, 17, 33, 7, true, false, {});
  add(3, 33, 17, 129, false, true, {});
  add(2, 7, 129, 17, false, false, smallBlocks);
  return cases;
}

template <typename T> std::vector<T> randomValues(size_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<double> distribution(-1.0, 1.0);
  std::vector<T> values(count);
  for (T &value : values) value = static_cast<T>(distribution(generator));
  return values;
}

struct AlignedFree {
  void operator()(void *pointer) const { std::free(pointer); }
};
std::unique_ptr<void, AlignedFree> alignedScratch(int64_t bytes) {
  return std::unique_ptr<void, AlignedFree>(bytes ? std::aligned_alloc(64, size_t(bytes)) : nullptr);
}

// Rounding error allowed for one element of C. A K-term dot product summed with one rounding per
// step (FMA) is within γ_K·Σ|a·b| of the exact value, γ_K ≈ K·u (Higham, "Accuracy and
// Stability", 3.1), u = 2^-24 (f32) or 2^-53 (f64); the inputs are exact in both, and the f64
// reference adds at most K·2^-53·Σ|a·b| more. So the relative tolerance is
// max(rtol, (K + 1)·u) against Σ|a·b| (not against |C|, which cancellation can make tiny), with
// rtol 1e-5 / atol 1e-6 for f32 and 1e-12 / 1e-14 for f64: the bound for K up to ~160, and
// growing with K beyond.
template <typename T> double allowedError(int64_t k, double absoluteProductSum) {
  bool single = sizeof(T) == 4;
  double unit = single ? std::ldexp(1.0, -24) : std::ldexp(1.0, -53);
  double rtol = single ? 1e-5 : 1e-12, atol = single ? 1e-6 : 1e-14;
  return atol + std::max(rtol, double(k + 1) * unit) * absoluteProductSum;
}

struct Operands {
  std::vector<double> a, b;  // as stored (transposed when the description says so)
};

int64_t extent(int64_t batch, int64_t stride, int64_t matrix) { return (batch - 1) * stride + matrix; }

// Reference value and Σ|a·b| of C[batch][i][j], in f64.
std::pair<double, double> reference(const MatmulDescription &d, const Operands &operands, int64_t batch, int64_t i,
                                    int64_t j) {
  double sum = 0, absoluteSum = 0;
  for (int64_t p = 0; p < d.k; ++p) {
    double a = operands.a[batch * d.batchStrideA + (d.transposeA ? p * d.m + i : i * d.k + p)];
    double b = operands.b[batch * d.batchStrideB + (d.transposeB ? j * d.k + p : p * d.n + j)];
    sum += a * b;
    absoluteSum += std::abs(a * b);
  }
  return {sum, absoluteSum};
}

// Compiles every case into one module for the target, runs each on 1 and 2 threads and compares
// with the f64 reference.
template <typename T> void checkKernels(const TargetOptions &options, const std::vector<Case> &cases) {
  auto target = Target::create(options);
  ASSERT_TRUE(bool(target)) << llvm::toString(target.takeError());
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("matmuls", *context);
  std::vector<MatmulPlan> plans;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto plan =
        emitMatmulKernel(*module, **target, cases[i].description, "matmul" + std::to_string(i), {}, cases[i].tiling);
    ASSERT_TRUE(bool(plan)) << llvm::toString(plan.takeError());
    plans.push_back(*plan);
  }
  auto jit = Jit::create(**target);
  ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  ASSERT_FALSE(bool((*jit)->addModule(std::move(module), std::move(context))));

  for (size_t i = 0; i < cases.size(); ++i) {
    const MatmulDescription &d = cases[i].description;
    SCOPED_TRACE(describe(d));
    auto kernel = (*jit)->lookup<void(const T *, const T *, T *, void *)>("matmul" + std::to_string(i));
    ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
    std::vector<T> a = randomValues<T>(extent(d.batch, d.batchStrideA, d.m * d.k), unsigned(2 * i));
    std::vector<T> b = randomValues<T>(extent(d.batch, d.batchStrideB, d.k * d.n), unsigned(2 * i + 1));
    Operands operands{{a.begin(), a.end()}, {b.begin(), b.end()}};
    auto scratch = alignedScratch(plans[i].scratchBytes);
    std::vector<std::vector<T>> results;
    for (int threads : {1, 2}) {
      runtime::setThreadCount(threads);
      std::vector<T> c(extent(d.batch, d.batchStrideC, d.m * d.n), T(12345));
      (*kernel)(a.data(), b.data(), c.data(), scratch.get());
      results.push_back(std::move(c));
    }
    EXPECT_EQ(results[0], results[1]) << "the result depends on the thread count";
    int reported = 0;
    for (int64_t batch = 0; batch < d.batch; ++batch)
      for (int64_t row = 0; row < d.m; ++row)
        for (int64_t column = 0; column < d.n; ++column) {
          auto [expected, absoluteSum] = reference(d, operands, batch, row, column);
          double found = results[0][batch * d.batchStrideC + row * d.n + column];
          if (std::abs(found - expected) > allowedError<T>(d.k, absoluteSum) && reported++ < 5)
            ADD_FAILURE() << "C[" << batch << "][" << row << "][" << column << "] = " << found << ", expected "
                          << expected;
        }
  }
  runtime::setThreadCount(1);
}

class CpuMatmulTest : public ::testing::TestWithParam<std::tuple<unsigned, MatmulElement>> {};

TEST_P(CpuMatmulTest, MatchesReference) {
  auto [optLevel, element] = GetParam();
  TargetOptions options;
  options.optLevel = optLevel;
  if (element == MatmulElement::F32)
    checkKernels<float>(options, matmulCases(element));
  else
    checkKernels<double>(options, matmulCases(element));
}

// A CPU with AVX2 and 16 vector registers (a subset of the host's, so the code runs here) gets
// ymm tiles that fit 16 registers, and the same results.
TEST(CpuMatmulNamedCpuTest, Avx2TilesMatchReference) {
  TargetOptions options;
  options.cpu = "haswell";
  auto host = Target::create();
  ASSERT_TRUE(bool(host)) << llvm::toString(host.takeError());
  if (!(*host)->hasFeature("avx2") || !(*host)->hasFeature("fma")) GTEST_SKIP() << "the host cannot run AVX2 code";
  std::vector<Case> everyThird;
  std::vector<Case> all = matmulCases(MatmulElement::F32);
  for (size_t i = 0; i < all.size(); i += 3) everyThird.push_back(all[i]);
  checkKernels<float>(options, everyThird);
  auto haswell = Target::create(options);
  ASSERT_TRUE(bool(haswell)) << llvm::toString(haswell.takeError());
  auto plan = planMatmul(**haswell, all.front().description);
  ASSERT_TRUE(bool(plan)) << llvm::toString(plan.takeError());
  EXPECT_EQ(plan->lanes, 8u);
  EXPECT_LE(plan->tiling.tileRows * plan->tiling.tileVectors + plan->tiling.tileVectors + 1, 16);
}

INSTANTIATE_TEST_SUITE_P(Levels, CpuMatmulTest,
                         ::testing::Combine(::testing::Values(0u, 3u),
                                            ::testing::Values(MatmulElement::F32, MatmulElement::F64)),
                         [](const auto &info) {
                           return "O" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) == MatmulElement::F32 ? "_f32" : "_f64");
                         });

TEST(CpuMatmulErrorTest, BadDescriptionsAreErrors) {
  auto target = Target::create();
  ASSERT_TRUE(bool(target)) << llvm::toString(target.takeError());
  MatmulDescription empty;
  empty.m = 0;
  auto plan = planMatmul(**target, empty);
  ASSERT_FALSE(bool(plan));
  EXPECT_EQ(llvm::toString(plan.takeError()), "matmul shape 0x1x1 (batch 1) has an empty extent");

  MatmulDescription overlapping;
  overlapping.batch = 2, overlapping.m = 4, overlapping.n = 4, overlapping.batchStrideC = 8;
  plan = planMatmul(**target, overlapping);
  ASSERT_FALSE(bool(plan));
  EXPECT_EQ(llvm::toString(plan.takeError()), "matmul batch stride of C 8 would overlap its 4x4 results");

  llvm::LLVMContext context;
  llvm::Module module("errors", context);
  ASSERT_TRUE(bool(emitMatmulKernel(module, **target, MatmulDescription{}, "matmul")));
  plan = emitMatmulKernel(module, **target, MatmulDescription{}, "matmul");
  ASSERT_FALSE(bool(plan));
  EXPECT_EQ(llvm::toString(plan.takeError()), "the module already defines 'matmul'");
}

// The epilogue C = max(A·B + bias[column], 0) with the bias as an extra argument: applied once,
// after the last K block, on every column including the masked right edge.
TEST(CpuMatmulEpilogueTest, BiasAndReluInRegisters) {
  auto target = Target::create();
  ASSERT_TRUE(bool(target)) << llvm::toString(target.takeError());
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("epilogue", *context);
  MatmulDescription d;
  d.m = 17, d.n = 33, d.k = 129, d.extraArguments = 1;
  MatmulTiling tiling;
  tiling.kBlock = 40;  // several K blocks: the epilogue must run on the last one only
  auto epilogue = [&](llvm::IRBuilder<> &builder, const EpilogueSite &site) {
    auto *vectorType = llvm::cast<llvm::FixedVectorType>(site.accumulator->getType());
    unsigned lanes = vectorType->getNumElements();
    std::vector<llvm::Constant *> laneNumbers;
    for (unsigned lane = 0; lane < lanes; ++lane) laneNumbers.push_back(builder.getInt64(lane));
    llvm::Value *columns =
        builder.CreateAdd(builder.CreateVectorSplat(lanes, site.column), llvm::ConstantVector::get(laneNumbers));
    llvm::Value *inside = builder.CreateICmpSLT(columns, builder.CreateVectorSplat(lanes, builder.getInt64(d.n)));
    llvm::Value *bias = builder.CreateMaskedLoad(
        vectorType, builder.CreateInBoundsGEP(builder.getFloatTy(), site.extraArguments[0], site.column),
        llvm::Align(4), inside, llvm::Constant::getNullValue(vectorType));
    return builder.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, builder.CreateFAdd(site.accumulator, bias),
                                         llvm::Constant::getNullValue(vectorType));
  };
  auto plan = emitMatmulKernel(*module, **target, d, "matmul_bias_relu", epilogue, tiling);
  ASSERT_TRUE(bool(plan)) << llvm::toString(plan.takeError());
  auto jit = Jit::create(**target);
  ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  ASSERT_FALSE(bool((*jit)->addModule(std::move(module), std::move(context))));
  auto kernel = (*jit)->lookup<void(const float *, const float *, float *, void *, const float *)>("matmul_bias_relu");
  ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());

  std::vector<float> a = randomValues<float>(d.m * d.k, 1), b = randomValues<float>(d.k * d.n, 2);
  std::vector<float> bias = randomValues<float>(d.n, 3), c(d.m * d.n, -1.0f);
  auto scratch = alignedScratch(plan->scratchBytes);
  (*kernel)(a.data(), b.data(), c.data(), scratch.get(), bias.data());
  Operands operands{{a.begin(), a.end()}, {b.begin(), b.end()}};
  int negatives = 0;
  for (int64_t row = 0; row < d.m; ++row)
    for (int64_t column = 0; column < d.n; ++column) {
      auto [product, absoluteSum] = reference(d, operands, 0, row, column);
      negatives += product + bias[column] < 0;
      double expected = std::max(0.0, product + bias[column]);
      EXPECT_NEAR(c[row * d.n + column], expected, allowedError<float>(d.k, absoluteSum + std::abs(bias[column])))
          << "C[" << row << "][" << column << "]";
    }
  EXPECT_GT(negatives, 0) << "no element exercises the relu";
}

// Every operand, the result and the scratch buffer of B's panels against an inaccessible page,
// after them and before them: edge tiles in M, N and K (K blocks of 8 too), both transposes, B
// packed and in place, a broadcast batch. A full-vector load or store on an edge tile, or a
// packing loop reading a whole panel past the matrix, faults here without a sanitizer.
template <typename T> void checkGuardedKernels(MatmulElement element) {
  std::vector<Case> cases;
  MatmulTiling shortBlocks;
  shortBlocks.kBlock = 8;
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {5, 3, 7}, {17, 33, 19}, {33, 17, 129}})
    for (int variant = 0; variant < 16; ++variant) {
      MatmulDescription d{element, 1, 0, 0, 0, m, n, k, (variant & 1) != 0, (variant & 2) != 0};
      MatmulTiling tiling = variant & 8 ? shortBlocks : MatmulTiling{};
      tiling.packB = variant & 4 ? 1 : 0;
      cases.push_back({d, tiling});
    }
  cases.push_back({MatmulDescription{element, 3, 0, 7 * 9, 5 * 7, 5, 7, 9, true, false}, {}});
  auto target = Target::create();
  ASSERT_TRUE(bool(target)) << llvm::toString(target.takeError());
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("guarded", *context);
  std::vector<MatmulPlan> plans;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto plan =
        emitMatmulKernel(*module, **target, cases[i].description, "matmul" + std::to_string(i), {}, cases[i].tiling);
    ASSERT_TRUE(bool(plan)) << llvm::toString(plan.takeError());
    plans.push_back(*plan);
  }
  auto jit = Jit::create(**target);
  ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  ASSERT_FALSE(bool((*jit)->addModule(std::move(module), std::move(context))));
  for (size_t i = 0; i < cases.size(); ++i) {
    const MatmulDescription &d = cases[i].description;
    auto kernel = (*jit)->lookup<void(const T *, const T *, T *, void *)>("matmul" + std::to_string(i));
    ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
    std::vector<T> a = randomValues<T>(extent(d.batch, d.batchStrideA, d.m * d.k), unsigned(2 * i));
    std::vector<T> b = randomValues<T>(extent(d.batch, d.batchStrideB, d.k * d.n), unsigned(2 * i + 1));
    Operands operands{{a.begin(), a.end()}, {b.begin(), b.end()}};
    const size_t cCount = extent(d.batch, d.batchStrideC, d.m * d.n);
    for (GuardSide side : {GuardSide::After, GuardSide::Before}) {
      SCOPED_TRACE(describe(d) + (plans[i].tiling.packB ? ", B packed, " : ", B in place, ") + guardSideName(side));
      GuardedBuffer guardedA(a.size() * sizeof(T), side), guardedB(b.size() * sizeof(T), side);
      GuardedBuffer guardedC(cCount * sizeof(T), side), scratch(size_t(plans[i].scratchBytes), side);
      std::memcpy(guardedA.data(), a.data(), a.size() * sizeof(T));
      std::memcpy(guardedB.data(), b.data(), b.size() * sizeof(T));
      (*kernel)(static_cast<const T *>(guardedA.data()), static_cast<const T *>(guardedB.data()),
                static_cast<T *>(guardedC.data()), plans[i].scratchBytes ? scratch.data() : nullptr);
      const T *c = static_cast<const T *>(guardedC.data());
      int reported = 0;
      for (int64_t batch = 0; batch < d.batch; ++batch)
        for (int64_t row = 0; row < d.m; ++row)
          for (int64_t column = 0; column < d.n; ++column) {
            auto [expected, absoluteSum] = reference(d, operands, batch, row, column);
            double found = c[batch * d.batchStrideC + row * d.n + column];
            if (std::abs(found - expected) > allowedError<T>(d.k, absoluteSum) && reported++ < 5)
              ADD_FAILURE() << "C[" << batch << "][" << row << "][" << column << "] = " << found << ", expected "
                            << expected;
          }
    }
  }
}

TEST(CpuMatmulGuardPageTest, NoAccessOutsideTheOperandsF32) { checkGuardedKernels<float>(MatmulElement::F32); }
TEST(CpuMatmulGuardPageTest, NoAccessOutsideTheOperandsF64) { checkGuardedKernels<double>(MatmulElement::F64); }

// The micro-kernel's FMAs run on the widest registers the host has (zmm with AVX-512 and a
// preferred width of 512 bits, ymm with AVX2) and on nothing narrower.
TEST(CpuMatmulAssemblyTest, FmaOnFullWidthVectors) {
  auto target = Target::create();
  ASSERT_TRUE(bool(target)) << llvm::toString(target.takeError());
  std::string registerName;
  if ((*target)->hasFeature("avx512f") && (*target)->preferredVectorBits() == 512)
    registerName = "%zmm";
  else if ((*target)->hasFeature("avx2") && (*target)->hasFeature("fma") && (*target)->preferredVectorBits() == 256)
    registerName = "%ymm";
  else
    GTEST_SKIP() << "the host has neither AVX-512 nor AVX2 with FMA";
  llvm::LLVMContext context;
  llvm::Module module("assembly", context);
  MatmulDescription d;
  d.m = d.n = d.k = 96;
  ASSERT_TRUE(bool(emitMatmulKernel(module, **target, d, "matmul96")));
  auto assembly = emitMachineCode(module, **target, OutputKind::Assembly);
  ASSERT_TRUE(bool(assembly)) << llvm::toString(assembly.takeError());
  std::string text(assembly->begin(), assembly->end());
  int wide = 0, narrow = 0;
  for (size_t at = text.find("vfmadd"); at != std::string::npos; at = text.find("vfmadd", at + 1)) {
    std::string line = text.substr(at, text.find('\n', at) - at);
    if (line.find("ps") == std::string::npos) continue;
    (line.find(registerName) != std::string::npos ? wide : narrow) += 1;
  }
  EXPECT_GE(wide, 24) << "expected a register tile of FMAs on " << registerName;
  EXPECT_EQ(narrow, 0) << "FMAs on vectors narrower than " << registerName;
}

}  // namespace
}  // namespace kiln::cpu
