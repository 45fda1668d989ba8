// attention and attention_grad as streaming kernels: query blocks against key blocks, the scores
// of one block pair at a time in a buffer on the stack, never the Tq × Tk matrix. With B batch
// elements (every leading axis), queries in blocks of Bq and keys in blocks of Bk:
//
// attention, one task per (batch element, query block), in parallel:
//  1. m = -inf, l = 0, acc = 0 for each of the block's rows.
//  2. For each key block (with `causal`, only those holding a key j ≤ the block's last query):
//     S = Q Kᵀ (the matrix-product template); per row, s = S·scale + bias (and -inf where j > i),
//     m' = max(m, max s), p = e^(s - m'), l = l·e^(m - m') + Σp, acc = acc·e^(m - m'); then
//     acc += P V (the template, accumulating). A row whose keys are all -inf keeps m' = -inf and
//     shifts by 0 instead, so that p = 0 rather than NaN.
//  3. o = acc / l, or 0 for a row that saw no key; the second result L = m + log l, the row's
//     log-sum-exp (+inf for a row with no key, so that the backward's e^(s - L) = 0).
//
// attention_grad (FlashAttention-2's backward), with g = do and L from attention:
//  1. D = Σ g∘o for each row, one task per (batch element, query block), in a buffer of B·Tq.
//  2. Gradients, one task per batch element: dq, dk, dv zeroed, then for each key block j and
//     each query block i that can see it: S = Q_i K_jᵀ, P = e^(s - L) with s as above,
//     dv_j += Pᵀ g_i, dP = g_i V_jᵀ, dS = P∘(dP - D)·scale, dq_i += dS K_j, dk_j += dSᵀ Q_i.
//     With fewer than two batch elements per thread, two passes keep every core busy instead:
//     one task per (batch element, key block) for dk_j and dv_j, then one per (batch element,
//     query block) for dq_i, each recomputing S, P and dS (7 block products instead of 5).
//     Either way each gradient block adds the same terms in the same order (dq_i over key blocks
//     in order, dk_j and dv_j over query blocks in order), so the bits do not depend on the
//     thread count.
// Extra memory: the operands made contiguous when they are views, D (B·Tq), and
// per task the block buffers (a few Bq × Bk and Bq × D blocks on the stack): O(T·d), not O(T²).
// This file is the driver; the emitter's helpers are in AttentionEmitter.cpp, attention's steps and
// attention_grad's step 1 in AttentionForward.cpp, attention_grad's step 2 in AttentionBackward.cpp.
// Keeping L from the forward saves the backward a pass of q kᵀ and e^s: one block product of 8.
#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/AttentionEmitter.h"
#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/TemplateKernels.h"

namespace kiln::cpu::templates {

using namespace attention;

llvm::Error emitAttention(llvm::Module &module, const Target &target, const Function &kernel) {
  const Operation &op = *kernel.results()[0]->definingOp();
  DType dtype = op.result()->type().dtype;
  if (dtype != DType::F32 && dtype != DType::F64)
    return llvm::createStringError(
        fmt::format("kernel @{}: {} has no lowering for {}", kernel.name(), op.name(), dtypeName(dtype)));
  bool gradient = op.kind() == OpKind::AttentionGrad;
  size_t biasOperand = gradient ? 6 : 3;
  const Value *bias = op.operands().size() > biasOperand ? op.operand(biasOperand) : nullptr;
  AttentionGeometry geometry = geometryOf(op, bias);

  llvm::IRBuilder<> builder(module.getContext());
  loops::ElementEmitter emitter(builder, module);
  llvm::Function *function = declareKernel(module, target, kernel, emitter);
  Temporaries temporaries(emitter);
  std::vector<llvm::Value *> pointers(kPointerCount, llvm::ConstantPointerNull::get(builder.getPtrTy()));
  pointers[kQ] = rowMajor(emitter, op.operand(0), temporaries);
  pointers[kK] = rowMajor(emitter, op.operand(1), temporaries);
  pointers[kV] = rowMajor(emitter, op.operand(2), temporaries);
  if (bias) pointers[kBias] = rowMajor(emitter, bias, temporaries);
  const size_t firstResult = kernel.arguments().size();  // the result pointers follow the arguments
  pointers[kResult] = function->getArg(firstResult);
  if (gradient) {
    pointers[kOutput] = rowMajor(emitter, op.operand(3), temporaries);
    pointers[kLogSumExp] = rowMajor(emitter, op.operand(4), temporaries);
    pointers[kOutputGradient] = rowMajor(emitter, op.operand(5), temporaries);
    pointers[kRowDot] =
        temporaries.allocate(geometry.batches * geometry.queries * static_cast<int64_t>(dtypeByteSize(dtype)));
  } else {
    pointers[kLogSumExp] = function->getArg(firstResult + 1);
  }
  auto *contextType = llvm::ArrayType::get(builder.getPtrTy(), kPointerCount);
  llvm::Value *context = builder.CreateAlloca(contextType);
  for (int i = 0; i < kPointerCount; ++i)
    builder.CreateStore(pointers[i], builder.CreateConstInBoundsGEP2_64(contextType, context, 0, i));

  AttentionEmitter attention(module, target, geometry, dtype, kernel.name());
  llvm::Function *rows =
      attention.task(gradient ? "row_dots" : "rows",
                     [&](llvm::IRBuilder<> &taskBuilder, llvm::Value *index, std::vector<llvm::Value *> &taskPointers) {
                       if (gradient)
                         attention.rowDotTask(taskBuilder, index, taskPointers);
                       else
                         attention.forwardTask(taskBuilder, index, taskPointers);
                     });
  llvm::FunctionCallee parallelFor = module.getOrInsertFunction(
      "kiln_parallel_for",
      llvm::FunctionType::get(builder.getVoidTy(), {builder.getInt64Ty(), builder.getPtrTy(), builder.getPtrTy()},
                              false));
  builder.CreateCall(parallelFor, {builder.getInt64(geometry.batches * geometry.queryBlocks()), rows, context});
  if (gradient) {
    // One task per batch element when there are enough to share out, else the two passes.
    auto taskOf = [&](const std::string &name, void (AttentionEmitter::*body)(llvm::IRBuilder<> &, llvm::Value *,
                                                                              std::vector<llvm::Value *> &)) {
      return attention.task(
          name, [&](llvm::IRBuilder<> &taskBuilder, llvm::Value *index, std::vector<llvm::Value *> &taskPointers) {
            (attention.*body)(taskBuilder, index, taskPointers);
          });
    };
    llvm::Function *batches = taskOf("gradients", &AttentionEmitter::batchTask);
    llvm::Function *keyBlocks = taskOf("key_gradients", &AttentionEmitter::keyBlockTask);
    llvm::Function *queryBlocks = taskOf("query_gradients", &AttentionEmitter::queryBlockTask);
    llvm::Value *threads =
        builder.CreateSExt(builder.CreateCall(module.getOrInsertFunction(
                               "kiln_thread_count", llvm::FunctionType::get(builder.getInt32Ty(), {}, false))),
                           builder.getInt64Ty());
    llvm::Value *enough =
        builder.CreateICmpSGE(builder.getInt64(geometry.batches), builder.CreateMul(threads, builder.getInt64(2)));
    llvm::Function *function = builder.GetInsertBlock()->getParent();
    auto *whole = llvm::BasicBlock::Create(module.getContext(), "by_batch", function);
    auto *split = llvm::BasicBlock::Create(module.getContext(), "by_block", function);
    auto *done = llvm::BasicBlock::Create(module.getContext(), "gradients_done", function);
    builder.CreateCondBr(enough, whole, split);
    builder.SetInsertPoint(whole);
    builder.CreateCall(parallelFor, {builder.getInt64(geometry.batches), batches, context});
    builder.CreateBr(done);
    builder.SetInsertPoint(split);
    builder.CreateCall(parallelFor, {builder.getInt64(geometry.batches * geometry.keyBlocks()), keyBlocks, context});
    builder.CreateCall(parallelFor,
                       {builder.getInt64(geometry.batches * geometry.queryBlocks()), queryBlocks, context});
    builder.CreateBr(done);
    builder.SetInsertPoint(done);
  }
  temporaries.releaseAll();
  builder.CreateRetVoid();
  if (!attention.error().empty())
    return llvm::createStringError(fmt::format("kernel @{}: {}", kernel.name(), attention.error()));
  return llvm::Error::success();
}

}  // namespace kiln::cpu::templates
