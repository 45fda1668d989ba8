// Index-expression rules of the pools and their gradients, matching the interpreter's
// (backends/interpreter/Convolutions.cpp) to the last bit: the same taps in the same order, sums
// in double rounded once, the first maximum of a window (a NaN counting as the maximum) taking
// its gradient. Images are NCHW, padding [top, left, bottom, right]; padding is never a tap.
//
// A gradient element dx[n, c, r, q] gathers from the windows that hold (r, q): along each axis
// at most ceil(window / stride) of them, the last one being (r + before) / stride. They are
// visited in increasing row-major order, the order in which the interpreter scatters into dx.
#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu::loops {

namespace {
using llvm::ArrayRef;
using IRValue = llvm::Value;
using Carried = std::vector<IRValue *>;
using RangeBody = std::function<Carried(IRValue *position, const Carried &carried)>;

// Axes up to this extent are unrolled (straight-line selects the vectoriser can widen), longer
// ones become loops so that large windows do not blow up the code.
constexpr int64_t kUnrollLimit = 4;

Carried forRange(llvm::IRBuilder<> &builder, int64_t count, Carried carried, const RangeBody &body) {
  if (count > kUnrollLimit) return matmul::emitLoop(builder, builder.getInt64(count), carried, body);
  for (int64_t position = 0; position < count; ++position) carried = body(builder.getInt64(position), carried);
  return carried;
}

// One spatial axis of a pool: window taps, stride, padding before, and the image's extent.
struct PoolAxis {
  int64_t window, stride, before, extent, outputs;
};

struct PoolGeometry {
  PoolAxis rows, columns;
  explicit PoolGeometry(const Operation &op) {
    const Ints &window = op.attributes().getInts("window"), &stride = op.attributes().getInts("stride");
    const Ints &padding = op.attributes().getInts("padding");
    const Shape &input = op.operand(0)->type().shape;
    auto outputs = [&](size_t axis) {
      return (input[2 + axis] + padding[axis] + padding[axis + 2] - window[axis]) / stride[axis] + 1;
    };
    rows = {window[0], stride[0], padding[0], input[2], outputs(0)};
    columns = {window[1], stride[1], padding[1], input[3], outputs(1)};
  }
};

struct Tap {
  IRValue *inside;    // i1: the position lies in the image
  IRValue *position;  // i64, clamped into the image
};

// Tap `tap` of window `window` along one axis.
Tap tapAt(ElementEmitter &emitter, const PoolAxis &axis, IRValue *window, IRValue *tap) {
  llvm::IRBuilder<> &builder = emitter.builder;
  IRValue *position = builder.CreateAdd(
      builder.CreateSub(builder.CreateMul(window, emitter.index(axis.stride)), emitter.index(axis.before)), tap);
  IRValue *inside = builder.CreateICmpULT(position, emitter.index(axis.extent));
  IRValue *clamped =
      builder.CreateSelect(builder.CreateICmpSLT(position, emitter.index(0)), emitter.index(0), position);
  clamped = builder.CreateSelect(builder.CreateICmpSGT(clamped, emitter.index(axis.extent - 1)),
                                 emitter.index(axis.extent - 1), clamped);
  return {inside, clamped};
}

// The number of taps of window `window` inside the image along one axis.
IRValue *tapsInside(ElementEmitter &emitter, const PoolAxis &axis, IRValue *window) {
  llvm::IRBuilder<> &builder = emitter.builder;
  IRValue *begin = builder.CreateSub(builder.CreateMul(window, emitter.index(axis.stride)), emitter.index(axis.before));
  IRValue *end = builder.CreateAdd(begin, emitter.index(axis.window));
  IRValue *last =
      builder.CreateSelect(builder.CreateICmpSLT(end, emitter.index(axis.extent)), end, emitter.index(axis.extent));
  IRValue *first = builder.CreateSelect(builder.CreateICmpSGT(begin, emitter.index(0)), begin, emitter.index(0));
  return builder.CreateSub(last, first);
}

// The first maximum of window (h, w) of image (n, c): {value, row, column, any tap inside}.
Carried firstMaximum(ElementEmitter &emitter, const Operation &op, const PoolGeometry &geometry, IRValue *n, IRValue *c,
                     IRValue *h, IRValue *w) {
  llvm::IRBuilder<> &builder = emitter.builder;
  const Value *input = op.operand(0);
  llvm::Type *type = emitter.registerType(input->type().dtype);
  Carried start{llvm::ConstantFP::getInfinity(type, true), emitter.index(0), emitter.index(0), builder.getFalse()};
  return forRange(builder, geometry.rows.window, start, [&](IRValue *kh, const Carried &carried) {
    Tap row = tapAt(emitter, geometry.rows, h, kh);
    return forRange(builder, geometry.columns.window, carried, [&](IRValue *kw, const Carried &best) {
      Tap column = tapAt(emitter, geometry.columns, w, kw);
      IRValue *inside = builder.CreateAnd(row.inside, column.inside);
      IRValue *x = emitter.element(input, {n, c, row.position, column.position});
      // Taken when inside and either the first tap inside, or no NaN yet and (greater or NaN).
      IRValue *better =
          builder.CreateAnd(builder.CreateFCmpORD(best[0], best[0]),
                            builder.CreateOr(builder.CreateFCmpOGT(x, best[0]), builder.CreateFCmpUNO(x, x)));
      IRValue *take = builder.CreateAnd(inside, builder.CreateOr(builder.CreateNot(best[3]), better));
      return Carried{builder.CreateSelect(take, x, best[0]), builder.CreateSelect(take, row.position, best[1]),
                     builder.CreateSelect(take, column.position, best[2]), builder.CreateOr(best[3], inside)};
    });
  });
}

IRValue *maxPool(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  PoolGeometry geometry(op);
  return firstMaximum(emitter, op, geometry, index[0], index[1], index[2], index[3])[0];
}

// Mean of the taps inside the image, summed in double in row-major order; 0 with no tap.
IRValue *averagePool(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  PoolGeometry geometry(op);
  const Value *input = op.operand(0);
  auto *f64 = builder.getDoubleTy();
  IRValue *zero = llvm::ConstantFP::get(f64, 0.0);
  Carried sum = forRange(builder, geometry.rows.window, {zero}, [&](IRValue *kh, const Carried &carried) {
    Tap row = tapAt(emitter, geometry.rows, index[2], kh);
    return forRange(builder, geometry.columns.window, carried, [&](IRValue *kw, const Carried &partial) {
      Tap column = tapAt(emitter, geometry.columns, index[3], kw);
      IRValue *x = emitter.convert(emitter.element(input, {index[0], index[1], row.position, column.position}),
                                   input->type().dtype, DType::F64);
      return Carried{
          builder.CreateFAdd(partial[0], builder.CreateSelect(builder.CreateAnd(row.inside, column.inside), x, zero))};
    });
  });
  IRValue *count =
      builder.CreateMul(tapsInside(emitter, geometry.rows, index[2]), tapsInside(emitter, geometry.columns, index[3]));
  IRValue *mean = builder.CreateFDiv(sum[0], builder.CreateSIToFP(count, f64));
  mean = builder.CreateSelect(builder.CreateICmpSGT(count, emitter.index(0)), mean, zero);
  return emitter.convert(mean, DType::F64, op.result()->type().dtype);
}

// One axis of the windows holding image position `position`: the candidate window for `step`
// (0 .. ceil(window / stride) - 1, increasing) and whether it exists and holds the position.
struct Candidate {
  IRValue *valid;
  IRValue *window;  // clamped into [0, outputs)
};
int64_t candidateCount(const PoolAxis &axis) { return (axis.window + axis.stride - 1) / axis.stride; }
Candidate candidateAt(ElementEmitter &emitter, const PoolAxis &axis, IRValue *position, IRValue *step) {
  llvm::IRBuilder<> &builder = emitter.builder;
  IRValue *shifted = builder.CreateAdd(position, emitter.index(axis.before));
  IRValue *lastWindow = builder.CreateUDiv(shifted, emitter.index(axis.stride));
  IRValue *window = builder.CreateAdd(builder.CreateSub(lastWindow, emitter.index(candidateCount(axis) - 1)), step);
  IRValue *offset = builder.CreateSub(shifted, builder.CreateMul(window, emitter.index(axis.stride)));
  IRValue *valid = builder.CreateAnd(builder.CreateICmpSGE(window, emitter.index(0)),
                                     builder.CreateICmpSLT(window, emitter.index(axis.outputs)));
  valid = builder.CreateAnd(valid, builder.CreateICmpSLT(offset, emitter.index(axis.window)));
  IRValue *clamped = builder.CreateSelect(builder.CreateICmpSLT(window, emitter.index(0)), emitter.index(0), window);
  clamped = builder.CreateSelect(builder.CreateICmpSGT(clamped, emitter.index(axis.outputs - 1)),
                                 emitter.index(axis.outputs - 1), clamped);
  return {valid, clamped};
}

// dx[n, c, r, q] = sum over the windows holding (r, q), in order, of their share of dy: all of it
// for max_pool2d_grad when (r, q) is the window's first maximum, dy / taps for avg_pool2d_grad.
IRValue *poolGradient(ElementEmitter &emitter, const Operation &op, ArrayRef<IRValue *> index) {
  llvm::IRBuilder<> &builder = emitter.builder;
  PoolGeometry geometry(op);
  const Value *gradient = op.operand(1);
  bool maximum = op.kind() == OpKind::MaxPool2dGrad;
  auto *f64 = builder.getDoubleTy();
  IRValue *zero = llvm::ConstantFP::get(f64, 0.0);
  Carried sum = forRange(builder, candidateCount(geometry.rows), {zero}, [&](IRValue *stepH, const Carried &carried) {
    Candidate h = candidateAt(emitter, geometry.rows, index[2], stepH);
    return forRange(builder, candidateCount(geometry.columns), carried, [&](IRValue *stepW, const Carried &partial) {
      Candidate w = candidateAt(emitter, geometry.columns, index[3], stepW);
      IRValue *share = emitter.convert(emitter.element(gradient, {index[0], index[1], h.window, w.window}),
                                       gradient->type().dtype, DType::F64);
      IRValue *routed = builder.CreateAnd(h.valid, w.valid);
      if (maximum) {
        Carried best = firstMaximum(emitter, op, geometry, index[0], index[1], h.window, w.window);
        routed = builder.CreateAnd(routed, builder.CreateAnd(builder.CreateICmpEQ(best[1], index[2]),
                                                             builder.CreateICmpEQ(best[2], index[3])));
      } else {
        IRValue *count = builder.CreateMul(tapsInside(emitter, geometry.rows, h.window),
                                           tapsInside(emitter, geometry.columns, w.window));
        share = builder.CreateFDiv(share, builder.CreateSIToFP(count, f64));
      }
      return Carried{builder.CreateFAdd(partial[0], builder.CreateSelect(routed, share, zero))};
    });
  });
  return emitter.convert(sum[0], DType::F64, op.result()->type().dtype);
}
}  // namespace

LoopRule windowRule(OpKind kind) {
  switch (kind) {
  case OpKind::MaxPool2d: return maxPool;
  case OpKind::AvgPool2d: return averagePool;
  case OpKind::MaxPool2dGrad:
  case OpKind::AvgPool2dGrad: return poolGradient;
  default: return nullptr;
  }
}

}  // namespace kiln::cpu::loops
