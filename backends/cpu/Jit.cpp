// LLVM's optimisation pipeline, machine-code emission and the ORC JIT, on one Target.
#include "backends/cpu/Jit.h"

#include <fmt/format.h>
#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/raw_ostream.h>

#include "runtime/Arena.h"
#include "runtime/Parallel.h"

namespace kiln::cpu {

namespace {

llvm::OptimizationLevel passLevel(unsigned level) {
  switch (level) {
  case 0: return llvm::OptimizationLevel::O0;
  case 1: return llvm::OptimizationLevel::O1;
  case 2: return llvm::OptimizationLevel::O2;
  default: return llvm::OptimizationLevel::O3;
  }
}

// The vector variants of the maths functions that the loop rules call, as glibc's libmvec has
// them (part of libc6 on x86-64, linked through libm.so's linker script), named by the x86
// vector function ABI: _ZGV, the ISA (b: SSE, d: AVX2, e: AVX-512), N (unmasked), the lane count,
// v per vector argument. With these the loop vectoriser turns a loop calling erff into one calling
// _ZGVeN16v_erff instead of leaving it scalar; libmvec's results are within 4 ulp.
struct VectorVariant {
  std::string scalar, vector, abiPrefix;
  unsigned lanes;
  const char *feature;  // the CPU feature the variant needs
};

const std::vector<VectorVariant> &vectorMathVariants() {
  static const std::vector<VectorVariant> variants = [] {
    std::vector<VectorVariant> all;
    struct Isa {
      char letter;
      unsigned bits;
      const char *feature;
    };
    constexpr Isa isas[] = {{'b', 128, "sse4.1"}, {'d', 256, "avx2"}, {'e', 512, "avx512f"}};
    // exp, log, sin and cos are also emitted as intrinsics (llvm.exp.f32).
    constexpr std::pair<const char *, bool> functions[] = {
        {"exp", true}, {"log", true}, {"log1p", false}, {"sin", true}, {"cos", true}, {"tanh", false}, {"erf", false}};
    for (auto [function, intrinsic] : functions)
      for (bool single : {true, false})
        for (const Isa &isa : isas) {
          unsigned lanes = isa.bits / (single ? 32 : 64);
          std::string libm = fmt::format("{}{}", function, single ? "f" : "");
          std::string vector = fmt::format("_ZGV{}N{}v_{}", isa.letter, lanes, libm);
          std::string prefix = fmt::format("_ZGV_LLVM_N{}v", lanes);
          all.push_back({libm, vector, prefix, lanes, isa.feature});
          if (intrinsic)
            all.push_back(
                {fmt::format("llvm.{}.{}", function, single ? "f32" : "f64"), vector, prefix, lanes, isa.feature});
        }
    return all;
  }();
  return variants;
}

void prepareModule(llvm::Module &module, const Target &target) {
  module.setTargetTriple(target.triple());
  module.setDataLayout(target.machine().createDataLayout());
}

}  // namespace

llvm::Error optimizeModule(llvm::Module &module, const Target &target) {
  prepareModule(module, target);
  std::string problems;
  llvm::raw_string_ostream problemStream(problems);
  if (llvm::verifyModule(module, &problemStream))
    return llvm::createStringError(fmt::format("invalid LLVM IR in module '{}': {}", module.getName().str(), problems));

  llvm::LoopAnalysisManager loopAnalyses;
  llvm::FunctionAnalysisManager functionAnalyses;
  llvm::CGSCCAnalysisManager sccAnalyses;
  llvm::ModuleAnalysisManager moduleAnalyses;
  llvm::TargetLibraryInfoImpl library{llvm::Triple(target.triple())};
  std::vector<llvm::VecDesc> variants;
  for (const VectorVariant &variant : vectorMathVariants())
    if (target.hasFeature(variant.feature))
      variants.emplace_back(variant.scalar, variant.vector, llvm::ElementCount::getFixed(variant.lanes), false,
                            variant.abiPrefix);
  library.addVectorizableFunctions(variants);
  // Registered first, so that the pass builder's default (without vector variants) is not.
  functionAnalyses.registerPass([&] { return llvm::TargetLibraryAnalysis(library); });
  llvm::PassBuilder builder(&target.machine());
  builder.registerModuleAnalyses(moduleAnalyses);
  builder.registerCGSCCAnalyses(sccAnalyses);
  builder.registerFunctionAnalyses(functionAnalyses);
  builder.registerLoopAnalyses(loopAnalyses);
  builder.crossRegisterProxies(loopAnalyses, functionAnalyses, sccAnalyses, moduleAnalyses);
  llvm::OptimizationLevel level = passLevel(target.optLevel());
  llvm::ModulePassManager passes = level == llvm::OptimizationLevel::O0 ? builder.buildO0DefaultPipeline(level)
                                                                        : builder.buildPerModuleDefaultPipeline(level);
  passes.run(module, moduleAnalyses);
  return llvm::Error::success();
}

llvm::Expected<llvm::SmallVector<char, 0>> emitMachineCode(llvm::Module &module, const Target &target,
                                                           OutputKind kind) {
  if (llvm::Error error = optimizeModule(module, target)) return error;
  return generateMachineCode(module, target, kind);
}

llvm::Expected<llvm::SmallVector<char, 0>> generateMachineCode(llvm::Module &module, const Target &target,
                                                               OutputKind kind) {
  llvm::SmallVector<char, 0> code;
  llvm::raw_svector_ostream stream(code);
  llvm::legacy::PassManager codeGenerator;
  llvm::CodeGenFileType fileType =
      kind == OutputKind::Assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (target.machine().addPassesToEmitFile(codeGenerator, stream, nullptr, fileType))
    return llvm::createStringError(
        fmt::format("{} cannot emit {} files", target.cpuName(), kind == OutputKind::Assembly ? "assembly" : "object"));
  codeGenerator.run(module);
  return code;
}

llvm::Expected<std::unique_ptr<Jit>> Jit::create(const Target &target) {
  llvm::orc::JITTargetMachineBuilder machineBuilder{llvm::Triple(target.triple())};
  machineBuilder.setCPU(target.cpuName());
  if (!target.features().empty()) machineBuilder.addFeatures({target.features()});
  machineBuilder.setCodeGenOptLevel(target.machine().getOptLevel());
  machineBuilder.setRelocationModel(llvm::Reloc::PIC_);
  llvm::Expected<std::unique_ptr<llvm::orc::LLJIT>> jit =
      llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(machineBuilder)).create();
  if (!jit) return jit.takeError();
  // The vector maths functions of optimizeModule's vectorised loops, found in the process.
  std::string problem;
  if (llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1", &problem))
    return llvm::createStringError(fmt::format("cannot load glibc's vector maths library libmvec.so.1: {}", problem));

  // The runtime is linked into this process statically, so its symbols need not be in the
  // dynamic symbol table: define them explicitly.
  llvm::orc::MangleAndInterner mangle((*jit)->getExecutionSession(), (*jit)->getDataLayout());
  llvm::orc::SymbolMap runtimeSymbols;
  runtimeSymbols[mangle("kiln_parallel_for")] = {llvm::orc::ExecutorAddr::fromPtr(&kiln_parallel_for),
                                                 llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  runtimeSymbols[mangle("kiln_thread_count")] = {llvm::orc::ExecutorAddr::fromPtr(&kiln_thread_count),
                                                 llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  runtimeSymbols[mangle("kiln_arena_acquire")] = {llvm::orc::ExecutorAddr::fromPtr(&kiln_arena_acquire),
                                                  llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  runtimeSymbols[mangle("kiln_arena_release")] = {llvm::orc::ExecutorAddr::fromPtr(&kiln_arena_release),
                                                  llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
  if (llvm::Error error = (*jit)->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(runtimeSymbols))))
    return error;
  return std::unique_ptr<Jit>(new Jit(target, std::move(*jit)));
}

Jit::Jit(const Target &target, std::unique_ptr<llvm::orc::LLJIT> jit) : target_(target), jit_(std::move(jit)) {}

Jit::~Jit() = default;

llvm::Error Jit::addModule(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context) {
  // Owned together from the start: a ThreadSafeModule deletes the module before its context. Left
  // in the two parameters on an error, they would be destroyed in the order the compiler chose
  // (clang: the context first, and then the module's destructor reads the freed context).
  llvm::orc::ThreadSafeModule owned(std::move(module), std::move(context));
  if (llvm::Error error = owned.withModuleDo([&](llvm::Module &ir) { return optimizeModule(ir, target_); }))
    return error;
  return jit_->addIRModule(std::move(owned));
}

llvm::Expected<void *> Jit::lookupAddress(llvm::StringRef name) {
  llvm::Expected<llvm::orc::ExecutorAddr> address = jit_->lookup(name);
  if (!address) return address.takeError();
  return address->toPtr<void *>();
}

}  // namespace kiln::cpu
