// Loop kernels: each result of a kernel is a nest of independent rows (RowNest): an elementwise
// result's rows store the element the ops' index-expression rules build (LoopRules.cpp), a
// reduction's rows compute each reduced quantity once (LoopReductionRows.cpp). The innermost loop
// runs along the contiguous axis with unit-stride stores, so LLVM's loop vectoriser widens it to
// the vector width the target's function attributes ask for. Large nests run their rows on the
// runtime's thread pool.
#include "backends/cpu/LoopKernels.h"

#include <algorithm>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>
#include <llvm/IR/CFG.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/DebugInfo.h"
#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"
#include "ir/RowAnalysis.h"

namespace kiln::cpu {

namespace loops {
llvm::Type *ElementEmitter::registerType(DType dtype) const {
  switch (dtype) {
  case DType::F32: return builder.getFloatTy();
  case DType::F64: return builder.getDoubleTy();
  case DType::I32: return builder.getInt32Ty();
  case DType::I64: return builder.getInt64Ty();
  case DType::I1: return builder.getInt1Ty();
  }
  llvm_unreachable("unknown dtype");
}

llvm::Type *ElementEmitter::memoryType(DType dtype) const {
  return dtype == DType::I1 ? builder.getInt8Ty() : registerType(dtype);
}

llvm::Value *ElementEmitter::linearOffset(const Shape &shape, llvm::ArrayRef<llvm::Value *> index) {
  llvm::Value *offset = builder.getInt64(0);
  int64_t stride = 1;
  for (size_t axis = shape.size(); axis-- > 0;) {
    if (shape[axis] != 1)
      offset = builder.CreateAdd(offset, builder.CreateMul(index[axis], builder.getInt64(stride), "", true, true), "",
                                 true, true);
    stride *= shape[axis];
  }
  return offset;
}

Index ElementEmitter::broadcastIndex(const Shape &from, const Shape &to, llvm::ArrayRef<llvm::Value *> index) {
  Index result;
  size_t missing = to.size() - from.size();
  for (size_t axis = 0; axis < from.size(); ++axis)
    result.push_back(from[axis] == 1 ? builder.getInt64(0) : index[missing + axis]);
  return result;
}

llvm::Value *ElementEmitter::constant(DType dtype, double value) {
  llvm::Type *type = registerType(dtype);
  if (isFloat(dtype)) return llvm::ConstantFP::get(type, value);
  if (dtype == DType::I1) return builder.getInt1(value != 0);
  return llvm::ConstantInt::get(type, static_cast<uint64_t>(static_cast<int64_t>(value)), true);
}

llvm::Value *ElementEmitter::intrinsic(llvm::Intrinsic::ID id, llvm::ArrayRef<llvm::Value *> arguments) {
  return builder.CreateIntrinsic(id, {arguments[0]->getType()}, arguments);
}

llvm::Value *ElementEmitter::libm(llvm::StringRef name, llvm::Value *argument, bool vectorisable) {
  llvm::Type *type = argument->getType();
  std::string symbol = type->isFloatTy() ? (name + "f").str() : name.str();
  llvm::FunctionCallee callee = module.getOrInsertFunction(symbol, llvm::FunctionType::get(type, {type}, false));
  if (auto *function = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    function->setDoesNotThrow();
    function->setOnlyAccessesInaccessibleMemory();
    function->setWillReturn();
  }
  llvm::CallInst *call = builder.CreateCall(callee, {argument});
  // errno is never read: a call site without memory effects can be vectorised.
  if (vectorisable) call->setDoesNotAccessMemory();
  return call;
}

llvm::Value *ElementEmitter::convert(llvm::Value *value, DType from, DType to) {
  llvm::Type *target = registerType(to);
  if (from == to) return value;
  if (to == DType::I1)
    return isFloat(from) ? builder.CreateFCmpUNE(value, llvm::ConstantFP::get(value->getType(), 0.0))
                         : builder.CreateICmpNE(value, llvm::ConstantInt::get(value->getType(), 0));
  if (isFloat(from) && isFloat(to)) return builder.CreateFPCast(value, target);
  if (isFloat(from)) return builder.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {target, value->getType()}, {value});
  if (isFloat(to)) return from == DType::I1 ? builder.CreateUIToFP(value, target) : builder.CreateSIToFP(value, target);
  return builder.CreateIntCast(value, target, from != DType::I1);
}

llvm::Value *ElementEmitter::loadArgument(const Value *argument, llvm::Value *offset) {
  DType dtype = argument->type().dtype;
  llvm::Type *memory = memoryType(dtype);
  llvm::Value *loaded =
      builder.CreateLoad(memory, builder.CreateInBoundsGEP(memory, argumentPointers.at(argument), {offset}));
  return dtype == DType::I1 ? builder.CreateTrunc(loaded, builder.getInt1Ty()) : loaded;
}

Index ElementEmitter::delinearize(llvm::Value *linear, llvm::ArrayRef<int64_t> extents) {
  Index index(extents.size());
  for (size_t axis = extents.size(); axis-- > 0;) {
    if (extents[axis] == 1) {
      index[axis] = builder.getInt64(0);
      continue;
    }
    if (axis == 0) {
      index[axis] = linear;
      break;
    }
    index[axis] = builder.CreateURem(linear, builder.getInt64(extents[axis]));
    linear = builder.CreateUDiv(linear, builder.getInt64(extents[axis]));
  }
  return index;
}

llvm::Value *ElementEmitter::scratch(llvm::Type *type, int64_t count) {
  llvm::BasicBlock &entry = builder.GetInsertBlock()->getParent()->getEntryBlock();
  llvm::IRBuilder<> atEntry(&entry, entry.getFirstInsertionPt());
  auto *alloca = atEntry.CreateAlloca(type, builder.getInt64(count));
  alloca->setAlignment(llvm::Align(64));
  return alloca;
}

void emitInnerLoop(llvm::IRBuilder<> &builder, llvm::Value *count, const std::function<void(llvm::Value *)> &body,
                   bool independent) {
  llvm::BasicBlock *before = builder.GetInsertBlock();
  llvm::Function &function = *before->getParent();
  const size_t blocksBefore = function.size();
  matmul::emitLoop(builder, count, body);
  auto *constant = llvm::dyn_cast<llvm::ConstantInt>(count);
  if (constant && constant->getSExtValue() <= 4) return;
  llvm::BasicBlock *header = builder.GetInsertBlock()->getSinglePredecessor();
  llvm::LLVMContext &context = builder.getContext();
  std::vector<llvm::Metadata *> properties{
      nullptr, llvm::MDNode::get(context, {llvm::MDString::get(context, "llvm.loop.unroll.disable")})};
  if (independent) {
    // The loop's blocks are those made since `before`, but for the exit, where the builder now is.
    llvm::MDNode *group = llvm::MDNode::getDistinct(context, {});
    for (auto block = std::next(function.begin(), static_cast<std::ptrdiff_t>(blocksBefore)); block != function.end();
         ++block)
      if (&*block != builder.GetInsertBlock())
        for (llvm::Instruction &instruction : *block)
          if (llvm::isa<llvm::LoadInst, llvm::StoreInst>(instruction))
            instruction.setMetadata(llvm::LLVMContext::MD_access_group, group);
    properties.push_back(
        llvm::MDNode::get(context, {llvm::MDString::get(context, "llvm.loop.parallel_accesses"), group}));
  }
  llvm::MDNode *loop = llvm::MDNode::getDistinct(context, properties);
  loop->replaceOperandWith(0, loop);
  for (llvm::BasicBlock *predecessor : llvm::predecessors(header))
    if (predecessor != before) predecessor->getTerminator()->setMetadata(llvm::LLVMContext::MD_loop, loop);
}

std::optional<std::pair<int64_t, int64_t>> ElementEmitter::rangeOf(const llvm::Value *index) const {
  if (auto *constant = llvm::dyn_cast<llvm::ConstantInt>(index))
    return std::pair{constant->getSExtValue(), constant->getSExtValue()};
  if (auto known = knownRanges.find(index); known != knownRanges.end()) return known->second;
  return std::nullopt;
}

llvm::Value *ElementEmitter::element(const Value *value, llvm::ArrayRef<llvm::Value *> index) {
  if (auto it = rowValues.find(value); it != rowValues.end()) return it->second;
  if (value->isArgument() || argumentPointers.count(value))
    return loadArgument(value, linearOffset(value->type().shape, index));
  const Operation &op = *value->definingOp();
  DebugLocationScope at(builder, op.location());
  return loopRule(op.kind())(*this, op, index);
}
}  // namespace loops

bool hasLoopRule(OpKind kind) { return loops::loopRule(kind) != nullptr; }

bool mayWriteResultOver(const Function &kernel, size_t argument) {
  if (kernel.results().size() != 1 || kernel.results()[0]->isArgument() || argument >= kernel.arguments().size())
    return false;
  const TensorType &over = kernel.argument(argument)->type(), &result = kernel.results()[0]->type();
  if (result.shape != over.shape || dtypeByteSize(result.dtype) != dtypeByteSize(over.dtype)) return false;
  for (const auto &op : kernel.ops()) {
    OpClass opClass = op->info().opClass;
    if (!hasLoopRule(op->kind()) || (opClass != OpClass::Elementwise && opClass != OpClass::IndexMap &&
                                     opClass != OpClass::Creation && opClass != OpClass::Random))
      return false;
  }
  // Ops are in order, so one forward walk finds everything computed from the argument.
  std::unordered_set<const Value *> fromArgument{kernel.argument(argument)};
  for (const auto &op : kernel.ops()) {
    if (std::ranges::none_of(op->operands(), [&](const Value *operand) { return fromArgument.count(operand) > 0; }))
      continue;
    if (op->info().opClass != OpClass::Elementwise || op->result()->type().shape != over.shape) return false;
    fromArgument.insert(op->result());
  }
  return true;
}

namespace {

// Below this much work (elements read and written, times the ops per element) a kernel runs on
// the calling thread: waking the pool costs a few microseconds.
constexpr int64_t kParallelWork = int64_t(1) << 16;
// At most this many items per parallel loop: enough to balance a few cores, few enough that each
// item amortises taking it.
constexpr int64_t kMaxItems = 64;

// Where a pad or concat of the result's rank and innermost extent changes, along the innermost
// axis, what it reads: the inner positions, in (0, inner), sorted. The gradient of a slice is a
// pad, and an LSTM's four gates sliced from one product come back as four pads added up; cut at
// these positions, each stretch of the row computes one gate's gradient instead of all four.
std::vector<int64_t> innermostCuts(const Function &kernel, const Value *result) {
  constexpr size_t kMaxCuts = 16;  // beyond, the loops' code outgrows what they save
  const Shape &shape = result->type().shape;
  std::vector<int64_t> cuts;
  for (const auto &op : kernel.ops()) {
    const Shape &opShape = op->resultCount() == 1 ? op->result()->type().shape : Shape{};
    if (opShape.size() != shape.size() || shape.empty() || opShape.back() != shape.back()) continue;
    const size_t last = shape.size() - 1;
    if (op->kind() == OpKind::Pad) {
      int64_t low = op->attributes().getInts("low")[last];
      cuts.insert(cuts.end(), {low, low + op->operand(0)->type().shape[last]});
    } else if (op->kind() == OpKind::Concat && static_cast<size_t>(op->attributes().getInt("axis")) == last) {
      int64_t offset = 0;
      for (const Value *operand : op->operands()) cuts.push_back(offset += operand->type().shape[last]);
    }
  }
  std::erase_if(cuts, [&](int64_t cut) { return cut <= 0 || cut >= shape.back(); });
  std::ranges::sort(cuts);
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  if (cuts.size() > kMaxCuts) cuts.clear();
  return cuts;
}

// An elementwise (or index-map) result: one row per position of the leading axes, the last axis
// innermost and contiguous; a long last axis is cut into chunks of whole vectors when the leading
// axes give too few rows to share between threads. A reduction inside the kernel that the result
// reads once per row (isReadOncePerRow: the sum of a softmax's gradient, a layer norm's mean) is
// computed once before the row's loop, not again for every element. The row's loop is one loop
// per segment between innermostCuts, each with its column's range known to the rules.
loops::RowNest elementwiseRows(const Function &kernel, const Value *result, const Target &target) {
  const Shape &shape = result->type().shape;
  std::vector<const Value *> perRow;
  for (const auto &op : kernel.ops())
    if (op->info().opClass == OpClass::Reduction && op->resultCount() == 1 && isReadOncePerRow(kernel, op->result(0)))
      perRow.push_back(op->result(0));
  loops::RowNest nest;
  int64_t elements = result->type().elementCount();
  nest.work = elements * static_cast<int64_t>(std::max<size_t>(kernel.ops().size(), 1));
  if (shape.empty()) {
    nest.emitRow = [result](loops::ElementEmitter &emitter, llvm::Value *output, llvm::Value *) {
      llvm::Value *element = emitter.element(result, {});
      if (result->type().dtype == DType::I1) element = emitter.builder.CreateZExt(element, emitter.builder.getInt8Ty());
      emitter.builder.CreateStore(element, output);
    };
    return nest;
  }
  Shape outer(shape.begin(), shape.end() - 1);
  int64_t inner = shape.back(), outerRows = 1;
  for (int64_t extent : outer) outerRows *= extent;
  int64_t chunk = inner;
  const int64_t step = static_cast<int64_t>(target.preferredVectorBits() / 8);  // four f32 vectors
  if (nest.work >= kParallelWork && outerRows < 16 && inner >= 2 * step) {
    int64_t chunks = std::min<int64_t>((16 + outerRows - 1) / outerRows, inner / step);
    chunk = ((inner + chunks - 1) / chunks + step - 1) / step * step;
  }
  int64_t chunks = inner == 0 ? 1 : (inner + chunk - 1) / chunk;
  nest.rows = outerRows * chunks;
  std::vector<int64_t> bounds = innermostCuts(kernel, result);
  bounds.insert(bounds.begin(), 0);
  bounds.push_back(inner);
  nest.emitRow = [result, outer, inner, chunk, chunks, perRow, bounds](loops::ElementEmitter &emitter,
                                                                       llvm::Value *output, llvm::Value *row) {
    llvm::IRBuilder<> &builder = emitter.builder;
    llvm::Value *outerRow = chunks == 1 ? row : builder.CreateUDiv(row, builder.getInt64(chunks));
    llvm::Value *begin =
        chunks == 1 ? builder.getInt64(0)
                    : builder.CreateMul(builder.CreateURem(row, builder.getInt64(chunks)), builder.getInt64(chunk));
    llvm::Value *count = chunks == 1 ? builder.getInt64(inner)
                                     : builder.CreateBinaryIntrinsic(llvm::Intrinsic::smin, builder.getInt64(chunk),
                                                                     builder.CreateSub(builder.getInt64(inner), begin));
    loops::Index index = emitter.delinearize(outerRow, outer);
    loops::Index rowIndex = index;
    rowIndex.push_back(builder.getInt64(0));
    for (const Value *value : perRow)
      emitter.rowValues[value] =
          emitter.element(value, emitter.broadcastIndex(value->type().shape, result->type().shape, rowIndex));
    llvm::Value *rowStart = builder.CreateMul(outerRow, builder.getInt64(inner));
    llvm::Type *memory = emitter.memoryType(result->type().dtype);
    // Segment k: the columns [bounds[k], bounds[k + 1]) of this row's [begin, begin + count).
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      llvm::Value *first = builder.getInt64(bounds[k]), *segmentCount = builder.getInt64(bounds[k + 1] - bounds[k]);
      if (chunks != 1) {
        first = builder.CreateBinaryIntrinsic(llvm::Intrinsic::smax, begin, first);
        llvm::Value *end = builder.CreateBinaryIntrinsic(llvm::Intrinsic::smin, builder.CreateAdd(begin, count),
                                                         builder.getInt64(bounds[k + 1]));
        segmentCount =
            builder.CreateBinaryIntrinsic(llvm::Intrinsic::smax, builder.CreateSub(end, first), builder.getInt64(0));
      }
      loops::emitInnerLoop(
          builder, segmentCount,
          [&](llvm::Value *position) {
            llvm::Value *column = builder.CreateAdd(first, position);
            if (bounds.size() > 2) emitter.knownRanges[column] = {bounds[k], bounds[k + 1] - 1};
            index.push_back(column);
            llvm::Value *element = emitter.element(result, index);
            index.pop_back();
            if (result->type().dtype == DType::I1) element = builder.CreateZExt(element, builder.getInt8Ty());
            builder.CreateStore(element,
                                builder.CreateInBoundsGEP(memory, output, {builder.CreateAdd(rowStart, column)}));
          },
          /*independent=*/true);
    }
    emitter.rowValues.clear();
    emitter.knownRanges.clear();
  };
  return nest;
}

}  // namespace

// Each result r becomes three functions:
//  1. `name.rows<r>(arguments..., output, begin, end)`, internal: rows [begin, end) of the result's
//     row nest (reductionRows for a reduction or normalisation, elementwiseRows otherwise); its
//     pointers are noalias, so the vectoriser needs no run-time overlap checks.
//  2. `name.task<r>(item, context)`, internal: item `item` of a static split of the rows into
//     min(rows, kMaxItems) consecutive ranges, for kiln_parallel_for; context holds the pointers.
//  3. In `name`: the tasks through kiln_parallel_for when the nest's work passes kParallelWork,
//     else one call of the rows function over all rows (which LLVM inlines).
// A row computes the same values whichever item and thread run it: results do not depend on the
// thread count.
llvm::Expected<llvm::Function *> emitLoopKernel(llvm::Module &module, const Target &target, const Function &kernel,
                                                llvm::StringRef name, std::optional<size_t> resultOverArgument) {
  if (resultOverArgument && !mayWriteResultOver(kernel, *resultOverArgument))
    return llvm::createStringError(
        fmt::format("kernel @{}: its result cannot be written over argument {}", kernel.name(), *resultOverArgument));
  for (const auto &op : kernel.ops())
    if (!hasLoopRule(op->kind()))
      return llvm::createStringError(
          fmt::format("kernel @{}: '{}' has no loop-kernel lowering rule yet", kernel.name(), op->name()));
  llvm::LLVMContext &context = module.getContext();
  llvm::IRBuilder<> builder(context);
  llvm::Type *pointer = builder.getPtrTy(), *i64 = builder.getInt64Ty(), *voidType = builder.getVoidTy();

  const size_t argumentCount = kernel.arguments().size();
  size_t pointerCount = argumentCount + (resultOverArgument ? 0 : kernel.results().size());
  // Every argument is only read, except the one the result is written over.
  auto onlyRead = [&](size_t parameter) { return parameter < argumentCount && parameter != resultOverArgument; };
  std::vector<llvm::Type *> parameters(pointerCount, pointer);
  auto *functionType = llvm::FunctionType::get(voidType, parameters, false);
  auto *function = llvm::Function::Create(functionType, llvm::Function::ExternalLinkage, name, module);
  target.stampFunctionAttributes(*function);
  function->setDoesNotThrow();
  for (size_t i = 0; i < pointerCount; ++i) {
    function->addParamAttr(i, llvm::Attribute::NoAlias);
    function->addParamAttr(i, llvm::Attribute::NoCapture);
    if (onlyRead(i)) function->addParamAttr(i, llvm::Attribute::ReadOnly);
  }
  builder.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", function));
  // The rows functions take the arguments and, unless it is one of them, the output.
  const size_t rowPointerCount = resultOverArgument ? argumentCount : argumentCount + 1;
  auto *contextType = llvm::ArrayType::get(pointer, rowPointerCount);
  llvm::Value *contextArray = nullptr;

  for (size_t r = 0; r < kernel.results().size(); ++r) {
    const Value *result = kernel.results()[r];
    std::optional<loops::RowNest> reduction = loops::reductionRows(result, target);
    loops::RowNest nest = reduction ? std::move(*reduction) : elementwiseRows(kernel, result, target);

    // 1. The rows function.
    std::vector<llvm::Type *> rowParameters(rowPointerCount, pointer);
    rowParameters.insert(rowParameters.end(), {i64, i64});
    auto *rows = llvm::Function::Create(llvm::FunctionType::get(voidType, rowParameters, false),
                                        llvm::Function::InternalLinkage, name + ".rows" + llvm::Twine(r), module);
    target.stampFunctionAttributes(*rows);
    rows->setDoesNotThrow();
    for (size_t i = 0; i < rowPointerCount; ++i) {
      rows->addParamAttr(i, llvm::Attribute::NoAlias);
      rows->addParamAttr(i, llvm::Attribute::NoCapture);
      if (onlyRead(i)) rows->addParamAttr(i, llvm::Attribute::ReadOnly);
    }
    {
      llvm::IRBuilder<> rowBuilder(llvm::BasicBlock::Create(context, "entry", rows));
      loops::ElementEmitter emitter(rowBuilder, module);
      for (size_t i = 0; i < argumentCount; ++i) emitter.argumentPointers[kernel.argument(i)] = rows->getArg(i);
      llvm::Value *output = rows->getArg(resultOverArgument ? *resultOverArgument : argumentCount);
      llvm::Value *begin = rows->getArg(rowPointerCount), *end = rows->getArg(rowPointerCount + 1);
      matmul::emitLoop(rowBuilder, rowBuilder.CreateSub(end, begin), [&](llvm::Value *position) {
        nest.emitRow(emitter, output, rowBuilder.CreateAdd(begin, position));
      });
      rowBuilder.CreateRetVoid();
    }

    std::vector<llvm::Value *> pointers;
    for (size_t i = 0; i < argumentCount; ++i) pointers.push_back(function->getArg(i));
    if (!resultOverArgument) pointers.push_back(function->getArg(argumentCount + r));
    if (nest.rows <= 1 || nest.work < kParallelWork) {
      pointers.insert(pointers.end(), {builder.getInt64(0), builder.getInt64(nest.rows)});
      builder.CreateCall(rows, pointers);
      continue;
    }

    // 2. The task: rows [item * rows / items, (item + 1) * rows / items).
    const int64_t items = std::min(nest.rows, kMaxItems);
    auto *task = llvm::Function::Create(llvm::FunctionType::get(voidType, {i64, pointer}, false),
                                        llvm::Function::InternalLinkage, name + ".task" + llvm::Twine(r), module);
    target.stampFunctionAttributes(*task);
    task->setDoesNotThrow();
    {
      llvm::IRBuilder<> taskBuilder(llvm::BasicBlock::Create(context, "entry", task));
      std::vector<llvm::Value *> values;
      for (size_t i = 0; i < rowPointerCount; ++i)
        values.push_back(taskBuilder.CreateLoad(
            pointer, taskBuilder.CreateConstInBoundsGEP2_64(contextType, task->getArg(1), 0, i)));
      auto bound = [&](llvm::Value *item) {
        return taskBuilder.CreateUDiv(taskBuilder.CreateMul(item, taskBuilder.getInt64(nest.rows)),
                                      taskBuilder.getInt64(items));
      };
      values.push_back(bound(task->getArg(0)));
      values.push_back(bound(taskBuilder.CreateAdd(task->getArg(0), taskBuilder.getInt64(1))));
      taskBuilder.CreateCall(rows, values);
      taskBuilder.CreateRetVoid();
    }

    // 3. The call through the pool.
    if (!contextArray) contextArray = builder.CreateAlloca(contextType);
    for (size_t i = 0; i < rowPointerCount; ++i)
      builder.CreateStore(pointers[i], builder.CreateConstInBoundsGEP2_64(contextType, contextArray, 0, i));
    llvm::FunctionCallee parallelFor = module.getOrInsertFunction(
        "kiln_parallel_for", llvm::FunctionType::get(voidType, {i64, pointer, pointer}, false));
    builder.CreateCall(parallelFor, {builder.getInt64(items), task, contextArray});
  }
  builder.CreateRetVoid();
  return function;
}

}  // namespace kiln::cpu
