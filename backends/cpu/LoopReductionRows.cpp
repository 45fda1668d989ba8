// Reductions (sum, mean, max, min, argmax) and normalisations (softmax, log_softmax) as a loop
// kernel's result (reductionRows): a nest of independent rows, each reduced quantity computed
// once per row:
//  1. Reduced innermost axis (sum over axis 1 of [N, C], softmax along the last axis, axes
//     [0, 2, 3] of NCHW): one row per kept position. The elements, in row-major order over the
//     reduced axes, fold into L partial accumulators on the stack (L = 4 vectors of the target's
//     preferred width, e.g. 64 f32 on 512 bits; fewer when the innermost axis is shorter): the
//     element at position p of the innermost axis into partial p mod L. The innermost loop so
//     updates L contiguous partials from L contiguous elements, which the loop vectoriser turns
//     into four independent vector accumulators without reassociating anything. The partials
//     then combine by halving, partial[j] = partial[j] + partial[j + h] for h = L/2, ..., 2, 1: a
//     fixed tree. Softmax: the maximum so, then the sum of e^(x - max) (softmax keeps each
//     e^(x - max) in its output as it goes), then one pass writing the row.
//  2. Kept innermost axis (sum over axis 0 of [N, C], softmax along axis 0): one row per position
//     of the other kept axes and tile of up to kColumnTile columns. The reduced positions, in
//     row-major order, fold into a row of column accumulators, a whole contiguous row of elements
//     at a time (a vector loop over the columns). Sums are blocked: kSumBlock consecutive reduced
//     positions sum into a block row, block rows add into the total row in order.
// f32 sums accumulate in f32, f64 in f64, integers wrap; the error of an f32 sum of n elements is
// then about (n/L + log2 L) ulp in (1) and (kSumBlock + n/kSumBlock) ulp in (2) of the sum of
// magnitudes, against the interpreter's double. Max and min: NaN wins. argmax: the first
// maximum, a NaN counting as the maximum (the interpreter's rule); each partial holds the first
// best of its positions, and combining prefers a NaN, then the larger value, then the smaller
// position, which gives the sequential answer. The exponential is exponential() (Exponential.cpp),
// which vectorises where llvm.exp would be a libm call per element.
#include <bit>
#include <cmath>

#include <llvm/IR/Intrinsics.h>

#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu::loops {

namespace {
using IRValue = llvm::Value;

// The element of the operand at a full index: the operand's own element, or (softmax's sum pass)
// something computed from it.
using Source = std::function<IRValue *(const Index &index)>;
using Values = std::vector<IRValue *>;

// How a reduction folds: accumulator components (one; argmax: value and position) and their
// start, the step that takes one element at its position along the reduced axis, and the
// combination of two partial accumulators, the second of which holds later positions.
struct Fold {
  Values start;
  std::function<Values(const Values &accumulator, IRValue *element, IRValue *position)> step;
  std::function<Values(const Values &first, const Values &second)> combine;
  bool blocked = false;  // a sum: blocked in layout 2
};

constexpr int64_t kColumnTile = 256;  // columns per row in layout 2: a few KB of accumulators
constexpr int64_t kSumBlock = 16;     // reduced positions per block row of a layout-2 sum

// An innermost loop (over partials or columns): for the vectoriser.
void forLanes(llvm::IRBuilder<> &builder, IRValue *count, const std::function<void(IRValue *)> &body) {
  emitInnerLoop(builder, count, body);
}
void forLanes(llvm::IRBuilder<> &builder, int64_t count, const std::function<void(IRValue *)> &body) {
  if (count == 1)
    body(builder.getInt64(0));
  else if (count > 0)
    emitInnerLoop(builder, builder.getInt64(count), body);
}
void forCount(llvm::IRBuilder<> &builder, int64_t count, const std::function<void(IRValue *)> &body) {
  if (count == 1)
    body(builder.getInt64(0));
  else if (count > 0)
    matmul::emitLoop(builder, builder.getInt64(count), body);
}

// Accumulator arrays on the stack, one per component of a fold.
struct Slots {
  ElementEmitter &emitter;
  std::vector<llvm::Type *> types;
  Values arrays;
  Slots(ElementEmitter &emitter, const Values &start, int64_t count) : emitter(emitter) {
    for (IRValue *value : start) {
      types.push_back(value->getType());
      arrays.push_back(emitter.scratch(value->getType(), count));
    }
  }
  IRValue *address(size_t component, IRValue *at) {
    return emitter.builder.CreateInBoundsGEP(types[component], arrays[component], {at});
  }
  Values load(IRValue *at) {
    Values values;
    for (size_t k = 0; k < arrays.size(); ++k) values.push_back(emitter.builder.CreateLoad(types[k], address(k, at)));
    return values;
  }
  void store(IRValue *at, const Values &values) {
    for (size_t k = 0; k < arrays.size(); ++k) emitter.builder.CreateStore(values[k], address(k, at));
  }
};

// Layout 1: folds the elements at `index` (kept axes set) over the reduced axes, the innermost
// of which is the last, into partials combined by halving; returns the result.
Values foldPartials(ElementEmitter &emitter, const Target &target, const Shape &shape, const std::vector<bool> &reduced,
                    Index index, const Fold &fold, const Source &source) {
  llvm::IRBuilder<> &builder = emitter.builder;
  size_t last = shape.size() - 1;
  unsigned bits = fold.start[0]->getType()->getScalarSizeInBits();
  int64_t lanes = std::max<int64_t>(1, target.preferredVectorBits() / std::max(bits, 8u));
  const int64_t extent = shape[last];
  int64_t partials = std::min<int64_t>(4 * lanes, static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(extent))));
  Slots slots(emitter, fold.start, partials);
  forLanes(builder, partials, [&](IRValue *j) { slots.store(j, fold.start); });
  auto update = [&](IRValue *position, IRValue *j) {
    index[last] = position;
    slots.store(j, fold.step(slots.load(j), source(index), position));
  };
  std::function<void(size_t)> nest = [&](size_t axis) {
    if (axis == last) {
      const int64_t full = extent / partials, tail = extent % partials;
      forCount(builder, full, [&](IRValue *block) {
        IRValue *base = builder.CreateMul(block, emitter.index(partials));
        forLanes(builder, partials, [&](IRValue *j) { update(builder.CreateAdd(base, j), j); });
      });
      forLanes(builder, tail, [&](IRValue *j) { update(builder.CreateAdd(emitter.index(full * partials), j), j); });
      return;
    }
    if (!reduced[axis]) return nest(axis + 1);
    forCount(builder, shape[axis], [&](IRValue *position) {
      index[axis] = position;
      nest(axis + 1);
    });
  };
  nest(0);
  for (int64_t half = partials / 2; half >= 1; half /= 2)
    forLanes(builder, half, [&](IRValue *j) {
      slots.store(j, fold.combine(slots.load(j), slots.load(builder.CreateAdd(j, emitter.index(half)))));
    });
  return slots.load(emitter.index(0));
}

// Layout 2: for each column c < width (the last axis at begin + c), folds the elements at `index`
// (kept axes but the last set) over the reduced axes into column accumulators; returns them.
Slots foldColumns(ElementEmitter &emitter, const Shape &shape, const std::vector<bool> &reduced, Index index,
                  IRValue *begin, IRValue *width, const Fold &fold, const Source &source) {
  llvm::IRBuilder<> &builder = emitter.builder;
  size_t last = shape.size() - 1;
  std::vector<size_t> reducedList;
  std::vector<int64_t> reducedExtents;
  int64_t positions = 1;
  for (size_t axis = 0; axis < shape.size(); ++axis)
    if (reduced[axis]) {
      reducedList.push_back(axis);
      reducedExtents.push_back(shape[axis]);
      positions *= shape[axis];
    }
  Slots totals(emitter, fold.start, kColumnTile);
  auto reset = [&](Slots &slots) { forLanes(builder, width, [&](IRValue *c) { slots.store(c, fold.start); }); };
  // Positions [first, first + count) into `slots`, each a vector loop over the columns.
  auto foldPositions = [&](IRValue *first, int64_t count, Slots &slots) {
    forCount(builder, count, [&](IRValue *step) {
      IRValue *position = builder.CreateAdd(first, step);
      Index at = emitter.delinearize(position, reducedExtents);
      for (size_t k = 0; k < reducedList.size(); ++k) index[reducedList[k]] = at[k];
      forLanes(builder, width, [&](IRValue *c) {
        index[last] = builder.CreateAdd(begin, c);
        slots.store(c, fold.step(slots.load(c), source(index), position));
      });
    });
  };
  reset(totals);
  if (!fold.blocked) {
    foldPositions(emitter.index(0), positions, totals);
    return totals;
  }
  Slots block(emitter, fold.start, kColumnTile);
  auto foldBlock = [&](IRValue *first, int64_t count) {
    reset(block);
    foldPositions(first, count, block);
    forLanes(builder, width, [&](IRValue *c) { totals.store(c, fold.combine(totals.load(c), block.load(c))); });
  };
  const int64_t full = positions / kSumBlock, tail = positions % kSumBlock;
  forCount(builder, full, [&](IRValue *b) { foldBlock(builder.CreateMul(b, emitter.index(kSumBlock)), kSumBlock); });
  if (tail > 0) foldBlock(emitter.index(full * kSumBlock), tail);
  return totals;
}

Fold sumFold(ElementEmitter &emitter, DType dtype) {
  llvm::IRBuilder<> &builder = emitter.builder;
  bool floating = isFloat(dtype);
  auto add = [&builder, floating](IRValue *a, IRValue *b) {
    return floating ? builder.CreateFAdd(a, b) : builder.CreateAdd(a, b);
  };
  return {{emitter.constant(dtype, 0)},
          [add](const Values &a, IRValue *element, IRValue *) { return Values{add(a[0], element)}; },
          [add](const Values &a, const Values &b) { return Values{add(a[0], b[0])}; },
          true};
}

Fold extremumFold(ElementEmitter &emitter, DType dtype, bool larger) {
  llvm::IRBuilder<> &builder = emitter.builder;
  IRValue *start;
  if (isFloat(dtype))
    start = emitter.constant(dtype, larger ? -HUGE_VAL : HUGE_VAL);
  else {
    unsigned bits = dtype == DType::I32 ? 32 : 64;
    start = builder.getInt(larger ? llvm::APInt::getSignedMinValue(bits) : llvm::APInt::getSignedMaxValue(bits));
  }
  ElementEmitter *e = &emitter;
  return {{start},
          [e, dtype, larger](const Values &a, IRValue *element, IRValue *) {
            return Values{keepExtremum(*e, a[0], element, larger, dtype)};
          },
          [e, dtype, larger](const Values &a, const Values &b) {
            return Values{keepExtremum(*e, a[0], b[0], larger, dtype)};
          }};
}

Fold argmaxFold(ElementEmitter &emitter, DType dtype) {
  llvm::IRBuilder<> &builder = emitter.builder;
  bool floating = isFloat(dtype);
  IRValue *lowest = floating ? emitter.constant(dtype, -HUGE_VAL)
                             : builder.getInt(llvm::APInt::getSignedMinValue(dtype == DType::I32 ? 32 : 64));
  llvm::IRBuilder<> *b = &builder;
  // The leader a NaN: keep it; the element larger, or a NaN: take it.
  auto step = [b, floating](const Values &a, IRValue *element, IRValue *position) {
    IRValue *take = floating ? b->CreateAnd(b->CreateFCmpORD(a[0], a[0]), b->CreateFCmpUGT(element, a[0]))
                             : b->CreateICmpSGT(element, a[0]);
    return Values{b->CreateSelect(take, element, a[0]), b->CreateSelect(take, position, a[1])};
  };
  // Second wins: a NaN over a number or over a later NaN; between numbers, the larger, or the
  // earlier of equal ones.
  auto combine = [b, floating](const Values &first, const Values &second) {
    IRValue *earlier = b->CreateICmpSLT(second[1], first[1]);
    IRValue *better = floating ? b->CreateFCmpOGT(second[0], first[0]) : b->CreateICmpSGT(second[0], first[0]);
    IRValue *equal = floating ? b->CreateFCmpOEQ(second[0], first[0]) : b->CreateICmpEQ(second[0], first[0]);
    IRValue *take = b->CreateOr(better, b->CreateAnd(equal, earlier));
    if (floating) {
      IRValue *firstNaN = b->CreateFCmpUNO(first[0], first[0]), *secondNaN = b->CreateFCmpUNO(second[0], second[0]);
      take = b->CreateSelect(secondNaN, b->CreateOr(b->CreateNot(firstNaN), earlier),
                             b->CreateAnd(b->CreateNot(firstNaN), take));
    }
    return Values{b->CreateSelect(take, second[0], first[0]), b->CreateSelect(take, second[1], first[1])};
  };
  return {{lowest, emitter.index(0)}, step, combine};
}

// softmax and log_softmax's row pieces: the shift (the maximum, 0 when infinite) and e^(x - shift).
IRValue *shiftOf(ElementEmitter &emitter, IRValue *maximum) {
  llvm::IRBuilder<> &builder = emitter.builder;
  IRValue *infinite = builder.CreateFCmpOEQ(emitter.intrinsic(llvm::Intrinsic::fabs, {maximum}),
                                            llvm::ConstantFP::getInfinity(maximum->getType()));
  return builder.CreateSelect(infinite, llvm::ConstantFP::get(maximum->getType(), 0.0), maximum);
}

void storeOutput(ElementEmitter &emitter, DType dtype, IRValue *output, IRValue *offset, IRValue *value) {
  llvm::Type *memory = emitter.memoryType(dtype);
  emitter.builder.CreateStore(value, emitter.builder.CreateInBoundsGEP(memory, output, {offset}));
}
IRValue *loadOutput(ElementEmitter &emitter, DType dtype, IRValue *output, IRValue *offset) {
  llvm::Type *memory = emitter.memoryType(dtype);
  return emitter.builder.CreateLoad(memory, emitter.builder.CreateInBoundsGEP(memory, output, {offset}));
}
}  // namespace

std::optional<RowNest> reductionRows(const Value *result, const Target &target) {
  if (result->isArgument()) return std::nullopt;
  const Operation &op = *result->definingOp();
  OpKind kind = op.kind();
  bool normalization = kind == OpKind::Softmax || kind == OpKind::LogSoftmax;
  if (!normalization && kind != OpKind::Sum && kind != OpKind::Mean && kind != OpKind::Max && kind != OpKind::Min &&
      kind != OpKind::Argmax)
    return std::nullopt;
  const Value *operand = op.operand(0);
  const Shape shape = operand->type().shape;
  // A scalar or an empty operand: the element rule (one element, or none, to fold).
  if (shape.empty() || operand->type().elementCount() == 0) return std::nullopt;
  const size_t rank = shape.size(), last = rank - 1;
  std::vector<bool> reduced;
  if (normalization || kind == OpKind::Argmax) {
    int64_t axis = op.attributes().getInt("axis");
    reduced.assign(rank, false);
    reduced[axis < 0 ? axis + static_cast<int64_t>(rank) : axis] = true;
  } else
    reduced = reducedAxes(op, rank);
  const DType dtype = operand->type().dtype, resultType = result->type().dtype;
  int64_t count = 1;  // elements per reduction
  std::vector<int64_t> keptExtents;
  for (size_t axis = 0; axis < rank; ++axis)
    if (reduced[axis])
      count *= shape[axis];
    else
      keptExtents.push_back(shape[axis]);

  RowNest nest;
  nest.work = operand->type().elementCount() * (normalization ? 4 : 1);
  // The reduction's fold (not of a normalisation) and how its result finishes.
  auto foldOf = [=](ElementEmitter &emitter) {
    switch (kind) {
    case OpKind::Sum:
    case OpKind::Mean: return sumFold(emitter, dtype);
    case OpKind::Max:
    case OpKind::Min: return extremumFold(emitter, dtype, kind == OpKind::Max);
    default: return argmaxFold(emitter, dtype);
    }
  };
  auto finish = [=](ElementEmitter &emitter, const Values &accumulator) {
    if (kind == OpKind::Argmax) return accumulator[1];
    if (kind == OpKind::Mean)
      return emitter.builder.CreateFDiv(accumulator[0], emitter.constant(dtype, static_cast<double>(count)));
    return accumulator[0];
  };
  auto kept = [=](ElementEmitter &emitter, IRValue *position, size_t skipLast) {
    Index index(rank, nullptr);
    Index at = emitter.delinearize(position, llvm::ArrayRef<int64_t>(keptExtents).drop_back(skipLast));
    for (size_t axis = 0, next = 0; axis + skipLast < rank; ++axis)
      if (!reduced[axis]) index[axis] = at[next++];
    return index;
  };

  if (reduced[last]) {
    // Layout 1: a row per kept position; the output is row-major over the kept axes.
    for (int64_t extent : keptExtents) nest.rows *= extent;
    nest.emitRow = [=, &target](ElementEmitter &emitter, IRValue *output, IRValue *row) {
      llvm::IRBuilder<> &builder = emitter.builder;
      Index index = kept(emitter, row, 0);
      Source element = [&](const Index &at) { return emitter.element(operand, at); };
      if (!normalization) {
        Values accumulator = foldPartials(emitter, target, shape, reduced, index, foldOf(emitter), element);
        storeOutput(emitter, resultType, output, row, finish(emitter, accumulator));
        return;
      }
      // softmax / log_softmax along the last axis: the output's row starts at row * extent.
      const int64_t extent = shape[last];
      IRValue *rowStart = builder.CreateMul(row, emitter.index(extent));
      IRValue *maximum =
          foldPartials(emitter, target, shape, reduced, index, extremumFold(emitter, dtype, true), element)[0];
      IRValue *shift = shiftOf(emitter, maximum);
      Source exponentials = [&](const Index &at) {
        IRValue *e = exponential(emitter, builder.CreateFSub(emitter.element(operand, at), shift));
        if (kind == OpKind::Softmax) storeOutput(emitter, dtype, output, builder.CreateAdd(rowStart, at[last]), e);
        return e;
      };
      IRValue *sum = foldPartials(emitter, target, shape, reduced, index, sumFold(emitter, dtype), exponentials)[0];
      IRValue *logSum = kind == OpKind::LogSoftmax ? emitter.intrinsic(llvm::Intrinsic::log, {sum}) : nullptr;
      forLanes(builder, extent, [&](IRValue *position) {
        IRValue *offset = builder.CreateAdd(rowStart, position);
        IRValue *value;
        if (kind == OpKind::Softmax)
          value = builder.CreateFDiv(loadOutput(emitter, dtype, output, offset), sum);
        else {
          index[last] = position;
          value = builder.CreateFSub(builder.CreateFSub(emitter.element(operand, index), shift), logSum);
        }
        storeOutput(emitter, dtype, output, offset, value);
      });
    };
    return nest;
  }

  // Layout 2: a row per position of the kept axes but the last and tile of its columns.
  const int64_t columns = shape[last], tile = std::min(columns, kColumnTile), tiles = (columns + tile - 1) / tile;
  int64_t outerRows = 1;
  for (size_t k = 0; k + 1 < keptExtents.size(); ++k) outerRows *= keptExtents[k];
  nest.rows = outerRows * tiles;
  nest.emitRow = [=](ElementEmitter &emitter, IRValue *output, IRValue *row) {
    llvm::IRBuilder<> &builder = emitter.builder;
    IRValue *outerRow = tiles == 1 ? row : builder.CreateUDiv(row, emitter.index(tiles));
    IRValue *begin = tiles == 1 ? emitter.index(0)
                                : builder.CreateMul(builder.CreateURem(row, emitter.index(tiles)), emitter.index(tile));
    IRValue *width = tiles == 1 ? emitter.index(columns)
                                : builder.CreateBinaryIntrinsic(llvm::Intrinsic::smin, emitter.index(tile),
                                                                builder.CreateSub(emitter.index(columns), begin));
    Index index = kept(emitter, outerRow, 1);
    Source element = [&](const Index &at) { return emitter.element(operand, at); };
    if (!normalization) {
      Slots totals = foldColumns(emitter, shape, reduced, index, begin, width, foldOf(emitter), element);
      IRValue *outputStart = builder.CreateAdd(builder.CreateMul(outerRow, emitter.index(columns)), begin);
      forLanes(builder, width, [&](IRValue *c) {
        storeOutput(emitter, resultType, output, builder.CreateAdd(outputStart, c), finish(emitter, totals.load(c)));
      });
      return;
    }
    // softmax / log_softmax along a leading axis: column rows of shifts and sums.
    Slots shifts =
        foldColumns(emitter, shape, reduced, index, begin, width, extremumFold(emitter, dtype, true), element);
    forLanes(builder, width, [&](IRValue *c) { shifts.store(c, {shiftOf(emitter, shifts.load(c)[0])}); });
    auto shiftAt = [&](const Index &at) { return shifts.load(builder.CreateSub(at[last], begin))[0]; };
    Source exponentials = [&](const Index &at) {
      IRValue *e = exponential(emitter, builder.CreateFSub(emitter.element(operand, at), shiftAt(at)));
      if (kind == OpKind::Softmax) storeOutput(emitter, dtype, output, emitter.linearOffset(shape, at), e);
      return e;
    };
    Slots sums = foldColumns(emitter, shape, reduced, index, begin, width, sumFold(emitter, dtype), exponentials);
    if (kind == OpKind::LogSoftmax)
      forLanes(builder, width,
               [&](IRValue *c) { sums.store(c, {emitter.intrinsic(llvm::Intrinsic::log, {sums.load(c)[0]})}); });
    size_t axis = 0;
    while (!reduced[axis]) ++axis;
    forCount(builder, shape[axis], [&](IRValue *position) {
      index[axis] = position;
      forLanes(builder, width, [&](IRValue *c) {
        index[last] = builder.CreateAdd(begin, c);
        IRValue *offset = emitter.linearOffset(shape, index);
        IRValue *sum = sums.load(c)[0];
        IRValue *value =
            kind == OpKind::Softmax
                ? builder.CreateFDiv(loadOutput(emitter, dtype, output, offset), sum)
                : builder.CreateFSub(builder.CreateFSub(emitter.element(operand, index), shifts.load(c)[0]), sum);
        storeOutput(emitter, dtype, output, offset, value);
      });
    });
  };
  return nest;
}

}  // namespace kiln::cpu::loops
