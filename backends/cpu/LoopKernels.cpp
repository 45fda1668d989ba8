// Loop kernels: each result of a kernel is one loop nest over its shape, row-major, whose body
// stores the result's element built by the ops' index-expression rules (LoopRules.cpp). The
// innermost loop runs along the contiguous axis with unit-stride stores, so LLVM's loop
// vectoriser widens it to the vector width the target's function attributes ask for.
#include "backends/cpu/LoopKernels.h"

#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"

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

llvm::Value *ElementEmitter::libm(llvm::StringRef name, llvm::Value *argument) {
  llvm::Type *type = argument->getType();
  std::string symbol = type->isFloatTy() ? (name + "f").str() : name.str();
  llvm::FunctionCallee callee = module.getOrInsertFunction(symbol, llvm::FunctionType::get(type, {type}, false));
  if (auto *function = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    function->setDoesNotThrow();
    function->setOnlyAccessesInaccessibleMemory();
    function->setWillReturn();
  }
  return builder.CreateCall(callee, {argument});
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

llvm::Value *ElementEmitter::element(const Value *value, llvm::ArrayRef<llvm::Value *> index) {
  const TensorType &type = value->type();
  if (value->isArgument()) {
    llvm::Type *memory = memoryType(type.dtype);
    llvm::Value *address =
        builder.CreateInBoundsGEP(memory, argumentPointers.at(value), {linearOffset(type.shape, index)});
    llvm::Value *loaded = builder.CreateLoad(memory, address);
    return type.dtype == DType::I1 ? builder.CreateTrunc(loaded, builder.getInt1Ty()) : loaded;
  }
  return loopRule(value->definingOp()->kind())(*this, *value->definingOp(), index);
}
}  // namespace loops

bool hasLoopRule(OpKind kind) { return loops::loopRule(kind) != nullptr; }

llvm::Expected<llvm::Function *> emitLoopKernel(llvm::Module &module, const Target &target, const Function &kernel,
                                                llvm::StringRef name) {
  for (const auto &op : kernel.ops())
    if (!hasLoopRule(op->kind()))
      return llvm::createStringError(
          fmt::format("kernel @{}: '{}' has no loop-kernel lowering rule yet", kernel.name(), op->name()));
  llvm::LLVMContext &context = module.getContext();
  llvm::IRBuilder<> builder(context);
  loops::ElementEmitter emitter(builder, module);

  size_t pointerCount = kernel.arguments().size() + kernel.results().size();
  std::vector<llvm::Type *> parameters(pointerCount, builder.getPtrTy());
  auto *functionType = llvm::FunctionType::get(builder.getVoidTy(), parameters, false);
  auto *function = llvm::Function::Create(functionType, llvm::Function::ExternalLinkage, name, module);
  target.stampFunctionAttributes(*function);
  function->setDoesNotThrow();
  for (size_t i = 0; i < pointerCount; ++i) {
    function->addParamAttr(i, llvm::Attribute::NoAlias);
    function->addParamAttr(i, llvm::Attribute::NoCapture);
    if (i < kernel.arguments().size()) function->addParamAttr(i, llvm::Attribute::ReadOnly);
  }
  for (size_t i = 0; i < kernel.arguments().size(); ++i)
    emitter.argumentPointers[kernel.argument(i)] = function->getArg(i);

  builder.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", function));
  for (size_t r = 0; r < kernel.results().size(); ++r) {
    const Value *result = kernel.results()[r];
    llvm::Value *output = function->getArg(kernel.arguments().size() + r);
    const Shape &shape = result->type().shape;
    llvm::Type *memory = emitter.memoryType(result->type().dtype);
    loops::Index index;
    // One loop per axis, outermost first; the body of the innermost stores one element.
    std::function<void(size_t)> nest = [&](size_t axis) {
      if (axis == shape.size()) {
        llvm::Value *element = emitter.element(result, index);
        if (result->type().dtype == DType::I1) element = builder.CreateZExt(element, builder.getInt8Ty());
        builder.CreateStore(element, builder.CreateInBoundsGEP(memory, output, {emitter.linearOffset(shape, index)}));
        return;
      }
      matmul::emitLoop(builder, builder.getInt64(shape[axis]), [&](llvm::Value *position) {
        index.push_back(position);
        nest(axis + 1);
        index.pop_back();
      });
    };
    nest(0);
  }
  builder.CreateRetVoid();
  return function;
}

}  // namespace kiln::cpu
