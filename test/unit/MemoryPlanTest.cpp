// The memory plan: buffers share bytes only when their lifetimes are disjoint, the arena is no
// larger than the unplanned total, and the checker finds a plan that breaks the rule.
#include <gtest/gtest.h>

#include "backends/cpu/MemoryPlan.h"
#include "ir/Parser.h"

namespace kiln::cpu {
namespace {

// A chain a -> b -> c -> d of 4 KiB buffers: a and c (and b and d) may share bytes, so the arena
// holds two buffers, not four. %b is returned, so it lives to the end.
constexpr const char *kChain = R"(
kernel @twice(%x: f32[1024]) -> f32[1024] {
  %y = add %x, %x : f32[1024]
  return %y
}

func @chain(%x: f32[1024]) -> (f32[1024], f32[1024]) {
  %a = call @twice(%x) : f32[1024]
  %b = call @twice(%a) : f32[1024]
  %c = call @twice(%b) : f32[1024]
  %d = call @twice(%c) : f32[1024]
  return %d, %b
}
)";

TEST(MemoryPlanTest, DisjointLifetimesShareBytes) {
  auto module = parseModule(kChain);
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  MemoryPlan plan = planMemory(*(*module)->lookup("chain"));
  ASSERT_EQ(plan.buffers.size(), 4u);
  EXPECT_EQ(plan.unplannedBytes, 4 * 4096);
  // %a dies at the call defining %b; %b lives to the end with %c and %d: three buffers at once.
  EXPECT_EQ(plan.buffers[0].firstUse, 0u);
  EXPECT_EQ(plan.buffers[0].lastUse, 1u);
  EXPECT_EQ(plan.buffers[1].lastUse, 4u);
  EXPECT_EQ(plan.arenaBytes, 3 * 4096);
  EXPECT_EQ(plan.buffers[2].offset, plan.buffers[0].offset);  // %c reuses %a's bytes
  EXPECT_TRUE(checkMemoryPlan(plan).empty());
}

TEST(MemoryPlanTest, CheckerFindsOverlappingLiveBuffers) {
  auto module = parseModule(kChain);
  ASSERT_TRUE(static_cast<bool>(module)) << llvm::toString(module.takeError());
  MemoryPlan plan = planMemory(*(*module)->lookup("chain"));
  plan.buffers[1].offset = plan.buffers[0].offset + 64;  // %b overlaps %a, which is live at its call
  plan.arenaBytes += 4096;
  std::vector<std::string> problems = checkMemoryPlan(plan);
  ASSERT_FALSE(problems.empty());
  EXPECT_EQ(problems.front(), "op 0 result 0 %a and op 1 result 0 %b are live together and overlap");
}

}  // namespace
}  // namespace kiln::cpu
