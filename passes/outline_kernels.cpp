// Kernel outlining: each function's ops are grouped into kernels, every group is moved into a
// `kernel` function of its own and the function becomes a sequence of calls, so that the backend
// lowers kernels, not ops, and every grouping decision is visible in the IR text.
//
// Grouping (this pass's only policy; fusion later changes it, never the outlining):
// every compute op (classes Elementwise, Reduction, Contraction, Window, Random, and Opaque but
// call) is the root of its own kernel; the index maps and creation ops (reshape, broadcast, ...,
// constant, iota) it reads, directly or through each other, are copied into that kernel, so no
// view is ever materialised just to be read. Kernels are left alone.
//
// 1. Walk the ops of each `func` in order. A compute op is a root. An index map or creation op is
//    a root too when the function returns it or a call reads it (someone needs it as a buffer).
// 2. For a root, collect its group: the root plus, transitively, every index map or creation op
//    it reads. Values the group reads from outside (arguments, results of other kernels' calls,
//    of calls already there) become the kernel's arguments, in the order a depth-first walk
//    from the root's operands meets them.
// 3. Create `kernel @<function>_<n>_<opname>` holding copies of the group's ops in program
//    order, returning the root's results; insert a call of it in front of the root.
// 4. Point readers at the call's results: every reader for a compute root; for a view root only
//    the function's results and calls, so that compute ops reading the view keep folding it.
// 5. Erase every op but the calls; all of them are read by calls or by nothing by then.
#include <algorithm>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/Builder.h"
#include "passes/Passes.h"

namespace kiln {

namespace {
bool isFoldable(const Operation &op) {
  OpClass opClass = op.info().opClass;
  return opClass == OpClass::IndexMap || opClass == OpClass::Creation;
}

bool needsBuffer(const Function &function, const Operation &op) {
  for (const Value *result : op.results()) {
    if (function.returns(result)) return true;
    for (const Use &use : result->uses())
      if (use.user->kind() == OpKind::Call) return true;
  }
  return false;
}

std::string freshKernelName(const Module &module, const Function &function, unsigned &counter, const Operation &root) {
  while (true) {
    std::string name = fmt::format("{}_{}_{}", function.name(), counter++, root.name());
    if (!module.lookup(name)) return name;
  }
}

class Outliner {
public:
  Outliner(Module &module, Function &function) : module_(module), function_(function) {
    size_t position = 0;
    for (const auto &op : function.ops()) positions_[op.get()] = position++;
  }

  void run() {
    for (auto it = function_.ops().begin(); it != function_.ops().end(); ++it) {
      Operation &op = **it;
      if (op.kind() == OpKind::Call) continue;
      bool foldable = isFoldable(op);
      if (foldable && !needsBuffer(function_, op)) continue;
      outline(it, foldable);
    }
    function_.eraseIf([](const Operation &op) { return op.kind() != OpKind::Call; });
  }

private:
  // The root and the foldable ops it reads, in program order; `inputs` the values read from
  // outside, in the order a depth-first walk of the root's operands meets them.
  std::vector<Operation *> collectGroup(Operation &root, std::vector<Value *> &inputs) {
    std::unordered_set<Operation *> members;
    std::unordered_set<Value *> seenInputs;
    std::function<void(Operation &)> visit = [&](Operation &op) {
      if (!members.insert(&op).second) return;
      for (Value *operand : op.operands()) {
        Operation *producer = operand->definingOp();
        if (producer && isFoldable(*producer))
          visit(*producer);
        else if (seenInputs.insert(operand).second)
          inputs.push_back(operand);
      }
    };
    visit(root);
    std::vector<Operation *> group(members.begin(), members.end());
    std::sort(group.begin(), group.end(),
              [&](Operation *a, Operation *b) { return positions_.at(a) < positions_.at(b); });
    return group;
  }

  void outline(Function::OpList::iterator rootPosition, bool rootIsView) {
    Operation &root = **rootPosition;
    std::vector<Value *> inputs;
    std::vector<Operation *> group = collectGroup(root, inputs);

    auto kernel = std::make_unique<Function>(freshKernelName(module_, function_, counter_, root), root.location(),
                                             FunctionKind::Kernel);
    ValueMap copied;
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::string name = inputs[i]->name().empty() ? fmt::format("arg{}", i) : inputs[i]->name();
      copied[inputs[i]] = kernel->addArgument(inputs[i]->type(), name);
    }
    for (Operation *op : group) {
      std::vector<Value *> operands;
      for (Value *operand : op->operands()) operands.push_back(copied.at(operand));
      auto clone = cloneOp(*op, std::move(operands));
      for (size_t i = 0; i < op->resultCount(); ++i) copied[op->result(i)] = clone->result(i);
      kernel->ops().push_back(std::move(clone));
    }
    std::vector<Value *> kernelResults;
    for (Value *result : root.results()) kernelResults.push_back(copied.at(result));
    kernel->setResults(std::move(kernelResults));
    Function *added = module_.addFunction(std::move(kernel));

    Builder builder(function_, rootPosition);
    builder.setLocation(root.location());
    std::vector<Value *> callResults = builder.call(*added, inputs);
    for (size_t i = 0; i < root.resultCount(); ++i) {
      Value *result = root.result(i);
      callResults[i]->setName(result->name());
      if (!rootIsView) {
        function_.replaceAllUses(result, callResults[i]);
        continue;
      }
      for (size_t slot = 0; slot < function_.results().size(); ++slot)
        if (function_.results()[slot] == result) function_.setResult(slot, callResults[i]);
      for (const Use &use : std::vector<Use>(result->uses()))
        if (use.user->kind() == OpKind::Call) use.user->setOperand(use.operandIndex, callResults[i]);
    }
  }

  Module &module_;
  Function &function_;
  std::unordered_map<const Operation *, size_t> positions_;
  unsigned counter_ = 0;
};
}  // namespace

llvm::Error runOutlineKernels(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  std::vector<Function *> functions;
  for (const auto &function : module.functions())
    if (!function->isKernel()) functions.push_back(function.get());
  for (Function *function : functions) Outliner(module, *function).run();
  return llvm::Error::success();
}

}  // namespace kiln
