// conv2d and its two gradients through the matrix-product template, one image at a time. Images
// are NCHW, filters OIHW, padding [top, left, bottom, right]. With K = C·KH·KW filter taps and
// P = OH·OW output positions, the patches of image n form a K × P matrix
//   col[(c·KH + kh)·KW + kw, oh·OW + ow] = x[n, c, oh·sh - top + kh·dh, ow·sw - left + kw·dw]
// (zero where that position is padding), and the filter is an O × K matrix F. Then
//   conv2d:             y[n] (O × P) = F × col
//   conv2d_filter_grad: df (O × K)   = sum over n of dy[n] (O × P) × colᵀ
//   conv2d_input_grad:  dcol (K × P) = Fᵀ × dy[n], then dx[n] = col2im(dcol): each dcol element
//                       added into the image position its col element was read from
// The patch matrix is K·P elements, so memory stays one image's worth whatever the batch.
//
// 1. Materialise the operands the template reads directly (F, dy) when they are folded views.
// 2. Plan one matrix-product kernel of the per-image shape, and allocate its scratch, the patch
//    buffer and, for the filter gradient, a buffer for each image's partial product.
// 3. For each image n in order: im2col (conv2d, filter gradient), the product, then col2im (input
//    gradient) or adding the partial product into df (filter gradient, images after the first).
// 4. Give the temporaries back (TemplateKernels.h).
#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/MatmulEmitter.h"
#include "backends/cpu/MatmulKernel.h"
#include "backends/cpu/TemplateKernels.h"

namespace kiln::cpu::templates {

namespace {
struct ConvolutionGeometry {
  Shape image, filter, output;  // NCHW, OIHW, NOHW
  int64_t strideHeight, strideWidth, padTop, padLeft, dilationHeight, dilationWidth;
  int64_t taps() const { return filter[1] * filter[2] * filter[3]; }  // K
  int64_t positions() const { return output[2] * output[3]; }         // P
};

ConvolutionGeometry geometryOf(const Operation &op) {
  const Shape &first = op.operand(0)->type().shape, &second = op.operand(1)->type().shape;
  const Shape &result = op.result()->type().shape;
  const Ints &stride = op.attributes().getInts("stride"), &padding = op.attributes().getInts("padding");
  const Ints &dilation = op.attributes().getInts("dilation");
  ConvolutionGeometry geometry{{}, {}, {}, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]};
  switch (op.kind()) {
  case OpKind::Conv2d: geometry.image = first, geometry.filter = second, geometry.output = result; break;
  case OpKind::Conv2dInputGrad: geometry.image = result, geometry.filter = second, geometry.output = first; break;
  default: geometry.image = first, geometry.filter = result, geometry.output = second; break;
  }
  return geometry;
}

// Calls visit(patchOffset, inside, imageIndex) for every element of image n's patch matrix, in
// row-major order; imageIndex is clamped into the image, `inside` says whether it is a real tap.
void forEachPatchElement(
    loops::ElementEmitter &emitter, const ConvolutionGeometry &geometry, llvm::Value *n,
    const std::function<void(llvm::Value *, llvm::Value *, llvm::ArrayRef<llvm::Value *>)> &visit) {
  llvm::IRBuilder<> &builder = emitter.builder;
  const Shape &filter = geometry.filter, &output = geometry.output, &image = geometry.image;
  Shape walk{filter[1], filter[2], filter[3], output[2], output[3]};
  auto axis = [&](llvm::Value *position, int64_t stride, int64_t before, llvm::Value *tap, int64_t dilation,
                  int64_t extent, llvm::Value *&inside) {
    llvm::Value *at =
        builder.CreateAdd(builder.CreateSub(builder.CreateMul(position, emitter.index(stride)), emitter.index(before)),
                          builder.CreateMul(tap, emitter.index(dilation)));
    inside = builder.CreateICmpULT(at, emitter.index(extent));
    llvm::Value *clamped = builder.CreateSelect(builder.CreateICmpSLT(at, emitter.index(0)), emitter.index(0), at);
    return builder.CreateSelect(builder.CreateICmpSGT(clamped, emitter.index(extent - 1)), emitter.index(extent - 1),
                                clamped);
  };
  forEachIndex(emitter, walk, [&](llvm::ArrayRef<llvm::Value *> index) {
    llvm::Value *rowInside, *columnInside;
    llvm::Value *row =
        axis(index[3], geometry.strideHeight, geometry.padTop, index[1], geometry.dilationHeight, image[2], rowInside);
    llvm::Value *column = axis(index[4], geometry.strideWidth, geometry.padLeft, index[2], geometry.dilationWidth,
                               image[3], columnInside);
    visit(emitter.linearOffset(walk, index), builder.CreateAnd(rowInside, columnInside), {n, index[0], row, column});
  });
}
}  // namespace

llvm::Error emitConvolution(llvm::Module &module, const Target &target, const Function &kernel) {
  llvm::IRBuilder<> builder(module.getContext());
  loops::ElementEmitter emitter(builder, module);
  llvm::Function *function = declareKernel(module, target, kernel, emitter);
  const Operation &op = *kernel.results()[0]->definingOp();
  DType dtype = op.result()->type().dtype;
  llvm::Type *element = emitter.memoryType(dtype);
  int64_t elementBytes = dtypeByteSize(dtype);
  ConvolutionGeometry geometry = geometryOf(op);
  int64_t images = geometry.image[0], channels = geometry.filter[0], taps = geometry.taps(),
          positions = geometry.positions();
  llvm::Value *result = function->getArg(kernel.arguments().size());
  // An empty product (no images, channels, taps or positions) leaves a result of zeros.
  if (images * channels * taps * positions == 0) {
    builder.CreateMemSet(result, builder.getInt8(0), op.result()->type().elementCount() * elementBytes,
                         llvm::MaybeAlign(elementBytes));
    builder.CreateRetVoid();
    return llvm::Error::success();
  }

  // 1.
  Temporaries temporaries(emitter);
  const Value *image = op.kind() == OpKind::Conv2dInputGrad ? nullptr : op.operand(0);
  llvm::Value *filter = op.kind() == OpKind::Conv2dFilterGrad ? nullptr : rowMajor(emitter, op.operand(1), temporaries);
  llvm::Value *gradient = nullptr;
  if (op.kind() == OpKind::Conv2dInputGrad) gradient = rowMajor(emitter, op.operand(0), temporaries);
  if (op.kind() == OpKind::Conv2dFilterGrad) gradient = rowMajor(emitter, op.operand(1), temporaries);

  // 2.
  MatmulDescription description;
  description.element = dtype == DType::F32 ? MatmulElement::F32 : MatmulElement::F64;
  switch (op.kind()) {
  case OpKind::Conv2d: description.m = channels, description.n = positions, description.k = taps; break;
  case OpKind::Conv2dFilterGrad:
    description.m = channels, description.n = taps, description.k = positions, description.transposeB = true;
    break;
  default: description.m = taps, description.n = positions, description.k = channels, description.transposeA = true;
  }
  std::string productName = kernel.name() + ".matmul";
  llvm::Expected<MatmulPlan> plan = emitMatmulKernel(module, target, description, productName);
  if (!plan) return plan.takeError();
  llvm::Function *product = module.getFunction(productName);
  llvm::Value *scratch = llvm::ConstantPointerNull::get(builder.getPtrTy());
  if (plan->scratchBytes > 0) scratch = temporaries.allocate(plan->scratchBytes);
  llvm::Value *patches = temporaries.allocate(taps * positions * elementBytes);
  llvm::Value *partial = nullptr;
  if (op.kind() == OpKind::Conv2dFilterGrad && images > 1)
    partial = temporaries.allocate(channels * taps * elementBytes);
  if (op.kind() == OpKind::Conv2dInputGrad)
    builder.CreateMemSet(result, builder.getInt8(0), op.result()->type().elementCount() * elementBytes,
                         llvm::MaybeAlign(elementBytes));

  // 3.
  llvm::Value *zero = emitter.constant(dtype, 0);
  auto at = [&](llvm::Value *base, llvm::Value *offset) { return builder.CreateInBoundsGEP(element, base, {offset}); };
  auto imageOffset = [&](llvm::Value *n, int64_t perImage) { return builder.CreateMul(n, emitter.index(perImage)); };
  matmul::emitLoop(builder, emitter.index(images), [&](llvm::Value *n) {
    switch (op.kind()) {
    case OpKind::Conv2d:
    case OpKind::Conv2dFilterGrad:
      forEachPatchElement(
          emitter, geometry, n, [&](llvm::Value *offset, llvm::Value *inside, llvm::ArrayRef<llvm::Value *> index) {
            builder.CreateStore(builder.CreateSelect(inside, emitter.element(image, index), zero), at(patches, offset));
          });
      break;
    default: break;
    }
    switch (op.kind()) {
    case OpKind::Conv2d:
      builder.CreateCall(product, {filter, patches, at(result, imageOffset(n, channels * positions)), scratch});
      break;
    case OpKind::Conv2dFilterGrad: {
      llvm::Value *dy = at(gradient, imageOffset(n, channels * positions));
      if (!partial) {
        builder.CreateCall(product, {dy, patches, result, scratch});
        break;
      }
      llvm::Value *first = builder.CreateICmpEQ(n, emitter.index(0));
      builder.CreateCall(product, {dy, patches, builder.CreateSelect(first, result, partial), scratch});
      llvm::BasicBlock *accumulate = llvm::BasicBlock::Create(module.getContext(), "accumulate", function);
      llvm::BasicBlock *after = llvm::BasicBlock::Create(module.getContext(), "after", function);
      builder.CreateCondBr(first, after, accumulate);
      builder.SetInsertPoint(accumulate);
      matmul::emitLoop(builder, emitter.index(channels * taps), [&](llvm::Value *i) {
        llvm::Value *sum =
            builder.CreateFAdd(builder.CreateLoad(element, at(result, i)), builder.CreateLoad(element, at(partial, i)));
        builder.CreateStore(sum, at(result, i));
      });
      builder.CreateBr(after);
      builder.SetInsertPoint(after);
      break;
    }
    default: {
      builder.CreateCall(product, {filter, at(gradient, imageOffset(n, channels * positions)), patches, scratch});
      const Shape &shape = geometry.image;
      forEachPatchElement(emitter, geometry, n,
                          [&](llvm::Value *offset, llvm::Value *inside, llvm::ArrayRef<llvm::Value *> index) {
                            llvm::BasicBlock *add = llvm::BasicBlock::Create(module.getContext(), "add", function);
                            llvm::BasicBlock *after = llvm::BasicBlock::Create(module.getContext(), "after", function);
                            builder.CreateCondBr(inside, add, after);
                            builder.SetInsertPoint(add);
                            llvm::Value *target = at(result, emitter.linearOffset(shape, index));
                            builder.CreateStore(builder.CreateFAdd(builder.CreateLoad(element, target),
                                                                   builder.CreateLoad(element, at(patches, offset))),
                                                target);
                            builder.CreateBr(after);
                            builder.SetInsertPoint(after);
                          });
    }
    }
  });

  // 4.
  temporaries.releaseAll();
  builder.CreateRetVoid();
  return llvm::Error::success();
}

}  // namespace kiln::cpu::templates
