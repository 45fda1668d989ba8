// The gradient table: the family lists gathered into one array indexed by OpKind.
#include "passes/gradients/GradientRules.h"

#include <array>

namespace kiln {

namespace {
const std::array<const GradientRule *, kOpCount> &table() {
  static const auto rows = [] {
    std::array<const GradientRule *, kOpCount> byKind{};
    for (auto family : {elementwiseGradientRules(), shapeGradientRules(), reductionGradientRules(),
                        contractionGradientRules()})
      for (const GradientRule &rule : family) byKind[static_cast<size_t>(rule.kind)] = &rule;
    return byKind;
  }();
  return rows;
}
}  // namespace

const GradientRule *findGradientRule(OpKind kind) { return table()[static_cast<size_t>(kind)]; }

bool hasGradientRule(OpKind kind) {
  const GradientRule *rule = findGradientRule(kind);
  return rule && rule->vectorJacobianProduct;
}

bool isNonDifferentiable(OpKind kind) {
  const GradientRule *rule = findGradientRule(kind);
  return rule && !rule->vectorJacobianProduct;
}

}  // namespace kiln
