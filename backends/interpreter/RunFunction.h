// Runs one function of a module on arguments read from .npy files and writes or prints its
// results: what `kiln-opt --run` does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <llvm/Support/Error.h>
#include <llvm/Support/raw_ostream.h>

#include "backends/interpreter/Tensor.h"
#include "ir/Diagnostics.h"
#include "ir/IR.h"
#include "runtime/Npy.h"

namespace kiln {

struct RunOptions {
  std::string functionName;         // empty: the module's only function
  std::vector<std::string> inputs;  // NAME=FILE.npy, one per argument
  std::string outputDirectory;      // empty: print the results on `out`
};

// A failed op comes back as OpErrors, for the tool to place with Diagnostics::reportFailure;
// other failures (options, files) as plain errors.
llvm::Error runFunction(const Module &module, const RunOptions &options, llvm::raw_ostream &out);

// Conversions between .npy arrays and tensors; i1 is stored as NumPy's bool.
llvm::Expected<Tensor> tensorFromNpy(const npy::Array &array);
npy::Array npyFromTensor(const Tensor &tensor);

}  // namespace kiln
