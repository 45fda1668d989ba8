// Reading and writing .npz archives through libzip. Every member is a .npy file decoded by
// npy::decode; a member's declared size is checked against what its compressed bytes can hold
// before anything is allocated for it, and libzip checks each member's CRC as it is read.
// Archives are written either to a file (libzip's temporary file and rename) or into memory.
#include "runtime/Npz.h"

#include <algorithm>
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
using MemberFile = std::unique_ptr<zip_file_t, MemberCloser>;

std::string libzipMessage(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

// Adds `bytes` (which must outlive the archive's closing: libzip reads them then) as `memberName`.
std::string addMember(zip_t *archive, const std::string &memberName, const std::string &bytes,
                      Compression compression) {
  zip_source_t *source = zip_source_buffer(archive, bytes.data(), bytes.size(), 0);
  if (!source) return zip_strerror(archive);
  zip_int64_t index = zip_file_add(archive, memberName.c_str(), source, ZIP_FL_ENC_UTF_8);
  if (index < 0) {
    zip_source_free(source);
    return fmt::format("cannot add '{}': {}", memberName, zip_strerror(archive));
  }
  zip_int32_t method = compression == Compression::Deflated ? ZIP_CM_DEFLATE : ZIP_CM_STORE;
  if (zip_set_file_compression(archive, index, method, 0) != 0) return zip_strerror(archive);
  // A fixed time (1980-01-01, the first a zip entry can hold) instead of the clock's, so that the
  // same arrays always give the same bytes: a resumed run's checkpoint equals a straight run's.
  constexpr time_t kFixedTime = 315532800;
  if (zip_file_set_mtime(archive, zip_uint64_t(index), kFixedTime, 0) != 0) return zip_strerror(archive);
  return {};
}

// An error message when the names cannot go into one archive: libzip deletes an archive left
// without members instead of writing it, and a member must be found again by its name.
// `what` is "array" or "member", with its article in `aWhat`.
std::string checkNames(const std::vector<std::string_view> &names, std::string_view what, std::string_view aWhat) {
  if (names.empty()) return fmt::format("no {}s to write", what);
  std::set<std::string_view> seen;
  for (std::string_view name : names) {
    if (name.empty()) return fmt::format("{} without a name cannot be stored", aWhat);
    if (!seen.insert(name).second) return fmt::format("two {}s are named '{}'", what, name);
  }
  return {};
}

}  // namespace

struct ArchiveReader::State {
  std::string name;
  size_t archiveSize = 0;
  Archive archive;

  template <typename T> npy::Result<T> failure(std::string_view memberName, std::string_view message) const {
    return npy::Result<T>::failure(fmt::format("{}: member '{}': {}", name, memberName, message));
  }
};

ArchiveReader::ArchiveReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
ArchiveReader::ArchiveReader(ArchiveReader &&) noexcept = default;
ArchiveReader &ArchiveReader::operator=(ArchiveReader &&) noexcept = default;
ArchiveReader::~ArchiveReader() = default;

npy::Result<ArchiveReader> ArchiveReader::open(std::string_view bytes, std::string_view name) {
  auto failure = [&](std::string message) {
    return npy::Result<ArchiveReader>::failure(fmt::format("{}: {}", name, message));
  };
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
  return ArchiveReader(std::make_unique<State>(State{std::string(name), bytes.size(), std::move(archive)}));
}

size_t ArchiveReader::memberCount() const {
  zip_int64_t count = zip_get_num_entries(state_->archive.get(), 0);
  return count < 0 ? 0 : static_cast<size_t>(count);
}

npy::Result<std::string> ArchiveReader::memberName(size_t index) const {
  const char *memberName = zip_get_name(state_->archive.get(), index, 0);
  if (!memberName)
    return npy::Result<std::string>::failure(fmt::format("{}: {}", state_->name, zip_strerror(state_->archive.get())));
  return std::string(memberName);
}

npy::Result<uint64_t> ArchiveReader::memberSize(size_t index) const {
  npy::Result<std::string> memberName = this->memberName(index);
  if (!memberName) return npy::Result<uint64_t>::failure(memberName.error());
  auto failure = [&](std::string_view message) { return state_->failure<uint64_t>(*memberName, message); };
  zip_stat_t stat;
  if (zip_stat_index(state_->archive.get(), index, 0, &stat) != 0) return failure(zip_strerror(state_->archive.get()));
  constexpr zip_uint64_t kNeeded = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  if ((stat.valid & kNeeded) != kNeeded) return failure("the archive does not record its sizes");
  if (stat.comp_method != ZIP_CM_STORE && stat.comp_method != ZIP_CM_DEFLATE)
    return failure(fmt::format("unsupported compression method {} (expected stored or deflated, as numpy writes)",
                               stat.comp_method));
  if (stat.comp_size > state_->archiveSize)
    return failure(fmt::format("declares {} compressed bytes, but the archive holds only {}", stat.comp_size,
                               state_->archiveSize));
  zip_uint64_t largest = stat.comp_method == ZIP_CM_STORE ? stat.comp_size : stat.comp_size * kLargestDeflateRatio;
  if (stat.size > largest)
    return failure(
        fmt::format("declares {} bytes, more than its {} compressed bytes can hold", stat.size, stat.comp_size));
  return uint64_t{stat.size};
}

npy::Result<std::string> ArchiveReader::readMember(size_t index) const {
  npy::Result<uint64_t> size = memberSize(index);
  if (!size) return npy::Result<std::string>::failure(size.error());
  std::string memberName = *this->memberName(index);
  auto failure = [&](std::string_view message) { return state_->failure<std::string>(memberName, message); };
  MemberFile member(zip_fopen_index(state_->archive.get(), index, 0));
  if (!member) return failure(zip_strerror(state_->archive.get()));
  std::string bytes(*size, '\0');
  zip_int64_t count = *size == 0 ? 0 : zip_fread(member.get(), bytes.data(), *size);
  if (count < 0) return failure(zip_file_strerror(member.get()));
  if (static_cast<zip_uint64_t>(count) != *size)
    return failure(fmt::format("truncated: it declares {} bytes but holds {}", *size, count));
  // Reading on to the end makes libzip compare the CRC.
  char extra;
  zip_int64_t beyond = zip_fread(member.get(), &extra, 1);
  if (beyond < 0) return failure(zip_file_strerror(member.get()));
  if (beyond > 0) return failure(fmt::format("holds more than the {} bytes it declares", *size));
  return bytes;
}

ArraysResult decode(std::string_view bytes, std::string_view name) {
  npy::Result<ArchiveReader> reader = ArchiveReader::open(bytes, name);
  if (!reader) return ArraysResult::failure(reader.error());
  std::vector<NamedArray> arrays;
  for (size_t index = 0; index < reader->memberCount(); ++index) {
    npy::Result<std::string> memberName = reader->memberName(index);
    if (!memberName) return ArraysResult::failure(memberName.error());
    std::string_view member(*memberName);
    if (member.size() <= kMemberSuffix.size() || !member.ends_with(kMemberSuffix))
      return ArraysResult::failure(fmt::format("{}: member '{}' is not a NAME.npy file", name, member));
    npy::Result<std::string> memberBytes = reader->readMember(index);
    if (!memberBytes) return ArraysResult::failure(memberBytes.error());
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

namespace {
std::vector<Member> npyMembers(const std::vector<NamedArray> &arrays) {
  std::vector<Member> members;
  members.reserve(arrays.size());
  for (const NamedArray &named : arrays)
    members.push_back({named.name + std::string(kMemberSuffix), npy::encode(named.array)});
  return members;
}

std::vector<std::string_view> arrayNames(const std::vector<NamedArray> &arrays) {
  std::vector<std::string_view> names;
  for (const NamedArray &named : arrays) names.push_back(named.name);
  return names;
}

struct SourceCloser {
  void operator()(zip_source_t *source) const { zip_source_free(source); }
};
using Source = std::unique_ptr<zip_source_t, SourceCloser>;

std::string sourceMessage(zip_source_t *source) { return zip_error_strerror(zip_source_error(source)); }
}  // namespace

std::string encodeMembers(const std::vector<Member> &members, Compression compression, std::string_view name,
                          const std::function<std::string(std::string_view piece)> &sink) {
  std::vector<std::string_view> names;
  for (const Member &member : members) names.push_back(member.name);
  if (std::string error = checkNames(names, "member", "a member"); !error.empty())
    return fmt::format("{}: {}", name, error);
  zip_error_t error;
  zip_error_init(&error);
  Source buffer(zip_source_buffer_create(nullptr, 0, 0, &error));
  if (!buffer) {
    std::string message = fmt::format("{}: {}", name, zip_error_strerror(&error));
    zip_error_fini(&error);
    return message;
  }
  // The archive takes one reference and frees it when closed; `buffer` keeps the other.
  zip_source_keep(buffer.get());
  zip_t *archive = zip_open_from_source(buffer.get(), ZIP_TRUNCATE, &error);
  if (!archive) {
    zip_source_free(buffer.get());
    std::string message = fmt::format("{}: {}", name, zip_error_strerror(&error));
    zip_error_fini(&error);
    return message;
  }
  zip_error_fini(&error);
  for (const Member &member : members)
    if (std::string message = addMember(archive, member.name, member.bytes, compression); !message.empty()) {
      zip_discard(archive);
      return fmt::format("{}: {}", name, message);
    }
  if (zip_close(archive) != 0) {
    std::string message = fmt::format("{}: cannot encode the archive: {}", name, zip_strerror(archive));
    zip_discard(archive);
    return message;
  }
  zip_stat_t stat;
  if (zip_source_stat(buffer.get(), &stat) != 0 || !(stat.valid & ZIP_STAT_SIZE))
    return fmt::format("{}: {}", name, sourceMessage(buffer.get()));
  if (zip_source_open(buffer.get()) != 0) return fmt::format("{}: {}", name, sourceMessage(buffer.get()));
  // Pieces of at most a megabyte: few writes for a large archive, no large buffer for a small one.
  std::string piece(std::min<zip_uint64_t>(stat.size, zip_uint64_t{1} << 20), '\0');
  std::string result;
  for (;;) {
    zip_int64_t count = zip_source_read(buffer.get(), piece.data(), piece.size());
    if (count < 0) {
      result = fmt::format("{}: {}", name, sourceMessage(buffer.get()));
      break;
    }
    if (count == 0) break;
    result = sink(std::string_view(piece.data(), static_cast<size_t>(count)));
    if (!result.empty()) break;
  }
  zip_source_close(buffer.get());
  return result;
}

npy::Result<std::string> encode(const std::vector<NamedArray> &arrays, Compression compression) {
  if (std::string error = checkNames(arrayNames(arrays), "array", "an array"); !error.empty())
    return npy::Result<std::string>::failure(error);
  std::string bytes;
  std::string error = encodeMembers(npyMembers(arrays), compression, "the archive", [&](std::string_view piece) {
    bytes += piece;
    return std::string();
  });
  if (!error.empty()) return npy::Result<std::string>::failure(error);
  return bytes;
}

std::string write(const std::string &path, const std::vector<NamedArray> &arrays, Compression compression) {
  if (std::string error = checkNames(arrayNames(arrays), "array", "an array"); !error.empty())
    return fmt::format("{}: {}", path, error);
  int code = 0;
  Archive archive(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code));
  if (!archive) return fmt::format("{}: cannot open the file for writing: {}", path, libzipMessage(code));
  // libzip reads the member bytes only when the archive is closed: they must outlive the loop.
  std::vector<Member> members = npyMembers(arrays);
  for (const Member &member : members)
    if (std::string message = addMember(archive.get(), member.name, member.bytes, compression); !message.empty())
      return fmt::format("{}: {}", path, message);
  zip_t *closing = archive.release();
  if (zip_close(closing) != 0) {
    std::string message = fmt::format("{}: cannot write the file: {}", path, zip_strerror(closing));
    zip_discard(closing);
    return message;
  }
  return {};
}

}  // namespace kiln::npz
