// The runtime's parallelFor: every item runs exactly once at any thread count, nested calls
// run serially, and the C entry point generated code calls behaves the same.
#include <atomic>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/Parallel.h"

namespace kiln::runtime {
namespace {

TEST(ParallelTest, EveryItemRunsOnceAtAnyThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    setThreadCount(threads);
    EXPECT_EQ(threadCount(), threads);
    for (int64_t count : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(count));
      parallelFor(5, 5 + count, [&](int64_t index) { runs[static_cast<size_t>(index - 5)].fetch_add(1); });
      for (int64_t index = 0; index < count; ++index)
        EXPECT_EQ(runs[static_cast<size_t>(index)].load(), 1)
            << "item " << index << " of " << count << ", " << threads << " threads";
    }
  }
  setThreadCount(1);
}

TEST(ParallelTest, NestedCallsRunSerially) {
  setThreadCount(2);
  std::vector<std::atomic<int>> runs(64);
  parallelFor(0, 8, [&](int64_t outer) {
    parallelFor(0, 8, [&](int64_t inner) { runs[static_cast<size_t>(outer * 8 + inner)].fetch_add(1); });
  });
  for (auto &count : runs) EXPECT_EQ(count.load(), 1);
  setThreadCount(1);
}

TEST(ParallelTest, CEntryPoint) {
  kiln_set_thread_count(2);
  EXPECT_EQ(kiln_thread_count(), 2);
  std::vector<int64_t> squares(100, -1);
  kiln_parallel_for(
      100, [](int64_t index, void *context) { (*static_cast<std::vector<int64_t> *>(context))[index] = index * index; },
      &squares);
  for (int64_t index = 0; index < 100; ++index) EXPECT_EQ(squares[static_cast<size_t>(index)], index * index);
  kiln_set_thread_count(0);  // clamped to 1
  EXPECT_EQ(kiln_thread_count(), 1);
}

}  // namespace
}  // namespace kiln::runtime
