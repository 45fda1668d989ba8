// Indexing during lowering: `x[i, a:b:s, ...]` on lists, tuples and tensors, with NumPy's
// slice semantics (negative steps reverse) lowered to slice, gather and reshape ops.
#include <fmt/format.h>
#include <llvm/Support/CheckedArithmetic.h>

#include "frontend/Lowering.h"

namespace kiln::lang {

Object Lowerer::evaluateIndex(const IndexExpr &expr, Scope &scope) {
  Object base = evaluate(*expr.base, scope);
  if (base.isPoison()) return base;
  if (base.kind == Object::Kind::Tensor) return sliceTensor(expr, base.tensor, scope);
  if (!base.isSequence()) {
    diagnostics_.error(expr.base->range, fmt::format("cannot index {}", describe(base)));
    return Object::poison();
  }
  if (expr.items.size() != 1 || expr.items.front().isSlice) {
    diagnostics_.error(expr.range, "a list or tuple takes one integer index");
    return Object::poison();
  }
  std::optional<int64_t> index = evaluateSize(*expr.items.front().index, scope);
  if (!index) return Object::poison();
  int64_t count = static_cast<int64_t>(base.elements->size());
  int64_t position = *index < 0 ? *index + count : *index;
  if (position < 0 || position >= count) {
    diagnostics_.error(expr.items.front().range,
                       fmt::format("index {} is out of range for {}", *index, describe(base)));
    return Object::poison();
  }
  return (*base.elements)[position];
}

namespace {
// The elements a NumPy slice start:stop:step picks on an axis of `extent`, as an ascending run
// first, first + |step|, ... below limit, and whether it is walked backwards (a negative step).
// Bounds are already made non-negative by adding the extent once; they are then clamped the
// way NumPy does: to [0, extent] for a positive step and to [-1, extent - 1] for a negative one,
// where -1 stands for "before the first element".
struct AxisRun {
  int64_t first = 0, limit = 0, stride = 1, count = 0;
  bool reversed = false;
};

AxisRun numpySlice(std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step, int64_t extent) {
  AxisRun run;
  if (step > 0) {
    int64_t from = std::clamp<int64_t>(start.value_or(0), 0, extent);
    int64_t to = std::clamp<int64_t>(stop.value_or(extent), from, extent);
    run.first = from, run.limit = to, run.stride = step;
    run.count = to == from ? 0 : (to - from - 1) / step + 1;
    return run;
  }
  // step < 0, and step != INT64_MIN (checked by the caller): walks from `from` down to above `to`.
  int64_t from = std::clamp<int64_t>(start.value_or(extent - 1), -1, extent - 1);
  int64_t to = std::clamp<int64_t>(stop.value_or(-1), -1, extent - 1);
  int64_t stride = -step;
  run.stride = stride, run.reversed = true;
  if (from <= to) return run;  // empty: first = limit = 0
  run.count = (from - to - 1) / stride + 1;
  // The lowest element picked; (count - 1) * stride <= from - to - 1 cannot overflow.
  run.first = from - (run.count - 1) * stride;
  run.limit = from + 1;
  return run;
}
}  // namespace

// x[i, a:b:s, ...]: a slice op over every axis (positive strides), a gather with a reversed
// constant index on each axis with a negative step, then a reshape that drops the indexed axes.
Object Lowerer::sliceTensor(const IndexExpr &expr, kiln::Value *tensor, Scope &scope) {
  const TensorType &type = tensor->type();
  if (static_cast<int64_t>(expr.items.size()) > type.rank()) {
    diagnostics_.error(expr.range, fmt::format("{} indices for {}", expr.items.size(), toString(type)));
    return Object::poison();
  }
  Ints start, limit, stride;
  Shape kept;
  std::vector<int64_t> reversedAxes;
  for (int64_t axis = 0; axis < type.rank(); ++axis) {
    int64_t extent = type.shape[axis];
    if (axis >= static_cast<int64_t>(expr.items.size())) {
      start.push_back(0), limit.push_back(extent), stride.push_back(1), kept.push_back(extent);
      continue;
    }
    const IndexItem &item = expr.items[axis];
    // A bound counts from the end when negative (once, as in NumPy); nullopt when not given.
    bool failed = false;
    auto bound = [&](const ExprPtr &bound) -> std::optional<int64_t> {
      if (!bound) return std::nullopt;
      std::optional<int64_t> value = evaluateSize(*bound, scope);
      if (!value) {
        failed = true;
        return std::nullopt;
      }
      return *value < 0 ? *value + extent : *value;
    };
    if (!item.isSlice) {
      std::optional<int64_t> index = bound(item.index);
      if (failed) return Object::poison();
      if (*index < 0 || *index >= extent) {
        diagnostics_.error(item.range, fmt::format("index is out of range for axis {} of {}", axis, toString(type)));
        return Object::poison();
      }
      start.push_back(*index), limit.push_back(*index + 1), stride.push_back(1);
      continue;
    }
    std::optional<int64_t> first = bound(item.start), last = bound(item.stop);
    std::optional<int64_t> step = 1;
    if (item.step) {
      step = evaluateSize(*item.step, scope);
      if (!step) return Object::poison();
    }
    if (failed) return Object::poison();
    if (*step == 0) {
      diagnostics_.error(item.step->range, "a slice step must not be zero");
      return Object::poison();
    }
    if (*step == INT64_MIN) {
      diagnostics_.error(item.step->range, fmt::format("integer overflow: the slice step {} cannot be negated", *step));
      return Object::poison();
    }
    AxisRun run = numpySlice(first, last, *step, extent);
    start.push_back(run.first), limit.push_back(run.limit), stride.push_back(run.stride);
    kept.push_back(run.count);
    if (run.reversed && run.count > 1) reversedAxes.push_back(axis);
  }
  Object sliced = createOp(OpKind::Slice, {tensor}, {{"start", start}, {"limit", limit}, {"stride", stride}},
                           std::nullopt, expr.range);
  for (int64_t axis : reversedAxes) {
    if (sliced.isPoison()) return sliced;
    // count - 1, count - 2, ..., 0 as (count - 1) - iota: no constant as large as the axis.
    int64_t count = sliced.tensor->type().shape[axis];
    TensorType indexType{DType::I64, {count}};
    Object ascending = createOp(OpKind::Iota, {}, {{"axis", int64_t{0}}}, indexType, expr.range);
    Object last = createOp(OpKind::Constant, {}, {{"value", Ints{count - 1}}}, TensorType{DType::I64, {}}, expr.range);
    if (ascending.isPoison() || last.isPoison()) return Object::poison();
    Object backwards = createOp(OpKind::Sub, {last.tensor, ascending.tensor}, {}, std::nullopt, expr.range);
    if (backwards.isPoison()) return backwards;
    sliced = createOp(OpKind::Gather, {sliced.tensor, backwards.tensor}, {{"axis", axis}}, std::nullopt, expr.range);
  }
  if (sliced.isPoison() || sliced.tensor->type().shape == kept) return sliced;
  return createOp(OpKind::Reshape, {sliced.tensor}, {}, type.withShape(kept), expr.range);
}

}  // namespace kiln::lang
