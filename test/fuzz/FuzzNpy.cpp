// libFuzzer target: the .npy reader. Whatever decodes must encode and decode back to the same array.
#include <cstdint>
#include <cstdlib>

#include "runtime/Npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  kiln::npy::Result<kiln::npy::Array> array = kiln::npy::decode(bytes, "fuzz.npy");
  if (!array) return 0;
  kiln::npy::Result<kiln::npy::Array> again = kiln::npy::decode(kiln::npy::encode(*array), "encoded.npy");
  if (!again || again->type != array->type || again->shape != array->shape || again->data != array->data) std::abort();
  return 0;
}
