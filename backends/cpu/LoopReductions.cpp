// Element rules of the reductions (sum, mean, max, min, argmax) and the normalisations (softmax,
// log_softmax), for a reduction inside an expression (a later fusion): a loop nest over the
// reduced axes per element, in double, computed as the interpreter does. As a kernel's result a
// reduction is a row nest instead (LoopReductionRows.cpp), each reduced quantity computed once.
#include <cmath>

#include <llvm/IR/Intrinsics.h>

#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu::loops {

namespace {
using llvm::ArrayRef;
using IRValue = llvm::Value;

// Folds `fold(accumulator, element)` over the operand elements whose index agrees with `fixed`
// on the axes `reduced` says are not reduced, in row-major order.
IRValue *foldOver(ElementEmitter &emitter, const Value *operand, const std::vector<bool> &reduced, Index fixed,
                  IRValue *initial, const std::function<IRValue *(IRValue *, IRValue *)> &fold) {
  const Shape &shape = operand->type().shape;
  std::function<IRValue *(size_t, IRValue *)> nest = [&](size_t axis, IRValue *accumulator) -> IRValue * {
    if (axis == shape.size()) return fold(accumulator, emitter.element(operand, fixed));
    if (!reduced[axis]) return nest(axis + 1, accumulator);
    return matmul::emitLoop(emitter.builder, emitter.index(shape[axis]), {accumulator},
                            [&](IRValue *position, const std::vector<IRValue *> &carried) {
                              fixed[axis] = position;
                              return std::vector<IRValue *>{nest(axis + 1, carried[0])};
                            })[0];
  };
  return nest(0, initial);
}

IRValue *reduction(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  const Value *operand = op.operand(0);
  const Shape &shape = operand->type().shape;
  DType dtype = operand->type().dtype;
  bool floating = isFloat(dtype);
  std::vector<bool> reduced = reducedAxes(op, shape.size());
  bool keepdims = op.attributes().getBool("keepdims");
  Index fixed(shape.size(), nullptr);
  size_t next = 0;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (!reduced[axis])
      fixed[axis] = index[next++];
    else if (keepdims)
      ++next;
  }
  DType accumulatorType = floating ? DType::F64 : dtype;
  auto widen = [&](IRValue *value) { return floating ? emitter.convert(value, dtype, DType::F64) : value; };
  IRValue *result = nullptr;
  switch (op.kind()) {
  case OpKind::Sum:
  case OpKind::Mean: {
    result = foldOver(emitter, operand, reduced, fixed, emitter.constant(accumulatorType, 0),
                      [&](IRValue *sum, IRValue *value) {
                        return floating ? builder.CreateFAdd(sum, widen(value)) : builder.CreateAdd(sum, value);
                      });
    if (op.kind() == OpKind::Mean) {
      int64_t count = 1;
      for (size_t axis = 0; axis < shape.size(); ++axis) count *= reduced[axis] ? shape[axis] : 1;
      result = builder.CreateFDiv(result, emitter.constant(DType::F64, static_cast<double>(count)));
    }
    break;
  }
  case OpKind::Max:
  case OpKind::Min: {
    bool larger = op.kind() == OpKind::Max;
    IRValue *start;
    if (floating)
      start = emitter.constant(DType::F64, larger ? -HUGE_VAL : HUGE_VAL);
    else if (dtype == DType::I1)
      start = builder.getInt1(!larger);
    else {
      unsigned bits = dtype == DType::I32 ? 32 : 64;
      start = builder.getInt(larger ? llvm::APInt::getSignedMinValue(bits) : llvm::APInt::getSignedMaxValue(bits));
    }
    result = foldOver(emitter, operand, reduced, fixed, start, [&](IRValue *accumulator, IRValue *value) {
      return keepExtremum(emitter, accumulator, widen(value), larger, accumulatorType);
    });
    break;
  }
  default: llvm_unreachable("not a reduction over axes");
  }
  return floating ? emitter.convert(result, DType::F64, dtype) : result;
}

// softmax(x) = e^(x - m) / sum e^(x - m), log_softmax(x) = x - m - log(sum e^(x - m)), m the
// maximum along the axis (0 when infinite), all in double. Each element recomputes its row's m
// and sum: correct, not yet fast (the fusion issue shares them across the row).
IRValue *normalization(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  const Value *operand = op.operand(0);
  DType dtype = operand->type().dtype;
  int64_t axis = op.attributes().getInt("axis");
  if (axis < 0) axis += operand->type().rank();
  std::vector<bool> reduced(operand->type().shape.size(), false);
  reduced[axis] = true;
  Index fixed(index.begin(), index.end());
  auto widen = [&](IRValue *value) { return emitter.convert(value, dtype, DType::F64); };
  IRValue *maximum = foldOver(emitter, operand, reduced, fixed, emitter.constant(DType::F64, -HUGE_VAL),
                              [&](IRValue *accumulator, IRValue *value) {
                                return keepExtremum(emitter, accumulator, widen(value), true, DType::F64);
                              });
  IRValue *infinite = builder.CreateFCmpOEQ(emitter.intrinsic(llvm::Intrinsic::fabs, {maximum}),
                                            emitter.constant(DType::F64, HUGE_VAL));
  IRValue *shift = builder.CreateSelect(infinite, emitter.constant(DType::F64, 0), maximum);
  IRValue *sum = foldOver(emitter, operand, reduced, fixed, emitter.constant(DType::F64, 0),
                          [&](IRValue *accumulator, IRValue *value) {
                            IRValue *shifted = builder.CreateFSub(widen(value), shift);
                            return builder.CreateFAdd(accumulator, emitter.intrinsic(llvm::Intrinsic::exp, {shifted}));
                          });
  IRValue *shifted = builder.CreateFSub(widen(emitter.element(operand, index)), shift);
  IRValue *result = op.kind() == OpKind::LogSoftmax
                        ? builder.CreateFSub(shifted, emitter.intrinsic(llvm::Intrinsic::log, {sum}))
                        : builder.CreateFDiv(emitter.intrinsic(llvm::Intrinsic::exp, {shifted}), sum);
  return emitter.convert(result, DType::F64, dtype);
}

// The first maximum along the axis (NaN counting as the maximum).
IRValue *argmaxElement(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  const Value *operand = op.operand(0);
  size_t rank = operand->type().rank();
  int64_t axis = op.attributes().getInt("axis");
  if (axis < 0) axis += static_cast<int64_t>(rank);
  Index fixed;
  for (size_t i = 0, next = 0; i < rank; ++i) {
    if (static_cast<int64_t>(i) != axis)
      fixed.push_back(index[next++]);
    else {
      fixed.push_back(nullptr);
      if (op.attributes().getBool("keepdims")) ++next;
    }
  }
  DType dtype = operand->type().dtype;
  IRValue *lowest = isFloat(dtype) ? emitter.constant(dtype, -HUGE_VAL)
                                   : builder.getInt(llvm::APInt::getSignedMinValue(dtype == DType::I32 ? 32 : 64));
  std::vector<IRValue *> best =
      matmul::emitLoop(builder, emitter.index(operand->type().shape[axis]), {lowest, emitter.index(0)},
                       [&](IRValue *position, const std::vector<IRValue *> &carried) {
                         fixed[axis] = position;
                         IRValue *value = emitter.element(operand, fixed);
                         IRValue *take = isFloat(dtype)
                                             ? builder.CreateAnd(builder.CreateFCmpORD(carried[0], carried[0]),
                                                                 builder.CreateFCmpUGT(value, carried[0]))
                                             : builder.CreateICmpSGT(value, carried[0]);
                         return std::vector<IRValue *>{builder.CreateSelect(take, value, carried[0]),
                                                       builder.CreateSelect(take, position, carried[1])};
                       });
  return best[1];
}

}  // namespace

// For each operand axis: whether it is reduced. No axes: all of them.
std::vector<bool> reducedAxes(const Operation &op, size_t rank) {
  const Ints &axes = op.attributes().getInts("axes");
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t axis : axes) reduced[axis < 0 ? axis + static_cast<int64_t>(rank) : axis] = true;
  return reduced;
}

IRValue *keepExtremum(ElementEmitter &emitter, IRValue *accumulator, IRValue *value, bool larger, DType dtype) {
  llvm::IRBuilder<> &builder = emitter.builder;
  if (!isFloat(dtype)) {
    IRValue *better =
        dtype == DType::I1
            ? (larger ? builder.CreateICmpUGT(value, accumulator) : builder.CreateICmpULT(value, accumulator))
            : (larger ? builder.CreateICmpSGT(value, accumulator) : builder.CreateICmpSLT(value, accumulator));
    return builder.CreateSelect(better, value, accumulator);
  }
  // accumulator NaN: keep it; value better or NaN: take it.
  IRValue *better = larger ? builder.CreateFCmpUGT(value, accumulator) : builder.CreateFCmpULT(value, accumulator);
  IRValue *chosen = builder.CreateSelect(better, value, accumulator);
  return builder.CreateSelect(builder.CreateFCmpUNO(accumulator, accumulator), accumulator, chosen);
}

LoopRule reductionRule(OpKind kind) {
  switch (kind) {
  case OpKind::Sum:
  case OpKind::Mean:
  case OpKind::Max:
  case OpKind::Min: return reduction;
  case OpKind::Softmax:
  case OpKind::LogSoftmax: return normalization;
  case OpKind::Argmax: return argmaxElement;
  default: return nullptr;
  }
}

}  // namespace kiln::cpu::loops
