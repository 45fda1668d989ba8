// Reading the golden files that test/golden's PyTorch scripts write (.npy arrays, text) and
// comparing a result with one to f32 rounding: shared by the tests that check Kiln against PyTorch.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>

#include <gtest/gtest.h>
#include <llvm/Support/Error.h>

#include "backends/interpreter/RunFunction.h"
#include "backends/interpreter/Tensor.h"
#include "runtime/Npy.h"

namespace kiln::golden {

// A file that is missing or not a tensor fails the test and stands in as an f32 scalar.
inline Tensor load(const std::filesystem::path &file) {
  npy::Result<npy::Array> array = npy::read(file.string());
  EXPECT_TRUE(bool(array)) << file << ": " << (array ? "" : array.error());
  if (!array) return Tensor(TensorType{});
  llvm::Expected<Tensor> tensor = tensorFromNpy(*array);
  EXPECT_TRUE(bool(tensor)) << file << ": " << (tensor ? "" : llvm::toString(tensor.takeError()));
  return tensor ? std::move(*tensor) : Tensor(TensorType{});
}

inline std::string readText(const std::filesystem::path &file) {
  std::ifstream stream(file);
  return std::string(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

// |actual - expected| <= 1e-6 + 1e-5 |expected| element by element: f32 rounding of values
// around 1, and of their differences when the two sides sum in different orders. The first few
// elements that differ are shown, then how many do.
inline void expectClose(const Tensor &actual, const Tensor &expected, const std::string &what) {
  ASSERT_EQ(actual.type(), expected.type()) << what;
  std::span<const float> got = actual.values<float>(), want = expected.values<float>();
  size_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) <= 1e-6 + 1e-5 * std::abs(want[i])) continue;  // NaN is not close
    if (++mismatches <= 3) ADD_FAILURE() << what << " element " << i << ": " << got[i] << ", expected " << want[i];
  }
  EXPECT_EQ(mismatches, 0u) << what << ": " << mismatches << " of " << got.size() << " elements differ";
}

}  // namespace kiln::golden
