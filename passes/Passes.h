// Entry points of the passes, one per pass file. The registry (Registry.cpp) names them.
#pragma once

#include <span>

#include "passes/Pass.h"

namespace kiln {

// Passes that transform each function on its own; the registry runs them through
// forEachFunction (Pass.h).
void eliminateDeadCode(Function &function);
void eliminateCommonSubexpressions(Function &function);
void simplify(Function &function);
void foldConstants(Function &function);
void mergeProducts(Function &function);

// Passes over the whole module.
llvm::Error runAutodiff(Module &module, const PassOptions &options);
llvm::Error runInline(Module &module, const PassOptions &options);
llvm::Error runOutlineKernels(Module &module, const PassOptions &options);
llvm::Error runTrainStep(Module &module, const PassOptions &options);
llvm::Error runFuse(Module &module, const PassOptions &options);
llvm::Error runDedupeKernels(Module &module, const PassOptions &options);
llvm::Error runFuseAttention(Module &module, const PassOptions &options);

// Adds @F_grad(F's arguments..., [cotangent]) -> (result, gradient of each of `arguments`, in
// that order) for result `resultIndex` of `function`, by reverse-mode autodiff. The cotangent
// argument exists when that result is not a scalar. `arguments` are float arguments of
// `function`. Problems with particular ops come back as one OpErrors.
llvm::Expected<Function *> differentiate(Module &module, const Function &function,
                                         std::span<const Value *const> arguments, size_t resultIndex = 0);

}  // namespace kiln
