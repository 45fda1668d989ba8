// Walks the op table: every row is reachable by name, has a result-type rule, and its
// attribute defaults are of the kind its schema says.
#include <gtest/gtest.h>

#include "ir/OpTable.h"

namespace kiln {
namespace {

TEST(OpTable, EveryOpIsFoundByItsName) {
  for (const OpInfo &info : allOps()) {
    std::optional<OpKind> found = lookupOp(info.name);
    ASSERT_TRUE(found.has_value()) << info.name;
    EXPECT_EQ(*found, info.kind) << info.name;
    EXPECT_EQ(&opInfo(info.kind), &info) << "row order differs from the enum at " << info.name;
  }
}

TEST(OpTable, HoldsTheOpsTheModelFamiliesNeed) { EXPECT_GE(allOps().size(), 45u); }

TEST(OpTable, EveryOpHasASummary) {
  for (const OpInfo &info : allOps()) EXPECT_FALSE(info.summary.empty()) << info.name;
}

// A trait about operand i of an op that has no operand i is a typo in Ops.def.
TEST(OpTable, TraitsNameOperandsTheOpHas) {
  for (const OpInfo &info : allOps()) {
    bool fixedCount = info.operandCount >= 0;
    for (unsigned operand = 0; operand < 8; ++operand) {
      bool named = info.has(copies(operand)) || info.indexesWith(operand);
      if (named && fixedCount) {
        EXPECT_LT(operand, static_cast<unsigned>(info.operandCount)) << info.name;
      }
      EXPECT_FALSE(info.has(copies(operand)) && info.indexesWith(operand)) << info.name << " operand " << operand;
    }
    if (info.isCommutative()) {
      EXPECT_EQ(info.operandCount, 2) << info.name;
      EXPECT_EQ(info.opClass, OpClass::Elementwise) << info.name;
    }
    // Views copy their operand; everything an index map reads is copied or used as an index.
    if (info.opClass == OpClass::IndexMap) {
      EXPECT_TRUE(info.copiesOperand(0)) << info.name;
    }
    if (info.opClass == OpClass::Creation) {
      EXPECT_EQ(info.operandCount, 0) << info.name;
    }
    if (info.opClass == OpClass::Random) {
      EXPECT_EQ(info.operandCount, 1) << info.name << " draws from one key";
    }
  }
}

TEST(OpTable, OperandCountsAreCheckedAgainstTheRow) {
  const OpInfo &add = opInfo(OpKind::Add);
  EXPECT_FALSE(static_cast<bool>(add.checkOperandCount(2)));
  llvm::Error wrong = add.checkOperandCount(3);
  ASSERT_TRUE(static_cast<bool>(wrong));
  EXPECT_EQ(llvm::toString(std::move(wrong)), "'add' takes 2 operands, not 3");
  EXPECT_FALSE(static_cast<bool>(opInfo(OpKind::Call).checkOperandCount(0)));
  llvm::Error empty = opInfo(OpKind::Concat).checkOperandCount(0);
  ASSERT_TRUE(static_cast<bool>(empty));
  EXPECT_EQ(llvm::toString(std::move(empty)), "'concat' takes one or more operands, not 0");
}

TEST(OpTable, AttributeDefaultsHaveTheirKind) {
  for (const OpInfo &info : allOps())
    for (const AttrSpec &spec : info.attributes) {
      if (!spec.defaultValue) continue;
      auto coerced = coerceAttribute(spec.kind, *spec.defaultValue, DType::F32);
      ASSERT_TRUE(coerced.has_value()) << info.name << "." << spec.name;
      EXPECT_EQ(*coerced, *spec.defaultValue) << info.name << "." << spec.name << " default is not canonical";
    }
}

TEST(OpTable, UnknownNamesAreNotFound) {
  EXPECT_FALSE(lookupOp("no_such_op").has_value());
  EXPECT_FALSE(lookupOp("").has_value());
}

}  // namespace
}  // namespace kiln
