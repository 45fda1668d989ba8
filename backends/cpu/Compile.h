// The CPU backend's driver: a module whose functions are sequences of kernel calls (after
// outline-kernels) to one LLVM module, and running its functions through the JIT.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>

#include "backends/cpu/Jit.h"
#include "backends/cpu/Target.h"
#include "backends/interpreter/Tensor.h"
#include "ir/IR.h"

namespace kiln::cpu {

// Whether the backend can lower the op inside a kernel (a loop rule, or the matmul template):
// the `lower` column of `kiln-opt --list-ops`.
bool hasLoweringRule(OpKind kind);

// Every kernel becomes `void name(const T0 *argument0, ..., R0 *result0, ...)`; every `func`
// becomes `void name(void **arguments, void **results)`, which allocates a 64-byte aligned buffer
// per call result, calls its kernels and copies what it returns into the caller's `results`.
// Fails on a `func` op that is not a call (outline-kernels has not run) and on ops without a rule.
// With `entry`, only the functions it reaches through calls are compiled.
llvm::Expected<std::unique_ptr<llvm::Module>>
compileModule(const Module &module, const Target &target, llvm::LLVMContext &context, const Function *entry = nullptr);

// A compiled module in the JIT, whose functions run on tensors.
class CompiledModule {
public:
  static llvm::Expected<std::unique_ptr<CompiledModule>> create(const Module &module, const Target &target,
                                                                const Function *entry = nullptr);

  // Runs `function` (of the module given to create) on arguments of its argument types.
  llvm::Expected<std::vector<Tensor>> run(const Function &function, std::span<const Tensor> arguments);

private:
  explicit CompiledModule(std::unique_ptr<Jit> jit) : jit_(std::move(jit)) {}
  std::unique_ptr<Jit> jit_;
};

}  // namespace kiln::cpu
