// Tensor types of the IR: an element dtype and a static shape (rank 0 allowed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

enum class DType { F32, F64, I32, I64, I1 };

std::string_view dtypeName(DType dtype);
std::optional<DType> parseDType(std::string_view name);
bool isFloat(DType dtype);
bool isInteger(DType dtype);  // i32 and i64; i1 is a boolean, not an integer
unsigned dtypeByteSize(DType dtype);

using Shape = std::vector<int64_t>;

// The most elements a tensor may hold: far beyond any model, and small enough that sizes and
// byte counts computed from it never overflow 64 bits.
inline constexpr int64_t kMaxElementCount = int64_t{1} << 40;

struct TensorType {
  DType dtype = DType::F32;
  Shape shape;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  // The product of the extents; nullopt when it exceeds kMaxElementCount or an extent is negative.
  std::optional<int64_t> checkedElementCount() const;
  // The product of the extents, for types that passed the parser or the verifier.
  int64_t elementCount() const { return checkedElementCount().value_or(kMaxElementCount + 1); }
  TensorType withShape(Shape newShape) const { return {dtype, std::move(newShape)}; }
  TensorType withDType(DType newDType) const { return {newDType, shape}; }
  bool operator==(const TensorType &) const = default;
};

// `f32[32,64]`, `i1[]`: the one spelling used by printer, parser and diagnostics.
std::string toString(const TensorType &type);
std::string toString(const Shape &shape);

// NumPy broadcasting of two shapes: trailing dimensions are equal or one of them is 1.
std::optional<Shape> broadcastShapes(const Shape &lhs, const Shape &rhs);

}  // namespace kiln
