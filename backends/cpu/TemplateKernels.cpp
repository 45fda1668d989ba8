// Dispatch of the template kernels and the buffer helpers they share.
#include "backends/cpu/TemplateKernels.h"

#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/LoopKernels.h"
#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu {

bool hasTemplateRule(OpKind kind) {
  switch (kind) {
  case OpKind::Conv2d:
  case OpKind::Conv2dInputGrad:
  case OpKind::Conv2dFilterGrad:
  case OpKind::ScatterAdd:
  case OpKind::Attention:
  case OpKind::AttentionGrad: return true;
  default: return false;
  }
}

llvm::Error emitTemplateKernel(llvm::Module &module, const Target &target, const Function &kernel,
                               const Operation &op) {
  for (const auto &other : kernel.ops())
    if (other.get() != &op && !hasLoopRule(other->kind()))
      return llvm::createStringError(
          fmt::format("kernel @{}: '{}' has no loop-kernel lowering rule yet", kernel.name(), other->name()));
  if (op.kind() == OpKind::ScatterAdd) return templates::emitScatterAdd(module, target, kernel);
  if (op.kind() == OpKind::Attention || op.kind() == OpKind::AttentionGrad)
    return templates::emitAttention(module, target, kernel);
  return templates::emitConvolution(module, target, kernel, op);
}

namespace templates {

llvm::Function *declareKernel(llvm::Module &module, const Target &target, const Function &kernel,
                              loops::ElementEmitter &emitter) {
  llvm::IRBuilder<> &builder = emitter.builder;
  size_t pointerCount = kernel.arguments().size() + kernel.results().size();
  auto *type =
      llvm::FunctionType::get(builder.getVoidTy(), std::vector<llvm::Type *>(pointerCount, builder.getPtrTy()), false);
  auto *function = llvm::Function::Create(type, llvm::Function::ExternalLinkage, kernel.name(), module);
  target.stampFunctionAttributes(*function);
  function->setDoesNotThrow();
  for (size_t i = 0; i < pointerCount; ++i) {
    function->addParamAttr(i, llvm::Attribute::NoAlias);
    function->addParamAttr(i, llvm::Attribute::NoCapture);
  }
  for (size_t i = 0; i < kernel.arguments().size(); ++i)
    emitter.argumentPointers[kernel.argument(i)] = function->getArg(i);
  builder.SetInsertPoint(llvm::BasicBlock::Create(module.getContext(), "entry", function));
  return function;
}

namespace {
// A string attribute, which code generation ignores.
constexpr const char *kTemporaryBytesAttribute = "kiln-temporary-bytes";
}  // namespace

int64_t kernelTemporaryBytes(const llvm::Function &function) {
  llvm::Attribute attribute = function.getFnAttribute(kTemporaryBytesAttribute);
  int64_t bytes = 0;
  if (attribute.isStringAttribute()) attribute.getValueAsString().getAsInteger(10, bytes);
  return bytes;
}

llvm::Value *Temporaries::allocate(int64_t bytes) {
  llvm::IRBuilder<> &builder = emitter_.builder;
  llvm::FunctionCallee acquire = emitter_.module.getOrInsertFunction(
      "kiln_arena_acquire", llvm::FunctionType::get(builder.getPtrTy(), {builder.getInt64Ty()}, false));
  llvm::Value *buffer = builder.CreateCall(acquire, {emitter_.index(bytes)});
  taken_.emplace_back(buffer, bytes);
  llvm::Function &function = *builder.GetInsertBlock()->getParent();
  function.addFnAttr(kTemporaryBytesAttribute, std::to_string(kernelTemporaryBytes(function) + bytes));
  return buffer;
}

void Temporaries::releaseAll() {
  llvm::IRBuilder<> &builder = emitter_.builder;
  llvm::FunctionCallee release = emitter_.module.getOrInsertFunction(
      "kiln_arena_release",
      llvm::FunctionType::get(builder.getVoidTy(), {builder.getPtrTy(), builder.getInt64Ty()}, false));
  for (const auto &[buffer, bytes] : taken_) builder.CreateCall(release, {buffer, emitter_.index(bytes)});
  taken_.clear();
}

void forEachIndex(loops::ElementEmitter &emitter, const Shape &shape,
                  const std::function<void(llvm::ArrayRef<llvm::Value *> index)> &body) {
  loops::Index index;
  std::function<void(size_t)> nest = [&](size_t axis) {
    if (axis == shape.size()) return body(index);
    matmul::emitLoop(emitter.builder, emitter.index(shape[axis]), [&](llvm::Value *position) {
      index.push_back(position);
      nest(axis + 1);
      index.pop_back();
    });
  };
  nest(0);
}

llvm::Value *rowMajor(loops::ElementEmitter &emitter, const Value *value, Temporaries &temporaries) {
  if (value->isArgument()) return emitter.argumentPointers.at(value);
  const TensorType &type = value->type();
  llvm::Value *buffer = temporaries.allocate(type.elementCount() * dtypeByteSize(type.dtype));
  llvm::Type *memory = emitter.memoryType(type.dtype);
  forEachIndex(emitter, type.shape, [&](llvm::ArrayRef<llvm::Value *> index) {
    llvm::Value *element = emitter.element(value, index);
    if (type.dtype == DType::I1) element = emitter.builder.CreateZExt(element, emitter.builder.getInt8Ty());
    emitter.builder.CreateStore(
        element, emitter.builder.CreateInBoundsGEP(memory, buffer, {emitter.linearOffset(type.shape, index)}));
  });
  return buffer;
}

}  // namespace templates
}  // namespace kiln::cpu
