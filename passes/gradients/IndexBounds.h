// The range of values an integer argument may take, inferred from the ops that use it as an
// index, so that the gradient check can spread its integer inputs over every valid index.
#pragma once

#include <cstdint>
#include <optional>

#include "ir/IR.h"

namespace kiln {

// The exclusive upper bound L such that every index use of `argument` accepts any value in
// [0, L): the smallest over all uses of gather's axis extent, scatter_add's result axis extent
// and one_hot's depth. Uses are followed through ops that only copy elements (reshape,
// transpose, broadcast, slice, concat, pad, select's values, gather's params, integer casts).
// nullopt when `argument` reaches no index use (it is compared, added, cast to float...).
// Negative indices are never valid: gather and scatter_add reject them, one_hot ignores them.
std::optional<int64_t> indexBound(const Function &function, const Value &argument);

}  // namespace kiln
