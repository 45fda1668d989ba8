// Buffers bordering an inaccessible page, so that generated code reading or writing even one
// element past the end (or before the start) of an operand faults at once, in any build, not only
// under a sanitizer; and a run of a compiled func with every argument and result in one.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "backends/cpu/Compile.h"
#include "backends/interpreter/Rules.h"

namespace kiln::cpu {

// After: the buffer's last byte is the last byte before a PROT_NONE page (catches over-reads,
// such as a full vector load on a tail). Before: its first byte follows one (catches under-reads).
enum class GuardSide { After, Before };

inline const char *guardSideName(GuardSide side) {
  return side == GuardSide::After ? "guard page after" : "guard page before";
}

// `bytes` of zeroed, read-write memory between two PROT_NONE pages, flush against one of them.
class GuardedBuffer {
public:
  GuardedBuffer(size_t bytes, GuardSide side) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t dataPages = std::max<size_t>(1, (bytes + page - 1) / page);
    mappingBytes_ = (dataPages + 2) * page;
    void *mapping = mmap(nullptr, mappingBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) {
      ADD_FAILURE() << "mmap of " << mappingBytes_ << " bytes failed";
      return;
    }
    mapping_ = static_cast<char *>(mapping);
    EXPECT_EQ(mprotect(mapping_, page, PROT_NONE), 0);
    EXPECT_EQ(mprotect(mapping_ + (dataPages + 1) * page, page, PROT_NONE), 0);
    data_ = side == GuardSide::After ? mapping_ + (dataPages + 1) * page - bytes : mapping_ + page;
  }
  GuardedBuffer(const GuardedBuffer &) = delete;
  GuardedBuffer &operator=(const GuardedBuffer &) = delete;
  ~GuardedBuffer() {
    if (mapping_) munmap(mapping_, mappingBytes_);
  }

  void *data() const { return data_; }

private:
  char *mapping_ = nullptr, *data_ = nullptr;
  size_t mappingBytes_ = 0;
};

// The tensor's elements as stored (i1 one byte each).
inline std::span<const uint8_t> tensorBytes(const Tensor &tensor) {
  return interpreter::visitDType(tensor.dtype(), [&](auto zero) {
    auto values = tensor.values<decltype(zero)>();
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(values.data()), values.size_bytes());
  });
}

// Runs `function` through its compiled entry with each argument copied into, and each result
// written to, a GuardedBuffer on `side`; a stray access outside one faults the test process.
inline std::vector<Tensor> runInGuardedBuffers(CompiledModule &compiled, const Function &function,
                                               std::span<const Tensor> arguments, GuardSide side) {
  auto entry = compiled.entry(function);
  if (!entry) {
    ADD_FAILURE() << llvm::toString(entry.takeError());
    return {};
  }
  std::vector<std::unique_ptr<GuardedBuffer>> buffers;
  std::vector<void *> argumentPointers, resultPointers;
  for (const Tensor &argument : arguments) {
    std::span<const uint8_t> bytes = tensorBytes(argument);
    buffers.push_back(std::make_unique<GuardedBuffer>(bytes.size(), side));
    std::memcpy(buffers.back()->data(), bytes.data(), bytes.size());
    argumentPointers.push_back(buffers.back()->data());
  }
  std::vector<Tensor> results;
  for (const Value *result : function.results()) results.emplace_back(result->type());
  for (const Tensor &result : results) {
    buffers.push_back(std::make_unique<GuardedBuffer>(tensorBytes(result).size(), side));
    resultPointers.push_back(buffers.back()->data());
  }
  (*entry)(argumentPointers.data(), resultPointers.data());
  for (size_t i = 0; i < results.size(); ++i)
    interpreter::visitDType(results[i].dtype(), [&](auto zero) {
      auto values = results[i].values<decltype(zero)>();
      std::memcpy(values.data(), resultPointers[i], values.size_bytes());
    });
  return results;
}

}  // namespace kiln::cpu
