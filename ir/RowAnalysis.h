// Which values of a kernel are the same all along a row of its result: what lets a reduction be
// computed once per row where an elementwise kernel reads it broadcast (the fuse pass decides by
// it, the CPU backend's loop kernels hoist by it).
#pragma once

#include "ir/IR.h"

namespace kiln {

// Whether `value`, a value of `kernel` (an argument, or a result of one of its ops), is read by the
// kernel's only result at one element per row of that result: its shape is the result's with the
// last axis (and any others) of extent 1, aligned from the right, and every path from it to the
// result goes through broadcasts and NumPy-broadcasting elementwise ops only. The result's element
// at [i..., j] then reads `value` at the same place for every j, so `value` may be computed once
// per row. False for a kernel of several results, or when `value` is the result.
bool isReadOncePerRow(const Function &kernel, const Value *value);

}  // namespace kiln
