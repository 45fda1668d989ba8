// A tensor value of the reference interpreter: a TensorType and its elements in row-major order.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <llvm/Support/Error.h>

#include "ir/Attributes.h"
#include "ir/IR.h"
#include "ir/Types.h"

namespace kiln {

// The one cap on the memory that sizes in the input control (a --dim, an argument's type, a
// constant's shape): the interpreter, and the gradient and reference checks built on it, refuse
// a tensor larger than this many bytes up front, with an error naming its type and size, rather
// than abort when the allocation fails. 4 GiB unless a tool's --max-tensor-bytes changes it.
inline constexpr int64_t kDefaultTensorByteLimit = int64_t{1} << 32;
void setTensorByteLimit(int64_t bytes);
int64_t tensorByteLimit();

// Fails with a message naming the type and its size when it needs more than tensorByteLimit()
// bytes (or when its element count overflows).
llvm::Error checkTensorSize(const TensorType &type);

// The C++ element type of each dtype; i1 is stored one byte per element, 0 or 1.
template <DType> struct ElementOf;
template <> struct ElementOf<DType::F32> { using type = float; };
template <> struct ElementOf<DType::F64> { using type = double; };
template <> struct ElementOf<DType::I32> { using type = int32_t; };
template <> struct ElementOf<DType::I64> { using type = int64_t; };
template <> struct ElementOf<DType::I1> { using type = uint8_t; };
template <DType D> using Element = typename ElementOf<D>::type;

class Tensor {
public:
  // Zero-filled. The caller keeps the size within tensorByteLimit() (checkTensorSize).
  explicit Tensor(TensorType type);

  const TensorType &type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape &shape() const { return type_.shape; }
  int64_t elementCount() const { return elementCount_; }

  // Generic access in every dtype. setDouble converts as a cast does: floats round, integers
  // truncate toward zero (saturating, NaN to 0), i1 stores value != 0.
  double getDouble(int64_t flatIndex) const;
  void setDouble(int64_t flatIndex, double value);
  // Exact for every integer dtype, where doubles lose digits above 2^53.
  int64_t getInt(int64_t flatIndex) const;
  void setInt(int64_t flatIndex, int64_t value);

  // Typed access; T must be Element<dtype()>.
  template <typename T> std::span<T> values() { return std::get<std::vector<T>>(storage_); }
  template <typename T> std::span<const T> values() const { return std::get<std::vector<T>>(storage_); }

  // The tensor a `constant` op holds (a splat is expanded).
  static Tensor fromConstant(const Operation &constantOp);
  // The `value` attribute of a constant holding this tensor: one element if all are equal,
  // else all of them; floats for float dtypes, integers otherwise.
  AttrValue toElements() const;

  bool operator==(const Tensor &) const = default;

private:
  using Storage = std::variant<std::vector<float>, std::vector<double>, std::vector<int32_t>, std::vector<int64_t>,
                               std::vector<uint8_t>>;

  TensorType type_;
  int64_t elementCount_;
  Storage storage_;
};

// `f32[2,2] = [[1.0, 2.0], [3.0, 4.0]]`: floats print so that they read back exactly.
std::string toString(const Tensor &tensor);

}  // namespace kiln
