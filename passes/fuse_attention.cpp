// Attention recognition: softmax(q kᵀ · scale [+ bias]) v, as the standard library and users
// write it, becomes one `attention` op, whose gradient rule gives one `attention_grad`; both
// lower to streaming kernels that never store the Tq × Tk scores.
//
// The pattern is matched before autodiff rather than in its output: the backward graph of the
// formula comes out of simplify and cse in many equivalent shapes (which transposes folded,
// which factors merged), while the forward formula has one, so the backward is fused by
// construction and checked like every gradient rule (kiln-opt --check-grad).
//
// 1. For each matmul p @ v (no transposes), walk up: p = softmax(x) along the last axis;
//    x = s or s + bias (either order); s = m, m / c or m · c with c a splat constant;
//    m = q @ kᵀ, kᵀ either transpose_b or a transpose of the last two axes of k.
// 2. Every value between q, k, v and the result has this one reader, so that nothing else
//    needs the scores; q, k and v have the same leading axes, k and v the same shape.
// 3. The bias: a causal mask, select(iota(axis -1) > iota(axis -2), c, 0) with c ≤ -1e9, becomes
//    `causal` (the kernels skip the blocks it drops), alone or as one term of a sum; what is
//    left is the bias operand, read broadcast by the kernels.
// 4. The attention op replaces the product; dead-code elimination removes the rest.
// With remarks asked for, each recognised pattern, and each softmax-then-product that is not one,
// gets a `fusion` remark saying why.
#include <fmt/format.h>

#include "passes/ForwardRewrite.h"
#include "passes/Passes.h"
#include "passes/gradients/GradientBuilder.h"

namespace kiln {

namespace {
// The smallest additive mask value taken for "dropped": e^(-1e9 + s - max) is 0 in f32 and f64.
constexpr double kMaskedScore = -1.0e9;

const Operation *defining(const Value *value, OpKind kind) {
  const Operation *op = value->definingOp();
  return op && op->kind() == kind ? op : nullptr;
}

// Read by one op, and not returned: nothing but the pattern needs the value stored.
bool hasOneReader(const Function &function, const Value *value) {
  return value->uses().size() == 1 && !function.returns(value);
}

bool isLastTwoAxesSwap(const Ints &perm) {
  for (size_t axis = 0; axis + 2 < perm.size(); ++axis)
    if (perm[axis] != static_cast<int64_t>(axis)) return false;
  size_t rank = perm.size();
  return rank >= 2 && perm[rank - 2] == static_cast<int64_t>(rank - 1) &&
         perm[rank - 1] == static_cast<int64_t>(rank - 2);
}

// Whether `value` is iota along its axis rank-1-`fromLast` (0: the last axis).
bool isIotaAlong(const Value *value, int64_t fromLast) {
  const Operation *iota = defining(value, OpKind::Iota);
  return iota && iota->attributes().getInt("axis") == static_cast<int64_t>(value->type().rank()) - 1 - fromLast;
}

// select(columns > rows, c, 0) (or rows < columns) with c ≤ -1e9: the causal mask.
bool isCausalMask(const Value *value) {
  const Operation *select = defining(value, OpKind::Select);
  if (!select) return false;
  std::optional<double> dropped = GradientBuilder::splatValue(select->operand(1));
  std::optional<double> kept = GradientBuilder::splatValue(select->operand(2));
  if (!dropped || !kept || *dropped > kMaskedScore || *kept != 0.0) return false;
  const Operation *condition = select->operand(0)->definingOp();
  if (!condition) return false;
  const Value *lhs = condition->operands().empty() ? nullptr : condition->operand(0);
  const Value *rhs = condition->operands().size() < 2 ? nullptr : condition->operand(1);
  if (condition->kind() == OpKind::Gt) return isIotaAlong(lhs, 0) && isIotaAlong(rhs, 1);
  if (condition->kind() == OpKind::Lt) return isIotaAlong(lhs, 1) && isIotaAlong(rhs, 0);
  return false;
}

struct AttentionMatch {
  Value *q = nullptr, *k = nullptr, *v = nullptr, *bias = nullptr;
  double scale = 1.0;
  bool causal = false;
};

// Splits `bias` into the causal mask and the rest, per step 3.
void takeBias(const Function &function, Value *bias, AttentionMatch &match) {
  if (isCausalMask(bias)) {
    match.causal = true;
    return;
  }
  if (const Operation *sum = defining(bias, OpKind::Add); sum && hasOneReader(function, bias))
    for (size_t side : {0, 1})
      if (isCausalMask(sum->operand(side))) {
        match.causal = true;
        match.bias = sum->operand(1 - side);
        return;
      }
  match.bias = bias;
}

// s = m, m / c or m · c, m = q kᵀ: fills q, k and the scale; the reason otherwise.
std::string matchScaledProduct(const Function &function, Value *scores, AttentionMatch &match) {
  if (const Operation *scaling = scores->definingOp();
      scaling && (scaling->kind() == OpKind::Div || scaling->kind() == OpKind::Mul)) {
    size_t side = scaling->kind() == OpKind::Mul && GradientBuilder::splatValue(scaling->operand(0)) ? 1 : 0;
    std::optional<double> factor = GradientBuilder::splatValue(scaling->operand(1 - side));
    if (!factor || scaling->operand(side)->type() != scores->type()) return "the scores are not q kᵀ times a constant";
    match.scale = scaling->kind() == OpKind::Div ? 1.0 / *factor : *factor;
    scores = scaling->operand(side);
    if (!hasOneReader(function, scores)) return "q kᵀ is also read elsewhere, so it must be stored";
  }
  const Operation *similarity = defining(scores, OpKind::Matmul);
  if (!similarity || similarity->attributes().getBool("transpose_a")) return "the scores are not a product q kᵀ";
  match.q = similarity->operand(0);
  match.k = similarity->operand(1);
  if (!similarity->attributes().getBool("transpose_b")) {
    const Operation *transpose = defining(match.k, OpKind::Transpose);
    if (!transpose || !isLastTwoAxesSwap(transpose->attributes().getInts("perm")))
      return "the keys are not transposed in their last two axes";
    match.k = transpose->operand(0);
  }
  return "";
}

// Steps 1–3 from the product p @ v; the reason it is no attention otherwise (empty when the
// product does not even read a softmax, which is not worth a remark).
llvm::Expected<AttentionMatch> matchAttention(const Function &function, const Operation &product) {
  auto no = [](std::string reason) { return llvm::createStringError(reason); };
  if (product.attributes().getBool("transpose_a") || product.attributes().getBool("transpose_b")) return no("");
  Value *weights = product.operand(0);
  const Operation *softmax = defining(weights, OpKind::Softmax);
  if (!softmax || softmax->attributes().getInt("axis") != static_cast<int64_t>(weights->type().rank()) - 1)
    return no("");
  if (!hasOneReader(function, weights))
    return no("the attention weights are also read elsewhere, so they must be stored");
  Value *scores = softmax->operand(0);
  if (!hasOneReader(function, scores)) return no("the scores are also read elsewhere, so they must be stored");
  AttentionMatch match;
  std::string reason = matchScaledProduct(function, scores, match);
  if (const Operation *sum = defining(scores, OpKind::Add); !reason.empty() && sum)
    for (size_t side : {0, 1}) {
      Value *term = sum->operand(side);
      if (term->type() != scores->type() || !hasOneReader(function, term)) continue;
      match = AttentionMatch{};
      reason = matchScaledProduct(function, term, match);
      if (reason.empty()) {
        takeBias(function, sum->operand(1 - side), match);
        break;
      }
    }
  if (!reason.empty()) return no(reason);
  match.v = product.operand(1);
  return match;
}

Value *fuseAttention(Function &function, Operation &product, Function::OpList::iterator position,
                     const PassOptions &options) {
  if (product.kind() != OpKind::Matmul) return nullptr;
  llvm::Expected<AttentionMatch> match = matchAttention(function, product);
  auto remark = [&](std::string message) {
    if (options.remarks) options.remarks->push_back(Remark{"fusion", product.location(), std::move(message)});
  };
  if (!match) {
    std::string reason = llvm::toString(match.takeError());
    if (!reason.empty()) remark(fmt::format("did not fuse attention in @{}: {}", function.name(), reason));
    return nullptr;
  }
  if (match->q->type() != product.result()->type()) {
    remark(fmt::format("did not fuse attention in @{}: the result is not shaped like the queries", function.name()));
    return nullptr;
  }
  std::vector<Value *> operands{match->q, match->k, match->v};
  if (match->bias) operands.push_back(match->bias);
  Builder builder(function, position);
  builder.setLocation(product.location());
  llvm::Expected<std::vector<Value *>> attention =
      builder.tryCreateResults(OpKind::Attention, operands, {{"scale", match->scale}, {"causal", match->causal}});
  if (!attention) {
    remark(fmt::format("did not fuse attention in @{}: {}", function.name(), llvm::toString(attention.takeError())));
    return nullptr;
  }
  remark(fmt::format("fused softmax(q kᵀ · {}{}) v into one attention kernel in @{}", match->scale,
                     match->bias ? " + bias" : "", function.name()) +
         (match->causal ? ", causal: blocks above the diagonal are skipped" : ""));
  return attention->front();
}
}  // namespace

llvm::Error runFuseAttention(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  for (const auto &function : module.functions()) {
    if (function->isKernel()) continue;
    rewriteForward(*function, [&](Operation &op, Function::OpList::iterator position) {
      return fuseAttention(*function, op, position, options);
    });
    eliminateDeadCode(*function);
  }
  return llvm::Error::success();
}

}  // namespace kiln
