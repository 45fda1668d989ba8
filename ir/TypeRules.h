// Result-type rules named in Ops.def: each derives an op's result type from its operands and
// attributes, or checks the type the IR declares, and explains what is wrong when it cannot.
#pragma once

#include "ir/OpTable.h"

namespace kiln::type_rules {

#define KILN_TYPE_RULE(name) llvm::Expected<TensorType> name(const TypeRuleInput &input);
KILN_TYPE_RULE(unaryNumeric)
KILN_TYPE_RULE(unaryFloat)
KILN_TYPE_RULE(binaryArithmetic)
KILN_TYPE_RULE(binaryFloat)
KILN_TYPE_RULE(comparison)
KILN_TYPE_RULE(select)
KILN_TYPE_RULE(declaredConstant)
KILN_TYPE_RULE(declaredIota)
KILN_TYPE_RULE(declaredRandom)
KILN_TYPE_RULE(declaredCast)
KILN_TYPE_RULE(declaredBroadcast)
KILN_TYPE_RULE(declaredReshape)
KILN_TYPE_RULE(transpose)
KILN_TYPE_RULE(slice)
KILN_TYPE_RULE(concat)
KILN_TYPE_RULE(pad)
KILN_TYPE_RULE(gather)
KILN_TYPE_RULE(declaredScatterAdd)
KILN_TYPE_RULE(declaredOneHot)
KILN_TYPE_RULE(reduction)
KILN_TYPE_RULE(reductionFloat)
KILN_TYPE_RULE(argmax)
KILN_TYPE_RULE(matmul)
KILN_TYPE_RULE(conv2d)
KILN_TYPE_RULE(declaredConv2dInputGrad)
KILN_TYPE_RULE(declaredConv2dFilterGrad)
KILN_TYPE_RULE(pool2d)
KILN_TYPE_RULE(pool2dGrad)
KILN_TYPE_RULE(normalization)
KILN_TYPE_RULE(attentionGrad)  // TypeRulesAttention.cpp
#undef KILN_TYPE_RULE

// A call's results are as declared; the verifier checks them against the callee's signature,
// which a rule of one op cannot see.
llvm::Expected<TensorTypes> declaredCall(const TypeRuleInput &input);
llvm::Expected<TensorTypes> attention(const TypeRuleInput &input);  // TypeRulesAttention.cpp

}  // namespace kiln::type_rules
