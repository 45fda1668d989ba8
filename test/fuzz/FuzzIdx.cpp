// libFuzzer target: the IDX reader, plain and gzipped (zlib underneath).
#include <cstdint>
#include <cstdlib>

#include "runtime/Idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  kiln::npy::Result<kiln::npy::Array> array = kiln::idx::decode(bytes, "fuzz.idx");
  // A decoded array holds exactly its shape's elements.
  if (array && static_cast<size_t>(array->elementCount()) * kiln::npy::byteSize(array->type) != array->data.size())
    std::abort();
  return 0;
}
