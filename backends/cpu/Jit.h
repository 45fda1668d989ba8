// Running generated code in process (ORC LLJIT) and writing it out as assembly or an object
// file, both after LLVM's own O0..O3 pipeline for the target.
#pragma once

#include <memory>
#include <string>

#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>

#include "backends/cpu/Target.h"

// Declared, not included: ORC's LLJIT.h takes about 7 s of clang's time to parse, in each of the
// dozen files that include this one (Jit.cpp includes it).
namespace llvm::orc {
class LLJIT;
}  // namespace llvm::orc

namespace kiln::cpu {

// Verifies the module, then runs LLVM's new-pass-manager pipeline at the target's level.
llvm::Error optimizeModule(llvm::Module &module, const Target &target);

enum class OutputKind { Assembly, Object };
// The module's machine code as assembly text or an ELF object, for `--emit=asm|obj`. Runs
// optimizeModule first; the module is changed by it.
llvm::Expected<llvm::SmallVector<char, 0>> emitMachineCode(llvm::Module &module, const Target &target, OutputKind kind);
// The same without optimizeModule, for a module it has run on (timed apart from it).
llvm::Expected<llvm::SmallVector<char, 0>> generateMachineCode(llvm::Module &module, const Target &target,
                                                               OutputKind kind);

class Jit {
public:
  // A JIT for the target's CPU, features and level (the target must outlive it); the runtime's C
  // functions (kiln_parallel_for) are defined in it, and the process's own symbols (libc, libm)
  // resolve as well.
  static llvm::Expected<std::unique_ptr<Jit>> create(const Target &target);
  ~Jit();

  // Optimises the module and adds it; its functions are compiled on first lookup.
  llvm::Error addModule(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context);

  llvm::Expected<void *> lookupAddress(llvm::StringRef name);

  // A function of the module as a typed pointer: jit.lookup<void(const float *, float *)>("f").
  template <typename FunctionType> llvm::Expected<FunctionType *> lookup(llvm::StringRef name) {
    llvm::Expected<void *> address = lookupAddress(name);
    if (!address) return address.takeError();
    return reinterpret_cast<FunctionType *>(*address);
  }

private:
  Jit(const Target &target, std::unique_ptr<llvm::orc::LLJIT> jit);

  const Target &target_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

}  // namespace kiln::cpu
