// The attention kernels' emitter, its geometry and task buffers, shared by the driver and the emitter's .cpp files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/Target.h"
#include "ir/IR.h"

namespace kiln::cpu::templates::attention {

using IRValue = llvm::Value;

constexpr int64_t kQueryBlock = 128;  // Bq: rows of S per block pair
constexpr int64_t kKeyBlock = 128;    // Bk: columns of S (64 KB of f32 at Bq = 128: in L2 with the blocks it meets)

struct AttentionGeometry {
  int64_t batches = 1, queries = 0, keys = 0, depth = 0;
  double scale = 1;
  bool causal = false, biased = false;
  std::vector<int64_t> biasBatchOffsets;  // the bias element at (i, j) = 0 of each batch element
  int64_t biasRowStride = 0, biasColumnStride = 0;

  int64_t queryBlocks() const { return (queries + kQueryBlock - 1) / kQueryBlock; }
  int64_t keyBlocks() const { return (keys + kKeyBlock - 1) / kKeyBlock; }
};

AttentionGeometry geometryOf(const Operation &op, const Value *bias);

// The stack buffers of one task: block scores (and their gradient), the output accumulator and
// the running statistics of the block's rows.
struct BlockBuffers {
  IRValue *scores = nullptr, *scoreGradients = nullptr, *accumulator = nullptr, *maxima = nullptr, *sums = nullptr,
          *packed = nullptr;  // a transposed block of K or V, packed by a product
};

// Which gradients a block pair adds to (all, or one of the two passes of the split backward).
enum Gradients { kEveryGradient, kKeyAndValueGradients, kQueryGradients };

// What a task reads, in the order of the context array: q, k, v, bias (or null), result, the
// log-sum-exp (attention's second result, attention_grad's operand), and for the gradient o, do
// and the D buffer.
enum Pointer { kQ, kK, kV, kBias, kResult, kOutput, kOutputGradient, kLogSumExp, kRowDot, kPointerCount };

// Emits the kernel's functions; each task function through its own builder.
class AttentionEmitter {
public:
  AttentionEmitter(llvm::Module &module, const Target &target, const AttentionGeometry &geometry, DType dtype,
                   std::string name)
      : module_(module), target_(target), geometry_(geometry), context_(module.getContext()), name_(std::move(name)) {
    element_ = dtype == DType::F64 ? llvm::Type::getDoubleTy(context_) : llvm::Type::getFloatTy(context_);
    lanes_ = std::max(1u, target.preferredVectorBits() / static_cast<unsigned>(element_->getPrimitiveSizeInBits()));
  }

  // void name.suffix(i64 index, ptr context), with `body` emitting the work of task `index`.
  llvm::Function *task(const std::string &suffix,
                       const std::function<void(llvm::IRBuilder<> &, IRValue *, std::vector<IRValue *> &)> &body);

  // Attention's task: batch element index / queryBlocks, query block index % queryBlocks.
  void forwardTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers);

  // attention_grad's step 1 for the same blocks of rows: D = Σ g∘o of each.
  void rowDotTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers);

  // attention_grad's step 2 for one batch element: every gradient of it.
  void batchTask(llvm::IRBuilder<> &builder, IRValue *batch, std::vector<IRValue *> &pointers);

  // Step 2 split for fewer batch elements than threads, in two parallel passes: dk and dv of one
  // key block (task batch · keyBlocks + block), then dq of one query block. Each gradient block
  // sums the same terms in the same order as batchTask does, so the results are the same bits.
  void keyBlockTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers);
  void queryBlockTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers);

private:
  IRValue *index(llvm::IRBuilder<> &builder, int64_t value) const { return builder.getInt64(value); }
  IRValue *constant(double value) const { return llvm::ConstantFP::get(element_, value); }
  IRValue *vectorConstant(double value) const {
    return llvm::ConstantVector::getSplat(llvm::ElementCount::getFixed(lanes_), llvm::ConstantFP::get(element_, value));
  }
  IRValue *at(llvm::IRBuilder<> &builder, IRValue *base, IRValue *offset) const {
    return builder.CreateInBoundsGEP(element_, base, {offset});
  }
  llvm::Type *vectorType() const { return llvm::FixedVectorType::get(element_, lanes_); }

  BlockBuffers allocateBuffers(llvm::IRBuilder<> &builder, bool accumulator, bool gradients);

  // A matrix product of the template for one block shape, called from a task (its own loop, no
  // scratch: B is read in place).
  llvm::Function *product(int64_t m, int64_t n, int64_t k, bool transposeA, bool transposeB, bool accumulate);

  // Elements of the buffer a product packs a transposed block of Bk rows into: the rows rounded
  // up to whole panels (at most 64 columns wide) times d.
  int64_t packedElements() const { return (kKeyBlock + 64) * geometry_.depth; }

  void callProduct(llvm::IRBuilder<> &builder, const BlockBuffers &buffers, llvm::Function *function, IRValue *a,
                   IRValue *b, IRValue *c);

  void emitIf(llvm::IRBuilder<> &builder, IRValue *condition, const std::function<void()> &then);
  void emitIfElse(llvm::IRBuilder<> &builder, IRValue *condition, const std::function<void()> &then,
                  const std::function<void()> &otherwise);

  // body(offset, mask, carried) for each vector of `count` contiguous elements, returning the
  // values carried to the next; mask is null for a full vector, else the lanes of the tail.
  using Carried = std::vector<IRValue *>;
  Carried forEachVector(llvm::IRBuilder<> &builder, int64_t count, Carried carried,
                        const std::function<Carried(IRValue *, IRValue *, const Carried &)> &body);
  void forEachVector(llvm::IRBuilder<> &builder, int64_t count, const std::function<void(IRValue *, IRValue *)> &body);
  IRValue *load(llvm::IRBuilder<> &builder, IRValue *pointer, IRValue *mask, double fill);
  void store(llvm::IRBuilder<> &builder, IRValue *value, IRValue *pointer, IRValue *mask);
  IRValue *exponential(llvm::IRBuilder<> &builder, IRValue *x);
  IRValue *lanePositions(llvm::IRBuilder<> &builder);

  // Key blocks the queries [firstQuery, firstQuery + rows) see: all, or with `causal` those
  // starting at or before the last query.
  IRValue *visibleKeyBlocks(llvm::IRBuilder<> &builder, IRValue *firstQuery, int64_t rows);

  // body(firstKey, columns) for each of the first `count` key blocks.
  void forEachKeyBlock(llvm::IRBuilder<> &builder, IRValue *count,
                       const std::function<void(IRValue *firstKey, int64_t columns)> &body);

  // Task `taskIndex` of batch elements × blocks of `blockSize` along an axis of `extent`:
  // body(batch, first position, the block's extent), emitted once per static extent (a full
  // block, and the last one when it is shorter), the task picking its own at run time.
  void forBlockOfTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, int64_t extent, int64_t blockSize,
                      const std::function<void(IRValue *batch, IRValue *first, int64_t size)> &body);

  // Zeroes `rows` rows of d elements of the gradient result from row `firstRow`.
  void zeroRows(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, IRValue *firstRow, int64_t rows);

  // body(firstQuery, rows) for each query block that sees the key block from firstKey (all of
  // them, or with `causal` those from the block holding query firstKey on), in order.
  void forEachQueryBlockSeeing(llvm::IRBuilder<> &builder, IRValue *firstKey,
                               const std::function<void(IRValue *firstQuery, int64_t rows)> &body);

  // The larger of a and b as one vmaxps where llvm.maximum's NaN and signed-zero rules take five
  // instructions; b when either is NaN.
  IRValue *larger(llvm::IRBuilder<> &builder, IRValue *a, IRValue *b);

  // Row `row` of a block of scores (query `query`, keys from `firstKey`, `columns` of them):
  // s = S·scale + bias, -inf where the causal mask drops the key, written back; returns max s,
  // which a NaN score need not win: that score's own e^(s - m) is NaN, and so are the row's sum
  // and output.
  IRValue *scoreRow(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, IRValue *batch, IRValue *rowPointer,
                    IRValue *query, IRValue *firstKey, int64_t columns);

  // Forward steps 1 to 3 for a block of `rows` queries from firstQuery.
  void forwardRows(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, const BlockBuffers &buffers,
                   IRValue *batch, IRValue *firstQuery, int64_t rows);

  // Backward step 2 for query rows [firstQuery, firstQuery + rows) against keys from firstKey.
  void backwardPair(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, const BlockBuffers &buffers,
                    IRValue *batch, IRValue *firstQuery, int64_t rows, IRValue *firstKey, int64_t columns,
                    Gradients wanted);

public:
  const std::string &error() const { return error_; }

private:
  llvm::Module &module_;
  const Target &target_;
  const AttentionGeometry &geometry_;
  llvm::LLVMContext &context_;
  std::string name_;
  llvm::Type *element_;
  unsigned lanes_;
  std::map<std::tuple<int64_t, int64_t, int64_t, bool, bool, bool>, llvm::Function *> products_;
  std::string error_;
  llvm::GlobalVariable *biasOffsets_ = nullptr;
};

}  // namespace kiln::cpu::templates::attention
