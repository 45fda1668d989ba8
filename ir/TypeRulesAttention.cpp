// The result-type rules of attention and attention_grad (Ops.def): q [..., Tq, D], k and v
// [..., Tk, D] with the same leading axes, an optional bias that broadcasts to [..., Tq, Tk].
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/TypeRules.h"

namespace kiln::type_rules {

namespace {
// Checks q, k, v and the bias (when `bias` is given) against each other.
llvm::Error checkAttentionOperands(const TensorType &q, const TensorType &k, const TensorType &v,
                                   const TensorType *bias) {
  if (!isFloat(q.dtype)) return llvm::createStringError(fmt::format("needs float operands, not {}", toString(q)));
  for (const TensorType *other : {&k, &v, bias})
    if (other && other->dtype != q.dtype)
      return llvm::createStringError(fmt::format("operand dtypes differ: {} and {}", toString(q), toString(*other)));
  if (q.rank() < 2) return llvm::createStringError(fmt::format("needs queries of rank 2 or more, not {}", toString(q)));
  if (k.shape != v.shape)
    return llvm::createStringError(fmt::format("keys {} and values {} differ in shape", toString(k), toString(v)));
  if (k.rank() != q.rank() || k.shape.back() != q.shape.back() ||
      !std::equal(q.shape.begin(), q.shape.end() - 2, k.shape.begin()))
    return llvm::createStringError(
        fmt::format("keys {} should be [..., Tk, {}] with the leading axes of the queries {}", toString(k),
                    q.shape.back(), toString(q)));
  if (bias) {
    Shape scores = q.shape;
    scores.back() = k.shape[k.rank() - 2];
    std::optional<Shape> joined = broadcastShapes(bias->shape, scores);
    if (!joined || *joined != scores)
      return llvm::createStringError(fmt::format("the bias {} does not broadcast to the scores' shape [{}]",
                                                 toString(*bias), fmt::join(scores, ",")));
  }
  return llvm::Error::success();
}
}  // namespace

// attention(q, k, v [, bias]) : (o, the type of q; the log-sum-exp of each query's scores,
// [..., Tq]), the second kept for attention_grad
llvm::Expected<TensorTypes> attention(const TypeRuleInput &input) {
  if (input.operands.size() != 3 && input.operands.size() != 4)
    return llvm::createStringError(
        fmt::format("takes q, k, v and an optional bias (3 or 4 operands), not {}", input.operands.size()));
  const TensorType &q = input.operands[0];
  const TensorType *bias = input.operands.size() == 4 ? &input.operands[3] : nullptr;
  if (auto error = checkAttentionOperands(q, input.operands[1], input.operands[2], bias)) return error;
  return TensorTypes{q, q.withShape(Shape(q.shape.begin(), q.shape.end() - 1))};
}

// attention_grad(q, k, v, o, lse, do [, bias]) : [..., Tq + 2 Tk, D], dq then dk then dv along
// the sequence axis; o and lse are attention's two results
llvm::Expected<TensorType> attentionGrad(const TypeRuleInput &input) {
  if (input.operands.size() != 6 && input.operands.size() != 7)
    return llvm::createStringError(
        fmt::format("takes q, k, v, o, lse, do and an optional bias (6 or 7 operands), not {}", input.operands.size()));
  const TensorType &q = input.operands[0], &k = input.operands[1];
  const TensorType *bias = input.operands.size() == 7 ? &input.operands[6] : nullptr;
  if (auto error = checkAttentionOperands(q, k, input.operands[2], bias)) return error;
  for (size_t index : {3, 5})
    if (input.operands[index] != q)
      return llvm::createStringError(fmt::format("{} {} should have the queries' type {}",
                                                 index == 3 ? "the output o" : "the output gradient do",
                                                 toString(input.operands[index]), toString(q)));
  TensorType statistics = q.withShape(Shape(q.shape.begin(), q.shape.end() - 1));
  if (input.operands[4] != statistics)
    return llvm::createStringError(fmt::format("the log-sum-exp {} should be {}, one per query",
                                               toString(input.operands[4]), toString(statistics)));
  Shape joined = q.shape;
  joined[joined.size() - 2] += 2 * k.shape[k.rank() - 2];
  return q.withShape(joined);
}

}  // namespace kiln::type_rules
