// Loop kernels: a kernel function of elementwise ops, index maps, creation ops and reductions
// lowered to one LLVM loop nest per result, from per-op index-expression rules.
#pragma once

#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>

#include "backends/cpu/Target.h"
#include "ir/IR.h"

namespace llvm {
class Function;
class Module;
}  // namespace llvm

namespace kiln::cpu {

// Whether a loop kernel can hold the op (the `lower` column of `kiln-opt --list-ops`, with
// hasMatmulRule).
bool hasLoopRule(OpKind kind);

// Adds `void name(const T0 *argument0, ..., R0 *result0, ...)` over row-major buffers (i1 as one
// byte per element) computing the kernel's results; every pointer is distinct (noalias). Fails,
// naming the op, when an op has no loop rule.
llvm::Expected<llvm::Function *> emitLoopKernel(llvm::Module &module, const Target &target, const Function &kernel,
                                                llvm::StringRef name);

}  // namespace kiln::cpu
