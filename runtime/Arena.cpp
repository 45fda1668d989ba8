// The kept arenas: a few blocks under a mutex, the smallest that fits handed out first, so that
// functions called in turn (a training step, then an evaluation) each find their own again.
// Each block handed out is remembered with its real size: a caller gives back the count it asked
// for, and a 1.5 MB block lent to a 64 KB request and kept as "64 KB" was never found again by
// the request it fits, which allocated (and page-faulted) a new block on every training step
// (267 page faults a step of a GPT, from its kernels' temporaries).
#include "runtime/Arena.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
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
// The real size of each block handed out and not yet given back.
std::unordered_map<void *, int64_t> &lentBlocks() {
  static std::unordered_map<void *, int64_t> lent;
  return lent;
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
      KeptBlock block = *best;
      blocks.erase(best);
      lentBlocks()[block.memory] = block.bytes;
      return block.memory;
    }
  }
  size_t rounded = static_cast<size_t>(std::max<int64_t>((bytes + 63) / 64 * 64, 64));
  void *memory = std::aligned_alloc(64, rounded);
  if (memory) {
    std::lock_guard<std::mutex> lock(keptMutex);
    lentBlocks()[memory] = static_cast<int64_t>(rounded);
  }
  return memory;
}

extern "C" void kiln_arena_release(void *arena, int64_t bytes) {
  if (!arena) return;
  std::lock_guard<std::mutex> lock(keptMutex);
  if (auto lent = lentBlocks().find(arena); lent != lentBlocks().end()) {
    bytes = lent->second;
    lentBlocks().erase(lent);
  }
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
