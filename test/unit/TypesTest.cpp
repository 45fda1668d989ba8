// Tensor types: NumPy broadcasting, element counts that never overflow, and the one spelling.
#include <gtest/gtest.h>

#include "ir/Types.h"

namespace kiln {
namespace {

TEST(Types, BroadcastingFollowsNumPy) {
  EXPECT_EQ(broadcastShapes({2, 3}, {3}), (Shape{2, 3}));
  EXPECT_EQ(broadcastShapes({3}, {2, 3}), (Shape{2, 3}));
  EXPECT_EQ(broadcastShapes({4, 1}, {1, 5}), (Shape{4, 5}));
  EXPECT_EQ(broadcastShapes({}, {2, 3}), (Shape{2, 3}));
  EXPECT_EQ(broadcastShapes({}, {}), Shape{});
  EXPECT_EQ(broadcastShapes({5, 1, 3}, {2, 1}), (Shape{5, 2, 3}));
  // A 1 stretches to 0, as in NumPy.
  EXPECT_EQ(broadcastShapes({1}, {0}), Shape{0});
  EXPECT_EQ(broadcastShapes({0, 3}, {1, 3}), (Shape{0, 3}));
}

TEST(Types, MismatchedExtentsDoNotBroadcast) {
  EXPECT_FALSE(broadcastShapes({2}, {3}));
  EXPECT_FALSE(broadcastShapes({2, 3}, {2}));
  EXPECT_FALSE(broadcastShapes({0}, {2}));
  EXPECT_FALSE(broadcastShapes({4, 2, 3}, {5, 1, 3}));
}

TEST(Types, BroadcastingIsSymmetric) {
  const Shape shapes[] = {{}, {1}, {3}, {2, 3}, {2, 1}, {1, 3}, {4, 1, 3}, {0}, {2, 0}};
  for (const Shape &lhs : shapes)
    for (const Shape &rhs : shapes) EXPECT_EQ(broadcastShapes(lhs, rhs), broadcastShapes(rhs, lhs));
}

TEST(Types, TypesAreSpelledOneWay) {
  EXPECT_EQ(toString(TensorType{DType::F32, {32, 64}}), "f32[32,64]");
  EXPECT_EQ(toString(TensorType{DType::I1, {}}), "i1[]");
  EXPECT_EQ(toString(TensorType{DType::F64, {0}}), "f64[0]");
  EXPECT_EQ(toString(TensorType{DType::I32, {1, 2, 3}}), "i32[1,2,3]");
  EXPECT_EQ(toString(TensorType{DType::I64, {7}}), "i64[7]");
  EXPECT_EQ(toString(Shape{}), "[]");
}

TEST(Types, DTypeNamesReadBack) {
  for (DType dtype : {DType::F32, DType::F64, DType::I32, DType::I64, DType::I1})
    EXPECT_EQ(parseDType(dtypeName(dtype)), dtype);
  EXPECT_FALSE(parseDType("f16"));
  EXPECT_FALSE(parseDType(""));
}

TEST(Types, ElementCountsAreCheckedAgainstTheLimit) {
  EXPECT_EQ(TensorType({DType::F32, {}}).checkedElementCount(), 1);
  EXPECT_EQ(TensorType({DType::F32, {2, 3, 4}}).checkedElementCount(), 24);
  EXPECT_EQ(TensorType({DType::F32, {kMaxElementCount}}).checkedElementCount(), kMaxElementCount);
  EXPECT_FALSE(TensorType({DType::F32, {kMaxElementCount + 1}}).checkedElementCount());
  // Each extent fits, their product overflows 64 bits.
  EXPECT_FALSE(TensorType({DType::F32, {int64_t{1} << 32, int64_t{1} << 32}}).checkedElementCount());
  EXPECT_FALSE(TensorType({DType::F32, {INT64_MAX, INT64_MAX}}).checkedElementCount());
  EXPECT_FALSE(TensorType({DType::F32, {2, -3}}).checkedElementCount());
  // A zero extent empties the tensor, however large the others.
  EXPECT_EQ(TensorType({DType::F32, {INT64_MAX, 0}}).checkedElementCount(), 0);
  EXPECT_GT(TensorType({DType::F32, {INT64_MAX, 2}}).elementCount(), kMaxElementCount);
}

}  // namespace
}  // namespace kiln
