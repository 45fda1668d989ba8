// The runtime's kept blocks (runtime/Arena.h): a block is found again by the size it really has,
// whatever size the caller that borrowed it last asked for, so that a function's buffers and its
// kernels' temporaries are not allocated and faulted in again on every call.
#include <cstdint>

#include <gtest/gtest.h>

#include "runtime/Arena.h"

namespace {

// A block lent to a smaller request and given back with that request's count is still the large
// block the next large request gets.
TEST(Arena, ABlockKeepsItsRealSizeThroughASmallerLoan) {
  constexpr int64_t kLarge = 3 << 20, kSmall = 64 << 10;
  void *large = kiln_arena_acquire(kLarge);
  ASSERT_NE(large, nullptr);
  kiln_arena_release(large, kLarge);
  void *small = kiln_arena_acquire(kSmall);
  ASSERT_EQ(small, large);  // the smallest kept block that fits is the only one
  kiln_arena_release(small, kSmall);
  void *again = kiln_arena_acquire(kLarge);
  EXPECT_EQ(again, large);
  kiln_arena_release(again, kLarge);
}

// Blocks are 64-byte aligned, including the smallest.
TEST(Arena, BlocksAreAligned) {
  for (int64_t bytes : {int64_t{1}, int64_t{100}, int64_t{1} << 20}) {
    void *block = kiln_arena_acquire(bytes);
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % 64, 0u);
    kiln_arena_release(block, bytes);
  }
}

}  // namespace
