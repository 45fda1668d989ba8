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
//  3. o = acc / l, or 0 for a row that saw no key.
//
// attention_grad (FlashAttention-2's backward), with g = do:
//  1. Statistics, one task per (batch element, query block): each row's log-sum-exp L (steps 1–2
//     above without the products with V; +inf for a row with no key, so that e^(s - L) = 0) and
//     D = Σ g∘o, in buffers of B·Tq elements each.
//  2. Gradients, one task per batch element: dq, dk, dv zeroed, then for each key block j and
//     each query block i that can see it: S = Q_i K_jᵀ, P = e^(s - L) with s as above,
//     dv_j += Pᵀ g_i, dP = g_i V_jᵀ, dS = P∘(dP - D)·scale, dq_i += dS K_j, dk_j += dSᵀ Q_i.
//     With fewer than two batch elements per thread, two passes keep every core busy instead:
//     one task per (batch element, key block) for dk_j and dv_j, then one per (batch element,
//     query block) for dq_i, each recomputing S, P and dS (7 block products instead of 5).
//     Either way each gradient block adds the same terms in the same order (dq_i over key blocks
//     in order, dk_j and dv_j over query blocks in order), so the bits do not depend on the
//     thread count.
// Extra memory: the operands made contiguous when they are views, the statistics (2·B·Tq), and
// per task the block buffers (a few Bq × Bk and Bq × D blocks on the stack): O(T·d), not O(T²).
#include <limits>
#include <map>
#include <tuple>

#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"
#include "backends/cpu/MatmulKernel.h"
#include "backends/cpu/TemplateKernels.h"

namespace kiln::cpu::templates {

namespace {
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

AttentionGeometry geometryOf(const Operation &op, const Value *bias) {
  const Shape &query = op.operand(0)->type().shape, &key = op.operand(1)->type().shape;
  AttentionGeometry geometry;
  geometry.queries = query[query.size() - 2];
  geometry.depth = query.back();
  geometry.keys = key[key.size() - 2];
  geometry.scale = op.attributes().getFloat("scale");
  geometry.causal = op.attributes().getBool("causal");
  Shape batch(query.begin(), query.end() - 2);
  for (int64_t extent : batch) geometry.batches *= extent;
  if (!bias) return geometry;
  geometry.biased = true;
  // The bias's own row-major strides, 0 along the axes it is broadcast over.
  Shape scores = query;
  scores.back() = geometry.keys;
  const Shape &own = bias->type().shape;
  std::vector<int64_t> ownStrides(own.size(), 1), strides(scores.size(), 0);
  for (size_t axis = own.size(); axis > 1; --axis) ownStrides[axis - 2] = ownStrides[axis - 1] * own[axis - 1];
  for (size_t axis = 0; axis < own.size(); ++axis)
    if (own[axis] != 1) strides[scores.size() - own.size() + axis] = ownStrides[axis];
  geometry.biasRowStride = strides[strides.size() - 2];
  geometry.biasColumnStride = strides.back();
  std::vector<int64_t> index(batch.size(), 0);
  for (int64_t b = 0; b < geometry.batches; ++b) {
    int64_t offset = 0;
    for (size_t axis = 0; axis < batch.size(); ++axis) offset += index[axis] * strides[axis];
    geometry.biasBatchOffsets.push_back(offset);
    for (size_t axis = batch.size(); axis-- > 0;) {
      if (++index[axis] < batch[axis]) break;
      index[axis] = 0;
    }
  }
  return geometry;
}

// The stack buffers of one task: block scores (and their gradient), the output accumulator and
// the running statistics of the block's rows.
struct BlockBuffers {
  IRValue *scores = nullptr, *scoreGradients = nullptr, *accumulator = nullptr, *maxima = nullptr, *sums = nullptr,
          *packed = nullptr;  // a transposed block of K or V, packed by a product
};

// What a task reads, in the order of the context array: q, k, v, bias (or null), result, and
// for the gradient o, do, the log-sum-exp and D buffers.
// Which gradients a block pair adds to (all, or one of the two passes of the split backward).
enum Gradients { kEveryGradient, kKeyAndValueGradients, kQueryGradients };

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
                       const std::function<void(llvm::IRBuilder<> &, IRValue *, std::vector<IRValue *> &)> &body) {
    auto *pointer = llvm::PointerType::get(context_, 0);
    auto *type =
        llvm::FunctionType::get(llvm::Type::getVoidTy(context_), {llvm::Type::getInt64Ty(context_), pointer}, false);
    auto *function = llvm::Function::Create(type, llvm::Function::InternalLinkage, name_ + "." + suffix, module_);
    target_.stampFunctionAttributes(*function);
    function->setDoesNotThrow();
    llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context_, "entry", function));
    auto *array = llvm::ArrayType::get(pointer, kPointerCount);
    std::vector<IRValue *> pointers;
    for (int i = 0; i < kPointerCount; ++i)
      pointers.push_back(
          builder.CreateLoad(pointer, builder.CreateConstInBoundsGEP2_64(array, function->getArg(1), 0, i)));
    body(builder, function->getArg(0), pointers);
    builder.CreateRetVoid();
    return function;
  }

  // Attention's task: batch element index / queryBlocks, query block index % queryBlocks.
  void forwardTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers,
                   bool statisticsOnly) {
    BlockBuffers buffers = allocateBuffers(builder, !statisticsOnly, false);
    forBlockOfTask(builder, taskIndex, geometry_.queries, kQueryBlock,
                   [&](IRValue *batch, IRValue *firstQuery, int64_t rows) {
                     forwardRows(builder, pointers, buffers, batch, firstQuery, rows, statisticsOnly);
                   });
  }

  // attention_grad's step 2 for one batch element: every gradient of it.
  void batchTask(llvm::IRBuilder<> &builder, IRValue *batch, std::vector<IRValue *> &pointers) {
    BlockBuffers buffers = allocateBuffers(builder, false, true);
    const int64_t joined = geometry_.queries + 2 * geometry_.keys;
    zeroRows(builder, pointers, builder.CreateMul(batch, index(builder, joined)), joined);
    forEachKeyBlock(builder, index(builder, geometry_.keyBlocks()), [&](IRValue *firstKey, int64_t columns) {
      forEachQueryBlockSeeing(builder, firstKey, [&](IRValue *firstQuery, int64_t rows) {
        backwardPair(builder, pointers, buffers, batch, firstQuery, rows, firstKey, columns, kEveryGradient);
      });
    });
  }

  // Step 2 split for fewer batch elements than threads, in two parallel passes: dk and dv of one
  // key block (task batch · keyBlocks + block), then dq of one query block. Each gradient block
  // sums the same terms in the same order as batchTask does, so the results are the same bits.
  void keyBlockTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers) {
    BlockBuffers buffers = allocateBuffers(builder, false, true);
    forBlockOfTask(
        builder, taskIndex, geometry_.keys, kKeyBlock, [&](IRValue *batch, IRValue *firstKey, int64_t columns) {
          const int64_t tq = geometry_.queries, tk = geometry_.keys, joined = tq + 2 * tk;
          IRValue *gradientBase = builder.CreateMul(batch, index(builder, joined));
          zeroRows(builder, pointers, builder.CreateAdd(gradientBase, builder.CreateAdd(index(builder, tq), firstKey)),
                   columns);
          zeroRows(builder, pointers,
                   builder.CreateAdd(gradientBase, builder.CreateAdd(index(builder, tq + tk), firstKey)), columns);
          forEachQueryBlockSeeing(builder, firstKey, [&](IRValue *firstQuery, int64_t rows) {
            backwardPair(builder, pointers, buffers, batch, firstQuery, rows, firstKey, columns, kKeyAndValueGradients);
          });
        });
  }
  void queryBlockTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers) {
    BlockBuffers buffers = allocateBuffers(builder, false, true);
    forBlockOfTask(
        builder, taskIndex, geometry_.queries, kQueryBlock, [&](IRValue *batch, IRValue *firstQuery, int64_t rows) {
          const int64_t joined = geometry_.queries + 2 * geometry_.keys;
          zeroRows(builder, pointers, builder.CreateAdd(builder.CreateMul(batch, index(builder, joined)), firstQuery),
                   rows);
          forEachKeyBlock(
              builder, visibleKeyBlocks(builder, firstQuery, rows), [&](IRValue *firstKey, int64_t columns) {
                backwardPair(builder, pointers, buffers, batch, firstQuery, rows, firstKey, columns, kQueryGradients);
              });
        });
  }

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

  BlockBuffers allocateBuffers(llvm::IRBuilder<> &builder, bool accumulator, bool gradients) {
    auto allocate = [&](int64_t elements) {
      llvm::AllocaInst *buffer = builder.CreateAlloca(element_, index(builder, elements));
      buffer->setAlignment(llvm::Align(64));
      return buffer;
    };
    BlockBuffers buffers;
    buffers.scores = allocate(kQueryBlock * kKeyBlock);
    if (gradients) buffers.scoreGradients = allocate(kQueryBlock * kKeyBlock);
    if (accumulator) buffers.accumulator = allocate(kQueryBlock * geometry_.depth);
    buffers.maxima = allocate(kQueryBlock);
    buffers.sums = allocate(kQueryBlock);
    buffers.packed = allocate(packedElements());
    return buffers;
  }

  // A matrix product of the template for one block shape, called from a task (its own loop, no
  // scratch: B is read in place).
  llvm::Function *product(int64_t m, int64_t n, int64_t k, bool transposeA, bool transposeB, bool accumulate) {
    auto key = std::make_tuple(m, n, k, transposeA, transposeB, accumulate);
    if (auto found = products_.find(key); found != products_.end()) return found->second;
    MatmulDescription description;
    description.element = element_->isDoubleTy() ? MatmulElement::F64 : MatmulElement::F32;
    description.m = m, description.n = n, description.k = k;
    description.transposeA = transposeA, description.transposeB = transposeB, description.accumulate = accumulate;
    // A transposed B (K_j or V_j read as columns) is packed once per product into the task's
    // buffer; transposing it in the micro-kernel instead redid it for every row tile of A.
    MatmulTiling fixed;
    fixed.packB = transposeB ? 1 : 0;
    fixed.parallel = 0;
    std::string name = fmt::format("{}.product{}", name_, products_.size());
    llvm::Expected<MatmulPlan> plan = emitMatmulKernel(module_, target_, description, name, {}, fixed);
    int64_t bufferBytes = packedElements() * static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8;
    if (!plan || plan->scratchBytes > bufferBytes) {
      llvm::consumeError(plan.takeError());
      error_ = fmt::format("no matrix product of {}x{}x{} whose packing fits the attention task's buffer", m, n, k);
      return nullptr;
    }
    return products_[key] = module_.getFunction(name);
  }

  // Elements of the buffer a product packs a transposed block of Bk rows into: the rows rounded
  // up to whole panels (at most 64 columns wide) times d.
  int64_t packedElements() const { return (kKeyBlock + 64) * geometry_.depth; }

  void callProduct(llvm::IRBuilder<> &builder, const BlockBuffers &buffers, llvm::Function *function, IRValue *a,
                   IRValue *b, IRValue *c) {
    if (!function) return;
    builder.CreateCall(function, {a, b, c, buffers.packed});
  }

  void emitIf(llvm::IRBuilder<> &builder, IRValue *condition, const std::function<void()> &then) {
    emitIfElse(builder, condition, then, {});
  }
  void emitIfElse(llvm::IRBuilder<> &builder, IRValue *condition, const std::function<void()> &then,
                  const std::function<void()> &otherwise) {
    llvm::Function *function = builder.GetInsertBlock()->getParent();
    auto *thenBlock = llvm::BasicBlock::Create(context_, "if.then", function);
    auto *elseBlock = otherwise ? llvm::BasicBlock::Create(context_, "if.else", function) : nullptr;
    auto *after = llvm::BasicBlock::Create(context_, "if.end", function);
    builder.CreateCondBr(condition, thenBlock, elseBlock ? elseBlock : after);
    builder.SetInsertPoint(thenBlock);
    then();
    builder.CreateBr(after);
    if (elseBlock) {
      builder.SetInsertPoint(elseBlock);
      otherwise();
      builder.CreateBr(after);
    }
    builder.SetInsertPoint(after);
  }

  // body(offset, mask, carried) for each vector of `count` contiguous elements, returning the
  // values carried to the next; mask is null for a full vector, else the lanes of the tail.
  using Carried = std::vector<IRValue *>;
  Carried forEachVector(llvm::IRBuilder<> &builder, int64_t count, Carried carried,
                        const std::function<Carried(IRValue *, IRValue *, const Carried &)> &body) {
    int64_t full = count / lanes_;
    if (full > 0)
      carried = matmul::emitLoop(builder, index(builder, full), carried, [&](IRValue *vector, const Carried &values) {
        return body(builder.CreateMul(vector, index(builder, lanes_)), nullptr, values);
      });
    if (count % lanes_ != 0) {
      std::vector<llvm::Constant *> bits;
      for (unsigned lane = 0; lane < lanes_; ++lane) bits.push_back(builder.getInt1(lane < count % lanes_));
      carried = body(index(builder, full * lanes_), llvm::ConstantVector::get(bits), carried);
    }
    return carried;
  }
  void forEachVector(llvm::IRBuilder<> &builder, int64_t count, const std::function<void(IRValue *, IRValue *)> &body) {
    forEachVector(builder, count, {}, [&](IRValue *offset, IRValue *mask, const Carried &) {
      body(offset, mask);
      return Carried{};
    });
  }
  IRValue *load(llvm::IRBuilder<> &builder, IRValue *pointer, IRValue *mask, double fill) {
    if (!mask)
      return builder.CreateAlignedLoad(vectorType(), pointer,
                                       llvm::Align(static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8));
    return builder.CreateMaskedLoad(vectorType(), pointer,
                                    llvm::Align(static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8), mask,
                                    vectorConstant(fill));
  }
  void store(llvm::IRBuilder<> &builder, IRValue *value, IRValue *pointer, IRValue *mask) {
    llvm::Align align(static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8);
    if (!mask)
      builder.CreateAlignedStore(value, pointer, align);
    else
      builder.CreateMaskedStore(value, pointer, align, mask);
  }
  IRValue *exponential(llvm::IRBuilder<> &builder, IRValue *x) {
    loops::ElementEmitter emitter(builder, module_);
    return loops::exponential(emitter, x);
  }
  IRValue *lanePositions(llvm::IRBuilder<> &builder) {
    std::vector<llvm::Constant *> positions;
    for (unsigned lane = 0; lane < lanes_; ++lane) positions.push_back(builder.getInt64(lane));
    return llvm::ConstantVector::get(positions);
  }

  // Key blocks the queries [firstQuery, firstQuery + rows) see: all, or with `causal` those
  // starting at or before the last query.
  IRValue *visibleKeyBlocks(llvm::IRBuilder<> &builder, IRValue *firstQuery, int64_t rows) {
    IRValue *all = index(builder, geometry_.keyBlocks());
    if (!geometry_.causal) return all;
    IRValue *lastQuery = builder.CreateAdd(firstQuery, index(builder, rows - 1));
    IRValue *seen = builder.CreateAdd(builder.CreateUDiv(lastQuery, index(builder, kKeyBlock)), index(builder, 1));
    return builder.CreateBinaryIntrinsic(llvm::Intrinsic::umin, seen, all);
  }

  // body(firstKey, columns) for each of the first `count` key blocks.
  void forEachKeyBlock(llvm::IRBuilder<> &builder, IRValue *count,
                       const std::function<void(IRValue *firstKey, int64_t columns)> &body) {
    int64_t fullBlocks = geometry_.keys / kKeyBlock, lastColumns = geometry_.keys % kKeyBlock;
    IRValue *full = builder.CreateBinaryIntrinsic(llvm::Intrinsic::umin, count, index(builder, fullBlocks));
    if (fullBlocks > 0)
      matmul::emitLoop(builder, full,
                       [&](IRValue *block) { body(builder.CreateMul(block, index(builder, kKeyBlock)), kKeyBlock); });
    if (lastColumns != 0)
      emitIf(builder, builder.CreateICmpUGT(count, index(builder, fullBlocks)),
             [&] { body(index(builder, fullBlocks * kKeyBlock), lastColumns); });
  }

  // Task `taskIndex` of batch elements × blocks of `blockSize` along an axis of `extent`:
  // body(batch, first position, the block's extent), emitted once per static extent (a full
  // block, and the last one when it is shorter), the task picking its own at run time.
  void forBlockOfTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, int64_t extent, int64_t blockSize,
                      const std::function<void(IRValue *batch, IRValue *first, int64_t size)> &body) {
    IRValue *blocks = index(builder, (extent + blockSize - 1) / blockSize);
    IRValue *batch = builder.CreateUDiv(taskIndex, blocks);
    IRValue *first = builder.CreateMul(builder.CreateURem(taskIndex, blocks), index(builder, blockSize));
    int64_t fullBlocks = extent / blockSize, last = extent % blockSize;
    if (last == 0) return body(batch, first, blockSize);
    if (fullBlocks == 0) return body(batch, first, last);
    emitIfElse(
        builder, builder.CreateICmpEQ(first, index(builder, fullBlocks * blockSize)), [&] { body(batch, first, last); },
        [&] { body(batch, first, blockSize); });
  }

  // Zeroes `rows` rows of d elements of the gradient result from row `firstRow`.
  void zeroRows(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, IRValue *firstRow, int64_t rows) {
    const int64_t d = geometry_.depth, elementBytes = static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8;
    builder.CreateMemSet(at(builder, pointers[kResult], builder.CreateMul(firstRow, index(builder, d))),
                         builder.getInt8(0), rows * d * elementBytes, llvm::MaybeAlign(elementBytes));
  }

  // body(firstQuery, rows) for each query block that sees the key block from firstKey (all of
  // them, or with `causal` those from the block holding query firstKey on), in order.
  void forEachQueryBlockSeeing(llvm::IRBuilder<> &builder, IRValue *firstKey,
                               const std::function<void(IRValue *firstQuery, int64_t rows)> &body) {
    IRValue *firstBlock =
        geometry_.causal ? builder.CreateUDiv(firstKey, index(builder, kQueryBlock)) : index(builder, 0);
    int64_t fullBlocks = geometry_.queries / kQueryBlock, lastRows = geometry_.queries % kQueryBlock;
    IRValue *fullCount =
        builder.CreateSub(index(builder, fullBlocks),
                          builder.CreateBinaryIntrinsic(llvm::Intrinsic::umin, firstBlock, index(builder, fullBlocks)));
    matmul::emitLoop(builder, fullCount, [&](IRValue *block) {
      body(builder.CreateMul(builder.CreateAdd(firstBlock, block), index(builder, kQueryBlock)), kQueryBlock);
    });
    if (lastRows != 0) body(index(builder, fullBlocks * kQueryBlock), lastRows);
  }

  // Row `row` of a block of scores (query `query`, keys from `firstKey`, `columns` of them):
  // s = S·scale + bias, -inf where the causal mask drops the key, written back; returns max s.
  IRValue *scoreRow(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, IRValue *batch, IRValue *rowPointer,
                    IRValue *query, IRValue *firstKey, int64_t columns) {
    IRValue *scale = builder.CreateVectorSplat(lanes_, constant(geometry_.scale));
    IRValue *biasRow = nullptr;
    if (geometry_.biased) {
      // The batch element's bias offset from a table, as batch offsets follow the broadcast.
      auto *tableType = llvm::ArrayType::get(builder.getInt64Ty(), geometry_.biasBatchOffsets.size());
      if (!biasOffsets_) {
        std::vector<uint64_t> offsets(geometry_.biasBatchOffsets.begin(), geometry_.biasBatchOffsets.end());
        biasOffsets_ = new llvm::GlobalVariable(
            module_, tableType, true, llvm::GlobalValue::InternalLinkage,
            llvm::ConstantDataArray::get(context_, llvm::ArrayRef<uint64_t>(offsets)), name_ + ".bias_offsets");
      }
      llvm::GlobalVariable *table = biasOffsets_;
      IRValue *batchOffset = builder.CreateLoad(
          builder.getInt64Ty(), builder.CreateInBoundsGEP(tableType, table, {index(builder, 0), batch}));
      IRValue *offset =
          builder.CreateAdd(batchOffset, builder.CreateMul(query, index(builder, geometry_.biasRowStride)));
      offset = builder.CreateAdd(offset, builder.CreateMul(firstKey, index(builder, geometry_.biasColumnStride)));
      biasRow = at(builder, pointers[kBias], offset);
    }
    IRValue *lowest = vectorConstant(-std::numeric_limits<double>::infinity());
    IRValue *maxima =
        forEachVector(builder, columns, {lowest}, [&](IRValue *offset, IRValue *mask, const Carried &running) {
          IRValue *pointer = at(builder, rowPointer, offset);
          IRValue *score = builder.CreateFMul(load(builder, pointer, mask, 0.0), scale);
          if (biasRow) {
            IRValue *bias = geometry_.biasColumnStride == 0
                                ? builder.CreateVectorSplat(lanes_, builder.CreateLoad(element_, biasRow))
                                : load(builder, at(builder, biasRow, offset), mask, 0.0);
            score = builder.CreateFAdd(score, bias);
          }
          if (geometry_.causal) {
            IRValue *keys = builder.CreateAdd(builder.CreateVectorSplat(lanes_, builder.CreateAdd(firstKey, offset)),
                                              lanePositions(builder));
            score = builder.CreateSelect(builder.CreateICmpUGT(keys, builder.CreateVectorSplat(lanes_, query)), lowest,
                                         score);
          }
          if (mask) score = builder.CreateSelect(mask, score, lowest);
          store(builder, score, pointer, mask);
          return Carried{builder.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, running[0], score)};
        })[0];
    return builder.CreateFPMaximumReduce(maxima);
  }

  // Forward step 2 and 3 (or, statisticsOnly, the log-sum-exp and D of each row) for a block of
  // `rows` queries from firstQuery.
  void forwardRows(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, const BlockBuffers &buffers,
                   IRValue *batch, IRValue *firstQuery, int64_t rows, bool statisticsOnly) {
    const int64_t d = geometry_.depth;
    IRValue *rowBase = builder.CreateAdd(builder.CreateMul(batch, index(builder, geometry_.queries)), firstQuery);
    IRValue *queries = at(builder, pointers[kQ], builder.CreateMul(rowBase, index(builder, d)));
    matmul::emitLoop(builder, index(builder, rows), [&](IRValue *row) {
      builder.CreateStore(constant(-std::numeric_limits<double>::infinity()), at(builder, buffers.maxima, row));
      builder.CreateStore(constant(0.0), at(builder, buffers.sums, row));
    });
    if (buffers.accumulator)
      builder.CreateMemSet(buffers.accumulator, builder.getInt8(0),
                           rows * d * (static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8),
                           llvm::MaybeAlign(64));
    forEachKeyBlock(builder, visibleKeyBlocks(builder, firstQuery, rows), [&](IRValue *firstKey, int64_t columns) {
      IRValue *keyBase = builder.CreateAdd(builder.CreateMul(batch, index(builder, geometry_.keys)), firstKey);
      IRValue *keyOffset = builder.CreateMul(keyBase, index(builder, d));
      callProduct(builder, buffers, product(rows, columns, d, false, true, false), queries,
                  at(builder, pointers[kK], keyOffset), buffers.scores);
      matmul::emitLoop(builder, index(builder, rows), [&](IRValue *row) {
        IRValue *rowPointer = at(builder, buffers.scores, builder.CreateMul(row, index(builder, columns)));
        IRValue *query = builder.CreateAdd(firstQuery, row);
        IRValue *blockMaximum = scoreRow(builder, pointers, batch, rowPointer, query, firstKey, columns);
        IRValue *oldMaximum = builder.CreateLoad(element_, at(builder, buffers.maxima, row));
        IRValue *newMaximum = builder.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, oldMaximum, blockMaximum);
        IRValue *empty = builder.CreateFCmpOEQ(newMaximum, constant(-std::numeric_limits<double>::infinity()));
        IRValue *shift = builder.CreateSelect(empty, constant(0.0), newMaximum);
        IRValue *rescale = exponential(builder, builder.CreateFSub(oldMaximum, shift));
        IRValue *shiftVector = builder.CreateVectorSplat(lanes_, shift);
        IRValue *sum = forEachVector(
            builder, columns, {vectorConstant(0.0)}, [&](IRValue *offset, IRValue *mask, const Carried &partial) {
              IRValue *pointer = at(builder, rowPointer, offset);
              IRValue *weight =
                  exponential(builder, builder.CreateFSub(load(builder, pointer, mask, 0.0), shiftVector));
              if (mask) weight = builder.CreateSelect(mask, weight, vectorConstant(0.0));
              store(builder, weight, pointer, mask);
              return Carried{builder.CreateFAdd(partial[0], weight)};
            })[0];
        IRValue *sumPointer = at(builder, buffers.sums, row);
        IRValue *total = builder.CreateFAdd(builder.CreateFMul(builder.CreateLoad(element_, sumPointer), rescale),
                                            builder.CreateFAddReduce(constant(0.0), sum));
        builder.CreateStore(total, sumPointer);
        builder.CreateStore(newMaximum, at(builder, buffers.maxima, row));
        if (buffers.accumulator) {
          IRValue *rowAccumulator = at(builder, buffers.accumulator, builder.CreateMul(row, index(builder, d)));
          IRValue *factor = builder.CreateVectorSplat(lanes_, rescale);
          forEachVector(builder, d, [&](IRValue *offset, IRValue *mask) {
            IRValue *pointer = at(builder, rowAccumulator, offset);
            store(builder, builder.CreateFMul(load(builder, pointer, mask, 0.0), factor), pointer, mask);
          });
        }
      });
      if (buffers.accumulator)
        callProduct(builder, buffers, product(rows, d, columns, false, false, true), buffers.scores,
                    at(builder, pointers[kV], keyOffset), buffers.accumulator);
    });
    matmul::emitLoop(builder, index(builder, rows), [&](IRValue *row) {
      IRValue *rowIndex = builder.CreateAdd(rowBase, row);
      IRValue *total = builder.CreateLoad(element_, at(builder, buffers.sums, row));
      if (statisticsOnly) {
        // L = m + log l, +inf for a row that saw no key (then e^(s - L) = 0); D = Σ g∘o.
        IRValue *maximum = builder.CreateLoad(element_, at(builder, buffers.maxima, row));
        loops::ElementEmitter emitter(builder, module_);
        IRValue *logSumExp = builder.CreateFAdd(maximum, emitter.libm("log", total, false));
        IRValue *empty = builder.CreateFCmpOEQ(total, constant(0.0));
        logSumExp = builder.CreateSelect(empty, constant(std::numeric_limits<double>::infinity()), logSumExp);
        builder.CreateStore(logSumExp, at(builder, pointers[kLogSumExp], rowIndex));
        IRValue *rowOffset = builder.CreateMul(rowIndex, index(builder, d));
        IRValue *dot = forEachVector(
            builder, d, {vectorConstant(0.0)}, [&](IRValue *offset, IRValue *mask, const Carried &partial) {
              IRValue *position = builder.CreateAdd(rowOffset, offset);
              IRValue *output = load(builder, at(builder, pointers[kOutput], position), mask, 0.0);
              IRValue *gradient = load(builder, at(builder, pointers[kOutputGradient], position), mask, 0.0);
              return Carried{builder.CreateFAdd(partial[0], builder.CreateFMul(output, gradient))};
            })[0];
        builder.CreateStore(builder.CreateFAddReduce(constant(0.0), dot), at(builder, pointers[kRowDot], rowIndex));
        return;
      }
      // o = acc / l, 0 for a row that saw no key.
      IRValue *empty = builder.CreateFCmpOEQ(total, constant(0.0));
      IRValue *inverse = builder.CreateSelect(empty, constant(0.0), builder.CreateFDiv(constant(1.0), total));
      IRValue *factor = builder.CreateVectorSplat(lanes_, inverse);
      IRValue *rowAccumulator = at(builder, buffers.accumulator, builder.CreateMul(row, index(builder, d)));
      IRValue *output = at(builder, pointers[kResult], builder.CreateMul(rowIndex, index(builder, d)));
      forEachVector(builder, d, [&](IRValue *offset, IRValue *mask) {
        IRValue *value = builder.CreateFMul(load(builder, at(builder, rowAccumulator, offset), mask, 0.0), factor);
        store(builder, value, at(builder, output, offset), mask);
      });
    });
  }

  // Backward step 2 for query rows [firstQuery, firstQuery + rows) against keys from firstKey.
  void backwardPair(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, const BlockBuffers &buffers,
                    IRValue *batch, IRValue *firstQuery, int64_t rows, IRValue *firstKey, int64_t columns,
                    Gradients wanted) {
    const int64_t d = geometry_.depth, tq = geometry_.queries, tk = geometry_.keys, joined = tq + 2 * tk;
    IRValue *rowBase = builder.CreateAdd(builder.CreateMul(batch, index(builder, tq)), firstQuery);
    IRValue *queryOffset = builder.CreateMul(rowBase, index(builder, d));
    IRValue *keyOffset =
        builder.CreateMul(builder.CreateAdd(builder.CreateMul(batch, index(builder, tk)), firstKey), index(builder, d));
    IRValue *queries = at(builder, pointers[kQ], queryOffset);
    IRValue *outputGradient = at(builder, pointers[kOutputGradient], queryOffset);
    IRValue *gradientBase = builder.CreateMul(batch, index(builder, joined));
    auto gradientRows = [&](int64_t first, IRValue *row) {
      return at(builder, pointers[kResult],
                builder.CreateMul(builder.CreateAdd(gradientBase, builder.CreateAdd(index(builder, first), row)),
                                  index(builder, d)));
    };
    IRValue *queryGradient = gradientRows(0, firstQuery);
    IRValue *keyGradient = gradientRows(tq, firstKey), *valueGradient = gradientRows(tq + tk, firstKey);

    callProduct(builder, buffers, product(rows, columns, d, false, true, false), queries,
                at(builder, pointers[kK], keyOffset), buffers.scores);
    IRValue *scale = builder.CreateVectorSplat(lanes_, constant(geometry_.scale));
    matmul::emitLoop(builder, index(builder, rows), [&](IRValue *row) {
      IRValue *rowPointer = at(builder, buffers.scores, builder.CreateMul(row, index(builder, columns)));
      IRValue *query = builder.CreateAdd(firstQuery, row);
      scoreRow(builder, pointers, batch, rowPointer, query, firstKey, columns);
      IRValue *logSumExp = builder.CreateVectorSplat(
          lanes_, builder.CreateLoad(element_, at(builder, pointers[kLogSumExp], builder.CreateAdd(rowBase, row))));
      forEachVector(builder, columns, [&](IRValue *offset, IRValue *mask) {
        IRValue *pointer = at(builder, rowPointer, offset);
        store(builder, exponential(builder, builder.CreateFSub(load(builder, pointer, mask, 0.0), logSumExp)), pointer,
              mask);
      });
    });
    // dv_j += Pᵀ g_i, dP = g_i V_jᵀ
    if (wanted != kQueryGradients)
      callProduct(builder, buffers, product(columns, d, rows, true, false, true), buffers.scores, outputGradient,
                  valueGradient);
    callProduct(builder, buffers, product(rows, columns, d, false, true, false), outputGradient,
                at(builder, pointers[kV], keyOffset), buffers.scoreGradients);
    // dS = P∘(dP - D)·scale
    matmul::emitLoop(builder, index(builder, rows), [&](IRValue *row) {
      IRValue *rowOffset = builder.CreateMul(row, index(builder, columns));
      IRValue *rowDot = builder.CreateVectorSplat(
          lanes_, builder.CreateLoad(element_, at(builder, pointers[kRowDot], builder.CreateAdd(rowBase, row))));
      forEachVector(builder, columns, [&](IRValue *offset, IRValue *mask) {
        IRValue *position = builder.CreateAdd(rowOffset, offset);
        IRValue *weight = load(builder, at(builder, buffers.scores, position), mask, 0.0);
        IRValue *pointer = at(builder, buffers.scoreGradients, position);
        IRValue *gradient = builder.CreateFMul(
            builder.CreateFMul(weight, builder.CreateFSub(load(builder, pointer, mask, 0.0), rowDot)), scale);
        store(builder, gradient, pointer, mask);
      });
    });
    // dq_i += dS K_j, dk_j += dSᵀ Q_i
    if (wanted != kKeyAndValueGradients)
      callProduct(builder, buffers, product(rows, d, columns, false, false, true), buffers.scoreGradients,
                  at(builder, pointers[kK], keyOffset), queryGradient);
    if (wanted != kQueryGradients)
      callProduct(builder, buffers, product(columns, d, rows, true, false, true), buffers.scoreGradients, queries,
                  keyGradient);
  }

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
}  // namespace

llvm::Error emitAttention(llvm::Module &module, const Target &target, const Function &kernel) {
  const Operation &op = *kernel.results()[0]->definingOp();
  DType dtype = op.result()->type().dtype;
  if (dtype != DType::F32 && dtype != DType::F64)
    return llvm::createStringError(
        fmt::format("kernel @{}: {} has no lowering for {}", kernel.name(), op.name(), dtypeName(dtype)));
  bool gradient = op.kind() == OpKind::AttentionGrad;
  size_t biasOperand = gradient ? 5 : 3;
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
  pointers[kResult] = function->getArg(function->arg_size() - 1);
  if (gradient) {
    pointers[kOutput] = rowMajor(emitter, op.operand(3), temporaries);
    pointers[kOutputGradient] = rowMajor(emitter, op.operand(4), temporaries);
    int64_t statistics = geometry.batches * geometry.queries * static_cast<int64_t>(dtypeByteSize(dtype));
    pointers[kLogSumExp] = temporaries.allocate(statistics);
    pointers[kRowDot] = temporaries.allocate(statistics);
  }
  auto *contextType = llvm::ArrayType::get(builder.getPtrTy(), kPointerCount);
  llvm::Value *context = builder.CreateAlloca(contextType);
  for (int i = 0; i < kPointerCount; ++i)
    builder.CreateStore(pointers[i], builder.CreateConstInBoundsGEP2_64(contextType, context, 0, i));

  AttentionEmitter attention(module, target, geometry, dtype, kernel.name());
  llvm::Function *rows = attention.task(
      "rows", [&](llvm::IRBuilder<> &taskBuilder, llvm::Value *index, std::vector<llvm::Value *> &taskPointers) {
        attention.forwardTask(taskBuilder, index, taskPointers, /*statisticsOnly=*/gradient);
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
