// Counter-based random numbers (Philox-4x32-10): each value is a pure function of a 64-bit key
// and the element's flat index, so results are reproducible and independent of the order in
// which elements are computed. Plain C++: compiled programs link this same code.
#pragma once

#include <array>
#include <cstdint>

namespace kiln::random {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// Ten rounds of Philox-4x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011).
PhiloxCounter philox4x32(PhiloxCounter counter, PhiloxKey key);

// Two independent uniforms in [0, 1), 53 random bits each, for element `index` of stream `key`.
struct UniformPair {
  double first;
  double second;
};
UniformPair uniformPair(int64_t key, int64_t index);

// A uniform in [0, 1) for element `index` of stream `key`.
double uniform(int64_t key, int64_t index);

// A standard normal for element `index` of stream `key` (Box–Muller from the pair of uniforms).
double standardNormal(int64_t key, int64_t index);

}  // namespace kiln::random
