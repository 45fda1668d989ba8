// NumPy .npy files: read versions 1.0, 2.0 and 3.0 in C or Fortran order, write 1.0 in C
// order; little-endian f4, f8, i4, i8 and b1. Plain C++: errors are returned as values, never thrown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::npy {

enum class ElementType { F32, F64, I32, I64, Bool };

// '<f4', '<f8', '<i4', '<i8', '|b1'.
std::string_view descriptor(ElementType type);
size_t byteSize(ElementType type);

struct Array {
  ElementType type = ElementType::F32;
  std::vector<int64_t> shape;
  std::vector<std::byte> data;  // row-major, little-endian, elementCount * byteSize(type) bytes

  int64_t elementCount() const;
};

// A value or a message saying what went wrong and where.
template <typename T> class Result {
public:
  Result(T value) : content_(std::move(value)) {}
  static Result failure(std::string message) { return Result(Failure{std::move(message)}); }

  explicit operator bool() const { return content_.index() == 0; }
  T &operator*() { return std::get<0>(content_); }
  T *operator->() { return &std::get<0>(content_); }
  const std::string &error() const { return std::get<1>(content_).message; }

private:
  struct Failure {
    std::string message;
  };
  explicit Result(Failure failure) : content_(std::move(failure)) {}
  std::variant<T, Failure> content_;
};

// The bytes of the regular file at `path`; errors name the path and what it should be
// (`expected`: "a .npy file"). A directory or a device is refused, not read.
Result<std::string> readFileBytes(const std::string &path, std::string_view expected);

// Decodes the bytes of a .npy file; `name` (the file's path) starts every error message.
Result<Array> decode(std::string_view bytes, std::string_view name);
Result<Array> read(const std::string &path);

// The bytes of a version 1.0 file holding `array`.
std::string encode(const Array &array);
// Writes `array` to `path`; returns an error message, empty on success.
std::string write(const std::string &path, const Array &array);

}  // namespace kiln::npy
