// The pass registry: one line per pass.
#include "passes/Passes.h"

namespace kiln {

namespace {
const PassInfo kPasses[] = {
    {"autodiff",
     "append @F_grad(args[, cotangent]) -> (result, d/d each wrt arg) by reverse-mode autodiff; options "
     "function=F (default: every function returning one float scalar that has no @F_grad yet), wrt=A:B "
     "(default: every float argument), of=K (the result to differentiate; default: the only one)",
     runAutodiff},
    {"inline", "replace every call by a copy of the callee's ops (the callees stay in the module)", runInline},
    {"outline-kernels",
     "move each compute op, with the index maps and constants it reads, into a kernel function of its own; "
     "functions become sequences of calls",
     runOutlineKernels},
    {"fuse",
     "merge each elementwise kernel into the loop kernels that read it (after outline-kernels), so that its "
     "result is never stored",
     runFuse},
    {"dedupe-kernels",
     "make kernels of the same structure (ops, types and attributes, whatever their names and lines) one kernel, "
     "called wherever any of them was, so that each is compiled once",
     runDedupeKernels},
    {"fuse-attention",
     "replace softmax(q kᵀ · scale [+ bias]) v by one attention op (before autodiff, whose rule for it gives one "
     "attention_grad), a causal mask becoming its causal flag",
     runFuseAttention},
    {"train-step",
     "add @train_step(inputs, labels, params, states) -> (loss, new params and states): a call of the loss's "
     "gradient function then of the optimizer's @update; options gradient=F (default loss_grad), update=F "
     "(default update)",
     runTrainStep},
    {"cse", "merge ops that compute the same value from the same operands",
     forEachFunction<eliminateCommonSubexpressions>},
    {"dce", "remove ops whose results are never used", forEachFunction<eliminateDeadCode>},
    {"simplify", "replace ops by simpler equal values through algebraic identities", forEachFunction<simplify>},
    {"constant-fold", "evaluate ops whose operands are all constants into constants", forEachFunction<foldConstants>},
    {"merge-products",
     "replace a sum of two matrix products of one kind by one product over their joined contraction axis, "
     "a·b + c·d = [a c]·[b; d] (an unrolled recurrent network's weight gradient becomes one deep product)",
     forEachFunction<mergeProducts>},
};
}  // namespace

std::span<const PassInfo> allPasses() { return kPasses; }

}  // namespace kiln
