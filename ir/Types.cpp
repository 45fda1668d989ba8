// Tensor types: names, sizes and broadcasting.
#include "ir/Types.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <range/v3/algorithm/any_of.hpp>

namespace kiln {

namespace {
struct DTypeRow {
  DType dtype;
  std::string_view name;
  unsigned bytes;
};
constexpr DTypeRow kDTypes[] = {
    {DType::F32, "f32", 4}, {DType::F64, "f64", 8}, {DType::I32, "i32", 4},
    {DType::I64, "i64", 8}, {DType::I1, "i1", 1},
};
const DTypeRow &row(DType dtype) { return kDTypes[static_cast<int>(dtype)]; }
}  // namespace

std::string_view dtypeName(DType dtype) { return row(dtype).name; }
unsigned dtypeByteSize(DType dtype) { return row(dtype).bytes; }

std::optional<DType> parseDType(std::string_view name) {
  for (const DTypeRow &candidate : kDTypes)
    if (candidate.name == name) return candidate.dtype;
  return std::nullopt;
}

bool isFloat(DType dtype) { return dtype == DType::F32 || dtype == DType::F64; }
bool isInteger(DType dtype) { return dtype == DType::I32 || dtype == DType::I64; }

std::optional<int64_t> TensorType::checkedElementCount() const {
  if (ranges::any_of(shape, [](int64_t extent) { return extent < 0; })) return std::nullopt;
  // A zero extent empties the tensor whatever the other extents are.
  if (ranges::any_of(shape, [](int64_t extent) { return extent == 0; })) return 0;
  int64_t count = 1;
  for (int64_t extent : shape)
    if (extent > kMaxElementCount / count)
      return std::nullopt;
    else
      count *= extent;
  return count;
}

std::string toString(const Shape &shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

std::string toString(const TensorType &type) {
  return fmt::format("{}{}", dtypeName(type.dtype), toString(type.shape));
}

std::optional<Shape> broadcastShapes(const Shape &lhs, const Shape &rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  Shape result(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t l = i < rank - lhs.size() ? 1 : lhs[i - (rank - lhs.size())];
    int64_t r = i < rank - rhs.size() ? 1 : rhs[i - (rank - rhs.size())];
    if (l != r && l != 1 && r != 1) return std::nullopt;
    result[i] = l == 1 ? r : l;
  }
  return result;
}

}  // namespace kiln
