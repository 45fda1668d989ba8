// Philox-4x32-10 and the uniform and normal values derived from it.
#include "runtime/Random.h"

#include <cmath>
#include <numbers>

namespace kiln::random {

namespace {
constexpr uint32_t kMultiplier0 = 0xD2511F53;
constexpr uint32_t kMultiplier1 = 0xCD9E8D57;
// The Weyl sequence that changes the key between rounds: golden ratio and sqrt(3) - 1, in 32 bits.
constexpr uint32_t kKeyStep0 = 0x9E3779B9;
constexpr uint32_t kKeyStep1 = 0xBB67AE85;

struct HighLow {
  uint32_t high;
  uint32_t low;
};

HighLow multiplyWide(uint32_t a, uint32_t b) {
  uint64_t product = static_cast<uint64_t>(a) * b;
  return {static_cast<uint32_t>(product >> 32), static_cast<uint32_t>(product)};
}

// One round: two 32x32->64 products, whose halves are mixed with the other words and the key.
PhiloxCounter round(const PhiloxCounter &counter, const PhiloxKey &key) {
  HighLow product0 = multiplyWide(kMultiplier0, counter[0]);
  HighLow product1 = multiplyWide(kMultiplier1, counter[2]);
  return {product1.high ^ counter[1] ^ key[0], product1.low, product0.high ^ counter[3] ^ key[1], product0.low};
}

// The top 53 bits of (high, low) scaled into [0, 1): every value is exact in a double.
double toUnitInterval(uint32_t high, uint32_t low) {
  uint64_t bits = (static_cast<uint64_t>(high) << 32 | low) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}
}  // namespace

PhiloxCounter philox4x32(PhiloxCounter counter, PhiloxKey key) {
  for (int roundIndex = 0; roundIndex < 10; ++roundIndex) {
    if (roundIndex > 0) {
      key[0] += kKeyStep0;
      key[1] += kKeyStep1;
    }
    counter = round(counter, key);
  }
  return counter;
}

UniformPair uniformPair(int64_t key, int64_t index) {
  auto unsignedKey = static_cast<uint64_t>(key);
  auto unsignedIndex = static_cast<uint64_t>(index);
  PhiloxCounter bits =
      philox4x32({static_cast<uint32_t>(unsignedIndex), static_cast<uint32_t>(unsignedIndex >> 32), 0, 0},
                 {static_cast<uint32_t>(unsignedKey), static_cast<uint32_t>(unsignedKey >> 32)});
  return {toUnitInterval(bits[0], bits[1]), toUnitInterval(bits[2], bits[3])};
}

double uniform(int64_t key, int64_t index) { return uniformPair(key, index).first; }

// Box–Muller: for u1 in (0, 1] and u2 in [0, 1), sqrt(-2 ln u1) cos(2 pi u2) is standard normal.
double standardNormal(int64_t key, int64_t index) {
  UniformPair pair = uniformPair(key, index);
  double radius = std::sqrt(-2.0 * std::log(1.0 - pair.first));
  return radius * std::cos(2.0 * std::numbers::pi * pair.second);
}

}  // namespace kiln::random
