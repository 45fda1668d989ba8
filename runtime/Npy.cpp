// Reading and writing NumPy .npy files. A file is the magic "\x93NUMPY", a version, a header
// length (2 bytes in 1.0, 4 in 2.0 and 3.0), a Python dict literal padded with spaces to a
// multiple of 64 bytes and ended by '\n', then the raw elements.
#include "runtime/Npy.h"

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>

namespace kiln::npy {

// The elements are copied as they are, so the host must share the files' byte order.
static_assert(std::endian::native == std::endian::little, "the .npy reader assumes a little-endian host");

namespace {
constexpr std::string_view kMagic = "\x93NUMPY";
constexpr ElementType kElementTypes[] = {ElementType::F32, ElementType::F64, ElementType::I32, ElementType::I64,
                                         ElementType::Bool};

// The header dict, parsed by recursive descent:
//   dict  := '{' (entry (',' entry)* ','?)? '}'
//   entry := string ':' value
//   value := string | 'True' | 'False' | tuple
//   tuple := '(' (integer (',' integer)* ','?)? ')'
class HeaderParser {
public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  struct Header {
    std::optional<std::string> descriptor;
    std::optional<bool> fortranOrder;
    std::optional<std::vector<int64_t>> shape;
  };

  // Returns an error message, empty on success.
  std::string parse(Header &header) {
    if (!consume('{')) return expected("'{'");
    skipSpaces();
    while (!peek('}')) {
      std::optional<std::string> key = parseString();
      if (!key) return expected("a quoted key");
      if (!consume(':')) return expected("':' after '" + *key + "'");
      std::string error;
      if (*key == "descr") {
        header.descriptor = parseString();
        if (!header.descriptor) return expected("a quoted dtype after 'descr'");
      } else if (*key == "fortran_order") {
        header.fortranOrder = parseBool();
        if (!header.fortranOrder) return expected("True or False after 'fortran_order'");
      } else if (*key == "shape") {
        header.shape = parseTuple(error);
        if (!header.shape) return error;
      } else {
        return fmt::format("unexpected key '{}' in the header (expected descr, fortran_order and shape)", *key);
      }
      if (!consume(',')) break;
      skipSpaces();
    }
    if (!consume('}')) return expected("',' or '}'");
    skipSpaces();
    if (position_ != text_.size()) return expected("the end of the header after '}'");
    return {};
  }

private:
  void skipSpaces() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\n')) ++position_;
  }
  bool peek(char c) {
    skipSpaces();
    return position_ < text_.size() && text_[position_] == c;
  }
  bool consume(char c) {
    if (!peek(c)) return false;
    ++position_;
    return true;
  }
  std::string expected(std::string_view what) const {
    std::string_view shown = text_.substr(0, text_.find_last_not_of(' ') + 1);
    return fmt::format("malformed header: expected {} at offset {} of '{}'", what, position_, shown);
  }

  std::optional<std::string> parseString() {
    skipSpaces();
    if (position_ >= text_.size() || (text_[position_] != '\'' && text_[position_] != '"')) return std::nullopt;
    char quote = text_[position_];
    size_t end = text_.find(quote, position_ + 1);
    if (end == std::string_view::npos) return std::nullopt;
    std::string value(text_.substr(position_ + 1, end - position_ - 1));
    position_ = end + 1;
    return value;
  }

  std::optional<bool> parseBool() {
    skipSpaces();
    for (auto [word, value] : {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}})
      if (text_.substr(position_, word.size()) == word) {
        position_ += word.size();
        return value;
      }
    return std::nullopt;
  }

  std::optional<std::vector<int64_t>> parseTuple(std::string &error) {
    std::vector<int64_t> values;
    if (!consume('(')) {
      error = expected("a tuple after 'shape'");
      return std::nullopt;
    }
    while (!peek(')')) {
      skipSpaces();
      size_t start = position_;
      int64_t value = 0;
      while (position_ < text_.size() && text_[position_] >= '0' && text_[position_] <= '9') {
        int digit = text_[position_++] - '0';
        if (value > (INT64_MAX - digit) / 10) {
          error = expected("a dimension below 2^63");
          return std::nullopt;
        }
        value = value * 10 + digit;
      }
      if (position_ == start) {
        error = expected("a non-negative integer dimension");
        return std::nullopt;
      }
      values.push_back(value);
      if (!consume(',')) break;
    }
    if (!consume(')')) {
      error = expected("',' or ')' in the shape");
      return std::nullopt;
    }
    return values;
  }

  std::string_view text_;
  size_t position_ = 0;
};

uint32_t readLittleEndian(std::string_view bytes, size_t count) {
  uint32_t value = 0;
  for (size_t i = count; i-- > 0;) value = value << 8 | static_cast<unsigned char>(bytes[i]);
  return value;
}

// Element count of a shape, or nullopt past 2^62 (no file holds that many bytes).
std::optional<int64_t> checkedElementCount(const std::vector<int64_t> &shape) {
  int64_t count = 1;
  for (int64_t extent : shape) {
    if (extent != 0 && count > (int64_t{1} << 62) / extent) return std::nullopt;
    count *= extent;
  }
  return count;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}
}  // namespace

std::string_view descriptor(ElementType type) {
  switch (type) {
  case ElementType::F32: return "<f4";
  case ElementType::F64: return "<f8";
  case ElementType::I32: return "<i4";
  case ElementType::I64: return "<i8";
  case ElementType::Bool: return "|b1";
  }
  return "";
}

size_t byteSize(ElementType type) {
  switch (type) {
  case ElementType::F32: return 4;
  case ElementType::F64: return 8;
  case ElementType::I32: return 4;
  case ElementType::I64: return 8;
  case ElementType::Bool: return 1;
  }
  return 0;
}

int64_t Array::elementCount() const { return checkedElementCount(shape).value_or(-1); }

namespace {
// NumPy saves a transposed array as it lies in memory, column-major (`fortran_order: True`):
// the first index varies fastest. Element (i0, ..., in-1) is at i0 + s0 (i1 + s1 (i2 + ...)).
std::vector<std::byte> toRowMajor(const std::vector<std::byte> &columnMajor, const std::vector<int64_t> &shape,
                                  size_t elementSize) {
  std::vector<std::byte> rowMajor(columnMajor.size());
  size_t count = columnMajor.size() / elementSize;
  std::vector<int64_t> index(shape.size(), 0);  // of the row-major element, last axis fastest
  for (size_t rowMajorOffset = 0; rowMajorOffset < count; ++rowMajorOffset) {
    size_t columnMajorOffset = 0;
    for (size_t axis = shape.size(); axis-- > 0;)
      columnMajorOffset = columnMajorOffset * static_cast<size_t>(shape[axis]) + static_cast<size_t>(index[axis]);
    std::memcpy(&rowMajor[rowMajorOffset * elementSize], &columnMajor[columnMajorOffset * elementSize], elementSize);
    for (size_t axis = shape.size(); axis-- > 0;) {
      if (++index[axis] < shape[axis]) break;
      index[axis] = 0;
    }
  }
  return rowMajor;
}
}  // namespace

Result<Array> decode(std::string_view bytes, std::string_view name) {
  auto failure = [&](std::string message) { return Result<Array>::failure(fmt::format("{}: {}", name, message)); };
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic)
    return failure("not a .npy file (expected the magic string \\x93NUMPY at its start)");
  if (bytes.size() < kMagic.size() + 2) return failure("truncated before the format version");
  int major = static_cast<unsigned char>(bytes[6]);
  int minor = static_cast<unsigned char>(bytes[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return failure(fmt::format("unsupported format version {}.{} (expected 1.0, 2.0 or 3.0)", major, minor));
  size_t lengthSize = major == 1 ? 2 : 4;
  size_t headerStart = 8 + lengthSize;
  if (bytes.size() < headerStart) return failure("truncated before the header length");
  size_t headerLength = readLittleEndian(bytes.substr(8), lengthSize);
  if (bytes.size() - headerStart < headerLength)
    return failure(fmt::format("truncated header: it declares {} bytes but the file holds {} after the length",
                               headerLength, bytes.size() - headerStart));
  std::string_view headerText = bytes.substr(headerStart, headerLength);
  if (headerText.empty() || headerText.back() != '\n') return failure("malformed header: it does not end with '\\n'");

  HeaderParser::Header header;
  if (std::string error = HeaderParser(headerText.substr(0, headerText.size() - 1)).parse(header); !error.empty())
    return failure(error);
  if (!header.descriptor || !header.fortranOrder || !header.shape)
    return failure("malformed header: expected the keys descr, fortran_order and shape");

  Array array;
  bool known = false;
  for (ElementType type : kElementTypes)
    if (*header.descriptor == descriptor(type)) {
      array.type = type;
      known = true;
    }
  if (!known)
    return failure(
        fmt::format("unsupported dtype '{}' (expected '<f4', '<f8', '<i4', '<i8' or '|b1')", *header.descriptor));
  array.shape = *header.shape;
  std::optional<int64_t> count = checkedElementCount(array.shape);
  if (!count) return failure(fmt::format("the shape {} holds too many elements", shapeText(array.shape)));

  size_t dataStart = headerStart + headerLength;
  size_t expectedBytes = static_cast<size_t>(*count) * byteSize(array.type);
  size_t foundBytes = bytes.size() - dataStart;
  if (foundBytes < expectedBytes)
    return failure(fmt::format("truncated data: shape {} of '{}' needs {} bytes, the file holds {}",
                               shapeText(array.shape), descriptor(array.type), expectedBytes, foundBytes));
  if (foundBytes > expectedBytes)
    return failure(fmt::format("{} bytes of trailing garbage after the {} bytes of shape {} of '{}'",
                               foundBytes - expectedBytes, expectedBytes, shapeText(array.shape),
                               descriptor(array.type)));
  array.data.resize(expectedBytes);
  if (expectedBytes > 0) std::memcpy(array.data.data(), bytes.data() + dataStart, expectedBytes);
  if (*header.fortranOrder) array.data = toRowMajor(array.data, array.shape, byteSize(array.type));
  if (array.type == ElementType::Bool)
    for (size_t i = 0; i < array.data.size(); ++i)
      if (array.data[i] != std::byte{0} && array.data[i] != std::byte{1})
        return failure(
            fmt::format("element {} of a boolean array is {}, not 0 or 1", i, static_cast<int>(array.data[i])));
  return array;
}

Result<std::string> readFileBytes(const std::string &path, std::string_view expected) {
  // A directory opens as a stream whose first read throws, and a device such as /dev/zero never
  // ends: only regular files are read.
  std::error_code status;
  std::filesystem::file_status fileKind = std::filesystem::status(path, status);
  if (!status && std::filesystem::is_directory(fileKind))
    return Result<std::string>::failure(fmt::format("{}: is a directory, not {}", path, expected));
  if (!status && !std::filesystem::is_regular_file(fileKind))
    return Result<std::string>::failure(fmt::format("{}: not a regular file", path));
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return Result<std::string>::failure(fmt::format("{}: cannot open the file for reading", path));
  // One read of the size the file has now (a checkpoint of megabytes is read ten times faster than
  // byte by byte), then whatever it has grown by or a size-less file such as /proc's holds.
  std::streamoff size = file.tellg();
  file.seekg(0);
  std::string bytes(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(file.gcount()));
  if (file) bytes.append(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  if (file.bad()) return Result<std::string>::failure(fmt::format("{}: cannot read the file", path));
  return bytes;
}

Result<Array> read(const std::string &path) {
  Result<std::string> bytes = readFileBytes(path, "a .npy file");
  if (!bytes) return Result<Array>::failure(bytes.error());
  return decode(*bytes, path);
}

std::string encode(const Array &array) {
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descriptor(array.type),
                                   shapeText(array.shape));
  // Pad with spaces so that magic, version, length and header end on a multiple of 64 bytes.
  size_t unpadded = kMagic.size() + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string bytes(kMagic);
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  bytes.append(reinterpret_cast<const char *>(array.data.data()), array.data.size());
  return bytes;
}

std::string write(const std::string &path, const Array &array) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return fmt::format("{}: cannot open the file for writing", path);
  std::string bytes = encode(array);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) return fmt::format("{}: cannot write the file", path);
  return {};
}

}  // namespace kiln::npy
