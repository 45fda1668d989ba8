// Attribute values: floats print as text that reads back to the same double, and literals are
// coerced to the kind an attribute expects, or refused.
#include <gtest/gtest.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <random>

#include "ir/Attributes.h"

namespace kiln {
namespace {

double readBack(const std::string &text) {
  if (text == "inf") return INFINITY;
  if (text == "-inf") return -INFINITY;
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  EXPECT_EQ(error, std::errc()) << text;
  EXPECT_EQ(end, text.data() + text.size()) << text;
  return value;
}

void expectExactRoundTrip(double value) {
  std::string text = formatFloat(value);
  EXPECT_NE(text.find_first_of(".ein"), std::string::npos) << text << " does not look like a float";
  EXPECT_EQ(std::bit_cast<uint64_t>(readBack(text)), std::bit_cast<uint64_t>(value)) << text;
}

TEST(Attributes, SpecialFloatsReadBackBitForBit) {
  using limits = std::numeric_limits<double>;
  for (double value : {0.0, -0.0, 1.0, -1.0, 0.1, 1e-07, 1e22, 1e300, -1e-300, limits::max(), limits::lowest(),
                       limits::min(), limits::denorm_min(), -limits::denorm_min(), limits::epsilon(),
                       limits::infinity(), -limits::infinity(), 9007199254740993.0, 123456789.0})
    expectExactRoundTrip(value);
  EXPECT_EQ(formatFloat(std::nan("")), "nan");
  EXPECT_EQ(formatFloat(2.0), "2.0");
  EXPECT_EQ(formatFloat(-0.0), "-0.0");
}

TEST(Attributes, RandomDoublesReadBackBitForBit) {
  std::mt19937_64 generator(42);
  int checked = 0;
  while (checked < 20000) {
    double value = std::bit_cast<double>(generator());
    if (std::isnan(value)) continue;
    expectExactRoundTrip(value);
    ++checked;
  }
}

TEST(Attributes, RandomSubnormalsReadBackBitForBit) {
  std::mt19937_64 generator(7);
  std::uniform_int_distribution<uint64_t> mantissa(1, (uint64_t{1} << 52) - 1);
  for (int i = 0; i < 5000; ++i) {
    double value = std::bit_cast<double>(mantissa(generator));
    ASSERT_EQ(std::fpclassify(value), FP_SUBNORMAL);
    expectExactRoundTrip(i % 2 ? value : -value);
  }
}

TEST(Attributes, IntegersCoerceToFloatsButNotBack) {
  EXPECT_EQ(coerceAttribute(AttrKind::Float, AttrValue{int64_t{3}}, DType::F32), AttrValue{3.0});
  EXPECT_EQ(coerceAttribute(AttrKind::Float, AttrValue{0.5}, DType::F32), AttrValue{0.5});
  EXPECT_FALSE(coerceAttribute(AttrKind::Int, AttrValue{3.0}, DType::F32));
  EXPECT_FALSE(coerceAttribute(AttrKind::Int, AttrValue{true}, DType::F32));
  EXPECT_FALSE(coerceAttribute(AttrKind::Bool, AttrValue{int64_t{1}}, DType::F32));
  EXPECT_EQ(coerceAttribute(AttrKind::Floats, AttrValue{Ints{1, 2}}, DType::F32), AttrValue{(Floats{1.0, 2.0})});
  EXPECT_FALSE(coerceAttribute(AttrKind::Ints, AttrValue{Floats{1.0}}, DType::F32));
  EXPECT_FALSE(coerceAttribute(AttrKind::Ints, AttrValue{int64_t{1}}, DType::F32));
}

TEST(Attributes, ConstantElementsFollowTheResultDType) {
  // A scalar is a splat: a list of one.
  EXPECT_EQ(coerceAttribute(AttrKind::Elements, AttrValue{int64_t{2}}, DType::F64), AttrValue{Floats{2.0}});
  EXPECT_EQ(coerceAttribute(AttrKind::Elements, AttrValue{2.5}, DType::F32), AttrValue{Floats{2.5}});
  EXPECT_EQ(coerceAttribute(AttrKind::Elements, AttrValue{true}, DType::I1), AttrValue{Ints{1}});
  EXPECT_EQ(coerceAttribute(AttrKind::Elements, AttrValue{Ints{1, -2}}, DType::I32), AttrValue{(Ints{1, -2})});
  // Whole floats are accepted for integer tensors; fractions, infinities and NaN are not.
  EXPECT_EQ(coerceAttribute(AttrKind::Elements, AttrValue{Floats{2.0, -3.0}}, DType::I64), AttrValue{(Ints{2, -3})});
  EXPECT_FALSE(coerceAttribute(AttrKind::Elements, AttrValue{Floats{2.5}}, DType::I32));
  EXPECT_FALSE(coerceAttribute(AttrKind::Elements, AttrValue{Floats{INFINITY}}, DType::I32));
  EXPECT_FALSE(coerceAttribute(AttrKind::Elements, AttrValue{Floats{NAN}}, DType::I64));
  EXPECT_FALSE(coerceAttribute(AttrKind::Elements, AttrValue{Floats{1e300}}, DType::I64));
}

TEST(Attributes, ValuesPrintAsTheParserReadsThem) {
  EXPECT_EQ(toString(AttrValue{int64_t{-4}}), "-4");
  EXPECT_EQ(toString(AttrValue{false}), "false");
  EXPECT_EQ(toString(AttrValue{Ints{}}), "[]");
  EXPECT_EQ(toString(AttrValue{(Ints{1, 2})}), "[1, 2]");
  EXPECT_EQ(toString(AttrValue{(Floats{1.0, -0.5, INFINITY})}), "[1.0, -0.5, inf]");
}

}  // namespace
}  // namespace kiln
