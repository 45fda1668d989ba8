// Kernels whose result is not one element at a time of an index expression: matrix products and
// their epilogues (ContractionKernel.cpp), convolutions through the matrix-product template and
// conv2d's epilogues (ConvKernels.cpp) and scatter_add's sequential accumulation
// (ScatterKernel.cpp), attention and its gradient as streaming kernels (AttentionKernel.cpp), with the
// pieces they share.
#pragma once

#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/Support/Error.h>

#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/Target.h"
#include "ir/IR.h"

namespace kiln::cpu {

// Whether a kernel whose result is made by an op of this kind is emitted by emitTemplateKernel.
bool hasTemplateRule(OpKind kind);

// Adds `void name(const T0 *argument0, ..., R *result)` computing the kernel's one result, which
// `op` defines (an op with a template rule), or which an elementwise epilogue computes from `op`'s
// result (a conv2d's: ir/EpilogueAnalysis.h); op's operands may be chains of loop-rule ops
// (folded views).
llvm::Error emitTemplateKernel(llvm::Module &module, const Target &target, const Function &kernel, const Operation &op);

namespace templates {

// The kernel's LLVM function (a pointer for each argument, then one for each result), its
// arguments bound in `emitter`, the builder at its entry.
llvm::Function *declareKernel(llvm::Module &module, const Target &target, const Function &kernel,
                              loops::ElementEmitter &emitter);
// The buffers a kernel holds for the length of one call: 64-byte aligned blocks from the runtime's
// kept blocks (runtime/Arena.h), all given back by releaseAll before the kernel returns. A kernel
// called every training step then reuses the same memory; from aligned_alloc and free, a buffer
// above glibc's trim and mmap thresholds was mapped and faulted in afresh on every call, which
// took half of a small Transformer encoder's training step.
// Their total is kept on the kernel's LLVM function (kernelTemporaryBytes), for
// `--emit=memory-plan`.
class Temporaries {
public:
  explicit Temporaries(loops::ElementEmitter &emitter) : emitter_(emitter) {}
  llvm::Value *allocate(int64_t bytes);
  void releaseAll();

private:
  loops::ElementEmitter &emitter_;
  std::vector<std::pair<llvm::Value *, int64_t>> taken_;
};
// The bytes of Temporaries a kernel's function holds during a call, 0 for none.
int64_t kernelTemporaryBytes(const llvm::Function &function);
// `value` as a row-major buffer of its type: the argument's own pointer, or a temporary filled
// by a loop nest from the element rules.
llvm::Value *rowMajor(loops::ElementEmitter &emitter, const Value *value, Temporaries &temporaries);
// Loops over every index of `shape`, row-major, outermost first.
void forEachIndex(loops::ElementEmitter &emitter, const Shape &shape,
                  const std::function<void(llvm::ArrayRef<llvm::Value *> index)> &body);

// The function of a tile epilogue (MatmulTileEpilogue) of `kernel`, whose result is an elementwise
// epilogue of `product`'s:
//   void name(i64 batch, i64 row, i64 column, i64 rows, i64 columns, ptr arguments..., ptr c,
//             ptr extra...)
// with `extraPointers` pointers after c. `emitter` reads the kernel's arguments from theirs and
// `product`'s result from c, the whole product (every batch element, every image); the builder
// is at the function's entry, and the caller emits its body.
llvm::Function *declareTileEpilogue(llvm::Module &module, const Target &target, const Function &kernel,
                                    const Operation &product, int extraPointers, const llvm::Twine &name,
                                    loops::ElementEmitter &emitter);

// A kernel whose result is `product` (a float matmul), or an elementwise epilogue of it.
llvm::Error emitContraction(llvm::Module &module, const Target &target, const Function &kernel,
                            const Operation &product);  // ContractionKernel.cpp
// A kernel whose result is `op` (a convolution or its gradient), or an elementwise epilogue of it
// (a conv2d's).
llvm::Error emitConvolution(llvm::Module &module, const Target &target, const Function &kernel,
                            const Operation &op);                                                // ConvKernels.cpp
llvm::Error emitScatterAdd(llvm::Module &module, const Target &target, const Function &kernel);  // ScatterKernel.cpp
llvm::Error emitAttention(llvm::Module &module, const Target &target, const Function &kernel);   // AttentionKernel.cpp

}  // namespace templates
}  // namespace kiln::cpu
