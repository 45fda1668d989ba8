// The .npy reader and writer: round trips in every dtype, the three header versions, and
// one test per malformed file, checking that its message names the file and the problem.
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "runtime/Npy.h"

namespace kiln::npy {
namespace {

template <typename T> Array makeArray(ElementType type, std::vector<int64_t> shape, std::vector<T> values) {
  Array array{type, std::move(shape), std::vector<std::byte>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(array.data.data(), values.data(), array.data.size());
  return array;
}

void expectSame(const Array &expected, Result<Array> &found) {
  ASSERT_TRUE(found) << found.error();
  EXPECT_EQ(found->type, expected.type);
  EXPECT_EQ(found->shape, expected.shape);
  EXPECT_EQ(found->data, expected.data);
}

// A file of the given version around a header text (padding and '\n' added as NumPy does).
std::string fileWithHeader(std::string header, int major = 1, std::string data = {}) {
  size_t lengthSize = major == 1 ? 2 : 4;
  size_t unpadded = 8 + lengthSize + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += static_cast<char>(major);
  bytes += '\0';
  for (size_t i = 0; i < lengthSize; ++i) bytes += static_cast<char>(header.size() >> (8 * i) & 0xff);
  return bytes + header + data;
}

std::string decodeError(std::string_view bytes) {
  Result<Array> result = decode(bytes, "input.npy");
  return result ? "no error" : result.error();
}

TEST(Npy, RoundTripsEveryDType) {
  std::vector<Array> arrays = {
      makeArray<float>(ElementType::F32, {2, 3}, {1.5f, -2, 0, 3, 4e30f, -0.0f}),
      makeArray<double>(ElementType::F64, {}, {3.141592653589793}),
      makeArray<int32_t>(ElementType::I32, {3}, {1, -2, 2147483647}),
      makeArray<int64_t>(ElementType::I64, {1, 2, 1}, {-9007199254740993, 7}),
      makeArray<uint8_t>(ElementType::Bool, {4}, {1, 0, 0, 1}),
      makeArray<float>(ElementType::F32, {2, 0}, {}),
  };
  for (const Array &array : arrays) {
    std::string bytes = encode(array);
    EXPECT_EQ((bytes.size() - array.data.size()) % 64, 0u) << "the data must start 64-byte aligned";
    Result<Array> decoded = decode(bytes, "memory");
    expectSame(array, decoded);
  }
}

TEST(Npy, WritesTheHeaderNumPyWrites) {
  std::string bytes = encode(makeArray<int32_t>(ElementType::I32, {3}, {1, 2, 3}));
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(bytes.substr(10, 57), "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }");
  ASSERT_EQ(bytes.size(), 128u + 12u);
  EXPECT_EQ(bytes[127], '\n');
}

TEST(Npy, RoundTripsThroughAFile) {
  std::string path = (std::filesystem::path(testing::TempDir()) / "kiln-npy-test.npy").string();
  Array array = makeArray<double>(ElementType::F64, {2}, {0.1, -7});
  ASSERT_EQ(write(path, array), "");
  Result<Array> read = npy::read(path);
  expectSame(array, read);
  std::filesystem::remove(path);
}

TEST(Npy, ReadsVersionsTwoAndThree) {
  std::string data(8, '\0');
  data[0] = 5;
  for (int major : {2, 3}) {
    Result<Array> result =
        decode(fileWithHeader("{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (1, 1)}", major, data), "v");
    expectSame(makeArray<int64_t>(ElementType::I64, {1, 1}, {5}), result);
  }
}

TEST(Npy, RejectsABadMagicString) {
  EXPECT_EQ(decodeError("PK\x03\x04 not npy"),
            "input.npy: not a .npy file (expected the magic string \\x93NUMPY at its start)");
}

TEST(Npy, RejectsAnUnknownVersion) {
  std::string bytes = fileWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", 1, "abcd");
  bytes[6] = 4;
  EXPECT_EQ(decodeError(bytes), "input.npy: unsupported format version 4.0 (expected 1.0, 2.0 or 3.0)");
}

TEST(Npy, RejectsTruncatedHeaders) {
  EXPECT_EQ(decodeError(std::string("\x93NUMPY\x01", 7)), "input.npy: truncated before the format version");
  EXPECT_EQ(decodeError(std::string("\x93NUMPY\x01\x00\x40", 9)), "input.npy: truncated before the header length");
  std::string bytes = fileWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': ()}");
  EXPECT_EQ(decodeError(bytes.substr(0, 40)),
            "input.npy: truncated header: it declares 54 bytes but the file holds 30 after the length");
}

TEST(Npy, RejectsMalformedHeaders) {
  std::string noNewline = fileWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': ()}", 1, "abcd");
  noNewline[63] = ' ';
  EXPECT_EQ(decodeError(noNewline), "input.npy: malformed header: it does not end with '\\n'");
  EXPECT_EQ(decodeError(fileWithHeader("{'descr': '<f4', 'shape': ()}")),
            "input.npy: malformed header: expected the keys descr, fortran_order and shape");
  EXPECT_EQ(decodeError(fileWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}")),
            "input.npy: unexpected key 'extra' in the header (expected descr, fortran_order and shape)");
  EXPECT_EQ(decodeError(fileWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1)}")),
            "input.npy: malformed header: expected a non-negative integer dimension at offset 54 of "
            "'{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1)}'");
  EXPECT_EQ(decodeError(fileWithHeader("{'descr': '<f4', 'fortran_order': maybe, 'shape': ()}")),
            "input.npy: malformed header: expected True or False after 'fortran_order' at offset 34 of "
            "'{'descr': '<f4', 'fortran_order': maybe, 'shape': ()}'");
}

TEST(Npy, RejectsUnsupportedDTypes) {
  for (std::string dtype : {">f4", "|u1", "<f2", "<c8"})
    EXPECT_EQ(decodeError(fileWithHeader("{'descr': '" + dtype + "', 'fortran_order': False, 'shape': ()}", 1, "ab")),
              "input.npy: unsupported dtype '" + dtype + "' (expected '<f4', '<f8', '<i4', '<i8' or '|b1')");
}

// NumPy writes a transposed array column-major: the reader returns it row-major.
TEST(Npy, ReadsFortranOrderAsRowMajor) {
  std::string data;
  for (int32_t value : {0, 3, 1, 4, 2, 5}) data.append(reinterpret_cast<const char *>(&value), sizeof value);
  Result<Array> array =
      decode(fileWithHeader("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3)}", 1, data), "t");
  ASSERT_TRUE(array) << array.error();
  std::vector<int32_t> values(6);
  std::memcpy(values.data(), array->data.data(), array->data.size());
  EXPECT_EQ(values, (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));

  // Three axes: element (i, j, k) of a [2, 3, 2] array is stored at i + 2 (j + 3 k).
  std::string cube;
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) {
        int32_t value = 100 * i + 10 * j + k;
        cube.append(reinterpret_cast<const char *>(&value), sizeof value);
      }
  array = decode(fileWithHeader("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 2)}", 1, cube), "t");
  ASSERT_TRUE(array) << array.error();
  values.resize(12);
  std::memcpy(values.data(), array->data.data(), array->data.size());
  EXPECT_EQ(values, (std::vector<int32_t>{0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121}));
}

TEST(Npy, RejectsDataOfTheWrongSize) {
  std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3)}";
  EXPECT_EQ(decodeError(fileWithHeader(header, 1, std::string(20, '\0'))),
            "input.npy: truncated data: shape (2, 3) of '<i4' needs 24 bytes, the file holds 20");
  EXPECT_EQ(decodeError(fileWithHeader(header, 1, std::string(25, '\0'))),
            "input.npy: 1 bytes of trailing garbage after the 24 bytes of shape (2, 3) of '<i4'");
  EXPECT_EQ(decodeError(fileWithHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4)}")),
            "input.npy: the shape (4611686018427387904, 4) holds too many elements");
}

TEST(Npy, RejectsBooleansOtherThanZeroAndOne) {
  EXPECT_EQ(decodeError(fileWithHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (3,)}", 1,
                                       std::string("\x01\x00\x02", 3))),
            "input.npy: element 2 of a boolean array is 2, not 0 or 1");
}

TEST(Npy, ReportsAMissingFile) {
  Result<Array> result = read("/nonexistent/kiln/input.npy");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), "/nonexistent/kiln/input.npy: cannot open the file for reading");
}

}  // namespace
}  // namespace kiln::npy
