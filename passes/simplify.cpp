// Simplify: algebraic identities that replace an op by a value already computed, or by a
// cheaper op, of exactly the same result type.
//
// 1. Walk the ops forward. Redirect each operand through the replacement map first, so that
//    every operand an op sees is already in its simplest form.
// 2. The first rule of the op's kind that applies gives a replacement: an earlier value, or an
//    op it builds just before the current one (with the current op's location).
// 3. A built op is simplified in its turn (a composed transpose may be the identity) and is
//    erased when it is replaced, until no rule applies.
// 4. The current op is erased and its result mapped to the replacement.
// One sweep suffices: a rule looks only at its op and at the ops that define its operands,
// which step 1 has made final. Ops that lose their last use (the `1` of `x * 1`, the inner
// transpose of two) are left for `dce`.
#include <algorithm>
#include <numeric>
#include <utility>

#include "ir/Builder.h"
#include "passes/ForwardRewrite.h"
#include "passes/Passes.h"

namespace kiln {

namespace {
// The elements of a splat constant (a constant whose value holds one element), or nullptr.
const AttrValue *splatElements(const Value *value) {
  const Operation *op = value->definingOp();
  if (!op || op->kind() != OpKind::Constant) return nullptr;
  const AttrValue *elements = op->attributes().find("value");
  if (const auto *floats = std::get_if<Floats>(elements); floats && floats->size() == 1) return elements;
  if (const auto *ints = std::get_if<Ints>(elements); ints && ints->size() == 1) return elements;
  return nullptr;
}

// Whether `value` is a splat constant equal to `element`. Integers convert to double exactly
// near 0 and 1, and 0.0 == -0.0, so both float zeros count as zero.
bool isSplatOf(const Value *value, double element) {
  const AttrValue *elements = splatElements(value);
  if (!elements) return false;
  if (const auto *floats = std::get_if<Floats>(elements)) return floats->front() == element;
  return static_cast<double>(std::get<Ints>(*elements).front()) == element;
}
bool isZero(const Value *value) { return isSplatOf(value, 0.0); }
bool isOne(const Value *value) { return isSplatOf(value, 1.0); }

// Builds replacement ops just before the op being simplified and remembers them, so that the
// driver can tell an op built in this step from an earlier value.
class Rewriter {
public:
  Rewriter(Function &function, Function::OpList::iterator before, const Location &location)
      : function_(function), before_(before), builder_(function, before) {
    builder_.setLocation(location);
  }

  // The new op's result, or nullptr when its type rule rejects it: the rule then leaves its
  // op alone rather than guessing.
  Value *build(OpKind kind, std::vector<Value *> operands, const std::vector<NamedAttribute> &attributes = {},
               std::optional<TensorType> declared = std::nullopt) {
    auto result = builder_.tryCreate(kind, std::move(operands), attributes, std::move(declared));
    if (!result) {
      llvm::consumeError(result.takeError());
      return nullptr;
    }
    built_.push_back((*result)->definingOp());
    return *result;
  }

  bool isBuilt(const Value *value) const {
    return std::find(built_.begin(), built_.end(), value->definingOp()) != built_.end();
  }

  // Removes an op built in this step; it sits among the few ops just before the current one.
  void erase(const Operation *op) {
    for (auto it = before_; it != function_.ops().begin();) {
      --it;
      if (it->get() == op) {
        function_.ops().erase(it);
        std::erase(built_, op);
        return;
      }
    }
  }

  // `value` itself when it has `type`, else `value` broadcast to `type`.
  Value *broadcastTo(Value *value, const TensorType &type) {
    return value->type() == type ? value : build(OpKind::Broadcast, {value}, {}, type);
  }
  Value *reshapeTo(Value *value, const TensorType &type) {
    return value->type() == type ? value : build(OpKind::Reshape, {value}, {}, type);
  }
  Value *splat(const TensorType &type, AttrValue element) {
    return build(OpKind::Constant, {}, {{"value", std::move(element)}}, type);
  }

private:
  Function &function_;
  Function::OpList::iterator before_;
  Builder builder_;
  std::vector<const Operation *> built_;
};

// A rule gives the value that replaces its op, or nullptr when no identity applies.
using Rule = Value *(*)(Rewriter &, Operation &);

// x * 1 = 1 * x = x, exactly for every dtype (1 * NaN is NaN, 1 * -0 is -0).
// x * 0 = 0 * x = 0 for integers only: for floats inf * 0 and NaN * 0 are NaN, and -2 * 0 is -0.
Value *simplifyMul(Rewriter &rewriter, Operation &op) {
  Value *lhs = op.operand(0);
  Value *rhs = op.operand(1);
  const TensorType &type = op.result()->type();
  if (isOne(rhs)) return rewriter.broadcastTo(lhs, type);
  if (isOne(lhs)) return rewriter.broadcastTo(rhs, type);
  if (isInteger(type.dtype) && isZero(rhs)) return rewriter.broadcastTo(rhs, type);
  if (isInteger(type.dtype) && isZero(lhs)) return rewriter.broadcastTo(lhs, type);
  return nullptr;
}

// x + 0 = 0 + x = x. Exact for integers, and for floats when the zero is -0 (x + -0 is x for
// every x). With +0 it differs in one case: -0 + +0 is +0, not -0. That is accepted: the two
// zeros compare equal, and only an op that divides by or takes the logarithm of an exact zero
// tells them apart, where the result is already an infinity.
Value *simplifyAdd(Rewriter &rewriter, Operation &op) {
  const TensorType &type = op.result()->type();
  if (isZero(op.operand(1))) return rewriter.broadcastTo(op.operand(0), type);
  if (isZero(op.operand(0))) return rewriter.broadcastTo(op.operand(1), type);
  return nullptr;
}

// x - 0 = x: exact with +0 (x - +0 is x + -0), and with -0 off by the sign of a zero result
// only, accepted for the reason given at x + 0.
// x - x = 0 for integers only: for floats inf - inf and NaN - NaN are NaN.
Value *simplifySub(Rewriter &rewriter, Operation &op) {
  const TensorType &type = op.result()->type();
  if (isZero(op.operand(1))) return rewriter.broadcastTo(op.operand(0), type);
  if (isInteger(type.dtype) && op.operand(0) == op.operand(1)) return rewriter.splat(type, Ints{0});
  return nullptr;
}

// x / 1 = x, exactly for floats and for truncating integer division.
Value *simplifyDiv(Rewriter &rewriter, Operation &op) {
  if (isOne(op.operand(1))) return rewriter.broadcastTo(op.operand(0), op.result()->type());
  return nullptr;
}

// -(-x) = x, exactly: negation only flips the sign (and wraps back for the smallest integer).
Value *simplifyNeg(Rewriter &rewriter, Operation &op) {
  const Operation *inner = op.operand(0)->definingOp();
  if (inner && inner->kind() == OpKind::Neg) return inner->operand(0);
  return nullptr;
}

// c ? a : b with c a splat constant = a or b, broadcast to the result's shape.
// c ? x : x = x, broadcast to the result's shape.
Value *simplifySelect(Rewriter &rewriter, Operation &op) {
  const TensorType &type = op.result()->type();
  if (op.operand(1) == op.operand(2)) return rewriter.broadcastTo(op.operand(1), type);
  if (const AttrValue *condition = splatElements(op.operand(0)))
    return rewriter.broadcastTo(op.operand(std::get<Ints>(*condition).front() != 0 ? 1 : 2), type);
  return nullptr;
}

// cast(x) to x's own type = x.
Value *simplifyCast(Rewriter &rewriter, Operation &op) {
  if (op.operand(0)->type() == op.result()->type()) return op.operand(0);
  return nullptr;
}

// broadcast(x) to x's own type = x.
// broadcast(splat c) = splat c of the broadcast type.
// broadcast(broadcast(x, S1), S2) = broadcast(x, S2): broadcasting is transitive and repeats
// the same elements.
Value *simplifyBroadcast(Rewriter &rewriter, Operation &op) {
  Value *source = op.operand(0);
  const TensorType &type = op.result()->type();
  if (source->type() == type) return source;
  if (const AttrValue *elements = splatElements(source)) return rewriter.splat(type, *elements);
  const Operation *inner = source->definingOp();
  if (inner && inner->kind() == OpKind::Broadcast) return rewriter.broadcastTo(inner->operand(0), type);
  return nullptr;
}

// reshape(x) to x's own type = x.
// reshape(reshape(x)) = reshape(x): both keep the elements in row-major order.
Value *simplifyReshape(Rewriter &rewriter, Operation &op) {
  Value *source = op.operand(0);
  const TensorType &type = op.result()->type();
  if (source->type() == type) return source;
  const Operation *inner = source->definingOp();
  if (inner && inner->kind() == OpKind::Reshape) return rewriter.reshapeTo(inner->operand(0), type);
  return nullptr;
}

// transpose(x, identity) = x.
// transpose(transpose(x, inner), outer) = transpose(x, composed), composed[i] = inner[outer[i]]:
// result axis i is the inner result's axis outer[i], which is x's axis inner[outer[i]].
Value *simplifyTranspose(Rewriter &rewriter, Operation &op) {
  const Ints &perm = op.attributes().getInts("perm");
  Ints identity(perm.size());
  std::iota(identity.begin(), identity.end(), 0);
  if (perm == identity) return op.operand(0);
  const Operation *inner = op.operand(0)->definingOp();
  if (!inner || inner->kind() != OpKind::Transpose) return nullptr;
  const Ints &innerPerm = inner->attributes().getInts("perm");
  Ints composed;
  for (int64_t axis : perm) composed.push_back(innerPerm[axis]);
  return rewriter.build(OpKind::Transpose, {inner->operand(0)}, {{"perm", composed}});
}

// slice(x) from 0 with x's own shape = x: along each axis the slice keeps all n elements, which
// from start 0 means limit n and stride 1, or n <= 1.
Value *simplifySlice(Rewriter &rewriter, Operation &op) {
  const Ints &start = op.attributes().getInts("start");
  bool fromZero = std::all_of(start.begin(), start.end(), [](int64_t index) { return index == 0; });
  if (fromZero && op.operand(0)->type() == op.result()->type()) return op.operand(0);
  return nullptr;
}

// concat(x) = x.
Value *simplifyConcat(Rewriter &rewriter, Operation &op) {
  if (op.operands().size() == 1) return op.operand(0);
  return nullptr;
}

// pad(x) by nothing on either side = x, whatever the padding value.
Value *simplifyPad(Rewriter &rewriter, Operation &op) {
  auto allZero = [](const Ints &widths) {
    return std::all_of(widths.begin(), widths.end(), [](int64_t w) { return w == 0; });
  };
  if (allZero(op.attributes().getInts("low")) && allZero(op.attributes().getInts("high"))) return op.operand(0);
  return nullptr;
}

// sum, max and min over axes of size 1 = reshape(x): each result element reduces a set of one.
// mean over axes of size 1 = reshape(x): a sum of one element divided by 1, exact.
// (A sum computed as +0 + x turns -0 into +0: the sign of a zero, accepted as at x + 0.)
Value *simplifyReduction(Rewriter &rewriter, Operation &op) {
  const Shape &shape = op.operand(0)->type().shape;
  std::vector<bool> reduced = reducedAxisMask(op.attributes().getInts("axes"), static_cast<int64_t>(shape.size()));
  for (size_t axis = 0; axis < shape.size(); ++axis)
    if (reduced[axis] && shape[axis] != 1) return nullptr;
  return rewriter.reshapeTo(op.operand(0), op.result()->type());
}

// argmax(x) along an axis of size 1 = 0 everywhere: the only index.
Value *simplifyArgmax(Rewriter &rewriter, Operation &op) {
  if (op.operand(0)->type().shape[op.attributes().getInt("axis")] != 1) return nullptr;
  return rewriter.splat(op.result()->type(), Ints{0});
}

const std::pair<OpKind, Rule> kRules[] = {
    {OpKind::Mul, simplifyMul},         {OpKind::Add, simplifyAdd},
    {OpKind::Sub, simplifySub},         {OpKind::Div, simplifyDiv},
    {OpKind::Neg, simplifyNeg},         {OpKind::Select, simplifySelect},
    {OpKind::Cast, simplifyCast},       {OpKind::Broadcast, simplifyBroadcast},
    {OpKind::Reshape, simplifyReshape}, {OpKind::Transpose, simplifyTranspose},
    {OpKind::Slice, simplifySlice},     {OpKind::Concat, simplifyConcat},
    {OpKind::Pad, simplifyPad},         {OpKind::Sum, simplifyReduction},
    {OpKind::Mean, simplifyReduction},  {OpKind::Max, simplifyReduction},
    {OpKind::Min, simplifyReduction},   {OpKind::Argmax, simplifyArgmax},
};

Value *applyRule(Rewriter &rewriter, Operation &op) {
  for (const auto &[kind, rule] : kRules)
    if (kind == op.kind()) return rule(rewriter, op);
  return nullptr;
}

// Rewrites `original`, then the op its rule built, and so on while a rule applies; gives the
// value that replaces `original` (its own result when nothing applied).
Value *simplest(Rewriter &rewriter, Operation &original) {
  Operation *current = &original;
  while (Value *replacement = applyRule(rewriter, *current)) {
    // Every rule keeps the type; should one not, its op is kept and the stray op left to dce.
    if (replacement->type() != current->result()->type()) break;
    if (current != &original) rewriter.erase(current);
    if (!rewriter.isBuilt(replacement)) return replacement;
    current = replacement->definingOp();
  }
  return current->result();
}

}  // namespace

void simplify(Function &function) {
  rewriteForward(function, [&](Operation &op, Function::OpList::iterator position) -> Value * {
    Rewriter rewriter(function, position, op.location());
    Value *simplified = simplest(rewriter, op);
    if (simplified == op.result()) return nullptr;
    // An op built to stand for this one keeps its name, so the printed IR still reads like the model.
    if (rewriter.isBuilt(simplified)) simplified->setName(op.result()->name());
    return simplified;
  });
}

}  // namespace kiln
