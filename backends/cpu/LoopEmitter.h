// What the loop-kernel rules (LoopRules.cpp) share with the kernel emitter (LoopKernels.cpp): the
// element of a value at an index, as IR, and the helpers rules build it with.
#pragma once

#include <unordered_map>

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/IRBuilder.h>

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
  // `index` of a tensor of shape `from` read NumPy-broadcast into shape `to`'s index.
  Index broadcastIndex(const Shape &from, const Shape &to, llvm::ArrayRef<llvm::Value *> index);
  // A constant of `dtype` (floats from `value`; integers and i1 truncate it).
  llvm::Value *constant(DType dtype, double value);
  // A call of an LLVM intrinsic over one type, e.g. llvm.exp.f32.
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, llvm::ArrayRef<llvm::Value *> arguments);
  // A call of the C maths library's `name` (float: `namef`), which the JIT resolves from the process.
  llvm::Value *libm(llvm::StringRef name, llvm::Value *argument);
  // Value converted as the interpreter's cast does.
  llvm::Value *convert(llvm::Value *value, DType from, DType to);

  llvm::IRBuilder<> &builder;
  llvm::Module &module;
  std::unordered_map<const Value *, llvm::Value *> argumentPointers;
};

// Builds the element of op's (only) result at `index`.
using LoopRule = llvm::Value *(*)(ElementEmitter &emitter, const Operation &op, llvm::ArrayRef<llvm::Value *> index);

// The rule of an op kind, null when it has none.
LoopRule loopRule(OpKind kind);

}  // namespace kiln::cpu::loops
