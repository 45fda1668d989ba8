// Reading IDX files, gunzipped through zlib. The header is parsed as soon as its bytes are
// decompressed, and decompression stops at the size it declares: a lying header or a gzip bomb
// gives an error, never an allocation beyond what the header and the compressed size allow.
#include "runtime/Idx.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

namespace kiln::idx {

namespace {
using ArrayResult = npy::Result<npy::Array>;

struct ElementKind {
  unsigned char code;
  std::string_view name;
  size_t size;
  npy::ElementType type;
};
constexpr ElementKind kElementKinds[] = {
    {0x08, "u8", 1, npy::ElementType::I32},  {0x09, "i8", 1, npy::ElementType::I32},
    {0x0B, "i16", 2, npy::ElementType::I32}, {0x0C, "i32", 4, npy::ElementType::I32},
    {0x0D, "f32", 4, npy::ElementType::F32}, {0x0E, "f64", 8, npy::ElementType::F64},
};
constexpr size_t kLargestHeader = 4 + 4 * 255;
// Deflate turns at most 1032 bytes into one compressed byte.
constexpr size_t kLargestDeflateRatio = 1032;
constexpr uint64_t kLargestDataSize = uint64_t{1} << 62;

struct Header {
  const ElementKind *kind = nullptr;
  std::vector<int64_t> shape;
  size_t headerSize = 0;
  size_t dataSize = 0;
  size_t totalSize() const { return headerSize + dataSize; }
};

std::string shapeText(const std::vector<int64_t> &shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Parses the header at the start of `bytes`. Returns the header, or nullopt with `error` empty
// when more bytes are needed, or nullopt with `error` saying what is wrong.
std::optional<Header> parseHeader(std::string_view bytes, std::string &error) {
  if (bytes.size() < 4) return std::nullopt;
  if (bytes[0] != 0 || bytes[1] != 0) {
    error = "not an IDX file (expected two zero bytes at its start)";
    return std::nullopt;
  }
  Header header;
  unsigned char code = static_cast<unsigned char>(bytes[2]);
  for (const ElementKind &kind : kElementKinds)
    if (kind.code == code) header.kind = &kind;
  if (!header.kind) {
    error = fmt::format("unsupported element type 0x{:02X} (expected 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32 "
                        "or 0x0E f64)",
                        code);
    return std::nullopt;
  }
  size_t rank = static_cast<unsigned char>(bytes[3]);
  header.headerSize = 4 + 4 * rank;
  if (bytes.size() < header.headerSize) return std::nullopt;
  uint64_t count = 1;
  for (size_t axis = 0; axis < rank; ++axis) {
    uint32_t extent = 0;
    for (size_t i = 0; i < 4; ++i) extent = extent << 8 | static_cast<unsigned char>(bytes[4 + 4 * axis + i]);
    header.shape.push_back(extent);
    if (extent != 0 && count > kLargestDataSize / header.kind->size / extent) {
      error = fmt::format("the shape {} of {} holds more bytes than any file can", shapeText(header.shape),
                          header.kind->name);
      return std::nullopt;
    }
    count *= extent;
  }
  header.dataSize = count * header.kind->size;
  return header;
}

// The decompressed bytes of a gzip file holding an IDX file, stopping at the size its header
// declares; or an error message.
npy::Result<std::string> gunzip(std::string_view compressed) {
  auto failure = [](std::string message) { return npy::Result<std::string>::failure(std::move(message)); };
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return failure("cannot start zlib");
  struct Ender {
    z_stream &stream;
    ~Ender() { inflateEnd(&stream); }
  } ender{stream};
  stream.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());  // files past 4 GiB are not expected

  std::string output, error;
  std::optional<Header> header;
  size_t limit = kLargestHeader;
  while (true) {
    size_t room = std::min<size_t>(limit + 1 - output.size(), size_t{1} << 20);
    size_t before = output.size();
    output.resize(before + room);
    stream.next_out = reinterpret_cast<Bytef *>(output.data() + before);
    stream.avail_out = static_cast<uInt>(room);
    int status = inflate(&stream, Z_NO_FLUSH);
    output.resize(before + room - stream.avail_out);
    bool ended = false;
    if (status == Z_STREAM_END) {
      ended = stream.avail_in == 0;
      // Otherwise another gzip member follows, as `cat a.gz b.gz` makes.
      if (!ended && inflateReset(&stream) != Z_OK) return failure("cannot restart zlib");
    } else if (status == Z_BUF_ERROR && stream.avail_in == 0) {
      return failure("truncated gzip data");
    } else if (status != Z_OK) {
      return failure(
          fmt::format("corrupt gzip data: {}", stream.msg ? stream.msg : "zlib error " + std::to_string(status)));
    }
    if (!header) {
      header = parseHeader(output, error);
      if (!error.empty()) return failure(error);
      if (header) {
        if (header->totalSize() / kLargestDeflateRatio > compressed.size())
          return failure(fmt::format("the header declares {} bytes of shape {} of {}, more than the {} compressed "
                                     "bytes can hold",
                                     header->totalSize(), shapeText(header->shape), header->kind->name,
                                     compressed.size()));
        limit = header->totalSize();
      }
    }
    // Before the header is known, the limit is the longest header, which always completes it.
    if (output.size() > limit)
      return failure(fmt::format("trailing garbage after the {} bytes of shape {} of {}", header->dataSize,
                                 shapeText(header->shape), header->kind->name));
    if (ended) break;
  }
  return output;
}

int64_t readElement(const unsigned char *bytes, const ElementKind &kind, double &real) {
  uint64_t bits = 0;
  for (size_t i = 0; i < kind.size; ++i) bits = bits << 8 | bytes[i];
  switch (kind.code) {
  case 0x08: return static_cast<uint8_t>(bits);
  case 0x09: return static_cast<int8_t>(bits);
  case 0x0B: return static_cast<int16_t>(bits);
  case 0x0C: return static_cast<int32_t>(bits);
  case 0x0D: real = std::bit_cast<float>(static_cast<uint32_t>(bits)); return 0;
  default: real = std::bit_cast<double>(bits); return 0;
  }
}
}  // namespace

ArrayResult decode(std::string_view bytes, std::string_view name) {
  auto failure = [&](std::string message) { return ArrayResult::failure(fmt::format("{}: {}", name, message)); };
  std::string error;
  std::string decompressed;
  bool gzipped = bytes.size() >= 2 && bytes[0] == '\x1f' && bytes[1] == '\x8b';
  if (gzipped) {
    npy::Result<std::string> inflated = gunzip(bytes);
    if (!inflated) return failure(inflated.error());
    decompressed = std::move(*inflated);
    bytes = decompressed;
  }
  std::optional<Header> header = parseHeader(bytes, error);
  if (!error.empty()) return failure(error);
  if (!header) {
    if (bytes.size() < 4)
      return failure(fmt::format("truncated: {} bytes, fewer than an IDX header's 4", bytes.size()));
    return failure(fmt::format("truncated header: {} dimensions need {} bytes, the file holds {}",
                               static_cast<unsigned char>(bytes[3]), 4 + 4 * static_cast<unsigned char>(bytes[3]),
                               bytes.size()));
  }
  size_t found = bytes.size() - header->headerSize;
  std::string_view source = gzipped ? "the decompressed file" : "the file";
  if (found < header->dataSize)
    return failure(fmt::format("truncated data: shape {} of {} needs {} bytes, {} holds {}", shapeText(header->shape),
                               header->kind->name, header->dataSize, source, found));
  if (found > header->dataSize)
    return failure(fmt::format("{} bytes of trailing garbage after the {} bytes of shape {} of {}",
                               found - header->dataSize, header->dataSize, shapeText(header->shape),
                               header->kind->name));

  const ElementKind &kind = *header->kind;
  npy::Array array;
  array.type = kind.type;
  array.shape = header->shape;
  size_t count = header->dataSize / kind.size;
  array.data.resize(count * npy::byteSize(kind.type));
  const auto *elements = reinterpret_cast<const unsigned char *>(bytes.data() + header->headerSize);
  for (size_t i = 0; i < count; ++i) {
    double real = 0;
    int64_t integer = readElement(elements + i * kind.size, kind, real);
    std::byte *target = &array.data[i * npy::byteSize(kind.type)];
    if (kind.type == npy::ElementType::I32) {
      int32_t value = static_cast<int32_t>(integer);
      std::memcpy(target, &value, sizeof value);
    } else if (kind.type == npy::ElementType::F32) {
      float value = static_cast<float>(real);
      std::memcpy(target, &value, sizeof value);
    } else {
      std::memcpy(target, &real, sizeof real);
    }
  }
  return array;
}

ArrayResult read(const std::string &path) {
  npy::Result<std::string> bytes = npy::readFileBytes(path, "an IDX file");
  if (!bytes) return ArrayResult::failure(bytes.error());
  return decode(*bytes, path);
}

}  // namespace kiln::idx
