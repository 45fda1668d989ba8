// indexBound: the range of an integer argument, inferred from the gathers, scatters and
// one-hots it reaches through ops that only copy its elements.
#include <gtest/gtest.h>

#include "ir/Parser.h"
#include "passes/gradients/IndexBounds.h"

namespace kiln {
namespace {

// The bound of argument `argumentName` of the only function in `text`.
std::optional<int64_t> boundOf(llvm::StringRef text, std::string_view argumentName) {
  auto module = parseModule(text);
  if (!module) {
    ADD_FAILURE() << llvm::toString(module.takeError());
    return std::nullopt;
  }
  const Function &function = *(*module)->functions().front();
  for (const auto &argument : function.arguments())
    if (argument->name() == argumentName) return indexBound(function, *argument);
  ADD_FAILURE() << "no argument %" << argumentName;
  return std::nullopt;
}

TEST(IndexBounds, GatherOnAxisZeroIsBoundByTheRows) {
  EXPECT_EQ(boundOf(R"(
func @embed(%table: f32[10,3], %tokens: i32[6]) -> f32[6,3] {
  %rows = gather %table, %tokens {axis = 0} : f32[6,3]
  return %rows
})",
                    "tokens"),
            10);
}

TEST(IndexBounds, GatherOnAxisOneIsBoundByTheColumns) {
  EXPECT_EQ(boundOf(R"(
func @columns(%x: f32[4,7], %picks: i64[5]) -> f32[4,5] {
  %c = gather %x, %picks {axis = 1} : f32[4,5]
  return %c
})",
                    "picks"),
            7);
}

TEST(IndexBounds, BatchDimsLeaveTheAxisExtent) {
  EXPECT_EQ(boundOf(R"(
func @picked(%logits: f32[3,5], %labels: i32[3]) -> f32[3] {
  %p = gather %logits, %labels {axis = 1, batch_dims = 1} : f32[3]
  return %p
})",
                    "labels"),
            5);
}

TEST(IndexBounds, FollowsReshapeAndTranspose) {
  EXPECT_EQ(boundOf(R"(
func @moved(%table: f32[9,2], %tokens: i32[2,3]) -> f32[6,2] {
  %t = transpose %tokens {perm = [1, 0]} : i32[3,2]
  %flat = reshape %t : i32[6]
  %rows = gather %table, %flat {axis = 0} : f32[6,2]
  return %rows
})",
                    "tokens"),
            9);
}

TEST(IndexBounds, FollowsSliceConcatBroadcastPadSelectAndIntegerCast) {
  llvm::StringRef text = R"(
func @copies(%table: f32[8], %i: i32[4], %other: i64[], %keep: i1[6]) -> f32[6] {
  %s = slice %i {start = [1], limit = [4]} : i32[3]
  %p = pad %s {low = [1], high = [0]} : i32[4]
  %wide = cast %p : i64[4]
  %b = broadcast %other : i64[2]
  %joined = concat %wide, %b {axis = 0} : i64[6]
  %last = slice %joined {start = [5], limit = [6]} : i64[1]
  %padded = pad %last {low = [5], high = [0]} : i64[6]
  %chosen = select %keep, %joined, %padded : i64[6]
  %rows = gather %table, %chosen {axis = 0} : f32[6]
  return %rows
})";
  EXPECT_EQ(boundOf(text, "i"), 8);
  EXPECT_EQ(boundOf(text, "other"), 8);
  EXPECT_EQ(boundOf(text, "keep"), std::nullopt);
}

TEST(IndexBounds, OneHotIsBoundByTheDepth) {
  EXPECT_EQ(boundOf(R"(
func @encode(%labels: i32[5]) -> f32[5,4] {
  %h = one_hot %labels {depth = 4} : f32[5,4]
  return %h
})",
                    "labels"),
            4);
}

TEST(IndexBounds, ScatterAddIsBoundByTheResultAxis) {
  EXPECT_EQ(boundOf(R"(
func @scatter(%updates: f32[3,5], %rows: i64[3]) -> f32[8,5] {
  %s = scatter_add %updates, %rows {axis = 0} : f32[8,5]
  return %s
})",
                    "rows"),
            8);
}

TEST(IndexBounds, TheSmallestOfTwoUsesWins) {
  EXPECT_EQ(boundOf(R"(
func @both(%table: f32[10,3], %tokens: i32[6]) -> f32[6,3] {
  %rows = gather %table, %tokens {axis = 0} : f32[6,3]
  %h = one_hot %tokens {depth = 6} : f32[6,6]
  %mixed = matmul %h, %rows : f32[6,3]
  return %mixed
})",
                    "tokens"),
            6);
}

// The copied elements of an integer table are indices too, and the table's own indices
// are bound by the table.
TEST(IndexBounds, GatheredIntegersAreFollowed) {
  llvm::StringRef text = R"(
func @lookup(%vocabulary: i32[5], %word: i32[3], %embedding: f32[7,2]) -> f32[3,2] {
  %ids = gather %vocabulary, %word {axis = 0} : i32[3]
  %rows = gather %embedding, %ids {axis = 0} : f32[3,2]
  return %rows
})";
  EXPECT_EQ(boundOf(text, "vocabulary"), 7);
  EXPECT_EQ(boundOf(text, "word"), 5);
}

TEST(IndexBounds, ComparedOrComputedIntegersHaveNoBound) {
  llvm::StringRef text = R"(
func @counts(%table: f32[10], %labels: i32[4], %offset: i32[4], %mask: i1[4]) -> f32[4] {
  %shifted = add %labels, %offset : i32[4]
  %rows = gather %table, %shifted {axis = 0} : f32[4]
  %f = cast %labels : f32[4]
  %back = cast %f : i32[4]
  %more = gather %table, %back {axis = 0} : f32[4]
  %zero = constant {value = 0} : i32[4]
  %cond = eq %labels, %zero : i1[4]
  %picked = select %cond, %rows, %more : f32[4]
  %m = select %mask, %picked, %rows : f32[4]
  return %m
})";
  EXPECT_EQ(boundOf(text, "labels"), std::nullopt);
  EXPECT_EQ(boundOf(text, "mask"), std::nullopt);
}

}  // namespace
}  // namespace kiln
