// Runs one function of a module on arguments read from .npy files and writes or prints its
// results: what `kiln-opt --run` (the interpreter) and `kiln-opt --jit` (native code) do.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <llvm/ADT/STLFunctionalExtras.h>
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

// How a function is evaluated on its arguments: the interpreter's `interpret`, or a JIT's.
using Evaluator = llvm::function_ref<llvm::Expected<std::vector<Tensor>>(const Function &function,
                                                                         std::span<const Tensor> arguments)>;

// A failed op comes back as OpErrors, for the tool to place with Diagnostics::reportFailure;
// other failures (options, files) as plain errors. `evaluate` null: the reference interpreter.
llvm::Error runFunction(const Module &module, const RunOptions &options, llvm::raw_ostream &out,
                        Evaluator evaluate = nullptr);

// Conversions between .npy arrays and tensors; i1 is stored as NumPy's bool.
llvm::Expected<Tensor> tensorFromNpy(const npy::Array &array);
npy::Array npyFromTensor(const Tensor &tensor);

}  // namespace kiln
