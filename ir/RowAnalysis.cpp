// Row invariance of a kernel's values (RowAnalysis.h).
#include "ir/RowAnalysis.h"

#include <functional>
#include <unordered_map>

namespace kiln {

namespace {
// `from` broadcasts to `to` by NumPy's rules: right-aligned, each extent 1 or equal.
bool broadcastsTo(const Shape &from, const Shape &to) {
  if (from.size() > to.size()) return false;
  size_t missing = to.size() - from.size();
  for (size_t axis = 0; axis < from.size(); ++axis)
    if (from[axis] != 1 && from[axis] != to[missing + axis]) return false;
  return true;
}

// Ops whose result element at an index reads each operand at that index broadcast.
bool readsAtTheSameIndex(const Operation &op) {
  if (op.kind() == OpKind::Broadcast) return true;
  if (op.info().opClass != OpClass::Elementwise) return false;
  for (size_t i = 0; i < op.operands().size(); ++i)
    if (op.info().indexesWith(i) || !broadcastsTo(op.operand(i)->type().shape, op.result(0)->type().shape))
      return false;
  return op.resultCount() == 1;
}
}  // namespace

bool isReadOncePerRow(const Function &kernel, const Value *value) {
  if (kernel.results().size() != 1) return false;
  const Value *result = kernel.results()[0];
  const Shape &rowShape = result->type().shape;
  const Shape &shape = value->type().shape;
  if (value == result || rowShape.empty() || !broadcastsTo(shape, rowShape)) return false;
  if (!shape.empty() && shape.back() != 1) return false;
  // Every path from `value` to the result: each user on the way must read at the same index, and
  // every value reached must lead to the result (memoised per value).
  std::unordered_map<const Value *, bool> leads;
  std::function<bool(const Value *)> onlyAlongRows = [&](const Value *current) -> bool {
    if (current == result) return true;
    if (auto it = leads.find(current); it != leads.end()) return it->second;
    bool fine = current->hasUses();
    for (const Use &use : current->uses())
      fine = fine && readsAtTheSameIndex(*use.user) && onlyAlongRows(use.user->result(0));
    return leads[current] = fine;
  };
  return onlyAlongRows(value);
}

}  // namespace kiln
