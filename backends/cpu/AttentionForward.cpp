// Attention's forward task: the online softmax over key blocks, and the statistics attention_grad starts from.
#include <limits>

#include "backends/cpu/AttentionEmitter.h"
#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu::templates::attention {

void AttentionEmitter::forwardTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers) {
  BlockBuffers buffers = allocateBuffers(builder, true, false);
  forBlockOfTask(builder, taskIndex, geometry_.queries, kQueryBlock,
                 [&](IRValue *batch, IRValue *firstQuery, int64_t rows) {
                   forwardRows(builder, pointers, buffers, batch, firstQuery, rows);
                 });
}

void AttentionEmitter::rowDotTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers) {
  const int64_t d = geometry_.depth;
  forBlockOfTask(
      builder, taskIndex, geometry_.queries, kQueryBlock, [&](IRValue *batch, IRValue *firstQuery, int64_t rows) {
        IRValue *rowBase = builder.CreateAdd(builder.CreateMul(batch, index(builder, geometry_.queries)), firstQuery);
        matmul::emitLoop(builder, index(builder, rows), [&](IRValue *row) {
          IRValue *rowIndex = builder.CreateAdd(rowBase, row);
          IRValue *rowOffset = builder.CreateMul(rowIndex, index(builder, d));
          IRValue *dot = forEachVector(
              builder, d, {vectorConstant(0.0)}, [&](IRValue *offset, IRValue *mask, const Carried &partial) {
                IRValue *position = builder.CreateAdd(rowOffset, offset);
                IRValue *output = load(builder, at(builder, pointers[kOutput], position), mask, 0.0);
                IRValue *gradient = load(builder, at(builder, pointers[kOutputGradient], position), mask, 0.0);
                return Carried{builder.CreateFAdd(partial[0], builder.CreateFMul(output, gradient))};
              })[0];
          builder.CreateStore(builder.CreateFAddReduce(constant(0.0), dot), at(builder, pointers[kRowDot], rowIndex));
        });
      });
}

void AttentionEmitter::forwardRows(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers,
                                   const BlockBuffers &buffers, IRValue *batch, IRValue *firstQuery, int64_t rows) {
  const int64_t d = geometry_.depth;
  IRValue *rowBase = builder.CreateAdd(builder.CreateMul(batch, index(builder, geometry_.queries)), firstQuery);
  IRValue *queries = at(builder, pointers[kQ], builder.CreateMul(rowBase, index(builder, d)));
  matmul::emitLoop(builder, index(builder, rows), [&](IRValue *row) {
    builder.CreateStore(constant(-std::numeric_limits<double>::infinity()), at(builder, buffers.maxima, row));
    builder.CreateStore(constant(0.0), at(builder, buffers.sums, row));
  });
  builder.CreateMemSet(buffers.accumulator, builder.getInt8(0),
                       rows * d * (static_cast<int64_t>(element_->getPrimitiveSizeInBits()) / 8), llvm::MaybeAlign(64));
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
            IRValue *weight = exponential(builder, builder.CreateFSub(load(builder, pointer, mask, 0.0), shiftVector));
            if (mask) weight = builder.CreateSelect(mask, weight, vectorConstant(0.0));
            store(builder, weight, pointer, mask);
            return Carried{builder.CreateFAdd(partial[0], weight)};
          })[0];
      IRValue *sumPointer = at(builder, buffers.sums, row);
      IRValue *total = builder.CreateFAdd(builder.CreateFMul(builder.CreateLoad(element_, sumPointer), rescale),
                                          builder.CreateFAddReduce(constant(0.0), sum));
      builder.CreateStore(total, sumPointer);
      builder.CreateStore(newMaximum, at(builder, buffers.maxima, row));
      IRValue *rowAccumulator = at(builder, buffers.accumulator, builder.CreateMul(row, index(builder, d)));
      IRValue *factor = builder.CreateVectorSplat(lanes_, rescale);
      forEachVector(builder, d, [&](IRValue *offset, IRValue *mask) {
        IRValue *pointer = at(builder, rowAccumulator, offset);
        store(builder, builder.CreateFMul(load(builder, pointer, mask, 0.0), factor), pointer, mask);
      });
    });
    callProduct(builder, buffers, product(rows, d, columns, false, false, true), buffers.scores,
                at(builder, pointers[kV], keyOffset), buffers.accumulator);
  });
  matmul::emitLoop(builder, index(builder, rows), [&](IRValue *row) {
    IRValue *rowIndex = builder.CreateAdd(rowBase, row);
    IRValue *total = builder.CreateLoad(element_, at(builder, buffers.sums, row));
    IRValue *empty = builder.CreateFCmpOEQ(total, constant(0.0));  // the row saw no key
    // L = m + log l, +inf for a row that saw no key.
    IRValue *maximum = builder.CreateLoad(element_, at(builder, buffers.maxima, row));
    loops::ElementEmitter emitter(builder, module_);
    IRValue *logSumExp = builder.CreateFAdd(maximum, emitter.libm("log", total, false));
    logSumExp = builder.CreateSelect(empty, constant(std::numeric_limits<double>::infinity()), logSumExp);
    builder.CreateStore(logSumExp, at(builder, pointers[kLogSumExp], rowIndex));
    // o = acc / l, 0 for a row that saw no key.
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

}  // namespace kiln::cpu::templates::attention
