// Which kernels are a product followed by an epilogue: elementwise ops that read the product's
// element at the same index as they write their own (a bias, an activation, a residual, a scale,
// an optimizer's update of what the product computed). A product is an op with the trait
// kTakesEpilogue: a matmul, or a conv2d (one matrix product per image in the CPU backend). The
// fuse pass merges by it, the CPU backend applies such an epilogue to each tile of the product
// while the tile is in cache, before the next one (backends/cpu/Compile.cpp).
#pragma once

#include <string>

#include "ir/IR.h"

namespace kiln {

// The product (matmul or conv2d) the `kernel`'s only result is computed from, when that result
// is the product's or is computed from it by an epilogue: every op that depends on the product is
// elementwise with the product's shape (so it reads the product at its own index), the result
// has the product's dtype (so it may be written where the product was), and no other op of the
// kernel is a reduction, a window, a contraction or opaque. Null otherwise, with the reason in
// `why` when given.
const Operation *epilogueProduct(const Function &kernel, std::string *why = nullptr);

}  // namespace kiln
