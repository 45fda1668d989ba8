// scatter_add as a sequential kernel, deterministic and equal to the interpreter's to the last
// bit: result[o, indices[o[:batch_dims], m], n] += updates[o, m, n].
//
// 1. Zero the sums: the result itself, or for f32 a double buffer (the interpreter sums floats
//    in double and rounds once; f64 and the integers, which wrap, sum in place).
// 2. Walk the updates row-major (o, then m, then n: the interpreter's order) and add each into
//    the row its index picks. An index outside [0, extent) adds nothing: the interpreter rejects
//    it at run time, a kernel cannot report an error, and no write may leave the buffer.
// 3. For f32, round the double sums into the result.
#include <llvm/IR/Module.h>

#include "backends/cpu/MatmulEmitter.h"
#include "backends/cpu/TemplateKernels.h"

namespace kiln::cpu::templates {

llvm::Error emitScatterAdd(llvm::Module &module, const Target &target, const Function &kernel) {
  llvm::IRBuilder<> builder(module.getContext());
  loops::ElementEmitter emitter(builder, module);
  llvm::Function *function = declareKernel(module, target, kernel, emitter);
  const Operation &op = *kernel.results()[0]->definingOp();
  const Value *updates = op.operand(0), *indices = op.operand(1);
  const TensorType &resultType = op.result()->type();
  const Shape &shape = resultType.shape;
  auto axis = static_cast<size_t>(op.attributes().getInt("axis"));
  auto batchDims = static_cast<size_t>(op.attributes().getInt("batch_dims"));
  size_t middle = indices->type().shape.size() - batchDims;
  llvm::Value *result = function->getArg(kernel.arguments().size());

  // 1.
  DType sumType = resultType.dtype == DType::F32 ? DType::F64 : resultType.dtype;
  int64_t sumBytes = resultType.elementCount() * dtypeByteSize(sumType);
  Temporaries temporaries(emitter);
  llvm::Value *sums = sumType == resultType.dtype ? result : temporaries.allocate(sumBytes);
  builder.CreateMemSet(sums, builder.getInt8(0), sumBytes, llvm::MaybeAlign(8));

  // 2.
  llvm::Type *sumElement = emitter.memoryType(sumType);
  forEachIndex(emitter, updates->type().shape, [&](llvm::ArrayRef<llvm::Value *> index) {
    loops::Index indicesIndex(index.begin(), index.begin() + batchDims);
    indicesIndex.append(index.begin() + axis, index.begin() + axis + middle);
    llvm::Value *picked = builder.CreateSExtOrTrunc(emitter.element(indices, indicesIndex), builder.getInt64Ty());
    llvm::Value *inside = builder.CreateICmpULT(picked, emitter.index(shape[axis]));
    llvm::BasicBlock *add = llvm::BasicBlock::Create(module.getContext(), "add", function);
    llvm::BasicBlock *after = llvm::BasicBlock::Create(module.getContext(), "after", function);
    builder.CreateCondBr(inside, add, after);
    builder.SetInsertPoint(add);
    loops::Index resultIndex(index.begin(), index.begin() + axis);
    resultIndex.push_back(picked);
    resultIndex.append(index.begin() + axis + middle, index.end());
    llvm::Value *address = builder.CreateInBoundsGEP(sumElement, sums, {emitter.linearOffset(shape, resultIndex)});
    llvm::Value *update = emitter.convert(emitter.element(updates, index), resultType.dtype, sumType);
    llvm::Value *sum = builder.CreateLoad(sumElement, address);
    builder.CreateStore(isFloat(sumType) ? builder.CreateFAdd(sum, update) : builder.CreateAdd(sum, update), address);
    builder.CreateBr(after);
    builder.SetInsertPoint(after);
  });

  // 3.
  if (sums != result) {
    matmul::emitLoop(builder, emitter.index(resultType.elementCount()), [&](llvm::Value *position) {
      llvm::Value *sum = builder.CreateLoad(sumElement, builder.CreateInBoundsGEP(sumElement, sums, {position}));
      builder.CreateStore(builder.CreateFPTrunc(sum, builder.getFloatTy()),
                          builder.CreateInBoundsGEP(builder.getFloatTy(), result, {position}));
    });
  }
  temporaries.releaseAll();
  builder.CreateRetVoid();
  return llvm::Error::success();
}

}  // namespace kiln::cpu::templates
