// Kernel deduplication: kernels of the same structure (the same ops on the same types with the
// same attributes, whatever their names and source lines: ir/Printer.h's structureText) become
// one, so that the backend compiles each once. A model's @forward, @loss, @eval_step, @loss_grad
// and @train_step repeat the same layers, so most of their kernels are copies: seq2seq has 1,391
// kernels after fuse, 557 of them distinct.
//
// 1. Walk the kernels in module order; the first that some call reads of each structure is kept.
// 2. Every call of a later copy becomes a call of the kept kernel, with the same operands,
//    result names and location; the copies, now uncalled, are removed. A kernel no call reads
//    (one compiled for its own sake) is left as it is.
#include <unordered_map>
#include <unordered_set>

#include "ir/Builder.h"
#include "ir/Printer.h"
#include "passes/Passes.h"

namespace kiln {

llvm::Error runDedupeKernels(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  std::unordered_set<const Function *> called;
  for (const auto &function : module.functions())
    for (const auto &op : function->ops())
      if (const Function *callee = op->callee(module); callee && callee->isKernel()) called.insert(callee);

  std::unordered_map<std::string, Function *> keptByStructure;
  std::unordered_map<Function *, Function *> replacement;  // copy -> kept kernel
  for (const auto &function : module.functions()) {
    if (!function->isKernel() || !called.count(function.get())) continue;
    auto [kept, added] = keptByStructure.try_emplace(structureText(*function), function.get());
    if (!added) replacement[function.get()] = kept->second;
  }
  if (replacement.empty()) return llvm::Error::success();

  for (const auto &function : module.functions())
    for (auto it = function->ops().begin(); it != function->ops().end();) {
      Function *callee = (*it)->callee(module);
      auto found = callee ? replacement.find(callee) : replacement.end();
      if (found == replacement.end()) {
        ++it;
        continue;
      }
      Operation &copyCall = **it;
      Builder builder(*function, it);
      builder.setLocation(copyCall.location());
      std::vector<Value *> results = builder.call(*found->second, copyCall.operands());
      for (size_t i = 0; i < results.size(); ++i) {
        results[i]->setName(copyCall.result(i)->name());
        function->replaceAllUses(copyCall.result(i), results[i]);
      }
      it = function->erase(it);
    }
  for (const auto &[copy, kept] : replacement) module.removeFunction(copy);
  return llvm::Error::success();
}

}  // namespace kiln
