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

TEST(OpTable, EveryOpHasATypeRuleAndASummary) {
  for (const OpInfo &info : allOps()) {
    EXPECT_NE(info.resultType, nullptr) << info.name;
    EXPECT_FALSE(info.summary.empty()) << info.name;
  }
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
