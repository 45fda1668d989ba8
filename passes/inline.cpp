// Inlining: every call is replaced by a copy of the callee's ops, so that passes that work on
// one function (autodiff above all) see the whole computation. Callees stay in the module.
//
// 1. Order the functions callees first (depth-first over the call graph); a cycle is an error
//    (the verifier refuses recursion, but the pass may run without it).
// 2. In that order, for each call in a function: copy the callee's ops in front of the call,
//    its arguments mapped to the call's operands; point the uses of the call's results at the
//    copies of the callee's results; erase the call. The callee has no calls left by then, so
//    one sweep per function is enough.
#include <unordered_set>

#include <fmt/format.h>

#include "passes/Passes.h"

namespace kiln {

namespace {
class CalleesFirst {
public:
  explicit CalleesFirst(const Module &module) : module_(module) {}

  llvm::Error visit(Function &function) {
    if (done_.count(&function)) return llvm::Error::success();
    if (!onPath_.insert(&function).second)
      return llvm::createStringError(
          fmt::format("@{} reaches itself through calls: recursion cannot be inlined", function.name()));
    for (const auto &op : function.ops()) {
      Function *callee = op->callee(module_);
      if (op->kind() == OpKind::Call && !callee)
        return llvm::createStringError(fmt::format("@{} calls @{}, which the module does not define", function.name(),
                                                   op->attributes().getSymbol("callee")));
      if (callee)
        if (auto error = visit(*callee)) return error;
    }
    onPath_.erase(&function);
    done_.insert(&function);
    order_.push_back(&function);
    return llvm::Error::success();
  }
  const std::vector<Function *> &order() const { return order_; }

private:
  const Module &module_;
  std::unordered_set<const Function *> onPath_, done_;
  std::vector<Function *> order_;
};

void inlineCall(Function &caller, Function::OpList::iterator call, const Function &callee) {
  ValueMap copied;
  for (size_t i = 0; i < callee.arguments().size(); ++i) copied[callee.argument(i)] = (*call)->operand(i);
  for (const auto &op : callee.ops()) {
    std::vector<Value *> operands;
    for (Value *operand : op->operands()) operands.push_back(copied.at(operand));
    auto clone = cloneOp(*op, std::move(operands));
    for (size_t i = 0; i < op->resultCount(); ++i) copied[op->result(i)] = clone->result(i);
    caller.insert(call, std::move(clone));
  }
  for (size_t i = 0; i < (*call)->resultCount(); ++i)
    caller.replaceAllUses((*call)->result(i), copied.at(callee.results()[i]));
  caller.erase(call);
}
}  // namespace

llvm::Error runInline(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  CalleesFirst order(module);
  for (const auto &function : module.functions())
    if (auto error = order.visit(*function)) return error;
  for (Function *function : order.order())
    for (auto it = function->ops().begin(); it != function->ops().end();) {
      auto next = std::next(it);
      if (const Function *callee = (*it)->callee(module)) inlineCall(*function, it, *callee);
      it = next;
    }
  return llvm::Error::success();
}

}  // namespace kiln
