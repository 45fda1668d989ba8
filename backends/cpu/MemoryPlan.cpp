// Liveness over a func's call sequence, in-place reuse, and greedy packing of its buffers into
// one arena.
#include "backends/cpu/MemoryPlan.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

#include "backends/cpu/LoopKernels.h"
#include "backends/cpu/TemplateKernels.h"

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

// Steps 1 to 4 of planMemory, with or without buffers in place.
MemoryPlan packBuffers(const Module &module, const Function &function, bool inPlace) {
  MemoryPlan plan;
  std::unordered_map<const Value *, size_t> bufferOf;
  std::vector<const Operation *> ops;
  for (const auto &op : function.ops()) {
    size_t index = ops.size();
    if (op->kind() == OpKind::Call)
      for (const Value *result : op->results()) {
        bufferOf[result] = plan.buffers.size();
        plan.buffers.push_back({result, roundedBytes(result->type()), 0, index, index, std::nullopt});
      }
    for (const Value *operand : op->operands())
      if (auto found = bufferOf.find(operand); found != bufferOf.end()) plan.buffers[found->second].lastUse = index;
    ops.push_back(op.get());
  }
  for (const Value *result : function.results())
    if (auto found = bufferOf.find(result); found != bufferOf.end()) plan.buffers[found->second].lastUse = ops.size();

  // 2. In place, and the slots: a buffer in place of another shares its slot.
  std::vector<size_t> slotOf(plan.buffers.size());
  std::vector<PlannedBuffer> slots;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    PlannedBuffer &buffer = plan.buffers[i];
    const Operation &call = *ops[buffer.firstUse];
    const Function *callee = call.callee(module);
    if (inPlace && callee && callee->isKernel() && call.resultCount() == 1)
      for (size_t k = 0; k < call.operands().size() && !buffer.inPlaceOf; ++k) {
        const Value *operand = call.operands()[k];
        auto found = bufferOf.find(operand);
        if (found == bufferOf.end() || plan.buffers[found->second].lastUse != buffer.firstUse ||
            plan.buffers[found->second].bytes != buffer.bytes || std::ranges::count(call.operands(), operand) != 1 ||
            !mayWriteResultOver(*callee, k))
          continue;
        buffer.inPlaceOf = found->second;
      }
    if (buffer.inPlaceOf) {
      slotOf[i] = slotOf[*buffer.inPlaceOf];
      slots[slotOf[i]].lastUse = std::max(slots[slotOf[i]].lastUse, buffer.lastUse);
    } else {
      slotOf[i] = slots.size();
      slots.push_back(buffer);
    }
  }

  // 3. Packing.
  std::vector<size_t> order(slots.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return slots[a].bytes > slots[b].bytes; });
  std::vector<size_t> placed;
  for (size_t candidate : order) {
    PlannedBuffer &slot = slots[candidate];
    std::vector<const PlannedBuffer *> conflicts;
    for (size_t other : placed)
      if (liveTogether(slot, slots[other])) conflicts.push_back(&slots[other]);
    std::sort(conflicts.begin(), conflicts.end(),
              [](const PlannedBuffer *a, const PlannedBuffer *b) { return a->offset < b->offset; });
    int64_t offset = 0;
    for (const PlannedBuffer *conflict : conflicts) {
      if (offset + slot.bytes <= conflict->offset) break;
      offset = std::max(offset, conflict->offset + conflict->bytes);
    }
    slot.offset = offset;
    placed.push_back(candidate);
    plan.arenaBytes = std::max(plan.arenaBytes, offset + slot.bytes);
  }
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    plan.buffers[i].offset = slots[slotOf[i]].offset;
    plan.unplannedBytes += plan.buffers[i].bytes;
  }
  return plan;
}
}  // namespace

MemoryPlan planMemory(const Module &module, const Function &function) {
  MemoryPlan inPlace = packBuffers(module, function, true), apart = packBuffers(module, function, false);
  return inPlace.arenaBytes <= apart.arenaBytes ? inPlace : apart;
}

std::vector<std::string> checkMemoryPlan(const MemoryPlan &plan) {
  std::vector<std::string> problems;
  auto name = bufferName;
  // Buffer `later` may share `earlier`'s bytes only in its place: at its offset, from the call
  // that reads `earlier` for the last time.
  auto inPlace = [&](size_t earlier, size_t later) {
    const PlannedBuffer &first = plan.buffers[earlier], &second = plan.buffers[later];
    return second.inPlaceOf == earlier && second.offset == first.offset && first.lastUse == second.firstUse;
  };
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlannedBuffer &buffer = plan.buffers[i];
    if (buffer.offset % 64 != 0 || buffer.offset < 0)
      problems.push_back(fmt::format("{} is at offset {}, not a multiple of 64", name(buffer), buffer.offset));
    if (buffer.offset + buffer.bytes > plan.arenaBytes)
      problems.push_back(fmt::format("{} ends at {}, beyond the arena's {} bytes", name(buffer),
                                     buffer.offset + buffer.bytes, plan.arenaBytes));
    if (buffer.inPlaceOf && (*buffer.inPlaceOf >= i || !inPlace(*buffer.inPlaceOf, i)))
      problems.push_back(
          fmt::format("{} is not at the offset of the buffer it replaces, or not when that one dies", name(buffer)));
    for (size_t j = i + 1; j < plan.buffers.size(); ++j)
      if (liveTogether(buffer, plan.buffers[j]) && bytesOverlap(buffer, plan.buffers[j]) && !inPlace(i, j))
        problems.push_back(fmt::format("{} and {} are live together and overlap", name(buffer), name(plan.buffers[j])));
  }
  return problems;
}

PeakMemory peakMemory(const Module &module, const Function &function, const MemoryPlan &plan,
                      const llvm::Module &lowered) {
  PeakMemory peak;
  int64_t largest = 0;
  size_t index = 0;
  for (const auto &op : function.ops()) {
    const Function *callee = op->kind() == OpKind::Call ? op->callee(module) : nullptr;
    int64_t bytes = 0;
    if (callee && callee->isKernel()) {
      if (const llvm::Function *kernel = lowered.getFunction(callee->name()))
        bytes = templates::kernelTemporaryBytes(*kernel);
    } else if (callee && callee != &function) {
      bytes = peakMemory(module, *callee, planMemory(module, *callee), lowered).bytes;
    }
    if (bytes > 0) peak.calls.push_back({index, callee->name(), callee->isKernel(), bytes});
    if (bytes > largest) {
      largest = bytes;
      peak.largest = index;
    }
    ++index;
  }
  peak.bytes = plan.arenaBytes + largest;
  return peak;
}

void printMemoryPlan(const Function &function, const MemoryPlan &plan, llvm::raw_ostream &out, const PeakMemory *peak) {
  out << fmt::format("@{}: {} buffers, arena {} bytes, unplanned {} bytes\n", function.name(), plan.buffers.size(),
                     plan.arenaBytes, plan.unplannedBytes);
  for (const PlannedBuffer &buffer : plan.buffers)
    out << fmt::format("  {}: {}, {} bytes at offset {}, live {}..{}{}\n", bufferName(buffer),
                       toString(buffer.value->type()), buffer.bytes, buffer.offset, buffer.firstUse, buffer.lastUse,
                       buffer.inPlaceOf ? ", in place of " + bufferName(plan.buffers[*buffer.inPlaceOf]) : "");
  std::vector<std::string> problems = checkMemoryPlan(plan);
  if (problems.empty()) out << "  check: no two live buffers overlap\n";
  for (const std::string &problem : problems) out << "  check: error: " << problem << "\n";
  if (!peak) return;
  for (const PeakMemory::Call &call : peak->calls)
    out << fmt::format("  op {} calls @{}: {} bytes {}\n", call.op, call.callee, call.bytes,
                       call.callsKernel ? "of temporaries" : "at its peak");
  out << (peak->largest ? fmt::format("  peak: {} bytes, the arena and op {}'s\n", peak->bytes, *peak->largest)
                        : fmt::format("  peak: {} bytes, the arena alone\n", peak->bytes));
}

}  // namespace kiln::cpu
