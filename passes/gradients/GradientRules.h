// The vector–Jacobian rules of autodiff: one row per op of Ops.def, keyed by OpKind, each
// written in IR ops through GradientBuilder.
#pragma once

#include <span>
#include <vector>

#include "passes/gradients/GradientBuilder.h"

namespace kiln {

// What a rule sees: the forward op (for its attributes), its operands and result as they
// appear in the gradient function, and the cotangent of its result.
struct GradientContext {
  GradientBuilder &build;
  const Operation &op;
  std::vector<Value *> operands;
  Value *result;  // the first result, the one the cotangent is of
  Value *cotangent;
  std::vector<Value *> results;  // every result of the op (attention's log-sum-exp after o)

  Value *operand(size_t index) const { return operands[index]; }
  const Attributes &attributes() const { return op.attributes(); }
};

// One gradient per operand, shaped like the operand; nullptr where none flows (an index
// operand, or a derivative that is zero almost everywhere).
using VectorJacobianProduct = std::vector<Value *> (*)(const GradientContext &);

struct GradientRule {
  OpKind kind;
  // Null for an op that is not differentiable: a gradient requested through it is an error.
  VectorJacobianProduct vectorJacobianProduct;
};

// The rows of each op family, each in its own file.
std::span<const GradientRule> elementwiseGradientRules();
std::span<const GradientRule> shapeGradientRules();
std::span<const GradientRule> reductionGradientRules();
std::span<const GradientRule> contractionGradientRules();
std::span<const GradientRule> attentionGradientRules();

// Every family above, and the row of call.
std::vector<std::span<const GradientRule>> gradientRuleFamilies();

// The rule of `kind`, or null when no family lists it (the unit test proves none is missing).
const GradientRule *findGradientRule(OpKind kind);
bool hasGradientRule(OpKind kind);      // differentiable, with a rule
bool isNonDifferentiable(OpKind kind);  // listed, and marked not differentiable

}  // namespace kiln
