// The matrix-product kernel template: an LLVM function for C = op(A) × op(B) of one static shape
// (optionally batched), register-tiled for the target and split over cores.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/Support/Error.h>

#include "backends/cpu/Target.h"

namespace llvm {
class Function;
class Module;
}  // namespace llvm

namespace kiln::cpu {

enum class MatmulElement { F32, F64 };

// All matrices are row-major and contiguous. A is M×K (K×M with transposeA), B is K×N (N×K with
// transposeB), C is M×N. Batch element i reads A + i·batchStrideA, B + i·batchStrideB and writes
// C + i·batchStrideC (strides in elements; 0 broadcasts an operand over the batch).
struct MatmulDescription {
  MatmulElement element = MatmulElement::F32;
  int64_t batch = 1;
  int64_t batchStrideA = 0, batchStrideB = 0, batchStrideC = 0;
  int64_t m = 1, n = 1, k = 1;
  bool transposeA = false, transposeB = false;
  bool accumulate = false;  // C += op(A) × op(B) instead of C = op(A) × op(B)
  // Pointer arguments after the four fixed ones, for the epilogue (a bias vector, a residual).
  int extraArguments = 0;
};

// Where the epilogue runs: `accumulator` holds C[row, column .. column + lanes) (lanes past N are
// never stored), `extraArguments` are the kernel's extra pointer arguments as seen at this point.
struct EpilogueSite {
  llvm::Value *accumulator;
  llvm::Value *row;     // i64
  llvm::Value *column;  // i64, the column of the vector's first lane
  llvm::ArrayRef<llvm::Value *> extraArguments;
};
// Returns the vector to store instead of the accumulator, e.g. max(accumulator + bias, 0).
using MatmulEpilogue = std::function<llvm::Value *(llvm::IRBuilder<> &builder, const EpilogueSite &site)>;

// Where a tile epilogue runs: the tile C[row .. row + rows, column .. column + columns) of batch
// element `batch` has just been stored for the last time, into `c` (C's first batch element), and
// is still in L1. `extraArguments` are the kernel's extra pointer arguments. The fused epilogues
// of backends/cpu/Compile.cpp run here: any elementwise chain of the loop rules, vectorised by
// LLVM over the tile's rows, where a register epilogue would need a vector form of every rule.
struct TileEpilogueSite {
  llvm::Value *c;
  llvm::Value *batch, *row, *column;  // i64
  int rows;
  int64_t columns;
  llvm::ArrayRef<llvm::Value *> extraArguments;
};
using MatmulTileEpilogue = std::function<void(llvm::IRBuilder<> &builder, const TileEpilogueSite &site)>;

// How the kernel is blocked. Chosen from the target and the shape by planMatmul; fields may be
// fixed by hand (non-zero / non-negative) to compare tilings in bench/.
struct MatmulTiling {
  int tileRows = 0;         // MR: rows of C per micro-kernel (broadcasts of A)
  int tileVectors = 0;      // NR / lanes: vectors of C per row in the micro-kernel
  int64_t kBlock = 0;       // KC: the K range one micro-kernel call covers
  int64_t rowBlock = 0;     // MC: rows of C per task, a multiple of MR
  int64_t columnBlock = 0;  // NC: columns of C per task, a multiple of NR
  int packB = -1;           // 1: copy B into panels first, 0: read B in place (transposing a
                            // transposed B in the micro-kernel), -1: choose
  int parallel = -1;        // 1: tasks through kiln_parallel_for, 0: in a loop, -1: choose
};

struct MatmulPlan {
  unsigned lanes = 0;   // elements per vector
  MatmulTiling tiling;  // every field decided
  int64_t rowBlocks = 0, columnBlocks = 0, tasks = 0;
  int64_t scratchBytes = 0;  // size of the scratch buffer the kernel wants (0: pass null)
};

llvm::Expected<MatmulPlan> planMatmul(const Target &target, const MatmulDescription &description,
                                      const MatmulTiling &fixed = {});

// Adds `void name(const T *a, const T *b, T *c, void *scratch, ptr extra...)` to the module, plus
// internal helper functions named `name.*`. `scratch` must be 64-byte aligned and hold
// plan.scratchBytes bytes (it may be null when that is 0); the kernel may be called from
// several threads at once if each passes its own scratch.
llvm::Expected<MatmulPlan> emitMatmulKernel(llvm::Module &module, const Target &target,
                                            const MatmulDescription &description, llvm::StringRef name,
                                            const MatmulEpilogue &epilogue = {}, const MatmulTiling &fixed = {},
                                            const MatmulTileEpilogue &tileEpilogue = {});

}  // namespace kiln::cpu
