// The pass registry: one line per pass.
#include "passes/Passes.h"

namespace kiln {

namespace {
const PassInfo kPasses[] = {
    {"cse", "merge ops that compute the same value from the same operands", runCommonSubexpressionElimination},
    {"dce", "remove ops whose results are never used", runDeadCodeElimination},
    {"simplify", "replace ops by simpler equal values through algebraic identities", runSimplify},
    {"constant-fold", "evaluate ops whose operands are all constants into constants", runConstantFold},
};
}  // namespace

std::span<const PassInfo> allPasses() { return kPasses; }

}  // namespace kiln
