// attention_grad's gradient tasks: the block-pair gradients, by batch element or in the two-pass split.
#include "backends/cpu/AttentionEmitter.h"
#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu::templates::attention {

void AttentionEmitter::batchTask(llvm::IRBuilder<> &builder, IRValue *batch, std::vector<IRValue *> &pointers) {
  BlockBuffers buffers = allocateBuffers(builder, false, true);
  const int64_t joined = geometry_.queries + 2 * geometry_.keys;
  zeroRows(builder, pointers, builder.CreateMul(batch, index(builder, joined)), joined);
  forEachKeyBlock(builder, index(builder, geometry_.keyBlocks()), [&](IRValue *firstKey, int64_t columns) {
    forEachQueryBlockSeeing(builder, firstKey, [&](IRValue *firstQuery, int64_t rows) {
      backwardPair(builder, pointers, buffers, batch, firstQuery, rows, firstKey, columns, kEveryGradient);
    });
  });
}

void AttentionEmitter::keyBlockTask(llvm::IRBuilder<> &builder, IRValue *taskIndex, std::vector<IRValue *> &pointers) {
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

void AttentionEmitter::queryBlockTask(llvm::IRBuilder<> &builder, IRValue *taskIndex,
                                      std::vector<IRValue *> &pointers) {
  BlockBuffers buffers = allocateBuffers(builder, false, true);
  forBlockOfTask(
      builder, taskIndex, geometry_.queries, kQueryBlock, [&](IRValue *batch, IRValue *firstQuery, int64_t rows) {
        const int64_t joined = geometry_.queries + 2 * geometry_.keys;
        zeroRows(builder, pointers, builder.CreateAdd(builder.CreateMul(batch, index(builder, joined)), firstQuery),
                 rows);
        forEachKeyBlock(builder, visibleKeyBlocks(builder, firstQuery, rows), [&](IRValue *firstKey, int64_t columns) {
          backwardPair(builder, pointers, buffers, batch, firstQuery, rows, firstKey, columns, kQueryGradients);
        });
      });
}

void AttentionEmitter::backwardPair(llvm::IRBuilder<> &builder, std::vector<IRValue *> &pointers,
                                    const BlockBuffers &buffers, IRValue *batch, IRValue *firstQuery, int64_t rows,
                                    IRValue *firstKey, int64_t columns, Gradients wanted) {
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

}  // namespace kiln::cpu::templates::attention
