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
// y[n] is image n of the NCHW result as it is, so a conv2d's elementwise epilogue (a bias, an
// activation, a residual; ir/EpilogueAnalysis.h) runs on each finished tile of y[n] while the
// tile is in cache, as a matmul's does (ContractionKernel.cpp); the two gradients take none (the
// filter gradient's product is summed over images, the input gradient's goes through col2im).
//
// 1. Materialise the operands the template reads directly (F, dy) when they are folded views.
// 2. Plan one matrix-product kernel of the per-image shape, with the epilogue over each tile of
//    y[n] if there is one, and allocate its scratch, the patch buffer and, for the filter
//    gradient, a buffer for each image's partial product.
// 3. For each image n in order: im2col (conv2d, filter gradient), the product, then col2im (input
//    gradient) or adding the partial product into df (filter gradient, images after the first).
// 4. Give the temporaries back (TemplateKernels.h).
#include <unordered_set>

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

// Whether the epilogue of conv2d `op` in `kernel` may index its elements by (n, o, 0, p) instead
// of (n, o, oh, ow): the product and the ops computed from it are read at their linear offset,
// which is the same, so it holds when every other operand those ops read does not vary along the
// output's rows and columns (a bias per channel, a scalar), or is an argument whose last two axes
// are the output's (a residual, broadcast or not over images and channels), read at its own
// linear offset too.
bool readsPositionsFlat(const Function &kernel, const Operation &op) {
  const Shape &output = op.result()->type().shape;
  std::unordered_set<const Value *> fromProduct{op.result()};
  for (const auto &other : kernel.ops()) {
    if (other.get() == &op ||
        std::ranges::none_of(other->operands(), [&](const Value *operand) { return fromProduct.count(operand); }))
      continue;
    for (const Value *operand : other->operands()) {
      const Shape &shape = operand->type().shape;
      auto extent = [&](size_t fromEnd) { return shape.size() >= fromEnd ? shape[shape.size() - fromEnd] : 1; };
      bool constant = extent(1) == 1 && extent(2) == 1;
      bool samePositions = operand->isArgument() && extent(1) == output[3] && extent(2) == output[2];
      if (!fromProduct.count(operand) && !constant && !samePositions) return false;
    }
    fromProduct.insert(other->result());
  }
  return true;
}

// The tile epilogue of conv2d `op` in `kernel`, whose result is an elementwise epilogue of op's:
//   void name(i64 batch, i64 row, i64 column, i64 rows, i64 columns, ptr arguments..., ptr y, ptr n)
// with y the whole result (every image) and n the image being computed. The tile is output
// channels row .. row + rows by positions column .. column + columns of image n, positions
// p = oh·OW + ow. When the epilogue reads nothing by oh and ow apart (readsPositionsFlat), each
// channel's positions are one inner loop at (n, o, 0, p) (at (n, o, p, 0) when OW is 1), as a
// matmul's tile row; else the tile
// is walked one stretch of an output row (one oh) at a time, so that p is split into (oh, ow)
// once per tile and not per element, and each stretch is an inner loop over ow. Each element of y
// is read at its own index before the epilogue's element is written there, by the same
// iteration, so the iterations are independent. The function is not inlined: one copy per
// kernel, not one per call site of the template (full and edge tiles), each unrolled.
llvm::Function *emitConvolutionEpilogue(llvm::Module &module, const Target &target, const Function &kernel,
                                        const Operation &op, const llvm::Twine &name) {
  llvm::IRBuilder<> builder(module.getContext());
  loops::ElementEmitter emitter(builder, module);
  llvm::Function *function = declareTileEpilogue(module, target, kernel, op, 1, name, emitter);
  function->addFnAttr(llvm::Attribute::NoInline);
  llvm::Value *y = function->getArg(5 + kernel.arguments().size());
  llvm::Value *n = builder.CreateLoad(builder.getInt64Ty(), function->getArg(6 + kernel.arguments().size()));
  const Value *result = kernel.results()[0];
  const Shape &shape = result->type().shape;  // N, O, OH, OW
  llvm::Type *element = emitter.memoryType(result->type().dtype);
  llvm::Value *row = function->getArg(1), *column = function->getArg(2), *columns = function->getArg(4);
  auto store = [&](const loops::Index &index) {
    llvm::Value *value = emitter.element(result, index);
    builder.CreateStore(value, builder.CreateInBoundsGEP(element, y, {emitter.linearOffset(shape, index)}));
  };
  // With one output column, p is oh itself; else (n, o, 0, p) needs OW > 1, since an elementwise
  // rule reads an operand's axis of extent 1 at 0, which would drop p.
  bool singleColumn = shape[3] == 1;
  if (singleColumn || readsPositionsFlat(kernel, op)) {
    matmul::emitLoop(builder, function->getArg(3), [&](llvm::Value *tileRow) {
      llvm::Value *channel = builder.CreateAdd(row, tileRow);
      loops::emitInnerLoop(
          builder, columns,
          [&](llvm::Value *step) {
            llvm::Value *position = builder.CreateAdd(column, step), *zero = emitter.index(0);
            store(singleColumn ? loops::Index{n, channel, position, zero} : loops::Index{n, channel, zero, position});
          },
          /*independent=*/true);
    });
    builder.CreateRetVoid();
    return function;
  }
  llvm::Value *width = emitter.index(shape[3]);
  llvm::Value *firstRow = builder.CreateUDiv(column, width), *firstColumn = builder.CreateURem(column, width);
  // Output rows the tile's positions reach into: ceil((firstColumn + columns) / OW).
  llvm::Value *reach = builder.CreateAdd(firstColumn, columns);
  llvm::Value *stretches = builder.CreateUDiv(builder.CreateAdd(reach, emitter.index(shape[3] - 1)), width);
  matmul::emitLoop(builder, function->getArg(3), [&](llvm::Value *tileRow) {
    llvm::Value *channel = builder.CreateAdd(row, tileRow);
    matmul::emitLoop(builder, stretches, [&](llvm::Value *stretch) {
      llvm::Value *outputRow = builder.CreateAdd(firstRow, stretch);
      llvm::Value *begin =
          builder.CreateSelect(builder.CreateICmpEQ(stretch, emitter.index(0)), firstColumn, emitter.index(0));
      llvm::Value *end = builder.CreateBinaryIntrinsic(llvm::Intrinsic::umin, width,
                                                       builder.CreateSub(reach, builder.CreateMul(stretch, width)));
      loops::emitInnerLoop(
          builder, builder.CreateSub(end, begin),
          [&](llvm::Value *step) {
            store({n, channel, outputRow, builder.CreateAdd(begin, step)});
          },
          /*independent=*/true);
    });
  });
  builder.CreateRetVoid();
  return function;
}
}  // namespace

llvm::Error emitConvolution(llvm::Module &module, const Target &target, const Function &kernel, const Operation &op) {
  bool epilogue = kernel.results()[0] != op.result();
  if (epilogue && op.kind() != OpKind::Conv2d)
    return llvm::createStringError(
        fmt::format("kernel @{}: a '{}' takes no epilogue, only conv2d does", kernel.name(), op.name()));
  llvm::IRBuilder<> builder(module.getContext());
  loops::ElementEmitter emitter(builder, module);
  llvm::Function *function = declareKernel(module, target, kernel, emitter);
  DType dtype = op.result()->type().dtype;
  llvm::Type *element = emitter.memoryType(dtype);
  int64_t elementBytes = dtypeByteSize(dtype);
  ConvolutionGeometry geometry = geometryOf(op);
  int64_t images = geometry.image[0], channels = geometry.filter[0], taps = geometry.taps(),
          positions = geometry.positions();
  llvm::Value *result = function->getArg(kernel.arguments().size());
  // The epilogue over each finished tile of y[n]: the template passes the kernel's arguments and
  // y through to it as extra arguments, and n in a stack slot.
  llvm::Function *tileEpilogue = nullptr;
  std::vector<llvm::Value *> extras;
  llvm::Value *imageSlot = nullptr;
  if (epilogue) {
    tileEpilogue = emitConvolutionEpilogue(module, target, kernel, op, kernel.name() + ".epilogue");
    imageSlot = emitter.scratch(builder.getInt64Ty(), 1);
    for (size_t i = 0; i <= kernel.arguments().size(); ++i) extras.push_back(function->getArg(i));
    extras.push_back(imageSlot);
  }
  auto callEpilogue = [&](llvm::IRBuilder<> &tileBuilder, llvm::Value *batch, llvm::Value *row, llvm::Value *column,
                          int64_t rows, int64_t columns, llvm::ArrayRef<llvm::Value *> arguments) {
    std::vector<llvm::Value *> all{batch, row, column, tileBuilder.getInt64(rows), tileBuilder.getInt64(columns)};
    all.insert(all.end(), arguments.begin(), arguments.end());
    tileBuilder.CreateCall(tileEpilogue, all);
  };
  // An empty product (no images, channels, taps or positions) leaves a result of zeros, or under
  // an epilogue, with no taps, the epilogue of zeros, each image as one tile.
  if (images * channels * taps * positions == 0) {
    builder.CreateMemSet(result, builder.getInt8(0), op.result()->type().elementCount() * elementBytes,
                         llvm::MaybeAlign(elementBytes));
    if (epilogue && images * channels * positions > 0)
      matmul::emitLoop(builder, emitter.index(images), [&](llvm::Value *n) {
        builder.CreateStore(n, imageSlot);
        callEpilogue(builder, emitter.index(0), emitter.index(0), emitter.index(0), channels, positions, extras);
      });
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
  MatmulTileEpilogue onTile;
  if (epilogue) {
    description.extraArguments = static_cast<int>(extras.size());
    onTile = [&](llvm::IRBuilder<> &tileBuilder, const TileEpilogueSite &site) {
      callEpilogue(tileBuilder, site.batch, site.row, site.column, site.rows, site.columns, site.extraArguments);
    };
  }
  std::string productName = kernel.name() + ".matmul";
  llvm::Expected<MatmulPlan> plan = emitMatmulKernel(module, target, description, productName, {}, {}, onTile);
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
    case OpKind::Conv2d: {
      std::vector<llvm::Value *> arguments{filter, patches, at(result, imageOffset(n, channels * positions)), scratch};
      arguments.insert(arguments.end(), extras.begin(), extras.end());
      if (imageSlot) builder.CreateStore(n, imageSlot);
      builder.CreateCall(product, arguments);
      break;
    }
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
