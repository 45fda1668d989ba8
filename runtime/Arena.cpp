// The kept arenas: a few blocks under a mutex, the smallest that fits handed out first, so that
// functions called in turn (a training step, then an evaluation) each find their own again.
#include "runtime/Arena.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace {
struct KeptBlock {
  void *memory;
  int64_t bytes;
};

// More kept blocks than functions a program calls in turn only hold memory no call reuses.
constexpr size_t kMaximumKept = 8;

std::mutex keptMutex;
std::vector<KeptBlock> &keptBlocks() {
  static std::vector<KeptBlock> blocks;
  return blocks;
}
}  // namespace

extern "C" void *kiln_arena_acquire(int64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(keptMutex);
    std::vector<KeptBlock> &blocks = keptBlocks();
    auto best = blocks.end();
    for (auto block = blocks.begin(); block != blocks.end(); ++block)
      if (block->bytes >= bytes && (best == blocks.end() || block->bytes < best->bytes)) best = block;
    if (best != blocks.end()) {
      void *memory = best->memory;
      blocks.erase(best);
      return memory;
    }
  }
  size_t rounded = static_cast<size_t>(std::max<int64_t>((bytes + 63) / 64 * 64, 64));
  return std::aligned_alloc(64, rounded);
}

extern "C" void kiln_arena_release(void *arena, int64_t bytes) {
  if (!arena) return;
  std::lock_guard<std::mutex> lock(keptMutex);
  std::vector<KeptBlock> &blocks = keptBlocks();
  if (blocks.size() < kMaximumKept) {
    blocks.push_back({arena, bytes});
    return;
  }
  // Keep the larger blocks: they are the ones that cost page faults.
  auto smallest = std::min_element(blocks.begin(), blocks.end(),
                                   [](const KeptBlock &a, const KeptBlock &b) { return a.bytes < b.bytes; });
  if (smallest->bytes < bytes) {
    std::swap(smallest->memory, arena);
    std::swap(smallest->bytes, bytes);
  }
  std::free(arena);
}
