// Walks the op table against the gradient table: every op is listed by exactly one family,
// with a rule or marked not differentiable.
#include <gtest/gtest.h>

#include "passes/gradients/GradientRules.h"

namespace kiln {
namespace {

TEST(GradientRules, EveryOpIsListedExactlyOnce) {
  std::vector<int> listed(allOps().size(), 0);
  for (auto family : gradientRuleFamilies())
    for (const GradientRule &rule : family) ++listed[static_cast<size_t>(rule.kind)];
  for (const OpInfo &info : allOps()) EXPECT_EQ(listed[static_cast<size_t>(info.kind)], 1) << info.name;
}

TEST(GradientRules, EveryOpHasARuleOrIsMarkedNonDifferentiable) {
  for (const OpInfo &info : allOps()) {
    EXPECT_NE(findGradientRule(info.kind), nullptr) << info.name;
    EXPECT_NE(hasGradientRule(info.kind), isNonDifferentiable(info.kind)) << info.name;
  }
}

// Ops without operands make values from nothing differentiable.
TEST(GradientRules, CreationOpsAreNotDifferentiable) {
  for (const OpInfo &info : allOps())
    if (info.opClass == OpClass::Creation) {
      EXPECT_TRUE(isNonDifferentiable(info.kind)) << info.name;
    }
}

TEST(GradientRules, FloatOpsOfTheModelFamiliesAreDifferentiable) {
  for (OpKind kind : {OpKind::Matmul, OpKind::Conv2d, OpKind::Softmax, OpKind::LogSoftmax, OpKind::Gather,
                      OpKind::MaxPool2d, OpKind::Gelu, OpKind::Concat, OpKind::Slice})
    EXPECT_TRUE(hasGradientRule(kind)) << opName(kind);
}

}  // namespace
}  // namespace kiln
