// Tensor storage, generic element access, conversion to and from constants, and printing.
#include "backends/interpreter/Tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "backends/interpreter/Rules.h"

namespace kiln {

namespace {
// Truncates toward zero and saturates, so that no double reaches an undefined conversion.
template <typename Integer> Integer truncateToInteger(double value) {
  if (std::isnan(value)) return 0;
  // 2^31 and 2^63 are exact doubles, so the comparisons below are exact too.
  constexpr double kUpper = -static_cast<double>(std::numeric_limits<Integer>::min());
  if (value >= kUpper) return std::numeric_limits<Integer>::max();
  if (value <= -kUpper) return std::numeric_limits<Integer>::min();
  return static_cast<Integer>(std::trunc(value));
}

template <typename T> T fromDouble(double value) {
  if constexpr (std::is_same_v<T, uint8_t>)
    return value != 0;
  else if constexpr (std::is_floating_point_v<T>)
    return static_cast<T>(value);
  else
    return truncateToInteger<T>(value);
}

template <typename T> T fromInteger(int64_t value) {
  if constexpr (std::is_same_v<T, uint8_t>)
    return value != 0;
  else
    return static_cast<T>(value);
}

// f32 elements print as the shortest decimal that reads back to the same float (0.1, not
// 0.10000000149011612): that decimal, read as a double, is what formatFloat then spells.
std::string elementText(const Tensor &tensor, int64_t flatIndex) {
  switch (tensor.dtype()) {
  case DType::F32:
    return formatFloat(std::strtod(fmt::format("{}", tensor.values<float>()[flatIndex]).c_str(), nullptr));
  case DType::F64: return formatFloat(tensor.getDouble(flatIndex));
  default: return fmt::format("{}", tensor.getInt(flatIndex));
  }
}
}  // namespace

namespace {
int64_t byteLimit = kDefaultTensorByteLimit;

std::string byteText(double bytes) {
  if (bytes >= double(int64_t{1} << 30)) return fmt::format("{:.1f} GiB", bytes / double(int64_t{1} << 30));
  if (bytes >= double(int64_t{1} << 20)) return fmt::format("{:.1f} MiB", bytes / double(int64_t{1} << 20));
  if (bytes >= double(int64_t{1} << 10)) return fmt::format("{:.1f} KiB", bytes / double(int64_t{1} << 10));
  return fmt::format("{} bytes", bytes);
}
}  // namespace

void setTensorByteLimit(int64_t bytes) { byteLimit = bytes; }
int64_t tensorByteLimit() { return byteLimit; }

llvm::Error checkTensorSize(const TensorType &type) {
  // In doubles, which cannot overflow here: shapes have at most 2^40 elements of 8 bytes.
  double bytes = double(dtypeByteSize(type.dtype));
  for (int64_t extent : type.shape) {
    if (extent < 0) return llvm::createStringError(fmt::format("{} has a negative extent", toString(type)));
    bytes *= double(extent);
  }
  if (bytes > double(byteLimit))
    return llvm::createStringError(fmt::format("{} needs {}, more than the interpreter's limit of {} per tensor "
                                               "(--max-tensor-bytes)",
                                               toString(type), byteText(bytes), byteText(double(byteLimit))));
  return llvm::Error::success();
}

Tensor::Tensor(TensorType type) : type_(std::move(type)), elementCount_(type_.elementCount()) {
  interpreter::visitDType(type_.dtype, [&](auto zero) { storage_ = std::vector<decltype(zero)>(elementCount_, zero); });
}

double Tensor::getDouble(int64_t flatIndex) const {
  return std::visit([&](const auto &elements) { return static_cast<double>(elements[flatIndex]); }, storage_);
}

void Tensor::setDouble(int64_t flatIndex, double value) {
  std::visit(
      [&](auto &elements) {
        using T = typename std::decay_t<decltype(elements)>::value_type;
        elements[flatIndex] = fromDouble<T>(value);
      },
      storage_);
}

int64_t Tensor::getInt(int64_t flatIndex) const {
  return std::visit(
      [&](const auto &elements) {
        using T = typename std::decay_t<decltype(elements)>::value_type;
        if constexpr (std::is_floating_point_v<T>)
          return truncateToInteger<int64_t>(elements[flatIndex]);
        else
          return static_cast<int64_t>(elements[flatIndex]);
      },
      storage_);
}

void Tensor::setInt(int64_t flatIndex, int64_t value) {
  std::visit(
      [&](auto &elements) {
        using T = typename std::decay_t<decltype(elements)>::value_type;
        elements[flatIndex] = fromInteger<T>(value);
      },
      storage_);
}

Tensor Tensor::fromConstant(const Operation &constantOp) {
  Tensor tensor(constantOp.result()->type());
  const AttrValue *value = constantOp.attributes().find("value");
  if (const auto *floats = std::get_if<Floats>(value)) {
    for (int64_t i = 0; i < tensor.elementCount(); ++i)
      tensor.setDouble(i, floats->size() == 1 ? (*floats)[0] : (*floats)[i]);
  } else if (const auto *ints = std::get_if<Ints>(value)) {
    for (int64_t i = 0; i < tensor.elementCount(); ++i) tensor.setInt(i, ints->size() == 1 ? (*ints)[0] : (*ints)[i]);
  }
  return tensor;
}

AttrValue Tensor::toElements() const {
  return std::visit(
      [&](const auto &elements) -> AttrValue {
        using T = typename std::decay_t<decltype(elements)>::value_type;
        using Stored = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
        std::vector<Stored> stored(elements.begin(), elements.end());
        // A splat only when every element is the same bit pattern: -0.0 and 0.0 stay apart.
        bool allEqual = !stored.empty();
        for (const Stored &element : stored)
          if (std::memcmp(&element, &stored[0], sizeof(Stored)) != 0) allEqual = false;
        if (allEqual) stored.resize(1);
        return stored;
      },
      storage_);
}

std::string toString(const Tensor &tensor) {
  const Shape &shape = tensor.shape();
  std::string text = toString(tensor.type()) + " = ";
  if (shape.empty()) return text + elementText(tensor, 0);
  // Row-major walk: open a bracket for every axis whose index is 0, close it after the last.
  std::vector<int64_t> index(shape.size(), 0);
  int64_t count = tensor.elementCount();
  if (count == 0) return text + "[]";
  for (int64_t flat = 0; flat < count; ++flat) {
    size_t opened = shape.size();
    while (opened > 0 && index[opened - 1] == 0) --opened;
    text.append(shape.size() - opened, '[');
    text += elementText(tensor, flat);
    size_t axis = shape.size();
    while (axis > 0) {
      --axis;
      if (++index[axis] < shape[axis]) break;
      index[axis] = 0;
      text += "]";
    }
    if (flat + 1 < count) text += ", ";
  }
  return text;
}

}  // namespace kiln
