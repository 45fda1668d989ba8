// Loop kernels: a kernel function of elementwise ops, index maps, creation ops and reductions
// lowered to one LLVM loop nest per result, from per-op index-expression rules.
#pragma once

#include <optional>

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

// Whether the kernel's result may be written over its argument `argument` (the memory plan's
// in-place reuse): the kernel is a loop kernel of one result with the argument's shape and element
// size, no op of it reduces, contracts, reads a window or is opaque, and every op computed from
// the argument is elementwise at the argument's shape. Each element of the result is then computed
// from the argument's element at the same index and no other, which the loop reads before it
// stores the result's element there, on whichever thread runs that element.
bool mayWriteResultOver(const Function &kernel, size_t argument);

// Adds `void name(const T0 *argument0, ..., R0 *result0, ...)` over row-major buffers (i1 as one
// byte per element) computing the kernel's results; every pointer is distinct (noalias). Fails,
// naming the op, when an op has no loop rule.
// With `resultOverArgument` (when mayWriteResultOver holds), the function is
// `void name(T0 *argument0, ...)`, and the result is written over that argument.
llvm::Expected<llvm::Function *> emitLoopKernel(llvm::Module &module, const Target &target, const Function &kernel,
                                                llvm::StringRef name,
                                                std::optional<size_t> resultOverArgument = std::nullopt);

}  // namespace kiln::cpu
