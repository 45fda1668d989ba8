// The gradient table: the family lists gathered into one array indexed by OpKind.
#include "passes/gradients/GradientRules.h"

#include <array>

namespace kiln {

namespace {
// A call is not differentiated through: autodiff asks for the inline pass first (autodiff.cpp
// says why), so the table lists it as having no rule of its own.
const GradientRule kCallRules[] = {{OpKind::Call, nullptr}};

const std::array<const GradientRule *, kOpCount> &table() {
  static const auto rows = [] {
    std::array<const GradientRule *, kOpCount> byKind{};
    for (auto family : gradientRuleFamilies())
      for (const GradientRule &rule : family) byKind[static_cast<size_t>(rule.kind)] = &rule;
    return byKind;
  }();
  return rows;
}
}  // namespace

std::vector<std::span<const GradientRule>> gradientRuleFamilies() {
  return {elementwiseGradientRules(), shapeGradientRules(),     reductionGradientRules(),
          contractionGradientRules(), attentionGradientRules(), kCallRules};
}

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
