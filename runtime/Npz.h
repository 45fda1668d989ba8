// NumPy .npz archives: a zip file of .npy members, one per named array (numpy.savez writes them
// stored, numpy.savez_compressed deflated). Read and written through libzip; errors are values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/Npy.h"

namespace kiln::npz {

struct NamedArray {
  std::string name;  // the member's name without its ".npy"
  npy::Array array;
};

// Decodes the bytes of a .npz file, members in archive order; `name` (the file's path) starts
// every error message, followed by the member's name where one member is at fault.
npy::Result<std::vector<NamedArray>> decode(std::string_view bytes, std::string_view name);
npy::Result<std::vector<NamedArray>> read(const std::string &path);

// The array called `arrayName` in an archive, or an error listing the names it holds.
npy::Result<npy::Array> find(std::vector<NamedArray> &arrays, std::string_view arrayName, std::string_view path);

enum class Compression { Stored, Deflated };

// The raw pieces the readers and writers above are made of, for formats built on .npz (checkpoints):
// members of any name and content, read one at a time so that a caller can check what a member
// declares before its bytes are allocated.

// A zip member: its full name in the archive ("x.npy") and its bytes.
struct Member {
  std::string name;
  std::string bytes;
};

// A zip archive opened over bytes that the caller keeps alive. Errors start with the archive's
// `name`, followed by the member's name where one member is at fault.
class ArchiveReader {
public:
  static npy::Result<ArchiveReader> open(std::string_view bytes, std::string_view name);
  ArchiveReader(ArchiveReader &&) noexcept;
  ArchiveReader &operator=(ArchiveReader &&) noexcept;
  ~ArchiveReader();

  size_t memberCount() const;
  npy::Result<std::string> memberName(size_t index) const;
  // The size member `index` declares, after checking that its compressed bytes can hold it.
  npy::Result<uint64_t> memberSize(size_t index) const;
  // The member's bytes (at most memberSize), checked against the member's CRC.
  npy::Result<std::string> readMember(size_t index) const;

private:
  struct State;
  explicit ArchiveReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Builds a zip archive of `members` (names distinct and non-empty) in memory and hands its bytes to
// `sink` in order, in pieces; returns an error message, empty on success. A non-empty message
// returned by `sink` stops the encoding and is returned as it is. Other errors start with `name`.
std::string encodeMembers(const std::vector<Member> &members, Compression compression, std::string_view name,
                          const std::function<std::string(std::string_view piece)> &sink);
// The bytes of a .npz archive holding `arrays` as NAME.npy members.
npy::Result<std::string> encode(const std::vector<NamedArray> &arrays, Compression compression = Compression::Stored);

// Writes the arrays as NAME.npy members (at least one; names distinct and non-empty); returns an error
// message, empty on success. libzip writes a temporary file and renames it over `path` when
// complete, so a failure never leaves a half-written archive behind.
std::string write(const std::string &path, const std::vector<NamedArray> &arrays,
                  Compression compression = Compression::Stored);

}  // namespace kiln::npz
