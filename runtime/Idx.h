// IDX files (the MNIST and Fashion-MNIST format), plain or gzipped: two zero bytes, an element
// type byte, a dimension count byte, the dimensions as big-endian 32-bit integers, then the
// big-endian elements. Read into an npy::Array: the integer types (u8, i8, i16, i32) become i32,
// as the IR has no narrower integer; f32 and f64 stay as they are. Errors are values.
#pragma once

#include <string>
#include <string_view>

#include "runtime/Npy.h"

namespace kiln::idx {

// Decodes an IDX file's bytes, gunzipping them first if they start with the gzip magic;
// `name` (the file's path) starts every error message.
npy::Result<npy::Array> decode(std::string_view bytes, std::string_view name);
npy::Result<npy::Array> read(const std::string &path);

}  // namespace kiln::idx
