// Constant folding: an op whose operands are all constants is evaluated by the reference
// interpreter and replaced by a constant holding its result.
//
// 1. Walk the ops forward, redirecting operands through the replacement map, so that a chain
//    of foldable ops folds completely in one sweep.
// 2. Skip constants, random ops, ops with an operand that is not a constant, and ops too
//    large to evaluate cheaply.
// 3. Evaluate the op on its operands' tensors. When evaluation fails (an integer division by
//    zero, an op the interpreter cannot run) the op stays, to fail where the program runs it.
// 4. Keep the result when it is a splat or small; build the constant just before the op, with
//    its location and name, erase the op and map its result to the constant.
// Constants that lose their last use are left for `dce`.

#include "backends/interpreter/Interpreter.h"
#include "ir/Builder.h"
#include "passes/ForwardRewrite.h"
#include "passes/Passes.h"

namespace kiln {

namespace {
// A folded result is kept when its constant stores at most this many elements, which a splat
// always does: a dense constant costs IR text and compile time in proportion to its size,
// while the op it replaces costs a few words and is cheap at run time next to a model's
// matrix products.
constexpr size_t kMaxStoredElements = 64;

// Operands and results above this many elements are not evaluated: the interpreter is plain
// loops, and folding must not make compilation slow for a splat that simplify or the backend
// handles anyway.
constexpr int64_t kMaxEvaluatedElements = int64_t{1} << 16;

// Random ops are never folded: a folded draw would freeze one sample into the program, where
// the op keeps it tied to its key, which later stages may derive from the run's seed. Calls
// are left to inlining, and ops of several results (calls, attention) are not folded.
bool isFoldable(const Operation &op) {
  OpClass opClass = op.info().opClass;
  if (op.kind() == OpKind::Constant || opClass == OpClass::Random || op.resultCount() != 1) return false;
  if (op.result()->type().elementCount() > kMaxEvaluatedElements) return false;
  for (const Value *operand : op.operands()) {
    const Operation *definition = operand->definingOp();
    if (!definition || definition->kind() != OpKind::Constant) return false;
    if (operand->type().elementCount() > kMaxEvaluatedElements) return false;
  }
  return true;
}

// How many elements a constant's `value` stores: one for a splat, whatever the result's size.
size_t storedCount(const AttrValue &elements) {
  if (const auto *floats = std::get_if<Floats>(&elements)) return floats->size();
  return std::get<Ints>(elements).size();
}

// The constant that replaces `op`, built just before `position`; nullptr when `op` stays.
Value *fold(Function &function, Function::OpList::iterator position, const Operation &op) {
  std::vector<Tensor> operands;
  for (const Value *operand : op.operands()) operands.push_back(Tensor::fromConstant(*operand->definingOp()));
  llvm::Expected<Tensor> result = evaluateOp(op, operands);
  if (!result) {
    llvm::consumeError(result.takeError());
    return nullptr;
  }
  AttrValue elements = result->toElements();
  if (storedCount(elements) > kMaxStoredElements) return nullptr;
  Builder builder(function, position);
  builder.setLocation(op.location());
  llvm::Expected<Value *> constant =
      builder.tryCreate(OpKind::Constant, {}, {{"value", std::move(elements)}}, op.result()->type());
  if (!constant) {
    llvm::consumeError(constant.takeError());
    return nullptr;
  }
  (*constant)->setName(op.result()->name());
  return *constant;
}

}  // namespace

void foldConstants(Function &function) {
  rewriteForward(function, [&](Operation &op, Function::OpList::iterator position) -> Value * {
    return isFoldable(op) ? fold(function, position, op) : nullptr;
  });
}

}  // namespace kiln
