// Entry points of the passes, one per pass file. The registry (Registry.cpp) names them.
#pragma once

#include "passes/Pass.h"

namespace kiln {

llvm::Error runDeadCodeElimination(Module &module, const PassOptions &options);
llvm::Error runCommonSubexpressionElimination(Module &module, const PassOptions &options);
llvm::Error runSimplify(Module &module, const PassOptions &options);
llvm::Error runConstantFold(Module &module, const PassOptions &options);
llvm::Error runAutodiff(Module &module, const PassOptions &options);

}  // namespace kiln
