// The .npz reader and writer: round trips stored and deflated, and one test per malformed
// archive (built with libzip, then damaged byte by byte), each checking that the message names
// the file, the member where one is at fault, and the problem.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zip.h>

#include "runtime/Npz.h"

namespace kiln::npz {
namespace {

std::string temporaryPath(std::string_view name) {
  return (std::filesystem::path(testing::TempDir()) / fmt::format("kiln-npz-test-{}", name)).string();
}

std::string fileBytes(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

npy::Array floats(std::vector<int64_t> shape, std::vector<float> values) {
  npy::Array array{npy::ElementType::F32, std::move(shape), std::vector<std::byte>(values.size() * sizeof(float))};
  if (!values.empty()) std::memcpy(array.data.data(), values.data(), array.data.size());
  return array;
}

// The bytes of a zip archive holding members of the given names and contents, made by libzip
// directly so that members need not be .npy files.
std::string zipOf(const std::vector<std::pair<std::string, std::string>> &members, zip_int32_t method = ZIP_CM_STORE) {
  std::string path = temporaryPath("raw.zip");
  int code = 0;
  zip_t *archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  EXPECT_NE(archive, nullptr);
  for (const auto &[name, content] : members) {
    zip_source_t *source = zip_source_buffer(archive, content.data(), content.size(), 0);
    zip_int64_t index = zip_file_add(archive, name.c_str(), source, 0);
    EXPECT_GE(index, 0);
    zip_set_file_compression(archive, index, method, 0);
  }
  EXPECT_EQ(zip_close(archive), 0);
  std::string bytes = fileBytes(path);
  std::filesystem::remove(path);
  return bytes;
}

std::string decodeError(std::string_view bytes) {
  npy::Result<std::vector<NamedArray>> result = decode(bytes, "input.npz");
  return result ? "no error" : result.error();
}

// Sets the 4-byte little-endian field at `offset` after every occurrence of `signature`.
void patchField(std::string &bytes, std::string_view signature, size_t offset, uint32_t value) {
  for (size_t at = bytes.find(signature); at != std::string::npos; at = bytes.find(signature, at + 1))
    for (size_t i = 0; i < 4; ++i) bytes[at + offset + i] = static_cast<char>(value >> (8 * i) & 0xff);
}
constexpr std::string_view kLocalHeader("PK\x03\x04", 4), kCentralHeader("PK\x01\x02", 4);

TEST(Npz, RoundTripsStoredAndDeflated) {
  std::vector<NamedArray> arrays = {{"weights", floats({2, 2}, {1, -2, 3.5f, 0})}, {"bias", floats({0}, {})}};
  for (Compression compression : {Compression::Stored, Compression::Deflated}) {
    std::string path = temporaryPath("round-trip.npz");
    ASSERT_EQ(write(path, arrays, compression), "");
    npy::Result<std::vector<NamedArray>> read = npz::read(path);
    ASSERT_TRUE(read) << read.error();
    ASSERT_EQ(read->size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ((*read)[i].name, arrays[i].name);
      EXPECT_EQ((*read)[i].array.shape, arrays[i].array.shape);
      EXPECT_EQ((*read)[i].array.data, arrays[i].array.data);
    }
    std::filesystem::remove(path);
  }
}

TEST(Npz, FindsAnArrayByName) {
  std::vector<NamedArray> arrays = {{"x", floats({1}, {4})}, {"y", floats({1}, {5})}};
  npy::Result<npy::Array> y = find(arrays, "y", "data.npz");
  ASSERT_TRUE(y) << y.error();
  EXPECT_EQ(y->data, floats({1}, {5}).data);
  npy::Result<npy::Array> z = find(arrays, "z", "data.npz");
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error(), "data.npz: no array 'z' in the archive (it holds 'x', 'y')");
}

TEST(Npz, RejectsWhatIsNotAZipArchive) {
  EXPECT_EQ(decodeError(""), "input.npz: not a .npz file (expected a zip archive of .npy files); it is empty");
  EXPECT_EQ(decodeError("\x93NUMPY\x01\x00 not an archive"),
            "input.npz: not a .npz file (expected a zip archive of .npy files)");
}

TEST(Npz, RejectsATruncatedArchive) {
  std::string bytes = zipOf({{"x.npy", npy::encode(floats({3}, {1, 2, 3}))}});
  // Without its end-of-central-directory record an archive is not recognised as one.
  EXPECT_EQ(decodeError(bytes.substr(0, bytes.size() - 30)),
            "input.npz: not a .npz file (expected a zip archive of .npy files)");
  // Cut inside the central directory, the record's offsets point past the end.
  std::string cut = bytes.substr(0, 40) + bytes.substr(bytes.size() - 22);
  EXPECT_NE(decodeError(cut).find("input.npz: not a valid .npz (zip) archive: "), std::string::npos)
      << decodeError(cut);
}

TEST(Npz, RejectsMembersThatAreNotNpyFiles) {
  EXPECT_EQ(decodeError(zipOf({{"notes.txt", "hello"}})), "input.npz: member 'notes.txt' is not a NAME.npy file");
  EXPECT_EQ(decodeError(zipOf({{".npy", "hello"}})), "input.npz: member '.npy' is not a NAME.npy file");
  EXPECT_EQ(decodeError(zipOf({{"x.npy", "hello"}})),
            "input.npz: member 'x.npy': not a .npy file (expected the magic string \\x93NUMPY at its start)");
}

TEST(Npz, RejectsAMemberOfAnUnsupportedDType) {
  std::string member = npy::encode(floats({2}, {1, 2}));
  member.replace(member.find("<f4"), 3, "<u2");
  EXPECT_EQ(decodeError(zipOf({{"x.npy", member}})),
            "input.npz: member 'x.npy': unsupported dtype '<u2' (expected '<f4', '<f8', '<i4', '<i8' or '|b1')");
}

TEST(Npz, RejectsAMemberWhoseShapeOverflows) {
  std::string member = npy::encode(floats({2}, {1, 2}));
  std::string_view shape = "(4294967296, 4294967296, 16)";
  member.replace(member.find("(2,)"), 4, shape);
  member.erase(member.find('\n') - (shape.size() - 4), shape.size() - 4);  // keep the header's length
  EXPECT_EQ(decodeError(zipOf({{"x.npy", member}})),
            "input.npz: member 'x.npy': the shape (4294967296, 4294967296, 16) holds too many elements");
}

TEST(Npz, RejectsAMemberOfTheWrongSize) {
  std::string member = npy::encode(floats({3}, {1, 2, 3}));
  EXPECT_EQ(decodeError(zipOf({{"x.npy", member.substr(0, member.size() - 4)}})),
            "input.npz: member 'x.npy': truncated data: shape (3,) of '<f4' needs 12 bytes, the file holds 8");
}

TEST(Npz, RejectsAMemberWhoseDeclaredSizeLies) {
  // 4 GiB declared for a stored member of 140 bytes, in both the local and the central header.
  std::string bytes = zipOf({{"x.npy", npy::encode(floats({3}, {1, 2, 3}))}});
  patchField(bytes, kLocalHeader, 22, 0xfffffff0u);
  patchField(bytes, kCentralHeader, 24, 0xfffffff0u);
  EXPECT_EQ(decodeError(bytes), "input.npz: member 'x.npy': declares 4294967280 bytes, more than its 140 compressed "
                                "bytes can hold");
  // The same lie told to a deflated member: more than deflate's ratio.
  std::string deflated = zipOf({{"x.npy", npy::encode(floats({3}, {1, 2, 3}))}}, ZIP_CM_DEFLATE);
  patchField(deflated, kLocalHeader, 22, 0xfffffff0u);
  patchField(deflated, kCentralHeader, 24, 0xfffffff0u);
  EXPECT_NE(decodeError(deflated).find("declares 4294967280 bytes, more than its"), std::string::npos)
      << decodeError(deflated);
}

TEST(Npz, RejectsAMemberWhoseSizeDisagreesWithItsData) {
  std::string bytes = zipOf({{"x.npy", npy::encode(floats({3}, {1, 2, 3}))}}, ZIP_CM_DEFLATE);
  patchField(bytes, kLocalHeader, 22, 100);
  patchField(bytes, kCentralHeader, 24, 100);
  EXPECT_NE(decodeError(bytes).find("input.npz: member 'x.npy': "), std::string::npos) << decodeError(bytes);
}

TEST(Npz, RejectsACorruptedMember) {
  std::string bytes = zipOf({{"x.npy", npy::encode(floats({3}, {1, 2, 3}))}});
  // The last data byte of the only member sits just before the central directory.
  size_t central = bytes.find(kCentralHeader);
  bytes[central - 1] ^= 0x40;
  EXPECT_EQ(decodeError(bytes), "input.npz: member 'x.npy': CRC error");
}

TEST(Npz, ReportsAMissingFileAndADirectory) {
  npy::Result<std::vector<NamedArray>> missing = read("/nonexistent/kiln/input.npz");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "/nonexistent/kiln/input.npz: cannot open the file for reading");
  std::string directory = testing::TempDir();
  npy::Result<std::vector<NamedArray>> read = npz::read(directory);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), directory + ": is a directory, not a .npz file");
}

TEST(Npz, RefusesToWriteWhatItCannot) {
  std::string path = temporaryPath("refused.npz");
  EXPECT_EQ(write(path, {}), path + ": no arrays to write");
  EXPECT_EQ(write(path, {{"x", floats({1}, {1})}, {"x", floats({1}, {2})}}), path + ": two arrays are named 'x'");
  EXPECT_EQ(write(path, {{"", floats({1}, {1})}}), path + ": an array without a name cannot be stored");
  EXPECT_FALSE(std::filesystem::exists(path));
  std::string error = write("/nonexistent/kiln/output.npz", {{"x", floats({1}, {1})}});
  EXPECT_EQ(error.rfind("/nonexistent/kiln/output.npz: cannot", 0), 0u) << error;
}

TEST(Npz, KeepsTheOldFileWhenAWriteFails) {
  std::string path = temporaryPath("kept.npz");
  ASSERT_EQ(write(path, {{"x", floats({1}, {7})}}), "");
  std::string before = fileBytes(path);
  EXPECT_NE(write(path, {{"x", floats({1}, {1})}, {"x", floats({1}, {2})}}), "");
  EXPECT_EQ(fileBytes(path), before);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kiln::npz
