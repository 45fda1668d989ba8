// Checkpoints as .npz archives with a text header (the format is described in Checkpoint.h). The
// archive is encoded in memory by runtime/Npz.cpp and streamed into a temporary file that this
// file creates, fsyncs and renames itself, since libzip's own temporary file is never fsynced.
// Members are stored, not deflated: on the weights and Adam state of an MLP 784-256-256-10 (3.2 MB of
// normally distributed floats), deflate saved 7.6% of the bytes for 12 times the time to encode
// (296 ms against 25 ms) and 11 times the time to decode (37 ms against 3 ms).
#include "runtime/Checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <system_error>

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/Npz.h"
#include "runtime/ProgramTable.h"

namespace kiln::checkpoint {

namespace {
using CheckpointResult = npy::Result<Checkpoint>;

constexpr std::string_view kMagic = "kiln-checkpoint";
constexpr std::string_view kNpySuffix = ".npy";
constexpr std::string_view kTemporaryMarker = ".kiln-tmp-";
// Far more than any model's header needs (ten thousand tensors take about a megabyte).
constexpr uint64_t kLargestHeader = uint64_t{64} << 20;
// What a version 1.0 .npy file adds to its data: magic, version, length and at most 65535 bytes of header.
constexpr uint64_t kLargestNpyOverhead = 10 + 65535;
// No tensor's data is larger; it keeps every byte count below 2^63.
constexpr uint64_t kLargestTensorBytes = uint64_t{1} << 62;

constexpr std::pair<npy::ElementType, std::string_view> kTypeNames[] = {{npy::ElementType::F32, "f32"},
                                                                        {npy::ElementType::F64, "f64"},
                                                                        {npy::ElementType::I32, "i32"},
                                                                        {npy::ElementType::I64, "i64"},
                                                                        {npy::ElementType::Bool, "i1"}};
constexpr std::pair<int32_t, std::string_view> kRoleNames[] = {
    {KILN_ROLE_NONE, "none"},           {KILN_ROLE_INPUT, "input"}, {KILN_ROLE_LABEL, "label"},
    {KILN_ROLE_PARAMETER, "parameter"}, {KILN_ROLE_STATE, "state"}, {KILN_ROLE_BUFFER, "buffer"}};

std::string_view typeName(npy::ElementType type) {
  for (auto [candidate, name] : kTypeNames)
    if (candidate == type) return name;
  return "?";
}

std::string_view roleName(int32_t role) {
  for (auto [candidate, name] : kRoleNames)
    if (candidate == role) return name;
  return "";
}

// How checkFits names a role in a sentence.
std::string_view roleNoun(int32_t role) {
  switch (role) {
  case KILN_ROLE_PARAMETER: return "a parameter";
  case KILN_ROLE_STATE: return "optimizer state";
  case KILN_ROLE_BUFFER: return "a buffer";
  case KILN_ROLE_INPUT: return "an input";
  case KILN_ROLE_LABEL: return "a label";
  default: return "a tensor without a role";
  }
}

bool isTensorNameCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}
bool isValidTensorName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), isTensorNameCharacter);
}
bool isValidFieldKey(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}
bool hasLineBreak(std::string_view text) { return text.find_first_of("\n\r") != std::string_view::npos; }

// The bytes of `shape`'s elements of `type`, or nullopt past kLargestTensorBytes or for a negative extent.
std::optional<uint64_t> dataBytes(npy::ElementType type, const std::vector<int64_t> &shape) {
  uint64_t bytes = npy::byteSize(type);
  for (int64_t extent : shape) {
    if (extent < 0) return std::nullopt;
    if (extent != 0 && bytes > kLargestTensorBytes / static_cast<uint64_t>(extent)) return std::nullopt;
    bytes *= static_cast<uint64_t>(extent);
  }
  return bytes;
}

std::string systemMessage(int code) { return std::system_category().message(code); }

// ---- Encoding -------------------------------------------------------------------------------------

// The header member and one .npy member per tensor, or an error message starting with `name`.
npy::Result<std::vector<npz::Member>> members(const Checkpoint &checkpoint, std::string_view name) {
  auto failure = [&](std::string message) {
    return npy::Result<std::vector<npz::Member>>::failure(fmt::format("{}: {}", name, message));
  };
  if (checkpoint.model.empty()) return failure("the checkpoint has no model name");
  if (hasLineBreak(checkpoint.model)) return failure("the model's name contains a line break");
  std::string header = fmt::format("{} {}\nmodel {}\n", kMagic, kFormatVersion, checkpoint.model);
  std::set<std::string_view> keys;
  for (const auto &[key, value] : checkpoint.fields) {
    if (!isValidFieldKey(key)) return failure(fmt::format("the field key '{}' is not made of [a-z_0-9]", key));
    if (!keys.insert(key).second) return failure(fmt::format("two fields are named '{}'", key));
    if (hasLineBreak(value)) return failure(fmt::format("the value of field '{}' contains a line break", key));
    header += fmt::format("field {} {}\n", key, value);
  }
  std::set<std::string_view> names;
  for (const Tensor &tensor : checkpoint.tensors) {
    if (!isValidTensorName(tensor.name))
      return failure(fmt::format("the tensor name '{}' is not made of letters, digits, '_', '.' and '-'", tensor.name));
    if (!names.insert(tensor.name).second) return failure(fmt::format("two tensors are named '{}'", tensor.name));
    if (roleName(tensor.role).empty())
      return failure(fmt::format("tensor '{}' has the unknown role {}", tensor.name, tensor.role));
    std::optional<uint64_t> bytes = dataBytes(tensor.array.type, tensor.array.shape);
    if (!bytes || *bytes != tensor.array.data.size())
      return failure(fmt::format("tensor '{}' of type {} holds {} bytes", tensor.name,
                                 typeText(tensor.array.type, tensor.array.shape), tensor.array.data.size()));
    header += fmt::format("tensor {} {} {}\n", tensor.name, roleName(tensor.role),
                          typeText(tensor.array.type, tensor.array.shape));
  }
  std::vector<npz::Member> result;
  result.reserve(checkpoint.tensors.size() + 1);
  result.push_back({std::string(kHeaderMember), std::move(header)});
  for (const Tensor &tensor : checkpoint.tensors)
    result.push_back({tensor.name + std::string(kNpySuffix), npy::encode(tensor.array)});
  return result;
}

// ---- Decoding -------------------------------------------------------------------------------------

struct HeaderLine {
  std::string name;
  int32_t role;
  npy::ElementType type;
  std::vector<int64_t> shape;
};

// "f32[64,128]", or nullopt.
std::optional<std::pair<npy::ElementType, std::vector<int64_t>>> parseType(std::string_view text) {
  size_t open = text.find('[');
  if (open == std::string_view::npos || text.back() != ']') return std::nullopt;
  std::optional<npy::ElementType> type;
  for (auto [candidate, name] : kTypeNames)
    if (text.substr(0, open) == name) type = candidate;
  if (!type) return std::nullopt;
  std::string_view extents = text.substr(open + 1, text.size() - open - 2);
  std::vector<int64_t> shape;
  while (!extents.empty()) {
    size_t comma = extents.find(',');
    std::string_view digits = extents.substr(0, comma);
    int64_t extent = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), extent);
    if (digits.empty() || digits[0] == '-' || digits[0] == '+' || error != std::errc() ||
        end != digits.data() + digits.size())
      return std::nullopt;
    shape.push_back(extent);
    if (comma == std::string_view::npos) break;
    extents.remove_prefix(comma + 1);
    if (extents.empty()) return std::nullopt;  // a trailing comma
  }
  return std::pair{*type, std::move(shape)};
}

// Parses the header member into `checkpoint` (model and fields) and `lines` (the tensors); returns an
// error message without the file's name, empty on success.
std::string parseHeader(std::string_view text, Checkpoint &checkpoint, std::vector<HeaderLine> &lines) {
  if (text.empty() || text.back() != '\n') return "malformed header: it does not end with a line break";
  std::string_view firstLine = text.substr(0, text.find('\n'));
  std::string expectedFirst = fmt::format("{} {}", kMagic, kFormatVersion);
  if (firstLine != expectedFirst) {
    if (firstLine.starts_with(std::string(kMagic) + " "))
      return fmt::format("checkpoint format version '{}', but this program reads version {}",
                         firstLine.substr(kMagic.size() + 1), kFormatVersion);
    return fmt::format("malformed header: line 1 is '{}', expected '{}'", firstLine, expectedFirst);
  }
  text.remove_prefix(firstLine.size() + 1);
  bool haveModel = false;
  std::set<std::string, std::less<>> keys, names;
  for (size_t lineNumber = 2; !text.empty(); ++lineNumber) {
    std::string_view line = text.substr(0, text.find('\n'));
    text.remove_prefix(line.size() + 1);
    auto malformed = [&](std::string_view what) { return fmt::format("header line {}: {}", lineNumber, what); };
    size_t space = line.find(' ');
    std::string_view keyword = line.substr(0, space);
    std::string_view rest = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    if (hasLineBreak(line)) return malformed("a carriage return in the line");
    if (keyword == "model") {
      if (haveModel) return malformed("a second model line");
      if (rest.empty()) return malformed("the model has no name");
      checkpoint.model = rest;
      haveModel = true;
    } else if (keyword == "field") {
      size_t separator = rest.find(' ');
      if (separator == std::string_view::npos) return malformed("expected 'field KEY VALUE'");
      std::string_view key = rest.substr(0, separator);
      if (!isValidFieldKey(key)) return malformed(fmt::format("the field key '{}' is not made of [a-z_0-9]", key));
      if (!keys.emplace(key).second) return malformed(fmt::format("a second field '{}'", key));
      checkpoint.fields.emplace_back(key, rest.substr(separator + 1));
    } else if (keyword == "tensor") {
      size_t first = rest.find(' '), second = first == std::string_view::npos ? first : rest.find(' ', first + 1);
      if (second == std::string_view::npos || rest.find(' ', second + 1) != std::string_view::npos)
        return malformed("expected 'tensor NAME ROLE TYPE'");
      std::string_view name = rest.substr(0, first), role = rest.substr(first + 1, second - first - 1),
                       type = rest.substr(second + 1);
      if (!isValidTensorName(name))
        return malformed(fmt::format("the tensor name '{}' is not made of letters, digits, '_', '.' and '-'", name));
      if (!names.emplace(name).second) return malformed(fmt::format("a second tensor '{}'", name));
      std::optional<int32_t> roleValue;
      for (auto [candidate, roleText] : kRoleNames)
        if (role == roleText) roleValue = candidate;
      if (!roleValue)
        return malformed(fmt::format("unknown role '{}' (expected parameter, state, input, label or none)", role));
      auto parsed = type.empty() ? std::nullopt : parseType(type);
      if (!parsed)
        return malformed(fmt::format("malformed type '{}' (expected a dtype and a shape, as f32[64,128])", type));
      if (!dataBytes(parsed->first, parsed->second))
        return malformed(fmt::format("the type {} holds too many bytes", type));
      lines.push_back({std::string(name), *roleValue, parsed->first, std::move(parsed->second)});
    } else {
      return malformed(fmt::format("expected 'model', 'field' or 'tensor', not '{}'", keyword));
    }
  }
  if (!haveModel) return "malformed header: no model line";
  return {};
}
}  // namespace

const std::string *Checkpoint::field(std::string_view key) const {
  for (const auto &[candidate, value] : fields)
    if (candidate == key) return &value;
  return nullptr;
}

std::string typeText(npy::ElementType type, const std::vector<int64_t> &shape) {
  return fmt::format("{}[{}]", typeName(type), fmt::join(shape, ","));
}

npy::Result<std::string> encode(const Checkpoint &checkpoint, std::string_view name) {
  npy::Result<std::vector<npz::Member>> archiveMembers = members(checkpoint, name);
  if (!archiveMembers) return npy::Result<std::string>::failure(archiveMembers.error());
  std::string bytes;
  std::string error = npz::encodeMembers(*archiveMembers, npz::Compression::Stored, name, [&](std::string_view piece) {
    bytes += piece;
    return std::string();
  });
  if (!error.empty()) return npy::Result<std::string>::failure(error);
  return bytes;
}

CheckpointResult decode(std::string_view bytes, std::string_view name) {
  auto failure = [&](std::string message) { return CheckpointResult::failure(fmt::format("{}: {}", name, message)); };
  npy::Result<npz::ArchiveReader> reader = npz::ArchiveReader::open(bytes, name);
  if (!reader) {
    // The reader's message repeats the name; a zip archive's start with an unreadable rest is a cut file.
    std::string_view reason = std::string_view(reader.error()).substr(name.size() + 2);
    if (bytes.starts_with(std::string_view("PK\x03\x04", 4)))
      return failure(fmt::format("truncated or damaged checkpoint ({})", reason));
    return failure(fmt::format("not a Kiln checkpoint ({})", reason));
  }
  size_t memberCount = reader->memberCount();
  npy::Result<std::string> firstName = memberCount == 0 ? std::string() : reader->memberName(0);
  if (!firstName) return CheckpointResult::failure(firstName.error());
  if (*firstName != kHeaderMember)
    return failure(fmt::format("not a Kiln checkpoint (its first member is '{}', not {})", *firstName, kHeaderMember));
  npy::Result<uint64_t> headerSize = reader->memberSize(0);
  if (!headerSize) return CheckpointResult::failure(headerSize.error());
  if (*headerSize > kLargestHeader)
    return failure(fmt::format("the header declares {} bytes, more than a checkpoint's header holds", *headerSize));
  npy::Result<std::string> headerText = reader->readMember(0);
  if (!headerText) return CheckpointResult::failure(headerText.error());

  Checkpoint checkpoint;
  std::vector<HeaderLine> lines;
  if (std::string error = parseHeader(*headerText, checkpoint, lines); !error.empty()) return failure(error);
  if (memberCount - 1 != lines.size())
    return failure(fmt::format("the header lists {} tensors but the archive holds {} members after it", lines.size(),
                               memberCount - 1));
  checkpoint.tensors.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    HeaderLine &line = lines[i];
    std::string expectedName = line.name + std::string(kNpySuffix);
    npy::Result<std::string> memberName = reader->memberName(i + 1);
    if (!memberName) return CheckpointResult::failure(memberName.error());
    if (*memberName != expectedName)
      return failure(
          fmt::format("member {} is '{}', but the header's tensor {} is {}", i + 1, *memberName, i + 1, line.name));
    std::string type = typeText(line.type, line.shape);
    npy::Result<uint64_t> size = reader->memberSize(i + 1);
    if (!size) return CheckpointResult::failure(size.error());
    uint64_t data = *dataBytes(line.type, line.shape);
    if (*size < data || *size - data > kLargestNpyOverhead)
      return failure(fmt::format("member '{}' declares {} bytes, which cannot hold the {} bytes of {}", expectedName,
                                 *size, data, type));
    npy::Result<std::string> member = reader->readMember(i + 1);
    if (!member) return CheckpointResult::failure(member.error());
    npy::Result<npy::Array> array = npy::decode(*member, fmt::format("{}: member '{}'", name, expectedName));
    if (!array) return CheckpointResult::failure(array.error());
    if (array->type != line.type || array->shape != line.shape)
      return failure(fmt::format("member '{}' holds {}, but the header says {}", expectedName,
                                 typeText(array->type, array->shape), type));
    checkpoint.tensors.push_back({std::move(line.name), line.role, std::move(*array)});
  }
  return checkpoint;
}

CheckpointResult read(const std::string &path) {
  npy::Result<std::string> bytes = npy::readFileBytes(path, "a checkpoint");
  if (!bytes) return CheckpointResult::failure(bytes.error());
  return decode(*bytes, path);
}

// ---- Writing --------------------------------------------------------------------------------------

namespace {
class FileDescriptor {
public:
  explicit FileDescriptor(int descriptor = -1) : descriptor_(descriptor) {}
  FileDescriptor(const FileDescriptor &) = delete;
  FileDescriptor &operator=(const FileDescriptor &) = delete;
  FileDescriptor &operator=(FileDescriptor &&other) noexcept {
    reset();
    descriptor_ = std::exchange(other.descriptor_, -1);
    return *this;
  }
  ~FileDescriptor() { reset(); }
  int get() const { return descriptor_; }
  explicit operator bool() const { return descriptor_ >= 0; }
  // Closes the descriptor; returns close's errno, 0 on success.
  int reset() {
    int result = descriptor_ >= 0 && ::close(descriptor_) != 0 ? errno : 0;
    descriptor_ = -1;
    return result;
  }

private:
  int descriptor_;
};

// Removes the temporaries `.NAME.kiln-tmp-*` in `directory` that no live writer holds locked. A writer
// locks its temporary as soon as it has created it and finds it unlinked (st_nlink 0) when a remover
// got there first, so a live writer's file is never lost.
void removeStaleTemporaries(int directory, std::string_view prefix) {
  int listing = ::dup(directory);
  if (listing < 0) return;
  std::unique_ptr<DIR, int (*)(DIR *)> entries(::fdopendir(listing), &::closedir);
  if (!entries) {
    ::close(listing);
    return;
  }
  ::rewinddir(entries.get());
  std::vector<std::string> candidates;
  while (const dirent *entry = ::readdir(entries.get())) {
    std::string_view entryName(entry->d_name);
    if (entryName.starts_with(prefix) && entryName.size() > prefix.size()) candidates.emplace_back(entryName);
  }
  for (const std::string &candidate : candidates) {
    FileDescriptor file(::openat(directory, candidate.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!file || ::flock(file.get(), LOCK_EX | LOCK_NB) != 0) continue;
    struct stat held, named;
    if (::fstat(file.get(), &held) == 0 && ::fstatat(directory, candidate.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino && S_ISREG(held.st_mode))
      ::unlinkat(directory, candidate.c_str(), 0);
  }
}

int writeAll(int descriptor, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written = ::write(descriptor, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return 0;
}
}  // namespace

std::string write(const std::string &path, const Checkpoint &checkpoint) {
  npy::Result<std::vector<npz::Member>> archiveMembers = members(checkpoint, path);
  if (!archiveMembers) return archiveMembers.error();

  size_t slash = path.rfind('/');
  std::string directoryPath = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string fileName = slash == std::string::npos ? path : path.substr(slash + 1);
  if (fileName.empty()) return fmt::format("{}: a checkpoint's path must name a file", path);
  FileDescriptor directory(::open(directoryPath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!directory) return fmt::format("{}: cannot open the directory {}: {}", path, directoryPath, systemMessage(errno));
  std::string prefix = fmt::format(".{}{}", fileName, kTemporaryMarker);
  removeStaleTemporaries(directory.get(), prefix);

  // Create and lock a temporary of a fresh name; start again if a remover unlinked it before the lock.
  std::random_device randomDevice;
  std::string temporaryName;
  FileDescriptor temporary;
  for (int attempt = 0; !temporary; ++attempt) {
    temporaryName = fmt::format("{}{:08x}", prefix, randomDevice());
    temporary = FileDescriptor(
        ::openat(directory.get(), temporaryName.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666));
    if (!temporary) {
      if (errno == EEXIST && attempt < 100) continue;
      return fmt::format("{}: cannot create a temporary file in {}: {}", path, directoryPath, systemMessage(errno));
    }
    struct stat status;
    while (::flock(temporary.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
    if (::fstat(temporary.get(), &status) != 0 || status.st_nlink == 0) temporary.reset();
  }
  auto fail = [&](std::string message) {
    ::unlinkat(directory.get(), temporaryName.c_str(), 0);
    return message;
  };

  std::string error = npz::encodeMembers(*archiveMembers, npz::Compression::Stored, path, [&](std::string_view piece) {
    int code = writeAll(temporary.get(), piece);
    return code == 0 ? std::string() : fmt::format("{}: cannot write the checkpoint: {}", path, systemMessage(code));
  });
  if (!error.empty()) return fail(error);
  if (::fsync(temporary.get()) != 0)
    return fail(fmt::format("{}: cannot flush the checkpoint to disk: {}", path, systemMessage(errno)));
  // Renamed while still locked, so that no remover takes it for a dead writer's.
  if (::renameat(directory.get(), temporaryName.c_str(), directory.get(), fileName.c_str()) != 0)
    return fail(fmt::format("{}: cannot replace the file: {}", path, systemMessage(errno)));
  if (int code = temporary.reset(); code != 0)
    return fmt::format("{}: written, but closing it failed: {}", path, systemMessage(code));
  // Some file systems cannot sync a directory (EINVAL); the rename is then as durable as they make it.
  if (::fsync(directory.get()) != 0 && errno != EINVAL)
    return fmt::format("{}: written, but syncing its directory {} failed, so the rename may not survive a crash: {}",
                       path, directoryPath, systemMessage(errno));
  return {};
}

// ---- Fitting --------------------------------------------------------------------------------------

std::string checkFits(const Checkpoint &checkpoint, std::string_view path, std::string_view model,
                      std::span<const ExpectedTensor> expected) {
  if (checkpoint.model != model)
    return fmt::format("{} is a checkpoint of model '{}', not of '{}'", path, checkpoint.model, model);
  auto findSaved = [&](std::string_view name) -> const Tensor * {
    for (const Tensor &tensor : checkpoint.tensors)
      if (tensor.name == name) return &tensor;
    return nullptr;
  };
  for (const ExpectedTensor &tensor : expected)
    if (!findSaved(tensor.name)) return fmt::format("{} lacks {}, which the model has", path, tensor.name);
  for (const Tensor &tensor : checkpoint.tensors)
    if (std::none_of(expected.begin(), expected.end(), [&](const ExpectedTensor &e) { return e.name == tensor.name; }))
      return fmt::format("{} has {}, which the model does not have", path, tensor.name);
  for (const ExpectedTensor &tensor : expected) {
    const Tensor &saved = *findSaved(tensor.name);
    if (saved.role != tensor.role)
      return fmt::format("{} is {} in {} but {} in the model", tensor.name, roleNoun(saved.role), path,
                         roleNoun(tensor.role));
    if (saved.array.type != tensor.type || saved.array.shape != tensor.shape)
      return fmt::format("{} is {} in {} but the model has {}", tensor.name,
                         typeText(saved.array.type, saved.array.shape), path, typeText(tensor.type, tensor.shape));
  }
  if (checkpoint.tensors.size() != expected.size())
    return fmt::format("{} holds {} tensors but the model has {}", path, checkpoint.tensors.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i)
    if (checkpoint.tensors[i].name != expected[i].name)
      return fmt::format("{} holds the model's tensors in another order: tensor {} is {} there but {} in the model",
                         path, i + 1, checkpoint.tensors[i].name, expected[i].name);
  return {};
}

}  // namespace kiln::checkpoint
