// A kernel computed by a matrix product: C[..., m, n] = op(A)[..., m, k] op(B)[..., k, n] through
// the matmul template, and, when the kernel's result is an elementwise epilogue of the product
// (ir/EpilogueAnalysis.h: a bias, an activation, a residual, an update), that epilogue applied to
// each tile of C right after the tile's last K block, while it is in L1.
//
// 1. Each operand of the product that is not a plain row-major argument (a folded view, a
//    broadcast batch) is first materialised by a loop nest into a temporary.
// 2. The template writes the product into the result's buffer (the epilogue keeps its dtype and
//    shape). The tile epilogue, a function of (batch, row, column, rows, columns), walks the
//    tile's rows with the loop rules' element expressions, reading the product at the element's
//    own index from that buffer and writing the epilogue's element back in its place; each
//    element is read before it is written, by the same iteration, so in place is safe.
#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/LoopEmitter.h"
#include "backends/cpu/MatmulEmitter.h"
#include "backends/cpu/MatmulKernel.h"
#include "backends/cpu/TemplateKernels.h"

namespace kiln::cpu::templates {

llvm::Function *declareTileEpilogue(llvm::Module &module, const Target &target, const Function &kernel,
                                    const Operation &product, int extraPointers, const llvm::Twine &name,
                                    loops::ElementEmitter &emitter) {
  llvm::LLVMContext &context = module.getContext();
  llvm::IRBuilder<> &builder = emitter.builder;
  std::vector<llvm::Type *> parameters(5, builder.getInt64Ty());
  parameters.insert(parameters.end(), kernel.arguments().size() + 1 + extraPointers, builder.getPtrTy());
  auto *function = llvm::Function::Create(llvm::FunctionType::get(builder.getVoidTy(), parameters, false),
                                          llvm::GlobalValue::InternalLinkage, name, module);
  target.stampFunctionAttributes(*function);
  function->setDoesNotThrow();
  builder.SetInsertPoint(llvm::BasicBlock::Create(context, "entry", function));
  for (size_t i = 0; i < kernel.arguments().size(); ++i)
    emitter.argumentPointers[kernel.argument(i)] = function->getArg(5 + i);
  emitter.argumentPointers[product.result()] = function->getArg(5 + kernel.arguments().size());
  return function;
}

namespace {
// The tile epilogue of a matrix product: `result` at every index of the tile, from the product in c.
llvm::Function *emitTileEpilogue(llvm::Module &module, const Target &target, const Function &kernel,
                                 const Operation &product, const llvm::Twine &name) {
  llvm::IRBuilder<> builder(module.getContext());
  loops::ElementEmitter emitter(builder, module);
  llvm::Function *function = declareTileEpilogue(module, target, kernel, product, 0, name, emitter);
  llvm::Value *c = function->getArg(5 + kernel.arguments().size());
  const Value *result = kernel.results()[0];
  const Shape &shape = result->type().shape;
  llvm::Type *element = emitter.memoryType(result->type().dtype);
  std::vector<int64_t> batchExtents(shape.begin(), shape.end() - 2);
  loops::Index batchIndex =
      batchExtents.empty() ? loops::Index{} : emitter.delinearize(function->getArg(0), batchExtents);
  llvm::Value *row = function->getArg(1), *column = function->getArg(2);
  matmul::emitLoop(builder, function->getArg(3), [&](llvm::Value *tileRow) {
    loops::emitInnerLoop(builder, function->getArg(4), [&](llvm::Value *tileColumn) {
      loops::Index index = batchIndex;
      index.push_back(builder.CreateAdd(row, tileRow));
      index.push_back(builder.CreateAdd(column, tileColumn));
      llvm::Value *value = emitter.element(result, index);
      builder.CreateStore(value, builder.CreateInBoundsGEP(element, c, {emitter.linearOffset(shape, index)}));
    });
  });
  builder.CreateRetVoid();
  return function;
}
}  // namespace

llvm::Error emitContraction(llvm::Module &module, const Target &target, const Function &kernel,
                            const Operation &product) {
  const TensorType &resultType = product.result()->type();
  if (resultType.dtype != DType::F32 && resultType.dtype != DType::F64)
    return llvm::createStringError(fmt::format("kernel @{}: matmul of {} has no lowering yet (only f32 and f64)",
                                               kernel.name(), dtypeName(resultType.dtype)));
  llvm::IRBuilder<> builder(module.getContext());
  loops::ElementEmitter emitter(builder, module);
  llvm::Function *function = declareKernel(module, target, kernel, emitter);
  llvm::Value *output = function->getArg(kernel.arguments().size());

  const Shape &shape = resultType.shape;
  Shape batchShape(shape.begin(), shape.end() - 2);
  int64_t batch = 1;
  for (int64_t extent : batchShape) batch *= extent;
  bool transposeA = product.attributes().getBool("transpose_a"),
       transposeB = product.attributes().getBool("transpose_b");
  MatmulDescription description;
  description.element = resultType.dtype == DType::F32 ? MatmulElement::F32 : MatmulElement::F64;
  description.batch = batch;
  description.m = shape[shape.size() - 2];
  description.n = shape.back();
  const Shape &aShape = product.operand(0)->type().shape;
  description.k = transposeA ? aShape[aShape.size() - 2] : aShape.back();
  description.transposeA = transposeA;
  description.transposeB = transposeB;
  description.batchStrideC = description.m * description.n;

  // 1. Each operand as a row-major buffer: the argument itself when it is one matrix or has the
  // result's batch axes, else a temporary holding it broadcast to them.
  std::vector<llvm::Value *> operands;
  Temporaries temporaries(emitter);
  for (size_t i = 0; i < 2; ++i) {
    const Value *operand = product.operand(i);
    const Shape &operandShape = operand->type().shape;
    Shape matrix(operandShape.end() - 2, operandShape.end());
    bool single = operandShape.size() == 2;
    bool sameBatch = Shape(operandShape.begin(), operandShape.end() - 2) == batchShape;
    (i == 0 ? description.batchStrideA : description.batchStrideB) = single ? 0 : matrix[0] * matrix[1];
    if (operand->isArgument() && (single || sameBatch)) {
      operands.push_back(emitter.argumentPointers.at(operand));
      continue;
    }
    Shape full = single ? matrix : batchShape;
    if (!single) full.insert(full.end(), matrix.begin(), matrix.end());
    TensorType fullType{operand->type().dtype, full};
    llvm::Value *buffer = temporaries.allocate(fullType.elementCount() * dtypeByteSize(fullType.dtype));
    llvm::Type *element = emitter.memoryType(fullType.dtype);
    forEachIndex(emitter, full, [&](llvm::ArrayRef<llvm::Value *> index) {
      llvm::Value *value = emitter.element(operand, emitter.broadcastIndex(operandShape, full, index));
      builder.CreateStore(value, builder.CreateInBoundsGEP(element, buffer, {emitter.linearOffset(full, index)}));
    });
    operands.push_back(buffer);
  }

  // 2. The product, with the epilogue over each finished tile.
  MatmulTileEpilogue tileEpilogue;
  std::vector<llvm::Value *> extras;
  if (kernel.results()[0] != product.result()) {
    llvm::Function *epilogue = emitTileEpilogue(module, target, kernel, product, kernel.name() + ".epilogue");
    for (size_t i = 0; i < kernel.arguments().size(); ++i) extras.push_back(function->getArg(i));
    description.extraArguments = static_cast<int>(extras.size());
    tileEpilogue = [epilogue](llvm::IRBuilder<> &tileBuilder, const TileEpilogueSite &site) {
      std::vector<llvm::Value *> arguments{site.batch, site.row, site.column, tileBuilder.getInt64(site.rows),
                                           tileBuilder.getInt64(site.columns)};
      arguments.insert(arguments.end(), site.extraArguments.begin(), site.extraArguments.end());
      arguments.push_back(site.c);
      tileBuilder.CreateCall(epilogue, arguments);
    };
  }
  std::string productName = kernel.name() + ".matmul";
  llvm::Expected<MatmulPlan> plan = emitMatmulKernel(module, target, description, productName, {}, {}, tileEpilogue);
  if (!plan) return plan.takeError();
  llvm::Value *scratch = llvm::ConstantPointerNull::get(builder.getPtrTy());
  if (plan->scratchBytes > 0) {
    scratch = temporaries.allocate(plan->scratchBytes);
  }
  std::vector<llvm::Value *> callArguments{operands[0], operands[1], output, scratch};
  callArguments.insert(callArguments.end(), extras.begin(), extras.end());
  builder.CreateCall(module.getFunction(productName), callArguments);
  temporaries.releaseAll();
  builder.CreateRetVoid();
  return llvm::Error::success();
}

}  // namespace kiln::cpu::templates
