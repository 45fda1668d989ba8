// Golden-gradient checking: a function's value and autodiff's gradient, evaluated in f64 by the
// reference interpreter, against values another framework computed and stored as .npy files.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/raw_ostream.h>

#include "ir/IR.h"
#include "passes/gradients/GradientCheck.h"

namespace kiln {

// For a reference computed in f64 from the same f32 inputs: then only summation order separates
// the two sides (about 1e-15 relative), while a layout or formula mistake is off by far more.
// A reference computed in f32 needs looser tolerances, about 1e-5.
inline constexpr Tolerances kReferenceTolerances{1e-10, 1e-8};

struct ReferenceComparison {
  std::string what;     // "value", "gradient of %w", "new value of buffer %running_mean"
  std::string file;     // the reference's file name, for messages
  Agreement agreement;  // of Kiln's values with the reference's
  int64_t elementCount = 0;
};

struct ReferenceReport {
  std::string function;
  // The value, then one per argument of `wrt`, then one per buffer.
  std::vector<ReferenceComparison> comparisons;
  std::vector<std::string> notes;  // conversions made on the way in

  bool passed() const;
  void print(llvm::raw_ostream &out) const;
};

// Reads every argument of `function` from DIRECTORY/<argument>.npy (in the argument's own
// type), evaluates the function and its gradient with respect to `wrt` (arguments of the
// function, say those of the parameter role) in f64, and compares the
// value with DIRECTORY/<function>.npy and the gradient of argument A with DIRECTORY/d_<A>.npy.
// A function with `buffer` arguments returns their new values after its value (a training
// step's batch-norm statistics); the new value of buffer B is compared with DIRECTORY/new.<B>.npy.
// A missing or mismatched file is an error that names it; f64 arrays for f32 arguments are
// rounded to f32, with a note in the report.
llvm::Expected<ReferenceReport> compareWithReference(const Function &function, std::span<const Value *const> wrt,
                                                     llvm::StringRef directory,
                                                     const Tolerances &tolerances = kReferenceTolerances);

}  // namespace kiln
