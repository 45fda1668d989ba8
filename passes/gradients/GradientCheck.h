// Gradient checking: autodiff's gradient of a function against central finite differences,
// both evaluated in f64 by the reference interpreter on seeded random inputs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <llvm/Support/Error.h>
#include <llvm/Support/raw_ostream.h>

#include "backends/interpreter/Tensor.h"
#include "ir/IR.h"

namespace kiln {

// An element agrees when |computed - expected| <= absolute + relative * |expected|.
struct Tolerances {
  double absolute = 0;
  double relative = 0;

  // Written so that a NaN on either side is refused.
  bool accept(double computed, double expected) const {
    return std::abs(computed - expected) <= absolute + relative * std::abs(expected);
  }
};

// The worst disagreement between computed values and the values they should equal.
struct Agreement {
  double worstAbsoluteError = 0;  // max |computed - expected|
  double worstRelativeError = 0;  // max |computed - expected| / max(|expected|, absolute tolerance)
  bool passed = true;             // every element within the tolerances; a NaN on either side fails
  // A NaN makes the errors NaN, which the worst errors above skip: NaNs are counted, and the
  // first is located (a flat element index) with the side it is on.
  int64_t elementsSeen = 0;
  int64_t nanElements = 0;
  int64_t firstNaNElement = -1;
  bool firstNaNComputed = false;  // else it is in the expected value

  void add(double computed, double expected, const Tolerances &tolerances);
  // `, NaN in EXPECTED at element 3 (2 NaN elements)`, or nothing when there is no NaN.
  std::string describeNaN(std::string_view computedName, std::string_view expectedName) const;
};

// Defaults follow PyTorch's gradcheck.
struct GradientCheckOptions {
  double step = 1e-6;
  Tolerances tolerances{1e-5, 1e-3};
  uint64_t seed = 1;
  // Float inputs have magnitudes in [0.1, 0.9], away from the kinks of relu, abs and max at 0;
  // the sign is random unless the function needs positive inputs (log, sqrt, pow).
  bool positiveInputs = false;
  size_t resultIndex = 0;  // the result differentiated
  // Elements checked per argument, chosen at random without repetition; 0 checks every one.
  // A finite difference costs two evaluations of the function per element, so a model with
  // hundreds of thousands of parameters is checked on a sample. Half of the sample (rounded
  // up) is drawn from the elements whose analytic gradient is non-zero, where there are any:
  // in an embedding table most rows are never looked up, and a uniform sample would check
  // only zeros there.
  int64_t samplesPerArgument = 0;
  // Values of arguments by name, used instead of random ones (converted to f64).
  std::vector<std::pair<std::string, Tensor>> givenArguments;
  // The parameter arguments (ArgumentRole::Parameter) from the module's own @init with `seed`,
  // where the model lives: random ones may put a recurrent network where finite differences
  // mean nothing (a 128x128 matrix of elements around 0.5 makes tanh steps chaotic).
  bool parametersFromInit = false;
};

// Whether every check of a report (each with an `agreement`) passed.
template <typename Checks> bool allAgree(const Checks &checks) {
  return std::all_of(checks.begin(), checks.end(), [](const auto &check) { return check.agreement.passed; });
}

// A failing element where the function has a corner (relu at 0, say): its one-sided differences
// disagree with each other, while each holds when the step is halved. Or where it jumps (a select
// between x and a -1e9 mask, say): the change of f on one side stays the same when the step is
// halved, so no difference quotient means anything there.
struct Kink {
  int64_t element = 0;  // flat index
  double below = 0;     // (f(x) - f(x - h)) / h
  double above = 0;     // (f(x + h) - f(x)) / h
  double analytic = 0;
  bool jump = false;
  double jumpSize = 0;  // for a jump: the change of f across it
};

struct ArgumentCheck {
  std::string argument;
  Agreement agreement;  // of the analytic gradient with the numeric one
  int64_t checkedElements = 0;
  int64_t elementCount = 0;
  // Checked elements where the analytic or numeric gradient is not zero: an embedding table
  // whose checked rows were never looked up passes while proving nothing about them.
  int64_t nonZeroElements = 0;
  int64_t failingElements = 0;
  int64_t kinkElements = 0;  // failing elements at a kink or a jump; the first is `firstKink`
  std::optional<Kink> firstKink = std::nullopt;
};

struct GradientCheckReport {
  std::string function;
  std::vector<ArgumentCheck> arguments;  // one per float argument, in argument order
  bool everyGradientZero = false;        // analytic and numeric: the check proves nothing

  bool passed() const;
  void print(llvm::raw_ostream &out) const;
};

// Each op of a copy, and the copy itself, to the original it was made from.
struct CopyOrigins {
  std::unordered_map<const Operation *, const Operation *> ops;
  std::unordered_map<const Function *, const Function *> functions;
};

// A copy of `function` with every f32 (arguments, results, constants) made f64; `origins`, when
// given, learns which original each copied op comes from.
std::unique_ptr<Function> castToFloat64(const Function &function, CopyOrigins *origins = nullptr);

// An OpErrors found on the f64 copy placed at the original's ops, saying the check ran in f64
// (its messages name the copy's f64 types); any other error unchanged.
llvm::Error atOriginalOps(llvm::Error error, const CopyOrigins &origins);

// Differentiates `function` (after castToFloat64) against every float argument and compares.
// Integer arguments are uniform over the indices their uses accept (indexBound), or 0 or 1
// when they index nothing; a non-scalar result is reduced as <cotangent, result> with a
// random cotangent.
llvm::Expected<GradientCheckReport> checkGradient(const Function &function, const GradientCheckOptions &options = {});

// `kiln-opt --check-grad`: checks the function named `functionName`, or (when empty) every
// function with one float result, printing each report to `out` and, for a check that proves
// nothing, a warning signed by `tool` to `errors`. True when every check passed.
llvm::Expected<bool> checkGradients(const Module &module, std::string_view functionName,
                                    const GradientCheckOptions &options, llvm::raw_ostream &out,
                                    llvm::raw_ostream &errors, llvm::StringRef tool);

}  // namespace kiln
