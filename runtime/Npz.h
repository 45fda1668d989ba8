// NumPy .npz archives: a zip file of .npy members, one per named array (numpy.savez writes them
// stored, numpy.savez_compressed deflated). Read and written through libzip; errors are values.
#pragma once

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

// Writes the arrays as NAME.npy members (at least one; names distinct and non-empty); returns an error
// message, empty on success. libzip writes a temporary file and renames it over `path` when
// complete, so a failure never leaves a half-written archive behind.
std::string write(const std::string &path, const std::vector<NamedArray> &arrays,
                  Compression compression = Compression::Stored);

}  // namespace kiln::npz
