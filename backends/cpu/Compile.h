// The CPU backend's driver: a module whose functions are sequences of kernel calls (after
// outline-kernels) to one LLVM module, and running its functions through the JIT.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>

#include "backends/cpu/Jit.h"
#include "backends/cpu/Target.h"
#include "backends/interpreter/RunFunction.h"
#include "backends/interpreter/Tensor.h"
#include "ir/IR.h"

namespace kiln::cpu {

// Whether the backend can lower the op inside a kernel (a loop rule, or the matmul template):
// the `lower` column of `kiln-opt --list-ops`.
bool hasLoweringRule(OpKind kind);

// What compileModule emits besides the kernels and one entry per func.
struct ModuleOptions {
  std::vector<const Function *> entries;  // non-empty: only the functions these reach through calls
  // The entries (entrySymbol) are external for the JIT to find; a program or a library reaches
  // them through its table or its C functions, so they are internal there.
  bool externalEntries = true;
  std::string programTableModel;  // non-empty: kiln_program_table, naming this model file
  std::string libraryPrefix;      // non-empty: the C functions PREFIX_F of emitLibraryFunctions
  bool planMemory = true;         // false: one allocation per buffer (MemoryPlan.h), to test the plan
  std::string debugInfoFile;      // non-empty: DWARF line tables (DebugInfo.h), the unit named so
};

// Every kernel becomes an internal `void name(const T0 *argument0, ..., R0 *result0, ...)`;
// every `func` F becomes `void kiln_func_F(void **arguments, void **results)` (Exports.h's
// entrySymbol), which allocates a 64-byte aligned buffer per call result, calls its kernels and
// copies what it returns into the caller's `results`. Fails on a `func` op that is not a call
// (outline-kernels has not run) and on ops without a rule.
llvm::Expected<std::unique_ptr<llvm::Module>> compileModule(const Module &module, const Target &target,
                                                            llvm::LLVMContext &context, const ModuleOptions &options);
llvm::Expected<std::unique_ptr<llvm::Module>>
compileModule(const Module &module, const Target &target, llvm::LLVMContext &context, const Function *entry = nullptr);

// A compiled module in the JIT, whose functions run on tensors.
class CompiledModule {
public:
  static llvm::Expected<std::unique_ptr<CompiledModule>> create(const Module &module, const Target &target,
                                                                const Function *entry = nullptr);
  // From a module compileModule made with external entries; optimises it and adds it to a JIT.
  static llvm::Expected<std::unique_ptr<CompiledModule>>
  create(std::unique_ptr<llvm::Module> compiled, std::unique_ptr<llvm::LLVMContext> context, const Target &target);

  // Runs `function` (of the module given to create) on arguments of its argument types.
  llvm::Expected<std::vector<Tensor>> run(const Function &function, std::span<const Tensor> arguments);

  // The entry of `function` (a func of that module): `void (void **arguments, void **results)`,
  // each pointer to row-major elements of its type; for callers that place the buffers themselves.
  using Entry = void (*)(void **arguments, void **results);
  llvm::Expected<Entry> entry(const Function &function);

private:
  explicit CompiledModule(std::unique_ptr<Jit> jit) : jit_(std::move(jit)) {}
  std::unique_ptr<Jit> jit_;
};

// What `kiln-opt --jit` and `kiln run` do: outlines the kernels (when that has not been done),
// compiles the function `options` chooses and what it calls for the target, and runs it the way
// the interpreter's runFunction does, with the same input and output handling.
llvm::Error runNatively(Module &module, const RunOptions &options, const Target &target, llvm::raw_ostream &out);

}  // namespace kiln::cpu
