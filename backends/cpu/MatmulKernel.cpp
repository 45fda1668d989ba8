// The matrix-product template's plan (tile sizes from the target and the shape) and its driver:
// the kernel function, its packing and compute tasks, and the loops around the micro-kernel.
#include "backends/cpu/MatmulKernel.h"

#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>

#include "backends/cpu/MatmulEmitter.h"

namespace kiln::cpu {

namespace {

int64_t ceilDivide(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Estimated cycles per step along K of a micro-tile of `rows` × `vectors`: two FMA pipes, an
// accumulator takes one FMA per 4 cycles of latency, two vector or broadcast loads per cycle.
double tileCycles(int64_t rows, int64_t vectors) {
  return std::max({double(rows * vectors) / 2, 4.0, double(rows + vectors) / 2});
}

// The micro-tile MR × (vectors · lanes): all accumulators, the B vectors and one broadcast fit in
// registers. Picks the least estimated time over all of C's tiles, edge tiles included (they
// have fewer rows or vectors); among equals the fewest tiles (each tile streams its panel of B
// and its rows of A once), then the most accumulators. Measured on Zen 5 (bench/matmul): this
// picks 14×32 at 512³ and 32×128×64, 8×48 at 8×128×128, each within noise of the best tile tried.
std::pair<int, int> chooseTile(const Target &target, const MatmulDescription &description, unsigned lanes) {
  const int registers = static_cast<int>(target.vectorRegisterCount());
  const int64_t m = description.m, n = description.n;
  struct Candidate {
    double cycles;
    int64_t tiles;
    int rows, vectors;
  };
  std::optional<Candidate> best;
  for (int vectors = 1; vectors <= 4; ++vectors)
    for (int rows = 1; rows <= 14 && rows * vectors + vectors + 1 <= registers; ++rows) {
      int64_t width = int64_t(vectors) * lanes, fullRows = m / rows, fullPanels = n / width;
      int64_t edgeRows = m % rows, edgeVectors = ceilDivide(n % width, lanes);
      double cycles = double(fullRows * fullPanels) * tileCycles(rows, vectors);
      if (edgeRows) cycles += double(fullPanels) * tileCycles(edgeRows, vectors);
      if (edgeVectors) cycles += double(fullRows) * tileCycles(rows, edgeVectors);
      if (edgeRows && edgeVectors) cycles += tileCycles(edgeRows, edgeVectors);
      Candidate candidate{cycles, ceilDivide(m, rows) * ceilDivide(n, width), rows, vectors};
      auto better = [](const Candidate &a, const Candidate &b) {
        if (a.cycles < b.cycles * 0.999) return true;
        if (a.cycles > b.cycles * 1.001) return false;
        if (a.tiles != b.tiles) return a.tiles < b.tiles;
        return a.rows * a.vectors > b.rows * b.vectors;
      };
      if (!best || better(candidate, *best)) best = candidate;
    }
  return {best->rows, best->vectors};
}

}  // namespace

llvm::Expected<MatmulPlan> planMatmul(const Target &target, const MatmulDescription &description,
                                      const MatmulTiling &fixed) {
  const MatmulDescription &d = description;
  if (d.m < 1 || d.n < 1 || d.k < 1 || d.batch < 1)
    return llvm::createStringError(
        fmt::format("matmul shape {}x{}x{} (batch {}) has an empty extent", d.m, d.n, d.k, d.batch));
  if (d.batchStrideA < 0 || d.batchStrideB < 0 || d.batchStrideC < 0 || d.extraArguments < 0)
    return llvm::createStringError("matmul batch strides and extra argument count must not be negative");
  if (d.batch > 1 && d.batchStrideC < d.m * d.n)
    return llvm::createStringError(
        fmt::format("matmul batch stride of C {} would overlap its {}x{} results", d.batchStrideC, d.m, d.n));
  if ((fixed.tileRows > 0) != (fixed.tileVectors > 0))
    return llvm::createStringError("a fixed matmul tile needs both its rows and its vectors");

  MatmulPlan plan;
  const int64_t elementBytes = d.element == MatmulElement::F32 ? 4 : 8;
  plan.lanes = target.preferredVectorBits() / (8 * elementBytes);
  MatmulTiling &tiling = plan.tiling;
  // A transposed B that only one row tile reads is transposed block by block in the micro-kernel
  // instead of being packed: that tile holds lanes × lanes of B in registers, so it has one
  // vector per row and at most registers - lanes - 1 rows. Measured at 8×128×128 with B
  // transposed: 153-162 GFLOP/s against 105 when packing first (bench/matmul --transpose-b; the
  // same shape untransposed runs at ~220).
  const int inPlaceRows =
      std::clamp<int>(static_cast<int>(target.vectorRegisterCount()) - static_cast<int>(plan.lanes) - 1, 1, 14);
  const int64_t transposedUses = ceilDivide(d.m, inPlaceRows) * (d.batchStrideB == 0 ? d.batch : 1);
  const bool transposedInPlace = d.transposeB && fixed.packB != 1 && (fixed.packB == 0 || transposedUses == 1);
  if (transposedInPlace)
    tiling = {std::min<int>(fixed.tileRows > 0 ? fixed.tileRows : inPlaceRows,
                            static_cast<int>(std::min<int64_t>(d.m, inPlaceRows))),
              1};
  else
    std::tie(tiling.tileRows, tiling.tileVectors) =
        fixed.tileRows > 0 ? std::pair{fixed.tileRows, fixed.tileVectors} : chooseTile(target, d, plan.lanes);
  const int64_t rows = tiling.tileRows, width = int64_t(tiling.tileVectors) * plan.lanes;
  const int64_t rowTiles = ceilDivide(d.m, rows), panels = ceilDivide(d.n, width);

  // K blocks: a task's KC-deep slices of A (MR rows per tile) and of B (one NR-wide panel per
  // step) are streamed from L2, so KC keeps a KC × NR slice of B within a quarter of L2. Blocking
  // K for L1 instead (a KC × NR slice in half of L1, KC ≈ 96 at NR = 64 with a 48 KB L1) measured
  // 5-25% slower on Zen 5 at the zoo's shapes (bench/matmul): the extra passes over C and the
  // shorter K loops cost more than the L1 hits save, L2 supplying 64 bytes a cycle. Equal blocks.
  int64_t maxDepth = std::max<int64_t>(8, int64_t(target.l2CacheBytes() / 4) / (width * elementBytes));
  tiling.kBlock = fixed.kBlock > 0 ? std::min(fixed.kBlock, d.k) : ceilDivide(d.k, ceilDivide(d.k, maxDepth));
  if (transposedInPlace) tiling.kBlock = d.k;  // its micro-kernel unrolls K by lanes, statically

  // B is read in place when its rows are contiguous: each K step of a micro-kernel loads NR
  // adjacent elements of one row, which the prefetchers follow as well as a packed panel. On Zen 5
  // packing measured 0-15% slower at every zoo shape up to 512³ (bench/matmul, --pack-b), the copy
  // costing more than it saved. It is kept for a transposed B (its columns are not contiguous) and
  // for a B larger than L2 that several row tiles reuse, where a panel avoids TLB and cache-set
  // conflicts between B's distant rows.
  int64_t reuse = rowTiles * (d.batchStrideB == 0 ? d.batch : 1);
  bool largeB = d.k * d.n * elementBytes > int64_t(target.l2CacheBytes());
  tiling.packB = d.transposeB ? !transposedInPlace : fixed.packB >= 0 ? fixed.packB : (largeB && reuse >= 4);

  // Tasks: a task's slices of A (MC × KC) and of B (KC × NC) each take at most a quarter of L2.
  const int64_t l2Quarter = target.l2CacheBytes() / 4;
  int64_t panelsPerBlock = std::clamp<int64_t>(l2Quarter / (tiling.kBlock * width * elementBytes), 1, panels);
  int64_t tilesPerBlock = std::clamp<int64_t>(l2Quarter / (tiling.kBlock * rows * elementBytes), 1, rowTiles);
  const int64_t multiplyAdds = d.batch * d.m * d.n * d.k;
  // Parallel when the work dwarfs waking the pool (a few microseconds); then at least four tasks
  // per hardware thread for balance, split along M first (B's panels stay shared). The split
  // never changes a result: every element of C is one K reduction in one fixed order.
  bool parallel = fixed.parallel >= 0 ? fixed.parallel == 1 : multiplyAdds >= (int64_t(1) << 20);
  if (parallel) {
    int64_t wanted = 4 * std::max<int64_t>(1, std::thread::hardware_concurrency());
    auto tasks = [&] { return d.batch * ceilDivide(rowTiles, tilesPerBlock) * ceilDivide(panels, panelsPerBlock); };
    while (tasks() < wanted && tilesPerBlock > 1) tilesPerBlock = ceilDivide(tilesPerBlock, 2);
    while (tasks() < wanted && panelsPerBlock > 1) panelsPerBlock = ceilDivide(panelsPerBlock, 2);
  }
  if (fixed.rowBlock > 0) tilesPerBlock = std::clamp<int64_t>(fixed.rowBlock / rows, 1, rowTiles);
  if (fixed.columnBlock > 0) panelsPerBlock = std::clamp<int64_t>(fixed.columnBlock / width, 1, panels);
  tiling.rowBlock = tilesPerBlock * rows;
  tiling.columnBlock = panelsPerBlock * width;
  plan.rowBlocks = ceilDivide(rowTiles, tilesPerBlock);
  plan.columnBlocks = ceilDivide(panels, panelsPerBlock);
  plan.tasks = d.batch * plan.rowBlocks * plan.columnBlocks;
  tiling.parallel = parallel && plan.tasks > 1;

  int64_t distinctB = d.batchStrideB == 0 ? 1 : d.batch;
  plan.scratchBytes = tiling.packB ? (distinctB * panels * d.k * width * elementBytes + 63) / 64 * 64 : 0;
  return plan;
}

// The kernel, for C = op(A) × op(B) of a static shape:
//  1. Plan (planMatmul): the micro-tile MR × NR from the target's registers and the shape's edges;
//     KC so that a KC × NR slice of B fits in a quarter of L2 (blocking for L1 lost, see planMatmul);
//     tasks of MC rows × NC columns of one batch element, each task's A and B slices within a
//     quarter of L2.
//  2. Pack B (when transposed and read by several row tiles, or larger than L2 and reused): every NR-wide
//     panel of every distinct B becomes K rows of NR contiguous elements, zero past N, in the
//     scratch buffer. A transposed B is copied by lanes × lanes blocks transposed in registers,
//     straight into the panels: never a transposed copy of the whole of B. One packing task per
//     panel, through kiln_parallel_for when the kernel is parallel; a contiguous B in L2 is
//     read in place instead (planMatmul says why).
//  3. Compute tasks (batch element, row block, column block), in parallel when large: for each K
//     block, for each panel of the block, for each MR-row tile: the micro-kernel. A is read in
//     place (transposeA is only an address stride: its MR elements per K step are then adjacent).
//  4. The micro-kernel keeps MR × NR of C in registers: per K step, NR / lanes vector loads of B,
//     MR broadcasts of A, MR · NR / lanes FMAs. The first K block starts from zero, later ones
//     from the partial sums in C; the last applies the epilogue; then stores. The right edge uses
//     masked loads and stores, the bottom edge a micro-kernel with fewer rows; no scalar loops.
//  5. After the last K block's micro-kernel, the tile epilogue (if any) rewrites the tile in place.
// The scratch buffer is the caller's, not an alloca: its size depends on the shape (4 MB for a
// 1024 × 1024 B), too much for the stack of a thread the host program created; as an argument it
// becomes one more buffer in the memory plan's arena, which the pool's threads share.
llvm::Expected<MatmulPlan> emitMatmulKernel(llvm::Module &module, const Target &target,
                                            const MatmulDescription &description, llvm::StringRef name,
                                            const MatmulEpilogue &epilogue, const MatmulTiling &fixed,
                                            const MatmulTileEpilogue &tileEpilogue) {
  llvm::Expected<MatmulPlan> planned = planMatmul(target, description, fixed);
  if (!planned) return planned.takeError();
  const MatmulPlan &plan = *planned;
  const MatmulDescription &d = description;
  if (module.getNamedValue(name))
    return llvm::createStringError(fmt::format("the module already defines '{}'", name.str()));

  llvm::LLVMContext &context = module.getContext();
  llvm::Type *element =
      d.element == MatmulElement::F32 ? llvm::Type::getFloatTy(context) : llvm::Type::getDoubleTy(context);
  matmul::KernelShape shape{d, plan, target, element, llvm::FixedVectorType::get(element, plan.lanes)};
  llvm::Type *pointer = llvm::PointerType::get(context, 0), *i64 = llvm::Type::getInt64Ty(context);
  llvm::Type *voidType = llvm::Type::getVoidTy(context);
  const int fixedArguments = 4, arguments = fixedArguments + d.extraArguments;
  auto *contextType = llvm::ArrayType::get(pointer, arguments);

  std::vector<llvm::Type *> parameters(arguments, pointer);
  auto *kernel = llvm::Function::Create(llvm::FunctionType::get(voidType, parameters, false),
                                        llvm::GlobalValue::ExternalLinkage, name, module);
  target.stampFunctionAttributes(*kernel);
  kernel->addFnAttr(llvm::Attribute::NoUnwind);
  auto *taskType = llvm::FunctionType::get(voidType, {i64, pointer}, false);
  auto newTask = [&](const char *suffix) {
    auto *task = llvm::Function::Create(taskType, llvm::GlobalValue::InternalLinkage, name + suffix, module);
    target.stampFunctionAttributes(*task);
    task->addFnAttr(llvm::Attribute::NoUnwind);
    return task;
  };
  // A task's view of the kernel's arguments, passed through the context array.
  auto loadArguments = [&](llvm::IRBuilder<> &builder, llvm::Value *contextArray) {
    std::vector<llvm::Value *> values;
    for (int i = 0; i < arguments; ++i)
      values.push_back(
          builder.CreateLoad(pointer, builder.CreateConstInBoundsGEP2_64(contextType, contextArray, 0, i)));
    return values;
  };
  auto constant = [&](llvm::IRBuilder<> &builder, int64_t value) { return builder.getInt64(value); };
  const int64_t width = shape.panelWidth(), panels = shape.panels(), rows = plan.tiling.tileRows;

  // 2. The packing task: panel `index % panels` of distinct B number `index / panels`.
  llvm::Function *packTask = nullptr;
  const int64_t distinctB = d.batchStrideB == 0 ? 1 : d.batch;
  if (shape.packed()) {
    llvm::Function *packPanel = matmul::emitPackPanel(module, shape, name + ".pack_panel");
    packTask = newTask(".pack_task");
    llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", packTask));
    std::vector<llvm::Value *> values = loadArguments(builder, packTask->getArg(1));
    llvm::Value *index = packTask->getArg(0);
    llvm::Value *which = builder.CreateUDiv(index, constant(builder, panels));
    llvm::Value *panel = builder.CreateURem(index, constant(builder, panels));
    llvm::Value *source =
        builder.CreateInBoundsGEP(element, values[1], builder.CreateMul(which, constant(builder, d.batchStrideB)));
    llvm::Value *destination =
        builder.CreateInBoundsGEP(element, values[3], builder.CreateMul(index, constant(builder, d.k * width)));
    builder.CreateCall(packPanel, {source, destination, panel});
    builder.CreateRetVoid();
  }

  // 3. The compute task.
  std::map<std::pair<int, int64_t>, llvm::Function *> microKernels;  // (rows, columns) -> function
  auto microKernel = [&](int tileRows, int64_t columns) {
    llvm::Function *&function = microKernels[{tileRows, columns}];
    if (!function)
      function = matmul::emitMicroKernel(module, shape, epilogue, tileRows, columns,
                                         name + ".micro_" + llvm::Twine(tileRows) + "x" + llvm::Twine(columns));
    return function;
  };
  llvm::Function *computeTask = newTask(".task");
  {
    llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", computeTask));
    std::vector<llvm::Value *> values = loadArguments(builder, computeTask->getArg(1));
    std::vector<llvm::Value *> extras(values.begin() + fixedArguments, values.end());
    llvm::Value *index = computeTask->getArg(0);
    const int64_t blocksPerBatch = plan.rowBlocks * plan.columnBlocks;
    llvm::Value *batchIndex = builder.CreateUDiv(index, constant(builder, blocksPerBatch));
    llvm::Value *block = builder.CreateURem(index, constant(builder, blocksPerBatch));
    llvm::Value *rowBlock = builder.CreateUDiv(block, constant(builder, plan.columnBlocks));
    llvm::Value *columnBlock = builder.CreateURem(block, constant(builder, plan.columnBlocks));
    auto batchOffset = [&](llvm::Value *base, int64_t stride) {
      return builder.CreateInBoundsGEP(element, base, builder.CreateMul(batchIndex, constant(builder, stride)));
    };
    llvm::Value *a = batchOffset(values[0], d.batchStrideA), *c = batchOffset(values[2], d.batchStrideC);
    llvm::Value *b = shape.packed() ? batchOffset(values[3], d.batchStrideB == 0 ? 0 : panels * d.k * width)
                                    : batchOffset(values[1], d.batchStrideB);
    llvm::Value *rowBegin = builder.CreateMul(rowBlock, constant(builder, plan.tiling.rowBlock));
    llvm::Value *rowEnd = builder.CreateBinaryIntrinsic(
        llvm::Intrinsic::smin, builder.CreateAdd(rowBegin, constant(builder, plan.tiling.rowBlock)),
        constant(builder, d.m));
    const int64_t fullRowEnd = d.m - d.m % rows, fullPanels = d.n / width;
    llvm::Value *fullRowTiles = builder.CreateSDiv(
        builder.CreateSub(builder.CreateBinaryIntrinsic(llvm::Intrinsic::smin, rowEnd, constant(builder, fullRowEnd)),
                          rowBegin),
        constant(builder, rows));
    llvm::Value *lastRowBlock = builder.CreateICmpEQ(rowBlock, constant(builder, plan.rowBlocks - 1));
    const int64_t panelsPerBlock = plan.tiling.columnBlock / width;
    llvm::Value *panelBegin = builder.CreateMul(columnBlock, constant(builder, panelsPerBlock));
    llvm::Value *fullPanelEnd = builder.CreateBinaryIntrinsic(
        llvm::Intrinsic::smin, builder.CreateAdd(panelBegin, constant(builder, panelsPerBlock)),
        constant(builder, fullPanels));
    llvm::Value *lastColumnBlock = builder.CreateICmpEQ(columnBlock, constant(builder, plan.columnBlocks - 1));
    const int64_t kBlocks = (d.k + plan.tiling.kBlock - 1) / plan.tiling.kBlock;

    // Runs `body` only when `condition` holds.
    auto emitIf = [&](llvm::Value *condition, const std::function<void()> &body) {
      llvm::BasicBlock *then = llvm::BasicBlock::Create(context, "then", computeTask);
      llvm::BasicBlock *after = llvm::BasicBlock::Create(context, "after", computeTask);
      builder.CreateCondBr(condition, then, after);
      builder.SetInsertPoint(then);
      body();
      builder.CreateBr(after);
      builder.SetInsertPoint(after);
    };

    matmul::emitLoop(builder, constant(builder, kBlocks), [&](llvm::Value *kBlock) {
      llvm::Value *kBegin = builder.CreateMul(kBlock, constant(builder, plan.tiling.kBlock));
      llvm::Value *depth = builder.CreateBinaryIntrinsic(llvm::Intrinsic::smin, constant(builder, plan.tiling.kBlock),
                                                         builder.CreateSub(constant(builder, d.k), kBegin));
      llvm::Value *accumulate = d.accumulate ? builder.getTrue() : builder.CreateICmpNE(kBlock, constant(builder, 0));
      llvm::Value *finish = builder.CreateICmpEQ(kBlock, constant(builder, kBlocks - 1));
      llvm::Value *aAtDepth =
          builder.CreateInBoundsGEP(element, a, builder.CreateMul(kBegin, constant(builder, shape.aDepthStride())));
      // Every row tile of the task against one panel of B.
      auto emitPanel = [&](llvm::Value *panel, int64_t columns) {
        llvm::Value *column = builder.CreateMul(panel, constant(builder, width));
        llvm::Value *bAtDepth =
            shape.packed()
                ? builder.CreateInBoundsGEP(element, b,
                                            builder.CreateAdd(builder.CreateMul(panel, constant(builder, d.k * width)),
                                                              builder.CreateMul(kBegin, constant(builder, width))))
            : shape.transposedInPlace()
                ? builder.CreateInBoundsGEP(
                      element, b, builder.CreateAdd(builder.CreateMul(column, constant(builder, d.k)), kBegin))
                : builder.CreateInBoundsGEP(
                      element, b, builder.CreateAdd(builder.CreateMul(kBegin, constant(builder, d.n)), column));
        auto emitTile = [&](llvm::Value *row, int tileRows) {
          std::vector<llvm::Value *> callArguments{
              builder.CreateInBoundsGEP(element, aAtDepth,
                                        builder.CreateMul(row, constant(builder, shape.aRowStride()))),
              bAtDepth,
              builder.CreateInBoundsGEP(element, c,
                                        builder.CreateAdd(builder.CreateMul(row, constant(builder, d.n)), column)),
              depth,
              accumulate,
              finish,
              row,
              column};
          callArguments.insert(callArguments.end(), extras.begin(), extras.end());
          builder.CreateCall(microKernel(tileRows, columns), callArguments);
          if (tileEpilogue)
            emitIf(finish, [&] {
              tileEpilogue(builder, {values[2], batchIndex, row, column, tileRows, columns, extras});
            });
        };
        if (fullRowEnd > 0)
          matmul::emitLoop(builder, fullRowTiles, [&](llvm::Value *tile) {
            emitTile(builder.CreateAdd(rowBegin, builder.CreateMul(tile, constant(builder, rows))),
                     static_cast<int>(rows));
          });
        if (d.m % rows != 0)
          emitIf(lastRowBlock, [&] { emitTile(constant(builder, fullRowEnd), static_cast<int>(d.m % rows)); });
      };
      if (fullPanels > 0)
        matmul::emitLoop(builder, builder.CreateSub(fullPanelEnd, panelBegin),
                         [&](llvm::Value *panel) { emitPanel(builder.CreateAdd(panelBegin, panel), width); });
      if (d.n % width != 0) emitIf(lastColumnBlock, [&] { emitPanel(constant(builder, fullPanels), d.n % width); });
    });
    builder.CreateRetVoid();
  }

  // 1. The kernel: arguments into the context array, then the packing and the compute tasks.
  {
    llvm::IRBuilder<> builder(llvm::BasicBlock::Create(context, "entry", kernel));
    llvm::Value *contextArray = builder.CreateAlloca(contextType);
    for (int i = 0; i < arguments; ++i)
      builder.CreateStore(kernel->getArg(i), builder.CreateConstInBoundsGEP2_64(contextType, contextArray, 0, i));
    llvm::FunctionCallee parallelFor = module.getOrInsertFunction(
        "kiln_parallel_for", llvm::FunctionType::get(voidType, {i64, pointer, pointer}, false));
    auto runTasks = [&](llvm::Function *task, int64_t count) {
      if (plan.tiling.parallel)
        builder.CreateCall(parallelFor, {constant(builder, count), task, contextArray});
      else
        matmul::emitLoop(builder, constant(builder, count), [&](llvm::Value *index) {
          builder.CreateCall(task, {index, contextArray});
        });
    };
    if (packTask) runTasks(packTask, distinctB * panels);
    runTasks(computeTask, plan.tasks);
    builder.CreateRetVoid();
  }
  return plan;
}

}  // namespace kiln::cpu
