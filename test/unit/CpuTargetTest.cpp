// Target setup and the JIT: host and named CPUs, what kernel templates read from them, and
// errors (unknown CPU, bad level or width, invalid IR, missing symbol) as llvm::Error values.
#include <gtest/gtest.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/Jit.h"
#include "backends/cpu/Target.h"

namespace kiln::cpu {
namespace {

std::string errorOf(llvm::Error error) { return llvm::toString(std::move(error)); }

TEST(CpuTargetTest, HostIsDetected) {
  auto target = Target::create();
  ASSERT_TRUE(bool(target)) << errorOf(target.takeError());
  EXPECT_FALSE((*target)->cpuName().empty());
  EXPECT_FALSE((*target)->features().empty());
  EXPECT_GE((*target)->vectorBits(nullptr), 128u);
  EXPECT_LE((*target)->preferredVectorBits(), (*target)->vectorBits(nullptr));
  EXPECT_GT((*target)->l1DataCacheBytes(), 0u);
}

TEST(CpuTargetTest, NamedCpusGiveTheirVectorFacts) {
  llvm::LLVMContext context;
  TargetOptions options;
  options.cpu = "skylake-avx512";
  auto skylake = Target::create(options);
  ASSERT_TRUE(bool(skylake)) << errorOf(skylake.takeError());
  EXPECT_EQ((*skylake)->vectorBits(llvm::Type::getFloatTy(context)), 512u);
  EXPECT_EQ((*skylake)->vectorBits(llvm::Type::getInt8Ty(context)), 512u);
  EXPECT_EQ((*skylake)->vectorRegisterCount(), 32u);
  EXPECT_TRUE((*skylake)->hasMaskedLoadStore());

  options.cpu = "haswell";
  auto haswell = Target::create(options);
  ASSERT_TRUE(bool(haswell)) << errorOf(haswell.takeError());
  EXPECT_EQ((*haswell)->vectorBits(llvm::Type::getDoubleTy(context)), 256u);
  EXPECT_EQ((*haswell)->vectorRegisterCount(), 16u);
  EXPECT_FALSE((*haswell)->hasMaskedLoadStore());
  EXPECT_EQ((*haswell)->preferredVectorBits(), 256u);

  options.cpu = "sandybridge";  // AVX without AVX2: 256-bit floats, 128-bit integers
  auto sandybridge = Target::create(options);
  ASSERT_TRUE(bool(sandybridge)) << errorOf(sandybridge.takeError());
  EXPECT_EQ((*sandybridge)->vectorBits(llvm::Type::getFloatTy(context)), 256u);
  EXPECT_EQ((*sandybridge)->vectorBits(llvm::Type::getInt32Ty(context)), 128u);
}

TEST(CpuTargetTest, FunctionAttributesNameTheCpu) {
  TargetOptions options;
  options.cpu = "skylake-avx512";
  options.preferredVectorBits = 256;
  auto target = Target::create(options);
  ASSERT_TRUE(bool(target)) << errorOf(target.takeError());
  llvm::LLVMContext context;
  llvm::Module module("attributes", context);
  auto *function = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(context), false),
                                          llvm::GlobalValue::ExternalLinkage, "f", module);
  (*target)->stampFunctionAttributes(*function);
  EXPECT_EQ(function->getFnAttribute("target-cpu").getValueAsString(), "skylake-avx512");
  EXPECT_EQ(function->getFnAttribute("prefer-vector-width").getValueAsString(), "256");
  EXPECT_FALSE(function->hasFnAttribute("target-features"));  // a named CPU implies its features
}

TEST(CpuTargetTest, UnknownCpuIsAnError) {
  TargetOptions options;
  options.cpu = "no-such-cpu";
  auto target = Target::create(options);
  ASSERT_FALSE(bool(target));
  EXPECT_EQ(errorOf(target.takeError()).rfind("unknown CPU 'no-such-cpu' for x86_64", 0), 0u);
}

TEST(CpuTargetTest, BadLevelAndWidthAreErrors) {
  TargetOptions options;
  options.optLevel = 4;
  auto level = Target::create(options);
  ASSERT_FALSE(bool(level));
  EXPECT_EQ(errorOf(level.takeError()), "optimisation level 4 is not one of 0, 1, 2, 3");

  options = {};
  options.cpu = "haswell";
  options.preferredVectorBits = 512;
  auto width = Target::create(options);
  ASSERT_FALSE(bool(width));
  EXPECT_EQ(errorOf(width.takeError()), "preferred vector width 512 is not a power of two in 128..256 for haswell");
}

// `int add(int, int)`, optionally with its return missing (invalid IR).
std::unique_ptr<llvm::Module> addFunction(llvm::LLVMContext &context, bool valid) {
  auto module = std::make_unique<llvm::Module>("add", context);
  llvm::Type *i32 = llvm::Type::getInt32Ty(context);
  auto *function = llvm::Function::Create(llvm::FunctionType::get(i32, {i32, i32}, false),
                                          llvm::GlobalValue::ExternalLinkage, "add", *module);
  llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", function));
  llvm::Value *sum = builder.CreateAdd(function->getArg(0), function->getArg(1));
  if (valid) builder.CreateRet(sum);
  return module;
}

TEST(CpuJitTest, RunsAFunctionAndReportsMissingSymbols) {
  auto target = Target::create();
  ASSERT_TRUE(bool(target)) << errorOf(target.takeError());
  auto jit = Jit::create(**target);
  ASSERT_TRUE(bool(jit)) << errorOf(jit.takeError());
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = addFunction(*context, true);
  ASSERT_FALSE(bool((*jit)->addModule(std::move(module), std::move(context))));
  auto add = (*jit)->lookup<int(int, int)>("add");
  ASSERT_TRUE(bool(add)) << errorOf(add.takeError());
  EXPECT_EQ((*add)(40, 2), 42);

  auto missing = (*jit)->lookup<int(int, int)>("subtract");
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(errorOf(missing.takeError()).find("subtract"), std::string::npos);
}

TEST(CpuJitTest, InvalidIrIsAnError) {
  auto target = Target::create();
  ASSERT_TRUE(bool(target)) << errorOf(target.takeError());
  auto jit = Jit::create(**target);
  ASSERT_TRUE(bool(jit)) << errorOf(jit.takeError());
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = addFunction(*context, false);
  std::string message = errorOf((*jit)->addModule(std::move(module), std::move(context)));
  EXPECT_EQ(message.rfind("invalid LLVM IR in module 'add': ", 0), 0u) << message;
}

TEST(CpuJitTest, EmitsAssemblyAndObjects) {
  auto target = Target::create();
  ASSERT_TRUE(bool(target)) << errorOf(target.takeError());
  llvm::LLVMContext context;
  auto module = addFunction(context, true);
  auto assembly = emitMachineCode(*module, **target, OutputKind::Assembly);
  ASSERT_TRUE(bool(assembly)) << errorOf(assembly.takeError());
  std::string text(assembly->begin(), assembly->end());
  EXPECT_NE(text.find("add:"), std::string::npos) << text;

  auto object = emitMachineCode(*module, **target, OutputKind::Object);
  ASSERT_TRUE(bool(object)) << errorOf(object.takeError());
  ASSERT_GE(object->size(), 4u);
  EXPECT_EQ(std::string(object->begin(), object->begin() + 4), "\x7f"
                                                               "ELF");
}

}  // namespace
}  // namespace kiln::cpu
