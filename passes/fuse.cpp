// Kernel fusion: after outline-kernels, a kernel whose result feeds other kernels' loop nests is
// merged into them, so that the intermediate tensor is computed where it is read and is never
// written to memory. Every producer–consumer edge gets a remark: fused, or why not.
//
// What fuses (each producer kernel decides for all of its readers at once):
//  - a product's kernel (a matmul or a conv2d: an op with the trait kTakesEpilogue) into its one
//    reader when that reader reads the product elementwise at its own index (a bias, an
//    activation, a residual, an update; ir/EpilogueAnalysis.h): the reader's ops become the
//    product's epilogue, which the CPU backend applies to each tile while it is in cache, and the
//    product is never stored and read back on its own;
//  - producer: a loop kernel of elementwise, index-map, creation and random ops (no matmul, no
//    window): its elements cost a few instructions each to recompute; or one that holds a
//    reduction, when its only reader is an elementwise kernel that reads it once per row
//    (ir/RowAnalysis.h), so that the reduction is computed once per row (a softmax's gradient
//    sum, a layer norm's mean and variance, each beside the elementwise ops that use it);
//  - consumer: a loop kernel (elementwise, index-map, creation, random and reduction ops): its
//    rules read the producer's elements by index, so the producer's ops become part of its
//    expressions; a reduction reads each element once per pass over its row;
//  - the producer's results are read by kernel calls only (not returned, not passed to a `func`);
//  - with several readers, the producer is recomputed in each, so it must be small
//    (kMaxRecomputedOps compute ops) and cheap (no op with the trait kCostly: recomputing the
//    sigmoids of an LSTM's gates in each gradient kernel made its training step 1.5 times slower);
//  - a merged kernel holds at most kMaxKernelOps compute ops, which bounds compile time.
//
// 1. Collect the candidates of each function: the calls whose kernel can fuse into all readers.
// 2. Take the candidate that saves the most bytes (its results' size, once written and once read
//    by each reader), those with one reader before those that would be recomputed in several
//    (else a long chain would be copied into each reader an op at a time, each step small
//    enough), and merge it into each reader: a new kernel with the producer's ops followed
//    by the reader's, reading the reader's other arguments and the producer's arguments, called
//    in place of the reader. Erase the producer's call.
// 3. Recompute the candidates (merging changes readers and sizes) and repeat until none is left;
//    then remark each edge that stayed apart, with the reason, and drop kernels no call uses
//    any more.
#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/Builder.h"
#include "ir/EpilogueAnalysis.h"
#include "ir/RowAnalysis.h"
#include "passes/Passes.h"

namespace kiln {

namespace {
constexpr size_t kMaxKernelOps = 32;
constexpr size_t kMaxRecomputedOps = 4;

bool isComputeOp(const Operation &op) {
  OpClass opClass = op.info().opClass;
  return opClass != OpClass::IndexMap && opClass != OpClass::Creation;
}

size_t computeOpCount(const Function &kernel) {
  return static_cast<size_t>(
      std::count_if(kernel.ops().begin(), kernel.ops().end(), [](const auto &op) { return isComputeOp(*op); }));
}

// The op that gives a kernel its name in remarks: the one defining its first result.
std::string_view rootName(const Function &kernel) {
  const Value *result = kernel.results().empty() ? nullptr : kernel.results()[0];
  return result && result->definingOp() ? result->definingOp()->name() : std::string_view("copy");
}

// Why a kernel cannot be merged into its readers whatever they are, or empty when it can.
std::string producerProblem(const Function &kernel) {
  for (const auto &op : kernel.ops()) switch (op->info().opClass) {
    case OpClass::Contraction: return fmt::format("'{}' stores through its own kernel template", op->name());
    case OpClass::Window:
      return fmt::format("'{}' reads overlapping windows: a reader would recompute them", op->name());
    case OpClass::Opaque: return fmt::format("'{}' is not a loop kernel", op->name());
    default: break;
    }
  if (kernel.results().empty()) return "it has no results";
  return {};
}

const Operation *costlyOp(const Function &kernel) {
  for (const auto &op : kernel.ops())
    if (op->info().has(kCostly)) return op.get();
  return nullptr;
}

const Operation *firstReduction(const Function &kernel) {
  for (const auto &op : kernel.ops())
    if (op->info().opClass == OpClass::Reduction) return op.get();
  return nullptr;
}

// Why a kernel cannot take producers into its loop nests, or empty when it can.
std::string consumerProblem(const Function &kernel) {
  for (const auto &op : kernel.ops()) switch (op->info().opClass) {
    case OpClass::Contraction: return fmt::format("'{}' reads its operands through packing", op->name());
    case OpClass::Window:
      return fmt::format("'{}' reads overlapping windows: it would recompute the producer", op->name());
    case OpClass::Opaque: return fmt::format("'{}' is not a loop kernel", op->name());
    default: break;
    }
  return {};
}

int64_t resultBytes(const Operation &call) {
  int64_t bytes = 0;
  for (const Value *result : call.results())
    bytes += result->type().elementCount() * dtypeByteSize(result->type().dtype);
  return bytes;
}

class Fuser {
public:
  Fuser(Module &module, Function &function, std::vector<Remark> *remarks, std::unordered_set<const Function *> &created)
      : module_(module), function_(function), remarks_(remarks), created_(created) {
    for (const auto &op : function.ops()) positions_[op.get()] = positions_.size();
  }

  void run() {
    while (true) {
      // Single-reader merges first, so that chains are whole before any is recomputed.
      Operation *best = nullptr;
      int64_t bestSaving = -1;
      bool bestRecomputes = true;
      for (const auto &op : function_.ops()) {
        std::vector<Operation *> readers;
        if (!problem(*op, readers).empty()) continue;
        int64_t saving = resultBytes(*op) * static_cast<int64_t>(1 + readers.size());
        bool recomputes = readers.size() > 1;
        bool better =
            best == nullptr || (bestRecomputes && !recomputes) || (recomputes == bestRecomputes && saving > bestSaving);
        if (better) best = op.get(), bestSaving = saving, bestRecomputes = recomputes;
      }
      if (!best) break;
      fuse(*best, bestSaving);
    }
    if (!remarks_) return;
    for (const auto &op : function_.ops()) {
      std::vector<Operation *> readers;
      std::string why = problem(*op, readers);
      if (why.empty() || !kernelOf(*op)) continue;
      for (Operation *reader : readers) remark(*op, *reader, false, why);
    }
    std::stable_sort(edges_.begin(), edges_.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
    for (auto &edge : edges_) remarks_->push_back(std::move(edge.second));
  }

private:
  Function *kernelOf(const Operation &op) const {
    Function *callee = op.callee(module_);
    return callee && callee->isKernel() ? callee : nullptr;
  }

  // Why the call `op` cannot merge into its readers (every reader when empty, else the
  // readers the reason is about).
  std::string problem(const Operation &op, std::vector<Operation *> &readers) {
    readers.clear();
    const Function *kernel = kernelOf(op);
    if (!kernel) return "not a kernel call";
    std::string why = producerProblem(*kernel);
    std::unordered_set<Operation *> seen;
    std::string readerProblem;
    bool returned = false;
    for (const Value *result : op.results()) {
      returned = returned || function_.returns(result);
      for (const Use &use : result->uses()) {
        if (!seen.insert(use.user).second) continue;
        readers.push_back(use.user);
        const Function *reader = kernelOf(*use.user);
        if (!reader)
          readerProblem = fmt::format("read by '{}', which is not a kernel call", use.user->name());
        else if (std::string consumer = consumerProblem(*reader); !consumer.empty())
          readerProblem = consumer;
        else if (computeOpCount(*kernel) + computeOpCount(*reader) > kMaxKernelOps)
          readerProblem = fmt::format("the merged kernel would have more than {} compute ops", kMaxKernelOps);
      }
    }
    if (epilogueProduct(*kernel)) return epilogueProblem(op, readers, returned);
    if (!why.empty()) return why;
    if (readers.empty()) return "nothing reads it";
    if (!readerProblem.empty()) return readerProblem;
    if (returned) return fmt::format("@{} returns it, so it is stored anyway", function_.name());
    if (const Operation *reduction = firstReduction(*kernel)) return reductionProblem(op, *reduction, readers);
    if (const Operation *costly = costlyOp(*kernel); costly && readers.size() > 1)
      return fmt::format("{} kernels read it and '{}' costs a maths call per element: it is not recomputed in each",
                         readers.size(), costly->name());
    if (readers.size() > 1 && computeOpCount(*kernel) > kMaxRecomputedOps)
      return fmt::format("{} kernels read it and its {} ops are too many to recompute in each (at most {})",
                         readers.size(), computeOpCount(*kernel), kMaxRecomputedOps);
    return {};
  }

  // A product (with the epilogue it has so far) takes its one reader as a longer epilogue,
  // applied to each tile while it is in cache: the reader must read the product elementwise, at
  // its own index (ir/EpilogueAnalysis.h).
  std::string epilogueProblem(const Operation &producer, const std::vector<Operation *> &readers, bool returned) {
    const Function &producerKernel = *kernelOf(producer);
    std::string_view product = epilogueProduct(producerKernel)->name();
    if (readers.empty()) return "nothing reads it";
    if (returned) return fmt::format("@{} returns it, so it is stored anyway", function_.name());
    if (readers.size() > 1)
      return fmt::format("{} kernels read the '{}', and a product takes one kernel as its epilogue", readers.size(),
                         product);
    const Function *reader = kernelOf(*readers[0]);
    if (!reader) return fmt::format("read by '{}', which is not a kernel call", readers[0]->name());
    if (std::string consumer = consumerProblem(*reader); !consumer.empty()) return consumer;
    if (computeOpCount(producerKernel) + computeOpCount(*reader) > kMaxKernelOps)
      return fmt::format("the merged kernel would have more than {} compute ops", kMaxKernelOps);
    auto key = std::make_pair(&producerKernel, reader);
    auto verdict = epilogueVerdicts_.find(key);
    if (verdict == epilogueVerdicts_.end()) {
      std::vector<Value *> operands;
      std::unique_ptr<Function> merged = mergedKernel(producer, producerKernel, *readers[0], "candidate", operands);
      std::string why;
      if (!epilogueProduct(*merged, &why))
        why = fmt::format("'{}' cannot be the epilogue of '{}': {}", rootName(*reader), product, why);
      verdict = epilogueVerdicts_.emplace(key, why).first;
    }
    return verdict->second;
  }

  // A kernel holding a reduction fuses only where it is computed once per row: into the one
  // elementwise kernel that reads it broadcast along its rows (isReadOncePerRow), which the loop
  // kernel then computes before each row's loop.
  std::string reductionProblem(const Operation &producer, const Operation &reduction,
                               const std::vector<Operation *> &readers) {
    if (readers.size() > 1)
      return fmt::format("'{}' is a reduction that {} kernels read: it is not recomputed in each", reduction.name(),
                         readers.size());
    const Operation &reader = *readers[0];
    const Function &readerKernel = *kernelOf(reader);
    const Value *root = readerKernel.results().size() == 1 ? readerKernel.results()[0] : nullptr;
    if (!root || !root->definingOp() || root->definingOp()->info().opClass == OpClass::Reduction)
      return fmt::format("'{}' is a reduction, and a reduction fuses only into an elementwise kernel",
                         reduction.name());
    if (!mergedKeepsRows(producer, reader))
      return fmt::format("'{}' is a reduction that '{}' does not read once per row (broadcast along its last axis)",
                         reduction.name(), root->definingOp()->name());
    return {};
  }

  // `fused 'exp' into 'sum' at model.kiln:13:9, saving 512 bytes`, at the producer's line.
  void remark(const Operation &producer, const Operation &consumer, bool fused, std::string_view detail) {
    if (!remarks_) return;
    const Function *consumerKernel = kernelOf(consumer);
    std::string consumerOp(consumerKernel ? rootName(*consumerKernel) : consumer.name());
    const Location &at = consumer.location();
    std::string where = at.known() ? fmt::format(" at {}:{}:{}", at.file, at.line, at.column) : std::string();
    edges_.emplace_back(positions_.at(&producer),
                        Remark{"fusion", producer.location(),
                               fmt::format("{} '{}' into '{}'{} in @{}{}{}", fused ? "fused" : "did not fuse",
                                           rootName(*kernelOf(producer)), consumerOp, where, function_.name(),
                                           fused ? ", " : ": ", detail)});
  }

  void fuse(Operation &producer, int64_t saving) {
    std::vector<Operation *> readers;
    problem(producer, readers);
    const Function &producerKernel = *kernelOf(producer);
    bool epilogue = epilogueProduct(producerKernel) != nullptr;
    for (Operation *reader : readers) {
      remark(producer, *reader, true, fmt::format("{}saving {} bytes", epilogue ? "as its epilogue, " : "", saving));
      mergeInto(producer, producerKernel, *reader);
    }
    for (auto it = function_.ops().begin(); it != function_.ops().end(); ++it)
      if (it->get() == &producer) {
        function_.erase(it);
        break;
      }
  }

  // Replaces the call `reader` by a call of a new kernel: the producer's ops, then the reader's.
  // The kernel that computes what `reader` does with `producer`'s ops in front, named `name`, and
  // the values to call it with.
  std::unique_ptr<Function> mergedKernel(const Operation &producer, const Function &producerKernel,
                                         const Operation &reader, std::string name,
                                         std::vector<Value *> &operands) const {
    const Function &readerKernel = *kernelOf(reader);
    auto merged = std::make_unique<Function>(std::move(name), readerKernel.location(), FunctionKind::Kernel);
    std::unordered_map<const Value *, Value *> argumentFor;  // outer value -> merged kernel's argument
    auto argument = [&](Value *outer, const Value *inner) {
      auto [it, added] = argumentFor.try_emplace(outer, nullptr);
      if (added) {
        it->second = merged->addArgument(inner->type(), inner->name());
        operands.push_back(outer);
      }
      return it->second;
    };
    ValueMap copied;
    for (size_t i = 0; i < reader.operands().size(); ++i) {
      Value *outer = reader.operand(i);
      if (outer->definingOp() != &producer)
        copied[readerKernel.argument(i)] = argument(outer, readerKernel.argument(i));
    }
    for (size_t i = 0; i < producer.operands().size(); ++i)
      copied[producerKernel.argument(i)] = argument(producer.operand(i), producerKernel.argument(i));
    auto cloneOps = [&](const Function &kernel) {
      for (const auto &op : kernel.ops()) {
        std::vector<Value *> clonedOperands;
        for (Value *operand : op->operands()) clonedOperands.push_back(copied.at(operand));
        auto clone = cloneOp(*op, std::move(clonedOperands));
        for (size_t i = 0; i < op->resultCount(); ++i) copied[op->result(i)] = clone->result(i);
        merged->ops().push_back(std::move(clone));
      }
    };
    cloneOps(producerKernel);
    for (size_t i = 0; i < reader.operands().size(); ++i)
      if (reader.operand(i)->definingOp() == &producer)
        copied[readerKernel.argument(i)] = copied.at(producerKernel.results()[reader.operand(i)->index()]);
    cloneOps(readerKernel);
    std::vector<Value *> results;
    for (const Value *result : readerKernel.results()) results.push_back(copied.at(result));
    merged->setResults(std::move(results));
    return merged;
  }

  // Whether every reduction inside the merged kernel but its result is read once per row, and so
  // computed once per row (a verdict per pair of kernels, which the pass never changes).
  bool mergedKeepsRows(const Operation &producer, const Operation &reader) {
    auto key = std::make_pair(kernelOf(producer), kernelOf(reader));
    if (auto it = keepsRows_.find(key); it != keepsRows_.end()) return it->second;
    std::vector<Value *> operands;
    std::unique_ptr<Function> merged = mergedKernel(producer, *key.first, reader, "candidate", operands);
    bool keeps = true;
    for (const auto &op : merged->ops())
      if (op->info().opClass == OpClass::Reduction && op->result(0) != merged->results()[0])
        keeps = keeps && isReadOncePerRow(*merged, op->result(0));
    return keepsRows_[key] = keeps;
  }

  void mergeInto(const Operation &producer, const Function &producerKernel, Operation &reader) {
    std::vector<Value *> operands;
    Function *added = module_.addFunction(
        mergedKernel(producer, producerKernel, reader, freshName(rootName(*kernelOf(reader))), operands));
    created_.insert(added);

    auto position = std::find_if(function_.ops().begin(), function_.ops().end(),
                                 [&](const auto &op) { return op.get() == &reader; });
    Builder builder(function_, position);
    builder.setLocation(reader.location());
    std::vector<Value *> callResults = builder.call(*added, operands);
    positions_[std::prev(position)->get()] = positions_.at(&reader);
    for (size_t i = 0; i < reader.resultCount(); ++i) {
      callResults[i]->setName(reader.result(i)->name());
      function_.replaceAllUses(reader.result(i), callResults[i]);
    }
    function_.erase(position);
  }

  std::string freshName(std::string_view root) {
    while (true) {
      std::string name = fmt::format("{}_fused_{}_{}", function_.name(), counter_++, root);
      if (!module_.lookup(name)) return name;
    }
  }

  Module &module_;
  Function &function_;
  std::vector<Remark> *remarks_;
  std::unordered_set<const Function *> &created_;
  // Each call's place in the function as the pass found it (a merged call takes its reader's),
  // so that remarks come out in program order.
  std::unordered_map<const Operation *, size_t> positions_;
  std::vector<std::pair<size_t, Remark>> edges_;
  std::map<std::pair<const Function *, const Function *>, bool> keepsRows_;
  std::map<std::pair<const Function *, const Function *>, std::string> epilogueVerdicts_;  // empty: fuses
  unsigned counter_ = 0;
};
}  // namespace

llvm::Error runFuse(Module &module, const PassOptions &options) {
  if (auto error = options.checkOnly({})) return error;
  // Kernels called before and kernels this pass made go when no call is left; others stay.
  std::unordered_set<const Function *> calledBefore;
  std::vector<Function *> functions;
  for (const auto &function : module.functions()) {
    if (!function->isKernel()) functions.push_back(function.get());
    for (const auto &op : function->ops())
      if (const Function *callee = op->callee(module)) calledBefore.insert(callee);
  }
  for (Function *function : functions) Fuser(module, *function, options.remarks, calledBefore).run();

  std::unordered_set<const Function *> calledAfter;
  for (const auto &function : module.functions())
    for (const auto &op : function->ops())
      if (const Function *callee = op->callee(module)) calledAfter.insert(callee);
  std::vector<Function *> unused;
  for (const auto &function : module.functions())
    if (function->isKernel() && calledBefore.count(function.get()) && !calledAfter.count(function.get()))
      unused.push_back(function.get());
  for (Function *function : unused) module.removeFunction(function);
  return llvm::Error::success();
}

}  // namespace kiln
