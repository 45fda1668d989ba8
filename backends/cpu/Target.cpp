// Host detection and TargetMachine construction for the CPU backend.
#include "backends/cpu/Target.h"

#include <mutex>
#include <unistd.h>

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Type.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

namespace kiln::cpu {

namespace {

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

std::string hostFeatures() {
  std::string features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures()) {
    if (!features.empty()) features += ',';
    features += (feature.second ? "+" : "-") + feature.first().str();
  }
  return features;
}

// The cache sizes the kernel templates block for. They are the host's even when a CPU is named
// (the usual case is building on the machine that runs the program); fallbacks when unknown.
unsigned cacheBytes(int sysconfName, unsigned fallback) {
  long bytes = sysconf(sysconfName);
  return bytes > 0 ? static_cast<unsigned>(bytes) : fallback;
}

llvm::CodeGenOptLevel codeGenOptLevel(unsigned level) {
  switch (level) {
  case 0: return llvm::CodeGenOptLevel::None;
  case 1: return llvm::CodeGenOptLevel::Less;
  case 2: return llvm::CodeGenOptLevel::Default;
  default: return llvm::CodeGenOptLevel::Aggressive;
  }
}

}  // namespace

Target::~Target() = default;

llvm::Expected<std::unique_ptr<Target>> Target::create(const TargetOptions &options) {
  if (options.optLevel > 3)
    return llvm::createStringError(fmt::format("optimisation level {} is not one of 0, 1, 2, 3", options.optLevel));
  initializeNativeTarget();
  std::unique_ptr<Target> target(new Target);
  target->triple_ = llvm::sys::getProcessTriple();
  target->optLevel_ = options.optLevel;
  std::string error;
  const llvm::Target *llvmTarget = llvm::TargetRegistry::lookupTarget(target->triple_, error);
  if (!llvmTarget)
    return llvm::createStringError(fmt::format("cannot generate code for {}: {}", target->triple_, error));

  bool host = options.cpu.empty();
  target->cpu_ = host ? llvm::sys::getHostCPUName().str() : options.cpu;
  target->features_ = host ? hostFeatures() : std::string();
  // LLVM only warns on stderr about an unknown CPU and then generates code for a generic one: ask a
  // generic subtarget whether the name is known before creating anything for it.
  std::unique_ptr<llvm::MCSubtargetInfo> generic(llvmTarget->createMCSubtargetInfo(target->triple_, "", ""));
  if (!generic || !generic->isCPUStringValid(target->cpu_))
    return llvm::createStringError(
        fmt::format("unknown CPU '{}' for {} (`llc -mtriple={} -mcpu=help` lists the known ones)", target->cpu_,
                    target->triple_, target->triple_));

  target->subtarget_.reset(llvmTarget->createMCSubtargetInfo(target->triple_, target->cpu_, target->features_));
  unsigned widest = target->vectorBits(nullptr);
  if (options.preferredVectorBits != 0 && (options.preferredVectorBits > widest || options.preferredVectorBits < 128 ||
                                           (options.preferredVectorBits & (options.preferredVectorBits - 1)) != 0))
    return llvm::createStringError(fmt::format("preferred vector width {} is not a power of two in 128..{} for {}",
                                               options.preferredVectorBits, widest, target->cpu_));
  // The widest register by default. LLVM 19 itself prefers 512 bits on znver4/znver5 but 256 on
  // Intel's AVX-512 CPUs (skylake-avx512, sapphirerapids), so the attribute is always stamped.
  // Measured with bench/matmul on an AMD EPYC "znver5" (Zen 5, 2 FMA pipes of full 512-bit
  // width): the kernel template on zmm (16 f32 lanes) ran at 200-229 GFLOP/s, ~100% of the FMA
  // peak, at every zoo shape; the same template on ymm (--vector-bits 256) at 96-117, half. Where
  // 512 bits lose (a CPU that splits them, or down-clocks), preferredVectorBits = 256 is the knob.
  target->preferredVectorBits_ = options.preferredVectorBits ? options.preferredVectorBits : widest;

  target->l1DataCacheBytes_ = cacheBytes(_SC_LEVEL1_DCACHE_SIZE, 32 * 1024);
  target->l2CacheBytes_ = cacheBytes(_SC_LEVEL2_CACHE_SIZE, 256 * 1024);

  llvm::TargetOptions targetOptions;  // no fast-math: generated code keeps IEEE semantics
  target->machine_.reset(llvmTarget->createTargetMachine(target->triple_, target->cpu_, target->features_,
                                                         targetOptions, llvm::Reloc::PIC_, std::nullopt,
                                                         codeGenOptLevel(options.optLevel)));
  if (!target->machine_)
    return llvm::createStringError(fmt::format("cannot create a target machine for {}", target->cpu_));
  return target;
}

bool Target::hasFeature(std::string_view feature) const {
  return subtarget_->checkFeatures(fmt::format("+{}", feature));
}

unsigned Target::vectorBits(const llvm::Type *elementType) const {
  bool integer = elementType && elementType->isIntegerTy();
  unsigned elementBits = elementType ? elementType->getScalarSizeInBits() : 32;
  if (hasFeature("avx512f")) {
    // 8- and 16-bit integer lanes in zmm registers need AVX512BW.
    if (!integer || elementBits >= 32 || hasFeature("avx512bw")) return 512;
    return 256;
  }
  if (hasFeature("avx2") || (!integer && hasFeature("avx"))) return 256;
  return 128;
}

unsigned Target::vectorRegisterCount() const { return hasFeature("avx512f") ? 32 : 16; }

void Target::stampFunctionAttributes(llvm::Function &function) const {
  function.addFnAttr("target-cpu", cpu_);
  if (!features_.empty()) function.addFnAttr("target-features", features_);
  std::string width = std::to_string(preferredVectorBits_);
  function.addFnAttr("prefer-vector-width", width);
  // Without it the x86 backend splits vectors wider than the preferred width into halves.
  function.addFnAttr("min-legal-vector-width", width);
}

}  // namespace kiln::cpu
