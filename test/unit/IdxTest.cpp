// The IDX reader: every element type, plain and gzipped, one test per malformed file, and the
// real Fashion-MNIST files when Debian's dataset-fashion-mnist is installed.
#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include "runtime/Idx.h"

namespace kiln::idx {
namespace {

// An IDX file: the magic of `typeCode`, the dimensions big-endian, then `data` as given.
std::string idxFile(unsigned char typeCode, std::vector<uint32_t> shape, std::string data) {
  std::string bytes{'\0', '\0', static_cast<char>(typeCode), static_cast<char>(shape.size())};
  for (uint32_t extent : shape)
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>(extent >> shift & 0xff);
  return bytes + data;
}

std::string gzip(std::string_view bytes) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string output(deflateBound(&stream, bytes.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = reinterpret_cast<Bytef *>(output.data());
  stream.avail_out = static_cast<uInt>(output.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  output.resize(stream.total_out);
  deflateEnd(&stream);
  return output;
}

template <typename T> std::vector<T> elements(const npy::Array &array) {
  std::vector<T> values(array.data.size() / sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), array.data.data(), array.data.size());
  return values;
}

std::string decodeError(std::string_view bytes) {
  npy::Result<npy::Array> result = decode(bytes, "input.idx");
  return result ? "no error" : result.error();
}

TEST(Idx, ReadsEveryElementTypeBigEndian) {
  npy::Result<npy::Array> u8 = decode(idxFile(0x08, {2, 2}, std::string("\x00\x01\x7f\xff", 4)), "u8");
  ASSERT_TRUE(u8) << u8.error();
  EXPECT_EQ(u8->type, npy::ElementType::I32);
  EXPECT_EQ(u8->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(elements<int32_t>(*u8), (std::vector<int32_t>{0, 1, 127, 255}));

  npy::Result<npy::Array> i8 = decode(idxFile(0x09, {2}, "\x80\x7f"), "i8");
  ASSERT_TRUE(i8) << i8.error();
  EXPECT_EQ(elements<int32_t>(*i8), (std::vector<int32_t>{-128, 127}));

  npy::Result<npy::Array> i16 = decode(idxFile(0x0B, {2}, "\xff\xfe\x01\x02"), "i16");
  ASSERT_TRUE(i16) << i16.error();
  EXPECT_EQ(elements<int32_t>(*i16), (std::vector<int32_t>{-2, 258}));

  npy::Result<npy::Array> i32 = decode(idxFile(0x0C, {1}, std::string("\x80\x00\x00\x01", 4)), "i32");
  ASSERT_TRUE(i32) << i32.error();
  EXPECT_EQ(elements<int32_t>(*i32), (std::vector<int32_t>{-2147483647}));

  // 1.5f is 0x3FC00000, -2.0 is 0xC000000000000000.
  npy::Result<npy::Array> f32 = decode(idxFile(0x0D, {1}, std::string("\x3f\xc0\x00\x00", 4)), "f32");
  ASSERT_TRUE(f32) << f32.error();
  EXPECT_EQ(f32->type, npy::ElementType::F32);
  EXPECT_EQ(elements<float>(*f32), (std::vector<float>{1.5f}));

  npy::Result<npy::Array> f64 = decode(idxFile(0x0E, {1}, std::string("\xc0\x00\x00\x00\x00\x00\x00\x00", 8)), "f64");
  ASSERT_TRUE(f64) << f64.error();
  EXPECT_EQ(f64->type, npy::ElementType::F64);
  EXPECT_EQ(elements<double>(*f64), (std::vector<double>{-2.0}));

  npy::Result<npy::Array> scalar = decode(idxFile(0x08, {}, "\x05"), "scalar");
  ASSERT_TRUE(scalar) << scalar.error();
  EXPECT_EQ(scalar->shape, std::vector<int64_t>{});
  EXPECT_EQ(elements<int32_t>(*scalar), (std::vector<int32_t>{5}));
}

TEST(Idx, ReadsGzippedFilesAndConcatenatedMembers) {
  std::string file = idxFile(0x08, {3}, "\x01\x02\x03");
  npy::Result<npy::Array> whole = decode(gzip(file), "whole.gz");
  ASSERT_TRUE(whole) << whole.error();
  EXPECT_EQ(elements<int32_t>(*whole), (std::vector<int32_t>{1, 2, 3}));
  // `cat a.gz b.gz` is a gzip file too.
  npy::Result<npy::Array> split = decode(gzip(file.substr(0, 6)) + gzip(file.substr(6)), "split.gz");
  ASSERT_TRUE(split) << split.error();
  EXPECT_EQ(elements<int32_t>(*split), (std::vector<int32_t>{1, 2, 3}));
}

TEST(Idx, RejectsABadMagicNumber) {
  EXPECT_EQ(decodeError(std::string("\x01\x00\x08\x01\x00\x00\x00\x01\x05", 9)),
            "input.idx: not an IDX file (expected two zero bytes at its start)");
  EXPECT_EQ(decodeError(idxFile(0x0A, {1}, "\x05")),
            "input.idx: unsupported element type 0x0A (expected 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32 or "
            "0x0E f64)");
}

TEST(Idx, RejectsTruncatedFiles) {
  EXPECT_EQ(decodeError(""), "input.idx: truncated: 0 bytes, fewer than an IDX header's 4");
  std::string file = idxFile(0x08, {2, 3}, "abcdef");
  EXPECT_EQ(decodeError(file.substr(0, 9)),
            "input.idx: truncated header: 2 dimensions need 12 bytes, the file holds 9");
  EXPECT_EQ(decodeError(file.substr(0, 15)),
            "input.idx: truncated data: shape [2, 3] of u8 needs 6 bytes, the file holds 3");
  EXPECT_EQ(decodeError(gzip(file.substr(0, 15))),
            "input.idx: truncated data: shape [2, 3] of u8 needs 6 bytes, the decompressed file holds 3");
  EXPECT_EQ(decodeError(idxFile(0x0E, {2}, std::string(12, '\0'))),
            "input.idx: truncated data: shape [2] of f64 needs 16 bytes, the file holds 12");
}

TEST(Idx, RejectsTrailingGarbage) {
  EXPECT_EQ(decodeError(idxFile(0x08, {2}, "abc")), "input.idx: 1 bytes of trailing garbage after the 2 bytes of shape "
                                                    "[2] of u8");
  EXPECT_EQ(decodeError(gzip(idxFile(0x08, {2}, "abc"))),
            "input.idx: trailing garbage after the 2 bytes of shape [2] of u8");
}

TEST(Idx, RejectsShapesThatOverflow) {
  EXPECT_EQ(decodeError(idxFile(0x0E, {0xffffffff, 0xffffffff, 0xffffffff}, "")),
            "input.idx: the shape [4294967295, 4294967295] of f64 holds more bytes than any file can");
  // A zero extent anywhere makes the product zero, however large the rest.
  npy::Result<npy::Array> empty = decode(idxFile(0x08, {0xffffffff, 0, 0xffffffff}, ""), "empty");
  ASSERT_TRUE(empty) << empty.error();
  EXPECT_EQ(empty->shape, (std::vector<int64_t>{0xffffffff, 0, 0xffffffff}));
}

TEST(Idx, RejectsALyingHeaderBeforeDecompressingIt) {
  // 4 GiB declared in a few dozen compressed bytes: more than deflate can expand them to.
  std::string file = idxFile(0x08, {0x10000, 0x10000}, "\x01\x02");
  std::string error = decodeError(gzip(file));
  EXPECT_EQ(
      error.rfind("input.idx: the header declares 4294967308 bytes of shape [65536, 65536] of u8, more than the ", 0),
      0u)
      << error;
  // A small header followed by a megabyte of zeros stops at the header's size.
  EXPECT_EQ(decodeError(gzip(idxFile(0x08, {4}, std::string(1 << 20, '\0')))),
            "input.idx: trailing garbage after the 4 bytes of shape [4] of u8");
}

TEST(Idx, RejectsCorruptGzipData) {
  std::string compressed = gzip(idxFile(0x08, {64}, std::string(64, 'x')));
  EXPECT_EQ(decodeError(compressed.substr(0, compressed.size() - 4)), "input.idx: truncated gzip data");
  std::string flipped = compressed;
  flipped[flipped.size() - 6] ^= 0x01;  // inside the CRC-32 of the trailer
  EXPECT_EQ(decodeError(flipped), "input.idx: corrupt gzip data: incorrect data check");
  EXPECT_EQ(decodeError(std::string("\x1f\x8b\x08\x00garbage!", 12)).rfind("input.idx: ", 0), 0u);
}

TEST(Idx, ReportsAMissingFileAndADirectory) {
  npy::Result<npy::Array> missing = read("/nonexistent/kiln/train-images-idx3-ubyte.gz");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "/nonexistent/kiln/train-images-idx3-ubyte.gz: cannot open the file for reading");
  std::string directory = testing::TempDir();
  npy::Result<npy::Array> read = idx::read(directory);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), directory + ": is a directory, not an IDX file");
}

constexpr std::string_view kFashionMnist = "/usr/share/datasets/fashion-mnist";

TEST(Idx, ReadsFashionMnist) {
  if (!std::filesystem::exists(kFashionMnist)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  for (auto [split, count] : {std::pair{"train", 60000}, std::pair{"t10k", 10000}}) {
    std::string prefix = fmt::format("{}/{}", kFashionMnist, split);
    npy::Result<npy::Array> images = read(prefix + "-images-idx3-ubyte.gz");
    ASSERT_TRUE(images) << images.error();
    EXPECT_EQ(images->type, npy::ElementType::I32);
    EXPECT_EQ(images->shape, (std::vector<int64_t>{count, 28, 28}));
    std::vector<int32_t> pixels = elements<int32_t>(*images);
    EXPECT_EQ(*std::min_element(pixels.begin(), pixels.end()), 0);
    EXPECT_EQ(*std::max_element(pixels.begin(), pixels.end()), 255);

    npy::Result<npy::Array> labels = read(prefix + "-labels-idx1-ubyte.gz");
    ASSERT_TRUE(labels) << labels.error();
    EXPECT_EQ(labels->shape, (std::vector<int64_t>{count}));
    // Ten classes, each an equal tenth of the split.
    std::vector<int64_t> perClass(10, 0);
    for (int32_t label : elements<int32_t>(*labels)) {
      ASSERT_GE(label, 0);
      ASSERT_LE(label, 9);
      ++perClass[label];
    }
    EXPECT_EQ(perClass, std::vector<int64_t>(10, count / 10));
  }
}

}  // namespace
}  // namespace kiln::idx
