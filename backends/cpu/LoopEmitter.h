// What the loop-kernel rules (LoopRules.cpp, LoopReductions.cpp, LoopReductionRows.cpp) share
// with the kernel emitter (LoopKernels.cpp): the element of a value at an index, as IR, the
// helpers rules build it with, and the row nests that results are emitted as.
#pragma once

#include <functional>
#include <optional>
#include <unordered_map>

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/IRBuilder.h>

#include "backends/cpu/Target.h"
#include "ir/IR.h"

namespace kiln::cpu::loops {

// An index into a tensor: one i64 per axis.
using Index = llvm::SmallVector<llvm::Value *, 4>;

class ElementEmitter {
public:
  ElementEmitter(llvm::IRBuilder<> &builder, llvm::Module &module) : builder(builder), module(module) {}

  // The element of `value` at `index` (in `value`'s shape): a load for an argument, else the rule
  // of the op defining it applied to its operands' elements. i1 elements are i1 in registers.
  llvm::Value *element(const Value *value, llvm::ArrayRef<llvm::Value *> index);

  // The IR type of a dtype's element in registers, and in memory (i1 is one byte there).
  llvm::Type *registerType(DType dtype) const;
  llvm::Type *memoryType(DType dtype) const;
  llvm::Value *index(int64_t value) { return builder.getInt64(value); }
  // sum(index[k] * strides[k]) for `shape`'s row-major strides.
  llvm::Value *linearOffset(const Shape &shape, llvm::ArrayRef<llvm::Value *> index);
  // The element of kernel argument `argument` at row-major offset `offset`.
  llvm::Value *loadArgument(const Value *argument, llvm::Value *offset);
  // The index of row-major offset `linear` in a tensor of `extents` (a division and a remainder
  // per axis: for row indices, not for the innermost loop).
  Index delinearize(llvm::Value *linear, llvm::ArrayRef<int64_t> extents);
  // `count` elements of `type` on the stack, allocated once in the function's entry block.
  llvm::Value *scratch(llvm::Type *type, int64_t count);
  // `index` of a tensor of shape `from` read NumPy-broadcast into shape `to`'s index.
  Index broadcastIndex(const Shape &from, const Shape &to, llvm::ArrayRef<llvm::Value *> index);
  // A constant of `dtype` (floats from `value`; integers and i1 truncate it).
  llvm::Value *constant(DType dtype, double value);
  // A call of an LLVM intrinsic over one type, e.g. llvm.exp.f32.
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, llvm::ArrayRef<llvm::Value *> arguments);
  // A call of the C maths library's `name` (float: `namef`), which the JIT resolves from the process.
  // `vectorisable`: the call may become a call of its libmvec variant (Jit.cpp), within 4 ulp of
  // it; false where the exact scalar result matters (the random draws, the same on every path).
  llvm::Value *libm(llvm::StringRef name, llvm::Value *argument, bool vectorisable = true);
  // Value converted as the interpreter's cast does.
  llvm::Value *convert(llvm::Value *value, DType from, DType to);

  llvm::IRBuilder<> &builder;
  llvm::Module &module;
  // Where each kernel argument is in memory; also a value computed before the loop nest and
  // stored whole (a matrix product under its epilogue), which element() then loads.
  std::unordered_map<const Value *, llvm::Value *> argumentPointers;
  // Values computed once for the row being emitted (reductions read once per row), which
  // element() returns for any index in that row.
  std::unordered_map<const Value *, llvm::Value *> rowValues;
  // Index values known to lie in [first, last]: the column of a segment of an innermost loop
  // that elementwiseRows cuts where a pad or concat changes what it reads. The pad and concat
  // rules then decide once for the segment instead of comparing and selecting per element, and
  // the operands they do not read there are not computed at all.
  std::unordered_map<const llvm::Value *, std::pair<int64_t, int64_t>> knownRanges;
  // [first, last] of an index value: a constant's, or its known range.
  std::optional<std::pair<int64_t, int64_t>> rangeOf(const llvm::Value *index) const;
};

// `for (index = 0; index < count; ++index) body(index)` as an innermost loop the vectoriser gets
// whole. A loop of more than a few iterations is marked not to be unrolled: LLVM fully unrolls
// short constant loops before it vectorises, and then either leaves scalar code or vectorises
// the loop around with gathers.
// `independent`: no iteration reads what another writes (an elementwise row: each writes its own
// element, and a kernel writing over its operand reads there only its own). The loop's loads and
// stores then join one access group the loop declares parallel, so that the vectoriser needs no
// proof: it has none when an operand written over is read through a delinearised index, which
// its dependence analysis cannot match with the store's.
void emitInnerLoop(llvm::IRBuilder<> &builder, llvm::Value *count, const std::function<void(llvm::Value *)> &body,
                   bool independent = false);

// A result's loop nest split into independent rows: each row writes its own elements of the
// output, and no reduction spans two rows, so rows may run on any thread, in any order, with
// bit-identical results.
struct RowNest {
  int64_t rows = 1;
  int64_t work = 0;  // about how many elements the nest reads and writes: whether threads pay
  // Emits row `row` (an i64 in [0, rows)) of the nest, storing into `output`.
  std::function<void(ElementEmitter &emitter, llvm::Value *output, llvm::Value *row)> emitRow;
};

// The row nest of a kernel result defined by a reduction or a normalisation (LoopReductionRows.cpp):
// kept axes outside, each reduced quantity computed once per row, the contiguous axis innermost.
// Null for any other result.
std::optional<RowNest> reductionRows(const Value *result, const Target &target);

// For each axis of a sum, mean, max or min's operand of rank `rank`: whether the op reduces it.
std::vector<bool> reducedAxes(const Operation &op, size_t rank);
// The larger (`larger`) or smaller of a max or min's accumulator and a value; NaN wins.
llvm::Value *keepExtremum(ElementEmitter &emitter, llvm::Value *accumulator, llvm::Value *value, bool larger,
                          DType dtype);

// e^x for f32 or f64 `x` (or vectors of them) from arithmetic alone (no libm call), so that loops containing it
// vectorise: exact range reduction, a polynomial, scaling by powers of two; within a few ulp.
llvm::Value *exponential(ElementEmitter &emitter, llvm::Value *x);

// Builds the element of op's (only) result at `index`.
using LoopRule = llvm::Value *(*)(ElementEmitter &emitter, const Operation &op, llvm::ArrayRef<llvm::Value *> index);

// The rule of an op kind, null when it has none.
LoopRule loopRule(OpKind kind);

}  // namespace kiln::cpu::loops
