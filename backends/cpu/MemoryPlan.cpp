// Liveness over a func's call sequence and greedy packing of its buffers into one arena.
#include "backends/cpu/MemoryPlan.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

namespace kiln::cpu {

namespace {
int64_t roundedBytes(const TensorType &type) {
  int64_t bytes = type.elementCount() * dtypeByteSize(type.dtype);
  return std::max<int64_t>((bytes + 63) / 64 * 64, 64);
}

bool liveTogether(const PlannedBuffer &a, const PlannedBuffer &b) {
  return a.firstUse <= b.lastUse && b.firstUse <= a.lastUse;
}

bool bytesOverlap(const PlannedBuffer &a, const PlannedBuffer &b) {
  return a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

// Where the buffer's value is defined, and its name when it has one (the printer numbers the
// others, which the plan does not repeat).
std::string bufferName(const PlannedBuffer &buffer) {
  std::string where = fmt::format("op {} result {}", buffer.firstUse, buffer.value->index());
  return buffer.value->name().empty() ? where : fmt::format("{} %{}", where, buffer.value->name());
}
}  // namespace

MemoryPlan planMemory(const Function &function) {
  MemoryPlan plan;
  std::unordered_map<const Value *, size_t> bufferOf;
  size_t index = 0;
  for (const auto &op : function.ops()) {
    if (op->kind() == OpKind::Call)
      for (const Value *result : op->results()) {
        bufferOf[result] = plan.buffers.size();
        plan.buffers.push_back({result, roundedBytes(result->type()), 0, index, index});
      }
    for (const Value *operand : op->operands())
      if (auto found = bufferOf.find(operand); found != bufferOf.end()) plan.buffers[found->second].lastUse = index;
    ++index;
  }
  for (const Value *result : function.results())
    if (auto found = bufferOf.find(result); found != bufferOf.end()) plan.buffers[found->second].lastUse = index;

  std::vector<size_t> order(plan.buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return plan.buffers[a].bytes > plan.buffers[b].bytes; });
  std::vector<size_t> placed;
  for (size_t candidate : order) {
    PlannedBuffer &buffer = plan.buffers[candidate];
    std::vector<const PlannedBuffer *> conflicts;
    for (size_t other : placed)
      if (liveTogether(buffer, plan.buffers[other])) conflicts.push_back(&plan.buffers[other]);
    std::sort(conflicts.begin(), conflicts.end(),
              [](const PlannedBuffer *a, const PlannedBuffer *b) { return a->offset < b->offset; });
    int64_t offset = 0;
    for (const PlannedBuffer *conflict : conflicts) {
      if (offset + buffer.bytes <= conflict->offset) break;
      offset = std::max(offset, conflict->offset + conflict->bytes);
    }
    buffer.offset = offset;
    placed.push_back(candidate);
    plan.arenaBytes = std::max(plan.arenaBytes, offset + buffer.bytes);
    plan.unplannedBytes += buffer.bytes;
  }
  return plan;
}

std::vector<std::string> checkMemoryPlan(const MemoryPlan &plan) {
  std::vector<std::string> problems;
  auto name = bufferName;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlannedBuffer &buffer = plan.buffers[i];
    if (buffer.offset % 64 != 0 || buffer.offset < 0)
      problems.push_back(fmt::format("{} is at offset {}, not a multiple of 64", name(buffer), buffer.offset));
    if (buffer.offset + buffer.bytes > plan.arenaBytes)
      problems.push_back(fmt::format("{} ends at {}, beyond the arena's {} bytes", name(buffer),
                                     buffer.offset + buffer.bytes, plan.arenaBytes));
    for (size_t j = i + 1; j < plan.buffers.size(); ++j)
      if (liveTogether(buffer, plan.buffers[j]) && bytesOverlap(buffer, plan.buffers[j]))
        problems.push_back(fmt::format("{} and {} are live together and overlap", name(buffer), name(plan.buffers[j])));
  }
  return problems;
}

void printMemoryPlan(const Function &function, const MemoryPlan &plan, llvm::raw_ostream &out) {
  out << fmt::format("@{}: {} buffers, arena {} bytes, unplanned {} bytes\n", function.name(), plan.buffers.size(),
                     plan.arenaBytes, plan.unplannedBytes);
  for (const PlannedBuffer &buffer : plan.buffers)
    out << fmt::format("  {}: {}, {} bytes at offset {}, live {}..{}\n", bufferName(buffer),
                       toString(buffer.value->type()), buffer.bytes, buffer.offset, buffer.firstUse, buffer.lastUse);
  std::vector<std::string> problems = checkMemoryPlan(plan);
  if (problems.empty()) out << "  check: no two live buffers overlap\n";
  for (const std::string &problem : problems) out << "  check: error: " << problem << "\n";
}

}  // namespace kiln::cpu
