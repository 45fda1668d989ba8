// The vocabulary gradient rules are written in: a Builder with shorthands for arithmetic,
// constants and the broadcasting bookkeeping every rule needs.
#pragma once

#include <map>

#include "ir/Builder.h"

namespace kiln {

class GradientBuilder {
public:
  explicit GradientBuilder(Builder &builder) : builder_(builder) {}

  Builder &builder() { return builder_; }

  Value *create(OpKind kind, std::vector<Value *> operands, const std::vector<NamedAttribute> &attributes = {},
                std::optional<TensorType> declared = std::nullopt) {
    return builder_.create(kind, std::move(operands), attributes, std::move(declared));
  }

  // A rank-0 constant of `dtype`; broadcasting spreads it over any operand.
  Value *scalar(DType dtype, double value);
  Value *zeros(const TensorType &type);

  // Arithmetic with NumPy broadcasting. A factor that is the constant 1 is left out, so
  // that the cotangent 1 of a scalar loss does not litter the gradient with `mul ..., 1`.
  Value *add(Value *lhs, Value *rhs) { return create(OpKind::Add, {lhs, rhs}); }
  Value *subtract(Value *lhs, Value *rhs) { return create(OpKind::Sub, {lhs, rhs}); }
  Value *multiply(Value *lhs, Value *rhs);
  Value *divide(Value *lhs, Value *rhs) { return create(OpKind::Div, {lhs, rhs}); }
  Value *negate(Value *value) { return create(OpKind::Neg, {value}); }
  Value *multiply(Value *value, double factor) { return multiply(value, scalar(value->type().dtype, factor)); }
  Value *unary(OpKind kind, Value *value) { return create(kind, {value}); }

  // 1 where `condition` holds and 0 elsewhere, in `dtype`. Built with select rather than a
  // cast of i1 so that the mask itself can be differentiated again (its derivative is 0).
  Value *mask(Value *condition, DType dtype);

  Value *reshape(Value *value, const Shape &shape);
  Value *broadcastTo(Value *value, const Shape &shape);
  Value *sum(Value *value, Ints axes, bool keepDims);

  // The adjoint of broadcasting: sums `value` over the axes along which `shape` was
  // broadcast (leading extra axes, and axes of extent 1 in `shape`), then reshapes to `shape`.
  Value *reduceToShape(Value *value, const Shape &shape);

  // The adjoint of a reduction over `axes` of an operand of shape `shape`: puts the reduced
  // axes back (as extent 1 when the reduction dropped them) and broadcasts along them.
  Value *unreduce(Value *value, const Shape &shape, const Ints &axes, bool keptDims);

  // The element of a splat float constant.
  static std::optional<double> splatValue(const Value *value);

private:
  bool isConstantOne(const Value *value) const;

  Builder &builder_;
  std::map<std::pair<DType, double>, Value *> scalars_;
};

}  // namespace kiln
