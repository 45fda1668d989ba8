// The backend's driver: kernels are lowered by their rule tables (loop kernels, the matmul
// template), functions become a C-ABI entry that allocates buffers and calls its kernels.
//
// 1. Lower every kernel: one whose result is a float matmul, or an elementwise epilogue of one,
//    goes to the matmul template (ContractionKernel.cpp); one whose result is a convolution (or an
//    elementwise epilogue of a conv2d), scatter_add or attention goes to its template
//    (TemplateKernels.h); every other kernel is a loop kernel.
// 2. Lower every `func` to `void kiln_func_NAME(void **arguments, void **results)`: one arena
//    holding every call result at the offsets of the memory plan (MemoryPlan.h; or with
//    planMemory off, one aligned buffer per call result), the calls in order (a call of a `func`
//    goes through its entry with arrays of pointers), then each result copied into results[i] and
//    the memory freed.
// 3. Only the entries stay visible (or nothing but the program table or a library's functions),
//    so that a func or kernel named like a C function cannot clash with it.
#include "backends/cpu/Compile.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>
#include <llvm/IR/IRBuilder.h>

#include "backends/cpu/DebugInfo.h"
#include "backends/cpu/Exports.h"
#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/LoopKernels.h"
#include "backends/cpu/MatmulEmitter.h"
#include "backends/cpu/MatmulKernel.h"
#include "backends/cpu/MemoryPlan.h"
#include "backends/cpu/TemplateKernels.h"
#include "backends/interpreter/Rules.h"
#include "ir/EpilogueAnalysis.h"
#include "passes/Pass.h"

namespace kiln::cpu {

namespace {
int64_t bufferBytes(const TensorType &type) {
  int64_t bytes = type.elementCount() * dtypeByteSize(type.dtype);
  return std::max<int64_t>((bytes + 63) / 64 * 64, 64);
}

llvm::FunctionCallee alignedAlloc(llvm::Module &module) {
  llvm::LLVMContext &context = module.getContext();
  auto *i64 = llvm::Type::getInt64Ty(context);
  return module.getOrInsertFunction("aligned_alloc",
                                    llvm::FunctionType::get(llvm::PointerType::get(context, 0), {i64, i64}, false));
}
llvm::FunctionCallee freeFunction(llvm::Module &module) {
  llvm::LLVMContext &context = module.getContext();
  return module.getOrInsertFunction(
      "free", llvm::FunctionType::get(llvm::Type::getVoidTy(context), {llvm::PointerType::get(context, 0)}, false));
}

llvm::Value *allocate(llvm::IRBuilder<> &builder, llvm::Module &module, int64_t bytes) {
  return builder.CreateCall(alignedAlloc(module), {builder.getInt64(64), builder.getInt64((bytes + 63) / 64 * 64)});
}

llvm::Error emitKernel(llvm::Module &module, const Target &target, const Function &kernel) {
  // The op whose results are the kernel's, all of them in order (attention gives two).
  const Operation *resultOp =
      kernel.results().empty() || kernel.results()[0]->isArgument() ? nullptr : kernel.results()[0]->definingOp();
  if (resultOp && !std::ranges::equal(resultOp->results(), kernel.results())) resultOp = nullptr;
  if (resultOp && hasTemplateRule(resultOp->kind())) return emitTemplateKernel(module, target, kernel, *resultOp);
  // A float matmul as the result, or a matmul or conv2d under an elementwise epilogue.
  std::string notEpilogue;
  const Operation *product = resultOp && resultOp->kind() == OpKind::Matmul && isFloat(resultOp->result()->type().dtype)
                                 ? resultOp
                                 : epilogueProduct(kernel, &notEpilogue);
  if (product) {
    if (hasTemplateRule(product->kind())) return emitTemplateKernel(module, target, kernel, *product);
    for (const auto &op : kernel.ops())
      if (op.get() != product && !hasLoopRule(op->kind()))
        return llvm::createStringError(
            fmt::format("kernel @{}: '{}' has no loop-kernel lowering rule yet", kernel.name(), op->name()));
    return templates::emitContraction(module, target, kernel, *product);
  }
  for (const auto &op : kernel.ops())
    if (op->info().has(kTakesEpilogue) && isFloat(op->result()->type().dtype))
      return llvm::createStringError(
          fmt::format("kernel @{}: a {} lowers only as its kernel's result or followed by an elementwise "
                      "epilogue, not here: {}",
                      kernel.name(), op->name(), notEpilogue));
  llvm::Expected<llvm::Function *> function = emitLoopKernel(module, target, kernel, kernel.name());
  if (!function) return function.takeError();
  return llvm::Error::success();
}

// The loop kernel's variant that writes its result over argument `argument`, emitted on first use.
llvm::Expected<llvm::Function *> inPlaceKernel(llvm::Module &module, const Target &target, const Function &kernel,
                                               size_t argument) {
  std::string name = fmt::format("{}.over{}", kernel.name(), argument);
  if (llvm::Function *emitted = module.getFunction(name)) return emitted;
  llvm::Expected<llvm::Function *> function = emitLoopKernel(module, target, kernel, name, argument);
  if (function) (*function)->addFnAttr(llvm::Attribute::NoInline);
  return function;
}

// The entry of a `func`: void name(void **arguments, void **results). With `usePlan`, its
// buffers are parts of one arena at the offsets of planMemory; else each is allocated alone.
llvm::Error emitEntry(llvm::Module &module, const Target &target, const Module &source, const Function &function,
                      bool usePlan) {
  llvm::LLVMContext &context = module.getContext();
  llvm::IRBuilder<> builder(context);
  auto *pointer = builder.getPtrTy();
  auto *entryType = llvm::FunctionType::get(builder.getVoidTy(), {pointer, pointer}, false);
  auto *entry =
      llvm::cast<llvm::Function>(module.getOrInsertFunction(entrySymbol(function.name()), entryType).getCallee());
  target.stampFunctionAttributes(*entry);
  builder.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", entry));

  std::unordered_map<const Value *, llvm::Value *> buffers;
  for (size_t i = 0; i < function.arguments().size(); ++i)
    buffers[function.argument(i)] =
        builder.CreateLoad(pointer, builder.CreateConstInBoundsGEP1_64(pointer, entry->getArg(0), i));
  std::vector<llvm::Value *> owned;
  std::unordered_map<const Value *, int64_t> offsets;
  // A call result written over the operand at this position (the plan's in-place buffers).
  std::unordered_map<const Value *, size_t> overOperand;
  llvm::Value *arena = nullptr, *arenaBytes = nullptr;
  if (usePlan) {
    MemoryPlan plan = planMemory(source, function);
    if (std::vector<std::string> problems = checkMemoryPlan(plan); !problems.empty())
      return llvm::createStringError(fmt::format("@{}: invalid memory plan: {}", function.name(), problems.front()));
    for (const PlannedBuffer &buffer : plan.buffers) {
      offsets[buffer.value] = buffer.offset;
      if (buffer.inPlaceOf) {
        const std::vector<Value *> &operands = buffer.value->definingOp()->operands();
        overOperand[buffer.value] =
            std::ranges::find(operands, plan.buffers[*buffer.inPlaceOf].value) - operands.begin();
      }
    }
    if (!plan.buffers.empty()) {
      // The runtime keeps the arena for the next call (runtime/Arena.h).
      auto *i64 = builder.getInt64Ty();
      arenaBytes = builder.getInt64(plan.arenaBytes);
      arena = builder.CreateCall(
          module.getOrInsertFunction("kiln_arena_acquire", llvm::FunctionType::get(pointer, {i64}, false)),
          {arenaBytes});
    }
  }
  for (const auto &op : function.ops()) {
    DebugLocationScope at(builder, op->location());
    const Function *callee = op->callee(source);
    if (op->kind() != OpKind::Call || !callee)
      return llvm::createStringError(
          fmt::format("@{}: '{}' is not a call of a kernel; run outline-kernels first", function.name(), op->name()));
    std::vector<llvm::Value *> operands, results;
    for (const Value *operand : op->operands()) operands.push_back(buffers.at(operand));
    for (const Value *result : op->results()) {
      llvm::Value *buffer = arena ? builder.CreateConstInBoundsGEP1_64(builder.getInt8Ty(), arena, offsets.at(result))
                                  : allocate(builder, module, bufferBytes(result->type()));
      if (!arena) owned.push_back(buffer);
      buffers[result] = buffer;
      results.push_back(buffer);
    }
    llvm::Function *lowered = module.getFunction(callee->isKernel() ? callee->name() : entrySymbol(callee->name()));
    if (!lowered) return llvm::createStringError(fmt::format("@{} has not been lowered", callee->name()));
    if (callee->isKernel()) {
      if (auto over = overOperand.find(op->result(0)); over != overOperand.end()) {
        llvm::Expected<llvm::Function *> inPlace = inPlaceKernel(module, target, *callee, over->second);
        if (!inPlace) return inPlace.takeError();
        builder.CreateCall(*inPlace, operands);
        continue;
      }
      std::vector<llvm::Value *> all = operands;
      all.insert(all.end(), results.begin(), results.end());
      builder.CreateCall(lowered, all);
      continue;
    }
    auto packPointers = [&](const std::vector<llvm::Value *> &pointers) {
      llvm::Value *array = builder.CreateAlloca(pointer, builder.getInt64(std::max<size_t>(pointers.size(), 1)));
      for (size_t i = 0; i < pointers.size(); ++i)
        builder.CreateStore(pointers[i], builder.CreateConstInBoundsGEP1_64(pointer, array, i));
      return array;
    };
    builder.CreateCall(lowered, {packPointers(operands), packPointers(results)});
  }
  for (size_t i = 0; i < function.results().size(); ++i) {
    const Value *result = function.results()[i];
    llvm::Value *destination =
        builder.CreateLoad(pointer, builder.CreateConstInBoundsGEP1_64(pointer, entry->getArg(1), i));
    int64_t bytes = result->type().elementCount() * dtypeByteSize(result->type().dtype);
    builder.CreateMemCpy(destination, llvm::MaybeAlign(), buffers.at(result), llvm::MaybeAlign(), bytes);
  }
  for (llvm::Value *buffer : owned) builder.CreateCall(freeFunction(module), {buffer});
  if (arena)
    builder.CreateCall(
        module.getOrInsertFunction(
            "kiln_arena_release", llvm::FunctionType::get(builder.getVoidTy(), {pointer, builder.getInt64Ty()}, false)),
        {arena, arenaBytes});
  builder.CreateRetVoid();
  return llvm::Error::success();
}
}  // namespace

// A call is lowered by the entry of the function holding it (emitEntry).
bool hasLoweringRule(OpKind kind) { return kind == OpKind::Call || hasTemplateRule(kind) || hasLoopRule(kind); }

llvm::Expected<std::unique_ptr<llvm::Module>> compileModule(const Module &module, const Target &target,
                                                            llvm::LLVMContext &context, const ModuleOptions &options) {
  std::unordered_set<const Function *> reached;
  std::function<void(const Function &)> reach = [&](const Function &function) {
    if (!reached.insert(&function).second) return;
    for (const auto &op : function.ops())
      if (const Function *callee = op->callee(module)) reach(*callee);
  };
  for (const Function *entry : options.entries) reach(*entry);
  auto wanted = [&](const Function &function) { return options.entries.empty() || reached.count(&function); };
  auto llvmModule = std::make_unique<llvm::Module>("kiln", context);
  std::optional<DebugInfo> debugInfo;
  if (!options.debugInfoFile.empty()) {
    debugInfo.emplace(*llvmModule, options.debugInfoFile);
    for (const auto &function : module.functions())
      debugInfo->setFunctionLocation(function->isKernel() ? function->name() : entrySymbol(function->name()),
                                     function->location());
  }
  for (const auto &function : module.functions())
    if (function->isKernel() && wanted(*function))
      if (llvm::Error error = emitKernel(*llvmModule, target, *function)) return error;
  for (const auto &function : module.functions())
    if (!function->isKernel() && wanted(*function))
      if (llvm::Error error = emitEntry(*llvmModule, target, module, *function, options.planMemory)) return error;
  // Only the entries are seen from outside (with externalEntries), so that LLVM may drop unused
  // kernels and helpers, and no generated name can clash with another library's.
  // A kernel no compiled func calls is compiled for its own sake (a kernel tested alone), so it
  // stays visible too.
  std::unordered_set<std::string> exported, called;
  for (const auto &function : module.functions())
    if (!function->isKernel() && wanted(*function))
      for (const auto &op : function->ops())
        if (const Function *callee = op->callee(module)) called.insert(callee->name());
  for (const auto &function : module.functions())
    if (!function->isKernel() && options.externalEntries)
      exported.insert(entrySymbol(function->name()));
    else if (function->isKernel() && wanted(*function) && !called.count(function->name()))
      exported.insert(function->name());
  for (llvm::Function &lowered : *llvmModule)
    if (!lowered.isDeclaration() && !exported.count(lowered.getName().str()))
      lowered.setLinkage(llvm::GlobalValue::InternalLinkage);
  // Kernels stay functions of their own. An entry calls one per group of ops (an unrolled
  // recurrent network's training step, thousands), and inlining them all made one function whose
  // loop passes (loop strength reduction above all) took minutes; a call per kernel costs nothing
  // beside the kernel's own loops.
  for (const auto &function : module.functions())
    if (function->isKernel())
      if (llvm::Function *lowered = llvmModule->getFunction(function->name()))
        lowered->addFnAttr(llvm::Attribute::NoInline);
  if (!options.programTableModel.empty()) emitProgramTable(*llvmModule, module, options.programTableModel);
  if (!options.libraryPrefix.empty()) emitLibraryFunctions(*llvmModule, module, options.libraryPrefix);
  if (debugInfo) debugInfo->finish();
  return llvmModule;
}

llvm::Expected<std::unique_ptr<llvm::Module>> compileModule(const Module &module, const Target &target,
                                                            llvm::LLVMContext &context, const Function *entry) {
  ModuleOptions options;
  if (entry) options.entries.push_back(entry);
  return compileModule(module, target, context, options);
}

llvm::Expected<std::unique_ptr<CompiledModule>> CompiledModule::create(const Module &module, const Target &target,
                                                                       const Function *entry) {
  auto context = std::make_unique<llvm::LLVMContext>();
  llvm::Expected<std::unique_ptr<llvm::Module>> compiled = compileModule(module, target, *context, entry);
  if (!compiled) return compiled.takeError();
  return create(std::move(*compiled), std::move(context), target);
}

llvm::Expected<std::unique_ptr<CompiledModule>> CompiledModule::create(std::unique_ptr<llvm::Module> compiled,
                                                                       std::unique_ptr<llvm::LLVMContext> context,
                                                                       const Target &target) {
  llvm::Expected<std::unique_ptr<Jit>> jit = Jit::create(target);
  if (!jit) return jit.takeError();
  if (llvm::Error error = (*jit)->addModule(std::move(compiled), std::move(context))) return error;
  return std::unique_ptr<CompiledModule>(new CompiledModule(std::move(*jit)));
}

llvm::Expected<CompiledModule::Entry> CompiledModule::entry(const Function &function) {
  if (function.isKernel()) return llvm::createStringError(fmt::format("@{} is a kernel; run a func", function.name()));
  return jit_->lookup<void(void **, void **)>(entrySymbol(function.name()));
}

llvm::Expected<std::vector<Tensor>> CompiledModule::run(const Function &function, std::span<const Tensor> arguments) {
  llvm::Expected<Entry> entry = this->entry(function);
  if (!entry) return entry.takeError();
  std::vector<void *> argumentPointers, resultPointers;
  auto elements = [](const Tensor &tensor) {
    return interpreter::visitDType(tensor.dtype(), [&](auto zero) {
      using T = decltype(zero);
      return const_cast<void *>(static_cast<const void *>(tensor.values<T>().data()));
    });
  };
  if (arguments.size() != function.arguments().size())
    return llvm::createStringError(
        fmt::format("@{} takes {} arguments, not {}", function.name(), function.arguments().size(), arguments.size()));
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i].type() != function.argument(i)->type())
      return llvm::createStringError(fmt::format("argument {} of @{} should be {}, not {}", i, function.name(),
                                                 toString(function.argument(i)->type()),
                                                 toString(arguments[i].type())));
    argumentPointers.push_back(elements(arguments[i]));
  }
  std::vector<Tensor> results;
  for (const Value *result : function.results()) {
    if (llvm::Error error = checkTensorSize(result->type())) return error;
    results.emplace_back(result->type());
  }
  for (Tensor &result : results) resultPointers.push_back(elements(result));
  (*entry)(argumentPointers.data(), resultPointers.data());
  return results;
}

llvm::Error runNatively(Module &module, const RunOptions &options, const Target &target, llvm::raw_ostream &out) {
  bool outlined = llvm::all_of(module.functions(), [&](const auto &function) {
    return function->isKernel() ||
           llvm::all_of(function->ops(), [](const auto &op) { return op->kind() == OpKind::Call; });
  });
  if (!outlined)
    if (auto error = lookupPass("outline-kernels")->run(module, {})) return error;
  return runFunction(
      module, options, out,
      [&](const Function &function, std::span<const Tensor> arguments) -> llvm::Expected<std::vector<Tensor>> {
        auto compiled = CompiledModule::create(module, target, &function);
        if (!compiled) return compiled.takeError();
        return (*compiled)->run(function, arguments);
      });
}

}  // namespace kiln::cpu
