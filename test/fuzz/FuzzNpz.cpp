// libFuzzer target: the .npz reader (libzip underneath, then the .npy reader for each member).
#include <cstdint>

#include "runtime/Npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  kiln::npy::Result<std::vector<kiln::npz::NamedArray>> arrays = kiln::npz::decode(bytes, "fuzz.npz");
  (void)arrays;
  return 0;
}
