// The emitted exponential (backends/cpu/Exponential.cpp) against libm, on scalars and on vectors
// of the target's preferred width (AVX-512's vscalef path where the target has it), in f32 and
// f64: within 2 ulp over the whole range, subnormal results included, and exact where the answer
// is exact (0, 1, infinity, NaN).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include "backends/cpu/Jit.h"
#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu {
namespace {

// void name(const T *in, T *out, i64 groups): out[i] = e^in[i] over `groups` groups of `lanes`
// elements, each group one call of exponential() on a vector (a scalar when lanes is 1).
void emitExponentialLoop(llvm::Module &module, const Target &target, const std::string &name, llvm::Type *element,
                         unsigned lanes) {
  llvm::LLVMContext &context = module.getContext();
  llvm::IRBuilder<> builder(context);
  auto *pointer = builder.getPtrTy();
  auto *type = llvm::FunctionType::get(builder.getVoidTy(), {pointer, pointer, builder.getInt64Ty()}, false);
  auto *function = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, module);
  target.stampFunctionAttributes(*function);
  builder.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", function));
  llvm::Type *valueType = lanes == 1 ? element : llvm::FixedVectorType::get(element, lanes);
  loops::ElementEmitter emitter(builder, module);
  matmul::emitLoop(builder, function->getArg(2), [&](llvm::Value *group) {
    llvm::Value *offset = builder.CreateMul(group, builder.getInt64(lanes));
    llvm::Align align(element->getPrimitiveSizeInBits() / 8);  // std::vector's, not the vector type's
    llvm::Value *x =
        builder.CreateAlignedLoad(valueType, builder.CreateInBoundsGEP(element, function->getArg(0), {offset}), align);
    builder.CreateAlignedStore(loops::exponential(emitter, x),
                               builder.CreateInBoundsGEP(element, function->getArg(1), {offset}), align);
  });
  builder.CreateRetVoid();
}

// Distance in units in the last place between two finite values of the same sign.
template <typename T> double ulpDistance(T actual, T expected) {
  if (actual == expected) return 0;
  T gap = std::nextafter(std::abs(expected), std::numeric_limits<T>::infinity()) - std::abs(expected);
  return std::abs(static_cast<double>(actual) - static_cast<double>(expected)) / static_cast<double>(gap);
}

template <typename T> std::vector<T> samples(T lowest, T highest, int count) {
  std::vector<T> values;
  for (int i = 0; i < count; ++i) values.push_back(lowest + (highest - lowest) * static_cast<T>(i) / (count - 1));
  const T infinity = std::numeric_limits<T>::infinity();
  for (T special :
       {T(0), -T(0), T(1), T(-1), infinity, -infinity, std::numeric_limits<T>::quiet_NaN(),
        std::numeric_limits<T>::max(), std::numeric_limits<T>::lowest(), std::numeric_limits<T>::denorm_min()})
    values.push_back(special);
  return values;
}

template <typename T> void checkExponential(T lowest, T highest) {
  auto target = Target::create();
  ASSERT_TRUE(static_cast<bool>(target)) << llvm::toString(target.takeError());
  auto jit = Jit::create(**target);
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("exponential", *context);
  llvm::Type *element = sizeof(T) == 4 ? llvm::Type::getFloatTy(*context) : llvm::Type::getDoubleTy(*context);
  const unsigned lanes = std::max(1u, (*target)->preferredVectorBits() / (8 * static_cast<unsigned>(sizeof(T))));
  emitExponentialLoop(*module, **target, "scalar", element, 1);
  emitExponentialLoop(*module, **target, "vector", element, lanes);
  ASSERT_FALSE(static_cast<bool>((*jit)->addModule(std::move(module), std::move(context))));

  std::vector<T> inputs = samples(lowest, highest, 20000);
  inputs.resize((inputs.size() + lanes - 1) / lanes * lanes, T(0));
  for (const char *name : {"scalar", "vector"}) {
    auto function = (*jit)->lookup<void(const T *, T *, int64_t)>(name);
    ASSERT_TRUE(static_cast<bool>(function)) << llvm::toString(function.takeError());
    std::vector<T> outputs(inputs.size());
    bool single = std::string(name) == "scalar";
    (*function)(inputs.data(), outputs.data(), static_cast<int64_t>(single ? inputs.size() : inputs.size() / lanes));
    double worst = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      T expected = static_cast<T>(std::exp(static_cast<long double>(inputs[i])));
      SCOPED_TRACE(fmt::format("{} e^{} = {}, expected {}", name, inputs[i], outputs[i], expected));
      if (std::isnan(inputs[i])) {
        EXPECT_TRUE(std::isnan(outputs[i]));
      } else if (expected == 0 || std::isinf(expected) || expected == 1) {
        EXPECT_EQ(outputs[i], expected);
      } else {
        double distance = ulpDistance(outputs[i], expected);
        worst = std::max(worst, distance);
        EXPECT_LE(distance, 2.0);
      }
    }
    testing::Test::RecordProperty(fmt::format("{}_worst_ulp", name), fmt::format("{}", worst));
  }
}

// f32 results go subnormal below -87.3 and round to 0 below -103.97; they overflow above 88.72.
TEST(Exponential, Float) { checkExponential<float>(-110.0f, 95.0f); }
TEST(Exponential, Double) { checkExponential<double>(-760.0, 720.0); }

// Where the target has AVX-512, the vector form scales by 2^k with one vscalef.
TEST(Exponential, VectorFormUsesScalefWithAvx512) {
  auto target = Target::create();
  ASSERT_TRUE(static_cast<bool>(target));
  if (!(*target)->hasFeature("avx512f") || (*target)->preferredVectorBits() < 512) GTEST_SKIP() << "no AVX-512";
  llvm::LLVMContext context;
  llvm::Module module("exponential", context);
  emitExponentialLoop(module, **target, "vector", llvm::Type::getFloatTy(context), 16);
  std::string text;
  llvm::raw_string_ostream stream(text);
  module.print(stream, nullptr);
  EXPECT_NE(text.find("@llvm.x86.avx512.mask.scalef.ps.512"), std::string::npos) << text;
  EXPECT_EQ(text.find("fptosi"), std::string::npos) << text;
}

}  // namespace
}  // namespace kiln::cpu
