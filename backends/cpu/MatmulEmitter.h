// Pieces of the matrix-product template shared by its driver (MatmulKernel.cpp) and its inner
// parts (MatmulMicroKernel.cpp): loops in IR, the micro-kernel and the packing of B.
#pragma once

#include <functional>
#include <vector>

#include <llvm/IR/IRBuilder.h>

#include "backends/cpu/MatmulKernel.h"

namespace kiln::cpu::matmul {

// Emits `for (index = 0; index < count; ++index)` carrying `initial` values from one iteration to
// the next through `body`, which returns the next ones; returns the values after the loop.
std::vector<llvm::Value *>
emitLoop(llvm::IRBuilder<> &builder, llvm::Value *count, const std::vector<llvm::Value *> &initial,
         const std::function<std::vector<llvm::Value *>(llvm::Value *index, const std::vector<llvm::Value *> &carried)>
             &body);
void emitLoop(llvm::IRBuilder<> &builder, llvm::Value *count, const std::function<void(llvm::Value *index)> &body);

// Everything the emitters need about one kernel.
struct KernelShape {
  const MatmulDescription &description;
  const MatmulPlan &plan;
  const Target &target;
  llvm::Type *element;       // float or double
  llvm::VectorType *vector;  // <lanes x element>
  int64_t panelWidth() const { return plan.tiling.tileVectors * static_cast<int64_t>(plan.lanes); }  // NR
  int64_t panels() const { return (description.n + panelWidth() - 1) / panelWidth(); }
  bool packed() const { return plan.tiling.packB == 1; }
  // B is N × K and read in place: the micro-kernel transposes lanes × lanes blocks of it itself.
  bool transposedInPlace() const { return description.transposeB && !packed(); }
  // Element strides of A between rows of op(A) and along K, and of B along K.
  int64_t aRowStride() const { return description.transposeA ? 1 : description.k; }
  int64_t aDepthStride() const { return description.transposeA ? description.m : 1; }
  int64_t bDepthStride() const { return packed() ? panelWidth() : description.n; }
};

// A micro-kernel: a static tile of `rows` × `columns` (columns ≤ NR) of C, accumulated in
// registers over a run-time K range. Signature:
//   void(ptr a, ptr b, ptr c, i64 depth, i1 accumulate, i1 finish, i64 row, i64 column, ptr extra...)
// a: op(A)[row, k0], b: B's row k0 at the tile's first column (packed or in place; for a B transposed
// in place, B's row `column` at k0, and then depth must be all of K), c: C[row, column];
// accumulate: add to C instead of overwriting it; finish: the last K block, apply the epilogue.
llvm::Function *emitMicroKernel(llvm::Module &module, const KernelShape &shape, const MatmulEpilogue &epilogue,
                                int rows, int64_t columns, const llvm::Twine &name);

// Copies panel `panel` of one B (K × N, or N × K transposed) into K rows of NR contiguous
// elements, zero past N: void(ptr b, ptr packedPanel, i64 panel).
llvm::Function *emitPackPanel(llvm::Module &module, const KernelShape &shape, const llvm::Twine &name);

}  // namespace kiln::cpu::matmul
