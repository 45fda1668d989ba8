// The memory plan: buffers share bytes only when their lifetimes are disjoint or one is written
// over the other by an elementwise kernel, and the checker finds a plan that breaks the rule.
#include <gtest/gtest.h>

#include "backends/cpu/MemoryPlan.h"
#include "ir/Parser.h"

namespace kiln::cpu {
namespace {

// A chain a -> b -> c -> d of 4 KiB buffers through a kernel that reads its operand transposed, so
// that no result may be written over its operand: a and c share bytes, and %b is returned, so it
// lives to the end.
constexpr const char *kChain = R"(
kernel @flip(%x: f32[32,32]) -> f32[32,32] {
  %y = transpose %x {perm = [1, 0]} : f32[32,32]
  %z = add %y, %y : f32[32,32]
  return %z
}

func @chain(%x: f32[32,32]) -> (f32[32,32], f32[32,32]) {
  %a = call @flip(%x) : f32[32,32]
  %b = call @flip(%a) : f32[32,32]
  %c = call @flip(%b) : f32[32,32]
  %d = call @flip(%c) : f32[32,32]
  return %d, %b
}
)";

// The same chain through an elementwise kernel: %b is written over %a, and %d over %c, but not %c
// over %b, which is returned. Then a call passing one buffer twice, which keeps its own result.
constexpr const char *kInPlace = R"(
kernel @twice(%x: f32[32,32]) -> f32[32,32] {
  %y = add %x, %x : f32[32,32]
  return %y
}

kernel @sum(%x: f32[32,32], %y: f32[32,32]) -> f32[32,32] {
  %z = add %x, %y : f32[32,32]
  return %z
}

func @chain(%x: f32[32,32]) -> (f32[32,32], f32[32,32]) {
  %a = call @twice(%x) : f32[32,32]
  %b = call @twice(%a) : f32[32,32]
  %c = call @twice(%b) : f32[32,32]
  %d = call @twice(%c) : f32[32,32]
  return %d, %b
}

func @twice_passed(%x: f32[32,32]) -> f32[32,32] {
  %a = call @twice(%x) : f32[32,32]
  %b = call @sum(%a, %a) : f32[32,32]
  return %b
}
)";

TEST(MemoryPlanTest, DisjointLifetimesShareBytes) {
  auto module = parseModule(kChain);
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  MemoryPlan plan = planMemory(**module, *(*module)->lookup("chain"));
  ASSERT_EQ(plan.buffers.size(), 4u);
  EXPECT_EQ(plan.unplannedBytes, 4 * 4096);
  // %a dies at the call defining %b; %b lives to the end with %c and %d: three buffers at once.
  EXPECT_EQ(plan.buffers[0].firstUse, 0u);
  EXPECT_EQ(plan.buffers[0].lastUse, 1u);
  EXPECT_EQ(plan.buffers[1].lastUse, 4u);
  EXPECT_EQ(plan.arenaBytes, 3 * 4096);
  EXPECT_EQ(plan.buffers[2].offset, plan.buffers[0].offset);  // %c reuses %a's bytes
  for (const PlannedBuffer &buffer : plan.buffers) EXPECT_FALSE(buffer.inPlaceOf);
  EXPECT_TRUE(checkMemoryPlan(plan).empty());
}

TEST(MemoryPlanTest, ElementwiseKernelsWriteOverWhatTheyReadLast) {
  auto module = parseModule(kInPlace);
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  MemoryPlan plan = planMemory(**module, *(*module)->lookup("chain"));
  ASSERT_EQ(plan.buffers.size(), 4u);
  EXPECT_EQ(plan.buffers[0].inPlaceOf, std::nullopt);
  EXPECT_EQ(plan.buffers[1].inPlaceOf, 0u);
  EXPECT_EQ(plan.buffers[2].inPlaceOf, std::nullopt);
  EXPECT_EQ(plan.buffers[3].inPlaceOf, 2u);
  EXPECT_EQ(plan.buffers[1].offset, plan.buffers[0].offset);
  EXPECT_EQ(plan.buffers[3].offset, plan.buffers[2].offset);
  EXPECT_EQ(plan.arenaBytes, 2 * 4096);
  EXPECT_TRUE(checkMemoryPlan(plan).empty());

  MemoryPlan passedTwice = planMemory(**module, *(*module)->lookup("twice_passed"));
  ASSERT_EQ(passedTwice.buffers.size(), 2u);
  EXPECT_EQ(passedTwice.buffers[1].inPlaceOf, std::nullopt);
  EXPECT_EQ(passedTwice.arenaBytes, 2 * 4096);
}

TEST(MemoryPlanTest, CheckerFindsOverlappingLiveBuffers) {
  auto module = parseModule(kChain);
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  MemoryPlan plan = planMemory(**module, *(*module)->lookup("chain"));
  plan.buffers[1].offset = plan.buffers[0].offset + 64;  // %b overlaps %a, which is live at its call
  plan.arenaBytes += 4096;
  std::vector<std::string> problems = checkMemoryPlan(plan);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems.front(), "op 0 result 0 %a and op 1 result 0 %b are live together and overlap");
}

TEST(MemoryPlanTest, CheckerFindsAMisplacedInPlaceBuffer) {
  auto module = parseModule(kInPlace);
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  MemoryPlan plan = planMemory(**module, *(*module)->lookup("chain"));
  plan.buffers[3].inPlaceOf = 1;  // %d claims %b's place, which is returned, and keeps %c's offset
  std::vector<std::string> problems = checkMemoryPlan(plan);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0], "op 2 result 0 %c and op 3 result 0 %d are live together and overlap");
  EXPECT_EQ(problems[1], "op 3 result 0 %d is not at the offset of the buffer it replaces, or not when that one dies");
}

}  // namespace
}  // namespace kiln::cpu
