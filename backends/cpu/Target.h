// The CPU that generated code runs on: the host (or a named CPU), its LLVM TargetMachine, and
// the facts kernel templates are specialised for (vector width, register count, masking, caches).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <llvm/Support/Error.h>
#include <llvm/Target/TargetMachine.h>

namespace llvm {
class Function;
class MCSubtargetInfo;
class Type;
}  // namespace llvm

namespace kiln::cpu {

struct TargetOptions {
  std::string cpu;                   // empty: the host CPU with the host's exact features
  unsigned optLevel = 3;             // 0..3, for the code generator and for LLVM's pass pipeline
  unsigned preferredVectorBits = 0;  // 0: the widest vector register the CPU has (see Target.cpp)
};

class Target {
public:
  // Fails on an unknown CPU name, an optimisation level above 3, or a host LLVM cannot target.
  static llvm::Expected<std::unique_ptr<Target>> create(const TargetOptions &options = {});
  ~Target();

  llvm::TargetMachine &machine() const { return *machine_; }
  const std::string &cpuName() const { return cpu_; }
  // "+feature,-feature,..." for the host; empty for a named CPU (its features follow from the name).
  const std::string &features() const { return features_; }
  const std::string &triple() const { return triple_; }
  unsigned optLevel() const { return optLevel_; }

  bool hasFeature(std::string_view feature) const;  // e.g. "avx512f"
  // Bits of the widest vector register holding elements of this type (f32, f64, integers).
  unsigned vectorBits(const llvm::Type *elementType) const;
  unsigned vectorRegisterCount() const;
  // Masked vector loads and stores that are as fast as plain ones (AVX-512's k-registers).
  bool hasMaskedLoadStore() const { return hasFeature("avx512f"); }
  // The width the vectoriser and the kernel templates aim for; at most the widest register.
  unsigned preferredVectorBits() const { return preferredVectorBits_; }
  unsigned l1DataCacheBytes() const { return l1DataCacheBytes_; }
  unsigned l2CacheBytes() const { return l2CacheBytes_; }

  // "target-cpu", "target-features", "prefer-vector-width" and "min-legal-vector-width", so that
  // generated functions are compiled for this CPU whatever module they end up in.
  void stampFunctionAttributes(llvm::Function &function) const;

private:
  Target() = default;

  std::string cpu_, features_, triple_;
  unsigned optLevel_ = 3;
  unsigned preferredVectorBits_ = 128;
  unsigned l1DataCacheBytes_ = 32 * 1024, l2CacheBytes_ = 256 * 1024;
  std::unique_ptr<llvm::TargetMachine> machine_;
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget_;
};

}  // namespace kiln::cpu
