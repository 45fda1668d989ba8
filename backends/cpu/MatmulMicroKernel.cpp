// The inner parts of the matrix-product template: the register-tiled micro-kernel and the
// packing of B into panels.
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu::matmul {

std::vector<llvm::Value *>
emitLoop(llvm::IRBuilder<> &builder, llvm::Value *count, const std::vector<llvm::Value *> &initial,
         const std::function<std::vector<llvm::Value *>(llvm::Value *index, const std::vector<llvm::Value *> &carried)>
             &body) {
  llvm::LLVMContext &context = builder.getContext();
  llvm::Function *function = builder.GetInsertBlock()->getParent();
  llvm::BasicBlock *before = builder.GetInsertBlock();
  llvm::BasicBlock *header = llvm::BasicBlock::Create(context, "loop", function);
  llvm::BasicBlock *bodyBlock = llvm::BasicBlock::Create(context, "loop.body", function);
  llvm::BasicBlock *exit = llvm::BasicBlock::Create(context, "loop.exit", function);
  builder.CreateBr(header);

  builder.SetInsertPoint(header);
  llvm::PHINode *index = builder.CreatePHI(builder.getInt64Ty(), 2, "index");
  index->addIncoming(builder.getInt64(0), before);
  std::vector<llvm::Value *> carried;
  for (llvm::Value *value : initial) {
    llvm::PHINode *phi = builder.CreatePHI(value->getType(), 2);
    phi->addIncoming(value, before);
    carried.push_back(phi);
  }
  builder.CreateCondBr(builder.CreateICmpSLT(index, count), bodyBlock, exit);

  builder.SetInsertPoint(bodyBlock);
  std::vector<llvm::Value *> next = body(index, carried);
  llvm::Value *nextIndex = builder.CreateAdd(index, builder.getInt64(1), "index.next", true, true);
  llvm::BasicBlock *latch = builder.GetInsertBlock();
  builder.CreateBr(header);
  index->addIncoming(nextIndex, latch);
  for (size_t i = 0; i < carried.size(); ++i) llvm::cast<llvm::PHINode>(carried[i])->addIncoming(next[i], latch);

  builder.SetInsertPoint(exit);
  return carried;
}

void emitLoop(llvm::IRBuilder<> &builder, llvm::Value *count, const std::function<void(llvm::Value *index)> &body) {
  emitLoop(builder, count, {}, [&](llvm::Value *index, const std::vector<llvm::Value *> &) {
    body(index);
    return std::vector<llvm::Value *>{};
  });
}

namespace {

llvm::Value *prefixMask(llvm::IRBuilder<> &builder, unsigned lanes, int64_t active) {
  std::vector<llvm::Constant *> bits;
  for (unsigned lane = 0; lane < lanes; ++lane) bits.push_back(builder.getInt1(static_cast<int64_t>(lane) < active));
  return llvm::ConstantVector::get(bits);
}

llvm::Value *offset(llvm::IRBuilder<> &builder, llvm::Type *element, llvm::Value *base, llvm::Value *elements) {
  return builder.CreateInBoundsGEP(element, base, elements);
}

llvm::Value *offset(llvm::IRBuilder<> &builder, llvm::Type *element, llvm::Value *base, int64_t elements) {
  return elements == 0 ? base : offset(builder, element, base, builder.getInt64(elements));
}

// Transposes a square block held as rows.size() (a power of two) vectors of as many lanes. Stage
// `bit` swaps that bit between the row and the lane index of every element: row r (bit clear)
// takes its partner row's lanes with the bit clear, moved up; the partner the other way round.
std::vector<llvm::Value *> transpose(llvm::IRBuilder<> &builder, std::vector<llvm::Value *> rows) {
  const unsigned size = static_cast<unsigned>(rows.size());
  for (unsigned bit = 1; bit < size; bit <<= 1) {
    std::vector<int> lowMask(size), highMask(size);
    for (unsigned lane = 0; lane < size; ++lane) {
      lowMask[lane] = static_cast<int>(lane & bit ? size + (lane ^ bit) : lane);
      highMask[lane] = static_cast<int>(lane & bit ? size + lane : lane | bit);
    }
    for (unsigned row = 0; row < size; ++row) {
      if (row & bit) continue;
      llvm::Value *low = builder.CreateShuffleVector(rows[row], rows[row | bit], lowMask);
      llvm::Value *high = builder.CreateShuffleVector(rows[row], rows[row | bit], highMask);
      rows[row] = low;
      rows[row | bit] = high;
    }
  }
  return rows;
}

}  // namespace

llvm::Function *emitMicroKernel(llvm::Module &module, const KernelShape &shape, const MatmulEpilogue &epilogue,
                                int rows, int64_t columns, const llvm::Twine &name) {
  llvm::LLVMContext &context = module.getContext();
  llvm::Type *pointer = llvm::PointerType::get(context, 0);
  llvm::Type *i64 = llvm::Type::getInt64Ty(context), *i1 = llvm::Type::getInt1Ty(context);
  std::vector<llvm::Type *> parameters{pointer, pointer, pointer, i64, i1, i1, i64, i64};
  parameters.insert(parameters.end(), shape.description.extraArguments, pointer);
  auto *function = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(context), parameters, false),
                                          llvm::GlobalValue::InternalLinkage, name, module);
  shape.target.stampFunctionAttributes(*function);
  function->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::Value *a = function->getArg(0), *b = function->getArg(1), *c = function->getArg(2);
  llvm::Value *depth = function->getArg(3), *accumulate = function->getArg(4), *finish = function->getArg(5);
  llvm::Value *row = function->getArg(6), *column = function->getArg(7);
  std::vector<llvm::Value *> extraArguments;
  for (int i = 0; i < shape.description.extraArguments; ++i) extraArguments.push_back(function->getArg(8 + i));

  const unsigned lanes = shape.plan.lanes;
  const int vectors = static_cast<int>((columns + lanes - 1) / lanes);
  const int64_t lastLanes = columns - static_cast<int64_t>(vectors - 1) * lanes;
  llvm::Type *element = shape.element;
  llvm::VectorType *vectorType = shape.vector;
  const llvm::Align elementAlign(element->getPrimitiveSizeInBits() / 8);
  const llvm::Align packedAlign(std::min<uint64_t>(64, vectorType->getPrimitiveSizeInBits().getFixedValue() / 8));
  const int64_t n = shape.description.n;

  llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", function));
  llvm::Value *lastMask = lastLanes < lanes ? prefixMask(builder, lanes, lastLanes) : nullptr;
  auto loadVector = [&](llvm::Value *address, int vector, llvm::Align align) -> llvm::Value * {
    if (vector == vectors - 1 && lastMask)
      return builder.CreateMaskedLoad(vectorType, address, align, lastMask, llvm::Constant::getNullValue(vectorType));
    return builder.CreateAlignedLoad(vectorType, address, align);
  };
  auto cAddress = [&](int tileRow, int vector) {
    return offset(builder, element, c, tileRow * n + static_cast<int64_t>(vector) * lanes);
  };

  // Accumulators start at zero, or at C when a previous K block has stored partial sums there.
  llvm::BasicBlock *entry = builder.GetInsertBlock();
  llvm::BasicBlock *loadBlock = llvm::BasicBlock::Create(context, "load.c", function);
  llvm::BasicBlock *start = llvm::BasicBlock::Create(context, "start", function);
  builder.CreateCondBr(accumulate, loadBlock, start);
  builder.SetInsertPoint(loadBlock);
  std::vector<llvm::Value *> loaded;
  for (int tileRow = 0; tileRow < rows; ++tileRow)
    for (int vector = 0; vector < vectors; ++vector)
      loaded.push_back(loadVector(cAddress(tileRow, vector), vector, elementAlign));
  builder.CreateBr(start);
  builder.SetInsertPoint(start);
  std::vector<llvm::Value *> initial;
  for (llvm::Value *value : loaded) {
    llvm::PHINode *phi = builder.CreatePHI(vectorType, 2);
    phi->addIncoming(llvm::Constant::getNullValue(vectorType), entry);
    phi->addIncoming(value, loadBlock);
    initial.push_back(phi);
  }

  llvm::Function *fma = llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::fma, {vectorType});
  // Adds the products over K steps k0 .. k0 + steps to the accumulators, given B's row k0 + step.
  auto multiplyAdd = [&](llvm::Value *k0, int64_t steps, const std::function<llvm::Value *(int64_t, int)> &bVector,
                         std::vector<llvm::Value *> accumulators) {
    for (int64_t step = 0; step < steps; ++step) {
      llvm::Value *k = builder.CreateAdd(k0, builder.getInt64(step));
      llvm::Value *aColumn = offset(builder, element, a, builder.CreateMul(k, builder.getInt64(shape.aDepthStride())));
      std::vector<llvm::Value *> bVectors;
      for (int vector = 0; vector < vectors; ++vector) bVectors.push_back(bVector(step, vector));
      for (int tileRow = 0; tileRow < rows; ++tileRow) {
        llvm::Value *scalar = builder.CreateAlignedLoad(
            element, offset(builder, element, aColumn, tileRow * shape.aRowStride()), elementAlign);
        llvm::Value *broadcast = builder.CreateVectorSplat(lanes, scalar);
        for (int vector = 0; vector < vectors; ++vector) {
          llvm::Value *&sum = accumulators[tileRow * vectors + vector];
          sum = builder.CreateCall(fma, {broadcast, bVectors[vector], sum});
        }
      }
    }
    return accumulators;
  };
  std::vector<llvm::Value *> sums;
  if (shape.transposedInPlace()) {
    // `lanes` K steps at a time: the tile's `columns` rows of B (columns of op(B)), `lanes`
    // elements along K each, transposed in registers into `lanes` rows of op(B). K is static.
    const int64_t k = shape.description.k;
    auto block = [&](llvm::Value *k0, int64_t steps, const std::vector<llvm::Value *> &accumulators) {
      llvm::Value *stepMask = prefixMask(builder, lanes, steps);
      std::vector<std::vector<llvm::Value *>> transposed;
      for (int vector = 0; vector < vectors; ++vector) {
        std::vector<llvm::Value *> bRows;
        for (unsigned lane = 0; lane < lanes; ++lane) {
          int64_t column = int64_t(vector) * lanes + lane;
          if (column >= columns) {
            bRows.push_back(llvm::Constant::getNullValue(vectorType));
            continue;
          }
          llvm::Value *address = offset(builder, element, b, builder.CreateAdd(builder.getInt64(column * k), k0));
          bRows.push_back(steps == lanes
                              ? static_cast<llvm::Value *>(builder.CreateAlignedLoad(vectorType, address, elementAlign))
                              : builder.CreateMaskedLoad(vectorType, address, elementAlign, stepMask,
                                                         llvm::Constant::getNullValue(vectorType)));
        }
        transposed.push_back(transpose(builder, bRows));
      }
      return multiplyAdd(
          k0, steps, [&](int64_t step, int vector) { return transposed[vector][step]; }, accumulators);
    };
    sums = emitLoop(builder, builder.getInt64(k / lanes), initial,
                    [&](llvm::Value *index, const std::vector<llvm::Value *> &accumulators) {
                      return block(builder.CreateMul(index, builder.getInt64(lanes)), lanes, accumulators);
                    });
    if (k % lanes) sums = block(builder.getInt64(k - k % lanes), k % lanes, sums);
  } else {
    // One step along K: `vectors` loads of B, one broadcast of A per row, rows × vectors FMAs.
    sums = emitLoop(builder, depth, initial, [&](llvm::Value *k, const std::vector<llvm::Value *> &accumulators) {
      llvm::Value *bRow = offset(builder, element, b, builder.CreateMul(k, builder.getInt64(shape.bDepthStride())));
      return multiplyAdd(
          k, 1,
          [&](int64_t, int vector) {
            return loadVector(offset(builder, element, bRow, static_cast<int64_t>(vector) * lanes), vector,
                              shape.packed() ? packedAlign : elementAlign);
          },
          accumulators);
    });
  }

  if (epilogue) {
    llvm::BasicBlock *before = builder.GetInsertBlock();
    llvm::BasicBlock *epilogueBlock = llvm::BasicBlock::Create(context, "epilogue", function);
    llvm::BasicBlock *storeBlock = llvm::BasicBlock::Create(context, "store", function);
    builder.CreateCondBr(finish, epilogueBlock, storeBlock);
    builder.SetInsertPoint(epilogueBlock);
    std::vector<llvm::Value *> finished;
    for (int tileRow = 0; tileRow < rows; ++tileRow)
      for (int vector = 0; vector < vectors; ++vector)
        finished.push_back(
            epilogue(builder, {sums[tileRow * vectors + vector], builder.CreateAdd(row, builder.getInt64(tileRow)),
                               builder.CreateAdd(column, builder.getInt64(int64_t(vector) * lanes)), extraArguments}));
    llvm::BasicBlock *epilogueEnd = builder.GetInsertBlock();
    builder.CreateBr(storeBlock);
    builder.SetInsertPoint(storeBlock);
    for (size_t i = 0; i < sums.size(); ++i) {
      llvm::PHINode *phi = builder.CreatePHI(vectorType, 2);
      phi->addIncoming(sums[i], before);
      phi->addIncoming(finished[i], epilogueEnd);
      sums[i] = phi;
    }
  }

  for (int tileRow = 0; tileRow < rows; ++tileRow)
    for (int vector = 0; vector < vectors; ++vector) {
      llvm::Value *sum = sums[tileRow * vectors + vector], *address = cAddress(tileRow, vector);
      if (vector == vectors - 1 && lastMask)
        builder.CreateMaskedStore(sum, address, elementAlign, lastMask);
      else
        builder.CreateAlignedStore(sum, address, elementAlign);
    }
  builder.CreateRetVoid();
  return function;
}

llvm::Function *emitPackPanel(llvm::Module &module, const KernelShape &shape, const llvm::Twine &name) {
  llvm::LLVMContext &context = module.getContext();
  llvm::Type *pointer = llvm::PointerType::get(context, 0), *i64 = llvm::Type::getInt64Ty(context);
  auto *function =
      llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(context), {pointer, pointer, i64}, false),
                             llvm::GlobalValue::InternalLinkage, name, module);
  shape.target.stampFunctionAttributes(*function);
  function->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::Value *b = function->getArg(0), *packed = function->getArg(1), *panel = function->getArg(2);

  const unsigned lanes = shape.plan.lanes;
  const int64_t n = shape.description.n, k = shape.description.k, width = shape.panelWidth();
  llvm::Type *element = shape.element;
  llvm::VectorType *vectorType = shape.vector;
  const llvm::Align elementAlign(element->getPrimitiveSizeInBits() / 8);
  const llvm::Align packedAlign(std::min<uint64_t>(64, vectorType->getPrimitiveSizeInBits().getFixedValue() / 8));

  llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", function));
  std::vector<llvm::Constant *> laneNumbers;
  for (unsigned lane = 0; lane < lanes; ++lane) laneNumbers.push_back(builder.getInt64(lane));
  llvm::Value *iota = llvm::ConstantVector::get(laneNumbers);
  // Per vector of the panel: its columns and which of them exist (the last panel ends at N).
  llvm::Value *firstColumn = builder.CreateMul(panel, builder.getInt64(width));
  std::vector<llvm::Value *> columns, masks;
  for (int vector = 0; vector < shape.plan.tiling.tileVectors; ++vector) {
    llvm::Value *start = builder.CreateAdd(firstColumn, builder.getInt64(int64_t(vector) * lanes));
    columns.push_back(builder.CreateAdd(builder.CreateVectorSplat(lanes, start), iota));
    masks.push_back(builder.CreateICmpSLT(columns.back(), builder.CreateVectorSplat(lanes, builder.getInt64(n))));
  }
  llvm::Value *zero = llvm::Constant::getNullValue(vectorType);
  if (shape.description.transposeB) {
    // B is N × K: `lanes` of its rows (columns of op(B)), `lanes` elements along K each, are
    // loaded as vectors, transposed in registers and stored as `lanes` rows of the panel.
    auto packBlock = [&](llvm::Value *depth, int64_t depthCount) {
      llvm::Value *depthMask = prefixMask(builder, lanes, depthCount);
      for (int vector = 0; vector < shape.plan.tiling.tileVectors; ++vector) {
        std::vector<llvm::Value *> rows;
        for (unsigned lane = 0; lane < lanes; ++lane) {
          llvm::Value *column = builder.CreateAdd(firstColumn, builder.getInt64(int64_t(vector) * lanes + lane));
          llvm::Value *mask = builder.CreateAnd(
              builder.CreateVectorSplat(lanes, builder.CreateICmpSLT(column, builder.getInt64(n))), depthMask);
          llvm::Value *source =
              offset(builder, element, b, builder.CreateAdd(builder.CreateMul(column, builder.getInt64(k)), depth));
          rows.push_back(builder.CreateMaskedLoad(vectorType, source, elementAlign, mask, zero));
        }
        std::vector<llvm::Value *> transposed = transpose(builder, rows);
        for (int64_t step = 0; step < depthCount; ++step) {
          llvm::Value *row = builder.CreateAdd(depth, builder.getInt64(step));
          llvm::Value *destination = offset(builder, element, packed,
                                            builder.CreateAdd(builder.CreateMul(row, builder.getInt64(width)),
                                                              builder.getInt64(int64_t(vector) * lanes)));
          builder.CreateAlignedStore(transposed[step], destination, packedAlign);
        }
      }
    };
    emitLoop(builder, builder.getInt64(k / lanes),
             [&](llvm::Value *block) { packBlock(builder.CreateMul(block, builder.getInt64(lanes)), lanes); });
    if (k % lanes) packBlock(builder.getInt64(k - k % lanes), k % lanes);
  } else {
    emitLoop(builder, builder.getInt64(k), [&](llvm::Value *depth) {
      llvm::Value *destination = offset(builder, element, packed, builder.CreateMul(depth, builder.getInt64(width)));
      for (int vector = 0; vector < shape.plan.tiling.tileVectors; ++vector) {
        llvm::Value *source =
            offset(builder, element, b,
                   builder.CreateAdd(builder.CreateMul(depth, builder.getInt64(n)),
                                     builder.CreateAdd(firstColumn, builder.getInt64(int64_t(vector) * lanes))));
        llvm::Value *values = builder.CreateMaskedLoad(vectorType, source, elementAlign, masks[vector], zero);
        builder.CreateAlignedStore(values, offset(builder, element, destination, int64_t(vector) * lanes), packedAlign);
      }
    });
  }
  builder.CreateRetVoid();
  return function;
}

}  // namespace kiln::cpu::matmul
