// attention and attention_grad, evaluated the plain way (the whole score row of each query at
// once, in double) as the reference the streaming kernels are checked against.
#include <cmath>
#include <limits>

#include "backends/interpreter/Rules.h"

namespace kiln::interpreter {

namespace {
// The shapes of one attention op and the element offsets of its batch elements.
struct AttentionGeometry {
  int64_t queries = 0, keys = 0, depth = 0;
  std::vector<int64_t> biasOffsets;  // per batch element: the bias element at (i, j) = 0
  int64_t biasRowStride = 0, biasColumnStride = 0;
  int64_t batches = 0;

  AttentionGeometry(const Shape &queryShape, const Shape &keyShape, const Tensor *bias) {
    queries = queryShape[queryShape.size() - 2];
    depth = queryShape.back();
    keys = keyShape[keyShape.size() - 2];
    Shape batch(queryShape.begin(), queryShape.end() - 2);
    batches = 1;
    for (int64_t extent : batch) batches *= extent;
    if (!bias) return;
    Shape scores = queryShape;
    scores.back() = keys;
    std::vector<int64_t> strides = broadcastStrides(bias->shape(), scores);
    biasRowStride = strides[strides.size() - 2];
    biasColumnStride = strides.back();
    strides.resize(strides.size() - 2);
    forEachIndex<1>(batch, {strides}, [&](const std::array<int64_t, 1> &at) { biasOffsets.push_back(at[0]); });
  }
};

// The scores of query row `i` of batch element `b` over every key: -inf for a key the causal mask
// drops.
std::vector<double> attentionScores(const Operation &op, const AttentionGeometry &geometry, const Tensor &q,
                                    const Tensor &k, const Tensor *bias, int64_t b, int64_t i) {
  double scale = op.attributes().getFloat("scale");
  bool causal = op.attributes().getBool("causal");
  const int64_t n = geometry.keys, d = geometry.depth;
  std::vector<double> scores(n, -std::numeric_limits<double>::infinity());
  for (int64_t j = 0; j < n; ++j) {
    if (causal && j > i) continue;
    double score = 0;
    for (int64_t c = 0; c < d; ++c)
      score += q.getDouble((b * geometry.queries + i) * d + c) * k.getDouble((b * n + j) * d + c);
    score *= scale;
    if (bias)
      score += bias->getDouble(geometry.biasOffsets[b] + i * geometry.biasRowStride + j * geometry.biasColumnStride);
    scores[j] = score;
  }
  return scores;
}

// The softmax weights of one row of scores, and their log-sum-exp: all weights 0 and +inf when no
// key is left (every score -inf), NaN for both when a score is NaN.
std::vector<double> attentionWeights(std::vector<double> scores, double &logSumExp) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double maximum = -std::numeric_limits<double>::infinity();
  for (double score : scores) {
    if (std::isnan(score)) {
      logSumExp = nan;
      return std::vector<double>(scores.size(), nan);
    }
    maximum = std::max(maximum, score);
  }
  if (std::isinf(maximum) && maximum < 0) {
    logSumExp = std::numeric_limits<double>::infinity();
    return std::vector<double>(scores.size(), 0.0);
  }
  double total = 0;
  for (double &score : scores) total += score = std::exp(score - maximum);
  for (double &weight : scores) weight /= total;
  logSumExp = maximum + std::log(total);
  return scores;
}

// o[i] = sum_j p[i, j] v[j], lse[i] = log sum_j e^s[i, j]
llvm::Expected<std::vector<Tensor>> attentionRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &q = operands[0], &k = operands[1], &v = operands[2];
  const Tensor *bias = operands.size() == 4 ? &operands[3] : nullptr;
  AttentionGeometry geometry(q.shape(), k.shape(), bias);
  Tensor result(op.result(0)->type()), statistics(op.result(1)->type());
  const int64_t d = geometry.depth;
  for (int64_t b = 0; b < geometry.batches; ++b)
    for (int64_t i = 0; i < geometry.queries; ++i) {
      double logSumExp = 0;
      std::vector<double> weights = attentionWeights(attentionScores(op, geometry, q, k, bias, b, i), logSumExp);
      statistics.setDouble(b * geometry.queries + i, logSumExp);
      for (int64_t c = 0; c < d; ++c) {
        double sum = 0;
        for (int64_t j = 0; j < geometry.keys; ++j) sum += weights[j] * v.getDouble((b * geometry.keys + j) * d + c);
        result.setDouble((b * geometry.queries + i) * d + c, sum);
      }
    }
  return std::vector<Tensor>{std::move(result), std::move(statistics)};
}

// With s = q kᵀ · scale + bias, p = softmax(s) = e^(s − lse) (lse as given), o = p v and g = do:
//   dv = pᵀ g,  dp = g vᵀ,  ds = p ∘ (dp − rowsum(g ∘ o)),  dq = ds k · scale,  dk = dsᵀ q · scale
// (rowsum(dp ∘ p) = rowsum(g ∘ o) since o = p v), written as dq, dk, dv along the sequence axis.
llvm::Expected<Tensor> attentionGradRule(const Operation &op, std::span<const Tensor> operands) {
  const Tensor &q = operands[0], &k = operands[1], &v = operands[2], &o = operands[3], &lse = operands[4],
               &g = operands[5];
  const Tensor *bias = operands.size() == 7 ? &operands[6] : nullptr;
  AttentionGeometry geometry(q.shape(), k.shape(), bias);
  double scale = op.attributes().getFloat("scale");
  Tensor result(op.result()->type());
  const int64_t tq = geometry.queries, tk = geometry.keys, d = geometry.depth, joined = tq + 2 * tk;
  for (int64_t b = 0; b < geometry.batches; ++b) {
    std::vector<double> dk(tk * d, 0.0), dv(tk * d, 0.0);
    for (int64_t i = 0; i < tq; ++i) {
      std::vector<double> weights = attentionScores(op, geometry, q, k, bias, b, i);
      double logSumExp = lse.getDouble(b * tq + i);
      for (double &weight : weights) weight = std::exp(weight - logSumExp);
      double rowDot = 0;
      for (int64_t c = 0; c < d; ++c) rowDot += g.getDouble((b * tq + i) * d + c) * o.getDouble((b * tq + i) * d + c);
      std::vector<double> dq(d, 0.0);
      for (int64_t j = 0; j < tk; ++j) {
        double weight = weights[j];
        if (weight == 0) continue;
        double dp = 0;
        for (int64_t c = 0; c < d; ++c) dp += g.getDouble((b * tq + i) * d + c) * v.getDouble((b * tk + j) * d + c);
        double ds = weight * (dp - rowDot) * scale;
        for (int64_t c = 0; c < d; ++c) {
          dq[c] += ds * k.getDouble((b * tk + j) * d + c);
          dk[j * d + c] += ds * q.getDouble((b * tq + i) * d + c);
          dv[j * d + c] += weight * g.getDouble((b * tq + i) * d + c);
        }
      }
      for (int64_t c = 0; c < d; ++c) result.setDouble((b * joined + i) * d + c, dq[c]);
    }
    for (int64_t j = 0; j < tk; ++j)
      for (int64_t c = 0; c < d; ++c) {
        result.setDouble((b * joined + tq + j) * d + c, dk[j * d + c]);
        result.setDouble((b * joined + tq + tk + j) * d + c, dv[j * d + c]);
      }
  }
  return result;
}

const RuleEntry kRules[] = {
    {OpKind::AttentionGrad, attentionGradRule},
};
const ResultsRuleEntry kSeveralResultRules[] = {
    {OpKind::Attention, attentionRule},
};
}  // namespace

std::span<const RuleEntry> attentionRules() { return kRules; }
std::span<const ResultsRuleEntry> severalResultRules() { return kSeveralResultRules; }

}  // namespace kiln::interpreter
