// The attention emitter's shared helpers: tasks, stack buffers, block products, vector loops and block walks.
#include <limits>

#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/AttentionEmitter.h"
#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"
#include "backends/cpu/MatmulKernel.h"

namespace kiln::cpu::templates::attention {

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

llvm::Function *
AttentionEmitter::task(const std::string &suffix,
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

BlockBuffers AttentionEmitter::allocateBuffers(llvm::IRBuilder<> &builder, bool accumulator, bool gradients) {
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

llvm::Function *AttentionEmitter::product(int64_t m, int64_t n, int64_t k, bool transposeA, bool transposeB,
                                          bool accumulate) {
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

void AttentionEmitter::callProduct(llvm::IRBuilder<> &builder, const BlockBuffers &buffers, llvm::Function *function,
                                   IRValue *a, IRValue *b, IRValue *c) {
  if (!function) return;
  builder.CreateCall(function, {a, b, c, buffers.packed});
}

void AttentionEmitter::emitIf(llvm::IRBuilder<> &builder, IRValue *condition, const std::function<void()> &then) {
  emitIfElse(builder, condition, then, {});
}

void AttentionEmitter::emitIfElse(llvm::IRBuilder<> &builder, IRValue *condition, const std::function<void()> &then,
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

AttentionEmitter::Carried
AttentionEmitter::forEachVector(llvm::IRBuilder<> &builder, int64_t count, Carried carried,
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

void AttentionEmitter::forEachVector(llvm::IRBuilder<> &builder, int64_t count,
                                     const std::function<void(IRValue *, IRValue *)> &body) {
  forEachVector(builder, count, {}, [&](IRValue *offset, IRValue *mask, const Carried &) {
    body(offset, mask);
    return Carried{};
  });
}

IRValue *AttentionEmitter::load(llvm::IRBuilder<> &builder, IRValue *pointer, IRValue *mask, double fill) {
  if (!mask)
    return builder.CreateAlignedLoad(vectorType(), pointer,
                                     llvm::Align(static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8));
  return builder.CreateMaskedLoad(vectorType(), pointer,
                                  llvm::Align(static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8), mask,
                                  vectorConstant(fill));
}

void AttentionEmitter::store(llvm::IRBuilder<> &builder, IRValue *value, IRValue *pointer, IRValue *mask) {
  llvm::Align align(static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8);
  if (!mask)
    builder.CreateAlignedStore(value, pointer, align);
  else
    builder.CreateMaskedStore(value, pointer, align, mask);
}

IRValue *AttentionEmitter::exponential(llvm::IRBuilder<> &builder, IRValue *x) {
  loops::ElementEmitter emitter(builder, module_);
  return loops::exponential(emitter, x);
}

IRValue *AttentionEmitter::lanePositions(llvm::IRBuilder<> &builder) {
  std::vector<llvm::Constant *> positions;
  for (unsigned lane = 0; lane < lanes_; ++lane) positions.push_back(builder.getInt64(lane));
  return llvm::ConstantVector::get(positions);
}

IRValue *AttentionEmitter::visibleKeyBlocks(llvm::IRBuilder<> &builder, IRValue *firstQuery, int64_t rows) {
  IRValue *all = index(builder, geometry_.keyBlocks());
  if (!geometry_.causal) return all;
  IRValue *lastQuery = builder.CreateAdd(firstQuery, index(builder, rows - 1));
  IRValue *seen = builder.CreateAdd(builder.CreateUDiv(lastQuery, index(builder, kKeyBlock)), index(builder, 1));
  return builder.CreateBinaryIntrinsic(llvm::Intrinsic::umin, seen, all);
}

void AttentionEmitter::forEachKeyBlock(llvm::IRBuilder<> &builder, IRValue *count,
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

void AttentionEmitter::forBlockOfTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, int64_t extent, int64_t blockSize,
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

void AttentionEmitter::zeroRows(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, IRValue *firstRow,
                                int64_t rows) {
  const int64_t d = geometry_.depth, elementBytes = static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8;
  builder.CreateMemSet(at(builder, pointers[kResult], builder.CreateMul(firstRow, index(builder, d))),
                       builder.getInt8(0), rows * d * elementBytes, llvm::MaybeAlign(elementBytes));
}

void AttentionEmitter::forEachQueryBlockSeeing(llvm::IRBuilder<> &builder, IRValue *firstKey,
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

IRValue *AttentionEmitter::scoreRow(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers, IRValue *batch,
                                    IRValue *rowPointer, IRValue *query, IRValue *firstKey, int64_t columns) {
  IRValue *scale = builder.CreateVectorSplat(lanes_, constant(geometry_.scale));
  IRValue *biasRow = nullptr;
  if (geometry_.biased) {
    // The batch element's bias offset from a table, as batch offsets follow the broadcast.
    auto *tableType = llvm::ArrayType::get(builder.getInt64Ty(), geometry_.biasBatchOffsets.size());
    if (!biasOffsets_) {
      std::vector<uint64_t> offsets(geometry_.biasBatchOffsets.begin(), geometry_.biasBatchOffsets.end());
      biasOffsets_ = new llvm::GlobalVariable(module_, tableType, true, llvm::GlobalValue::InternalLinkage,
                                              llvm::ConstantDataArray::get(context_, llvm::ArrayRef<uint64_t>(offsets)),
                                              name_ + ".bias_offsets");
    }
    llvm::GlobalVariable *table = biasOffsets_;
    IRValue *batchOffset = builder.CreateLoad(builder.getInt64Ty(),
                                              builder.CreateInBoundsGEP(tableType, table, {index(builder, 0), batch}));
    IRValue *offset = builder.CreateAdd(batchOffset, builder.CreateMul(query, index(builder, geometry_.biasRowStride)));
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
        return Carried{larger(builder, running[0], score)};
      })[0];
  // Halving: lanes [0, w/2) against [w/2, w).
  for (unsigned width = lanes_; width > 1; width /= 2) {
    llvm::SmallVector<int, 16> upper(lanes_, -1);
    for (unsigned lane = 0; lane < width / 2; ++lane) upper[lane] = static_cast<int>(lane + width / 2);
    maxima = larger(builder, maxima, builder.CreateShuffleVector(maxima, upper));
  }
  return builder.CreateExtractElement(maxima, uint64_t{0});
}

IRValue *AttentionEmitter::larger(llvm::IRBuilder<> &builder, IRValue *a, IRValue *b) {
  return builder.CreateSelect(builder.CreateFCmpOGT(a, b), a, b);
}

}  // namespace kiln::cpu::templates::attention
