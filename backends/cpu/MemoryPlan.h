// Memory planning for a func's entry: the buffers of its call results packed into one arena at
// offsets fixed at compile time, two buffers sharing bytes only when their lifetimes are disjoint
// or when a kernel writes its result over an operand it reads for the last time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include "ir/IR.h"

namespace kiln::cpu {

struct PlannedBuffer {
  const Value *value;  // a result of a call
  int64_t bytes;       // the value's size rounded up to 64 bytes (at least 64)
  int64_t offset;      // in the arena, a multiple of 64
  // Live from the op that defines it to the last op that reads it, both counted from 0 in the
  // func's op order; a returned value is live to the end (lastUse = the number of ops).
  size_t firstUse, lastUse;
  // The buffer whose bytes this one takes over (an index into MemoryPlan::buffers): the call
  // defining this buffer is that buffer's last reader, and its kernel writes the result over it
  // (mayWriteResultOver).
  std::optional<size_t> inPlaceOf;
};

struct MemoryPlan {
  std::vector<PlannedBuffer> buffers;  // in the order of the ops that define them
  int64_t arenaBytes = 0;              // the planned peak
  int64_t unplannedBytes = 0;          // the sum of all buffers, one allocation each
};

// 1. Number the ops; every result of a call is a buffer, live from its call to its last reader
//    (to the end if returned).
// 2. In place: the one result of a kernel call takes over an operand's buffer when the call is the
//    operand's last reader, passes it once, and the kernel may write its result over it. A chain
//    of such buffers (a matmul, its bias, its activation) is one slot, live from the first's
//    definition to the last's last reader.
// 3. Take the slots largest first (ties: defined first), and put each at the lowest offset,
//    a multiple of 64, where it overlaps no slot already placed whose live range meets its own.
// 4. The arena is the highest end of a slot.
// 5. Steps 3 and 4 again without step 2: a slot of several buffers lives longer than each, and
//    greedy packing can then need more bytes (the gradient of a LeNet-5 by 0.2%). The plan with
//    the smaller arena is kept, in place when they are equal.
MemoryPlan planMemory(const Module &module, const Function &function);

// What is wrong with a plan, empty if nothing: two buffers whose live ranges meet and whose
// bytes overlap (unless one is in place of the other, at its offset, from its last use on), a
// misaligned buffer, or one beyond the arena.
std::vector<std::string> checkMemoryPlan(const MemoryPlan &plan);

// Besides its arena, a func holds during a call the temporaries of the kernel it calls (packed
// operands, convolution patches, attention's statistics: kernelTemporaryBytes of the lowered
// kernel) or, calling a func, that func's whole peak. Calls run one at a time, so the func's peak
// is its arena plus the largest of these. (Stack buffers of a kernel's tasks are not counted.)
struct PeakMemory {
  struct Call {
    size_t op;
    std::string callee;
    bool callsKernel;
    int64_t bytes;  // beside the arena
  };
  int64_t bytes = 0;
  std::vector<Call> calls;        // the calls that need any
  std::optional<size_t> largest;  // the op of the call that needs most
};
// From `plan`, the function's own, and `lowered`, a module compiled from `module` holding the
// kernels `function` calls.
PeakMemory peakMemory(const Module &module, const Function &function, const MemoryPlan &plan,
                      const llvm::Module &lowered);

// The plan as text: per buffer its value, type, bytes, offset and live range, then the totals
// and the checker's verdict, and with `peak` the calls' temporaries and the func's peak.
void printMemoryPlan(const Function &function, const MemoryPlan &plan, llvm::raw_ostream &out,
                     const PeakMemory *peak = nullptr);

}  // namespace kiln::cpu
