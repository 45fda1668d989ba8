// Reading and writing .npz archives through libzip. Every member is a .npy file decoded by
// npy::decode; a member's declared size is checked against what its compressed bytes can hold
// before anything is allocated for it, and libzip checks each member's CRC as it is read.
#include "runtime/Npz.h"

#include <memory>
#include <set>

#include <fmt/format.h>
#include <zip.h>

namespace kiln::npz {

namespace {
using ArraysResult = npy::Result<std::vector<NamedArray>>;

// Deflate turns at most 1032 bytes into one compressed byte; a member declaring more than that
// ratio lies about its size.
constexpr zip_uint64_t kLargestDeflateRatio = 1032;
constexpr std::string_view kMemberSuffix = ".npy";

struct ArchiveCloser {
  void operator()(zip_t *archive) const { zip_discard(archive); }
};
struct MemberCloser {
  void operator()(zip_file_t *member) const { zip_fclose(member); }
};
using Archive = std::unique_ptr<zip_t, ArchiveCloser>;
using Member = std::unique_ptr<zip_file_t, MemberCloser>;

std::string libzipMessage(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

// The bytes of member `index`, whose name is `memberName`; or an error message.
npy::Result<std::string> readMember(zip_t *archive, zip_uint64_t index, std::string_view memberName,
                                    size_t archiveSize) {
  auto failure = [&](std::string message) {
    return npy::Result<std::string>::failure(fmt::format("member '{}': {}", memberName, message));
  };
  zip_stat_t stat;
  if (zip_stat_index(archive, index, 0, &stat) != 0) return failure(zip_strerror(archive));
  constexpr zip_uint64_t kNeeded = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  if ((stat.valid & kNeeded) != kNeeded) return failure("the archive does not record its sizes");
  if (stat.comp_method != ZIP_CM_STORE && stat.comp_method != ZIP_CM_DEFLATE)
    return failure(fmt::format("unsupported compression method {} (expected stored or deflated, as numpy writes)",
                               stat.comp_method));
  if (stat.comp_size > archiveSize)
    return failure(
        fmt::format("declares {} compressed bytes, but the archive holds only {}", stat.comp_size, archiveSize));
  zip_uint64_t largest = stat.comp_method == ZIP_CM_STORE ? stat.comp_size : stat.comp_size * kLargestDeflateRatio;
  if (stat.size > largest)
    return failure(
        fmt::format("declares {} bytes, more than its {} compressed bytes can hold", stat.size, stat.comp_size));
  Member member(zip_fopen_index(archive, index, 0));
  if (!member) return failure(zip_strerror(archive));
  std::string bytes(stat.size, '\0');
  zip_int64_t count = stat.size == 0 ? 0 : zip_fread(member.get(), bytes.data(), stat.size);
  if (count < 0) return failure(zip_file_strerror(member.get()));
  if (static_cast<zip_uint64_t>(count) != stat.size)
    return failure(fmt::format("truncated: it declares {} bytes but holds {}", stat.size, count));
  // Reading on to the end makes libzip compare the CRC.
  char extra;
  zip_int64_t beyond = zip_fread(member.get(), &extra, 1);
  if (beyond < 0) return failure(zip_file_strerror(member.get()));
  if (beyond > 0) return failure(fmt::format("holds more than the {} bytes it declares", stat.size));
  return bytes;
}
}  // namespace

ArraysResult decode(std::string_view bytes, std::string_view name) {
  auto failure = [&](std::string message) { return ArraysResult::failure(fmt::format("{}: {}", name, message)); };
  constexpr std::string_view kNotAnArchive = "not a .npz file (expected a zip archive of .npy files)";
  // libzip takes no bytes at all for an archive without members.
  if (bytes.empty()) return failure(fmt::format("{}; it is empty", kNotAnArchive));
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t *source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (!source) {
    std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    return failure(message);
  }
  Archive archive(zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error));
  if (!archive) {
    zip_source_free(source);
    bool notZip = zip_error_code_zip(&error) == ZIP_ER_NOZIP;
    std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    if (notZip) return failure(std::string(kNotAnArchive));
    return failure(fmt::format("not a valid .npz (zip) archive: {}", message));
  }
  zip_error_fini(&error);

  std::vector<NamedArray> arrays;
  zip_int64_t count = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t index = 0; index < count; ++index) {
    const char *memberName = zip_get_name(archive.get(), index, 0);
    if (!memberName) return failure(zip_strerror(archive.get()));
    std::string_view member(memberName);
    if (member.size() <= kMemberSuffix.size() || !member.ends_with(kMemberSuffix))
      return failure(fmt::format("member '{}' is not a NAME.npy file", member));
    npy::Result<std::string> memberBytes = readMember(archive.get(), index, member, bytes.size());
    if (!memberBytes) return failure(memberBytes.error());
    npy::Result<npy::Array> array = npy::decode(*memberBytes, fmt::format("{}: member '{}'", name, member));
    if (!array) return ArraysResult::failure(array.error());
    arrays.push_back({std::string(member.substr(0, member.size() - kMemberSuffix.size())), std::move(*array)});
  }
  return arrays;
}

ArraysResult read(const std::string &path) {
  npy::Result<std::string> bytes = npy::readFileBytes(path, "a .npz file");
  if (!bytes) return ArraysResult::failure(bytes.error());
  return decode(*bytes, path);
}

npy::Result<npy::Array> find(std::vector<NamedArray> &arrays, std::string_view arrayName, std::string_view path) {
  std::string names;
  for (NamedArray &named : arrays) {
    if (named.name == arrayName) return std::move(named.array);
    names += (names.empty() ? "'" : ", '") + named.name + "'";
  }
  return npy::Result<npy::Array>::failure(
      fmt::format("{}: no array '{}' in the archive (it holds {})", path, arrayName, names.empty() ? "none" : names));
}

std::string write(const std::string &path, const std::vector<NamedArray> &arrays, Compression compression) {
  // libzip deletes an archive left without members instead of writing it.
  if (arrays.empty()) return fmt::format("{}: no arrays to write", path);
  std::set<std::string_view> seen;
  for (const NamedArray &named : arrays) {
    if (named.name.empty()) return fmt::format("{}: an array without a name cannot be stored", path);
    if (!seen.insert(named.name).second) return fmt::format("{}: two arrays are named '{}'", path, named.name);
  }
  int code = 0;
  Archive archive(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code));
  if (!archive) return fmt::format("{}: cannot open the file for writing: {}", path, libzipMessage(code));
  // libzip reads the member bytes only when the archive is closed: they must outlive the loop.
  std::vector<std::string> encoded;
  encoded.reserve(arrays.size());
  for (const NamedArray &named : arrays) {
    encoded.push_back(npy::encode(named.array));
    zip_source_t *source = zip_source_buffer(archive.get(), encoded.back().data(), encoded.back().size(), 0);
    if (!source) return fmt::format("{}: {}", path, zip_strerror(archive.get()));
    std::string memberName = named.name + std::string(kMemberSuffix);
    zip_int64_t index = zip_file_add(archive.get(), memberName.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      return fmt::format("{}: cannot add '{}': {}", path, memberName, zip_strerror(archive.get()));
    }
    zip_int32_t method = compression == Compression::Deflated ? ZIP_CM_DEFLATE : ZIP_CM_STORE;
    if (zip_set_file_compression(archive.get(), index, method, 0) != 0)
      return fmt::format("{}: {}", path, zip_strerror(archive.get()));
  }
  zip_t *closing = archive.release();
  if (zip_close(closing) != 0) {
    std::string message = fmt::format("{}: cannot write the file: {}", path, zip_strerror(closing));
    zip_discard(closing);
    return message;
  }
  return {};
}

}  // namespace kiln::npz
